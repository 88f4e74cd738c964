#include "common/content_hash.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <unordered_set>

namespace hifi {
namespace {

// sha256("hello")
constexpr const char* kHello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

TEST(ContentHashTest, ParseRoundTripsHexAndDigest) {
  auto h = ContentHash::parse(kHello);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->hex(), kHello);
  EXPECT_EQ(h->digest(), sha256("hello"));
  EXPECT_EQ(*h, ContentHash::from_digest(sha256("hello")));
  EXPECT_EQ(*h, ContentHash::of("hello"));
  EXPECT_EQ(h->short_hex(), "2cf24dba5fb0");
}

TEST(ContentHashTest, ParseRejectsAnythingButLowercaseHex) {
  const std::string hello = kHello;
  for (const std::string& bad :
       {std::string(), hello.substr(1), hello + "0", std::string(64, 'A'), std::string(63, 'a') + "g",
        std::string("../../etc/passwd"), "2c/f2/" + hello.substr(6), hello.substr(0, 63) + " "}) {
    auto h = ContentHash::parse(bad);
    ASSERT_FALSE(h) << bad;
    EXPECT_EQ(h.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(h.status().message(), "expected 64 lowercase hex digits");
  }
  EXPECT_TRUE(ContentHash::parse(std::string(64, '0')));
  EXPECT_TRUE(ContentHash::parse(std::string(64, 'f')));
}

TEST(ContentHashTest, FromDigestMatchesToHex) {
  for (const char* text : {"", "a", "some longer bytes"}) {
    const auto d = sha256(text);
    const auto h = ContentHash::from_digest(d);
    EXPECT_EQ(h.hex(), to_hex(d));
    EXPECT_EQ(h.digest(), d);
    EXPECT_EQ(ContentHash::parse(h.hex()).value(), h);
  }
}

TEST(ContentHashTest, DefaultIsTheZeroDigest) {
  ContentHash h;
  EXPECT_EQ(h.hex(), std::string(64, '0'));
  EXPECT_EQ(h.digest(), Digest{});
}

TEST(ContentHashTest, OrderAndHashFollowTheDigest) {
  const auto a = ContentHash::parse(std::string(63, '0') + "1").value();
  const auto b = ContentHash::parse(std::string(63, '0') + "2").value();
  const auto c = ContentHash::parse("1" + std::string(63, '0')).value();
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, ContentHash::parse(a.hex()).value());
  // Ordered like the hex text, so sorted lists read naturally.
  EXPECT_EQ(a < c, a.hex() < c.hex());
  std::set<ContentHash> ordered{c, a, b, a};
  EXPECT_EQ(ordered.size(), 3u);
  EXPECT_EQ(*ordered.begin(), a);
  std::unordered_set<ContentHash> hashed{a, b, c, b};
  EXPECT_EQ(hashed.size(), 3u);
  EXPECT_TRUE(hashed.count(ContentHash::parse(b.hex()).value()));
  EXPECT_EQ(std::hash<ContentHash>{}(a), std::hash<ContentHash>{}(ContentHash::parse(a.hex()).value()));
}

TEST(ContentHashTest, StreamsAsHex) {
  std::ostringstream out;
  out << ContentHash::of("hello");
  EXPECT_EQ(out.str(), kHello);
}

}  // namespace
}  // namespace hifi
