// UrlSigner and load_or_create_secret.
#include "server/signed_url.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

const std::string kSecret(32, 'k');
const std::string kSongId = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1'800'000'000;

TEST(UrlSigner, RoundTrip) {
  UrlSigner signer(kSecret);
  auto sig = signer.sign(kSongId, kNow + 60);
  EXPECT_EQ(sig.size(), 43u);  // 32 bytes, unpadded base64url
  EXPECT_EQ(sig.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_TRUE(signer.verify(kSongId, kNow + 60, sig, kNow));
  EXPECT_TRUE(signer.verify(kSongId, kNow + 60, sig, kNow + 59));
  // Deterministic: the same inputs give the same signature.
  EXPECT_EQ(signer.sign(kSongId, kNow + 60), sig);
  EXPECT_EQ(UrlSigner(kSecret).sign(kSongId, kNow + 60), sig);
}

TEST(UrlSigner, KnownAnswer) {
  // HMAC-SHA256(key = 32 x 'k', "stream\n<id>\n1800000060"), computed with
  // openssl dgst -sha256 -hmac, in unpadded base64url. Pins the message
  // format, which other nodes of a cluster must agree on.
  UrlSigner signer(kSecret);
  EXPECT_EQ(signer.sign(kSongId, kNow + 60), "nczsm_umqlGIF7N4Kfy9dWfm1uvAiwY6tFQWZ_bEhYI");
}

TEST(UrlSigner, RejectsAnotherSongOrExpiry) {
  UrlSigner signer(kSecret);
  auto sig = signer.sign(kSongId, kNow + 60);
  EXPECT_FALSE(signer.verify("fedcba9876543210fedcba9876543210", kNow + 60, sig, kNow));
  EXPECT_FALSE(signer.verify(kSongId + "0", kNow + 60, sig, kNow));
  EXPECT_FALSE(signer.verify("", kNow + 60, sig, kNow));
  // Extending the expiry invalidates the signature.
  EXPECT_FALSE(signer.verify(kSongId, kNow + 61, sig, kNow));
  EXPECT_FALSE(signer.verify(kSongId, kNow + 6000, sig, kNow));
}

TEST(UrlSigner, RejectsTamperedSignatures) {
  UrlSigner signer(kSecret);
  auto sig = signer.sign(kSongId, kNow + 60);
  for (std::size_t i = 0; i < sig.size(); ++i) {
    auto tampered = sig;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(signer.verify(kSongId, kNow + 60, tampered, kNow)) << i;
  }
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, "", kNow));
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig.substr(1), kNow));
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig + "A", kNow));
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig + "=", kNow));
  // Another secret signs differently.
  UrlSigner other(std::string(32, 'x'));
  EXPECT_NE(other.sign(kSongId, kNow + 60), sig);
  EXPECT_FALSE(other.verify(kSongId, kNow + 60, sig, kNow));
}

TEST(UrlSigner, ExpiresAtTheExpiryTime) {
  UrlSigner signer(kSecret);
  auto sig = signer.sign(kSongId, kNow);
  EXPECT_TRUE(signer.verify(kSongId, kNow, sig, kNow - 1));
  EXPECT_FALSE(signer.verify(kSongId, kNow, sig, kNow));
  EXPECT_FALSE(signer.verify(kSongId, kNow, sig, kNow + 3600));
}

// verify() remembers the signatures that held (a player asks for many ranges
// of one URL); what it remembers must never let in what the MAC would not.
TEST(UrlSigner, ARememberedSignatureLetsInOnlyWhatTheMacWould) {
  UrlSigner signer(kSecret);
  const auto sig = signer.sign(kSongId, kNow + 60);
  ASSERT_TRUE(signer.verify(kSongId, kNow + 60, sig, kNow));  // remembered from here on
  EXPECT_TRUE(signer.verify(kSongId, kNow + 60, sig, kNow + 1));
  // Still expires.
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig, kNow + 60));
  // Another signature for the remembered message: refused, whatever it is.
  for (std::size_t i = 0; i < sig.size(); ++i) {
    auto tampered = sig;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(signer.verify(kSongId, kNow + 60, tampered, kNow)) << i;
  }
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig.substr(0, 42), kNow));
  EXPECT_FALSE(signer.verify(kSongId, kNow + 60, "", kNow));
  // The remembered signature for another message or another signer's key.
  EXPECT_FALSE(signer.verify(kSongId, kNow + 61, sig, kNow));
  UrlSigner other(std::string(32, 'x'));
  EXPECT_FALSE(other.verify(kSongId, kNow + 60, sig, kNow));
  // A signer made later with the same key agrees (it remembers nothing of
  // the first one's, and needs nothing).
  UrlSigner again(kSecret);
  EXPECT_TRUE(again.verify(kSongId, kNow + 60, sig, kNow));
  // Another thread remembers nothing of this one's: it computes, and agrees.
  std::thread([&] {
    EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig.substr(0, 42) + (sig[42] == 'A' ? "B" : "A"), kNow));
    EXPECT_TRUE(signer.verify(kSongId, kNow + 60, sig, kNow));
    EXPECT_FALSE(signer.verify(kSongId, kNow + 60, sig, kNow + 60));
  }).join();
  // Many messages through one thread's table: every one still verifies,
  // and none is let in with its neighbour's signature.
  std::vector<std::string> sigs;
  for (int i = 0; i < 300; ++i) sigs.push_back(signer.sign(kSongId, kNow + 100 + i));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 300; ++i) {
      EXPECT_TRUE(signer.verify(kSongId, kNow + 100 + i, sigs[i], kNow)) << i;
      EXPECT_FALSE(signer.verify(kSongId, kNow + 100 + i, sigs[(i + 1) % 300], kNow)) << i;
    }
  }
}

TEST(UrlSigner, StreamPathNamesItsUserAndSessionsEpoch) {
  UrlSigner signer(kSecret);
  const SignedStream mine{{"0123456789abcdef01234567", 7}, kNow + 60};
  const auto sig = signer.sign(kSongId + "\n0123456789abcdef01234567\n7", kNow + 60);
  EXPECT_EQ(signer.stream_path(kSongId, mine), "/api/v1/songs/" + kSongId + "/stream?expires=" +
                                                   std::to_string(kNow + 60) +
                                                   "&user=0123456789abcdef01234567&epoch=7&signature=" + sig);
  EXPECT_TRUE(signer.verify_stream(kSongId, mine, sig, kNow));
  // Another user, another epoch, another song or a later expiry: not this signature.
  EXPECT_FALSE(signer.verify_stream(kSongId, {{"0123456789abcdef01234568", 7}, kNow + 60}, sig, kNow));
  EXPECT_FALSE(signer.verify_stream(kSongId, {{"0123456789abcdef01234567", 8}, kNow + 60}, sig, kNow));
  EXPECT_FALSE(signer.verify_stream("fedcba9876543210fedcba9876543210", mine, sig, kNow));
  EXPECT_FALSE(signer.verify_stream(kSongId, {mine.grant, kNow + 61}, sig, kNow));
  EXPECT_FALSE(signer.verify_stream(kSongId, mine, sig, kNow + 60));
  // An unbound signature of the song does not pass for a user's.
  EXPECT_FALSE(signer.verify_stream(kSongId, mine, signer.sign(kSongId, kNow + 60), kNow));
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-secret-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string dir_;
};

TEST_F(SecretFileTest, CreatesA0600FileOfThirtyTwoRandomBytes) {
  const auto path = dir_ + "/url-secret";
  auto secret = load_or_create_secret(path);
  EXPECT_EQ(secret.size(), 32u);
  EXPECT_NE(secret, std::string(32, '\0'));
  EXPECT_EQ(read(path), secret);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  // No temporary is left behind.
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);

  // Loading again returns the same secret and leaves the file alone.
  EXPECT_EQ(load_or_create_secret(path), secret);
  EXPECT_EQ(read(path), secret);

  // Signatures made with it survive a "restart".
  UrlSigner before(secret);
  UrlSigner after(load_or_create_secret(path));
  EXPECT_TRUE(after.verify(kSongId, kNow + 60, before.sign(kSongId, kNow + 60), kNow));

  // Each new file gets a different secret.
  EXPECT_NE(load_or_create_secret(dir_ + "/other-secret"), secret);
}

TEST_F(SecretFileTest, KeepsAnExistingSecret) {
  const auto path = dir_ + "/url-secret";
  const std::string existing(48, 's');
  std::ofstream(path, std::ios::binary) << existing;
  EXPECT_EQ(load_or_create_secret(path), existing);
}

TEST_F(SecretFileTest, RejectsAShortSecret) {
  const auto path = dir_ + "/url-secret";
  std::ofstream(path, std::ios::binary) << "too short";
  EXPECT_THROW(load_or_create_secret(path), std::runtime_error);
  EXPECT_EQ(read(path), "too short");  // not replaced
}

TEST_F(SecretFileTest, FailsWhenTheFolderIsMissing) {
  EXPECT_THROW(load_or_create_secret(dir_ + "/no/such/dir/url-secret"), std::runtime_error);
}

TEST_F(SecretFileTest, DoesNotReplaceAnUnreadableSecret) {
  // A link to a secret on a volume that is not mounted: unreadable for every
  // user, root included.
  const auto path = dir_ + "/url-secret";
  ASSERT_EQ(::symlink((dir_ + "/unmounted/url-secret").c_str(), path.c_str()), 0);
  // Replacing it would silently invalidate every signed URL (and every other
  // node's); refusing to start is the safe answer.
  EXPECT_THROW(load_or_create_secret(path), std::runtime_error);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced";
}

TEST_F(SecretFileTest, DoesNotReplaceASecretWithoutReadPermission) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file; the link case above covers root";
  const auto path = dir_ + "/url-secret";
  const std::string existing(32, 's');
  std::ofstream(path, std::ios::binary) << existing;
  ASSERT_EQ(::chmod(path.c_str(), 0000), 0);
  EXPECT_THROW(load_or_create_secret(path), std::runtime_error);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_EQ(read(path), existing);
}

}  // namespace
}  // namespace hifi
