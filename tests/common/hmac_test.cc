// HmacSha256 against RFC 4231's test vectors, reused contexts and threads.
#include "common/hmac.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace hifi {
namespace {

std::string hex_mac(const HmacSha256& h, std::string_view message) { return to_hex(h.mac(message)); }

TEST(HmacSha256Test, Rfc4231TestVectors) {
  // Test case 1: a 20-byte key.
  EXPECT_EQ(hex_mac(HmacSha256(std::string(20, '\x0b')), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  EXPECT_EQ(hex_mac(HmacSha256("Jefe"), "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than a block (hashed first).
  EXPECT_EQ(hex_mac(HmacSha256(std::string(131, '\xaa')), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// Each MAC starts afresh with the same key: nothing of the message before
// carries over into the next one on a reused context.
TEST(HmacSha256Test, EveryMacStartsAfresh) {
  HmacSha256 h(std::string(20, '\x0b'));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(hex_mac(h, "Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_NE(hex_mac(h, "Hi There!"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  }
  EXPECT_EQ(hex_mac(HmacSha256(""), ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(HmacSha256Test, ThreadsShareOneKey) {
  HmacSha256 h("Jefe");
  std::vector<std::thread> threads;
  std::vector<int> wrong(24, 0);
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (hex_mac(h, "what do ya want for nothing?") !=
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") {
          ++wrong[t];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 24; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace hifi
