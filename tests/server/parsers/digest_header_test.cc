#include "server/digest_header.h"

#include <gtest/gtest.h>

#include <string>

namespace hifi {
namespace {

// sha256("hello")
constexpr char kHelloB64[] = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";

Digest hello() { return sha256("hello"); }

std::optional<Digest> parse_ok(std::string_view header) {
  auto r = parse_sha256_digest_header(header);
  EXPECT_TRUE(r.is_ok()) << header << ": " << r.status().to_string();
  if (!r) return std::nullopt;
  return *r;
}

void expect_invalid(std::string_view header) {
  auto r = parse_sha256_digest_header(header);
  ASSERT_FALSE(r.is_ok()) << header;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << header;
}

TEST(DigestHeaderTest, FormatMatchesRfc9530Example) {
  EXPECT_EQ(format_sha256_digest_header(hello()), std::string("sha-256=:") + kHelloB64 + ":");
}

TEST(DigestHeaderTest, RoundTrip) {
  const auto d = sha256("some audio bytes");
  EXPECT_EQ(parse_ok(format_sha256_digest_header(d)), d);
}

TEST(DigestHeaderTest, Sha256Alone) {
  EXPECT_EQ(parse_ok(std::string("sha-256=:") + kHelloB64 + ":"), hello());
}

TEST(DigestHeaderTest, EmptyOrOtherAlgorithmsOnly) {
  EXPECT_EQ(parse_ok(""), std::nullopt);
  EXPECT_EQ(parse_ok("   "), std::nullopt);
  EXPECT_EQ(parse_ok("sha-512=:AAAA:"), std::nullopt);
  EXPECT_EQ(parse_ok("md5=:AAAA:, unixsum=12"), std::nullopt);
}

TEST(DigestHeaderTest, SkipsOtherMembersOfAnyType) {
  const std::string sha = std::string("sha-256=:") + kHelloB64 + ":";
  for (std::string_view other : {
           "sha-512=:AAAA:",
           "unixsum=30637",
           "x=-12",
           "x=3.141",
           "x=-0.5",
           "x=\"a \\\"quoted\\\" \\\\ string\"",
           "x=token/with:colons",
           "x=*star",
           "x=?0",
           "x=?1",
           "flag",
           "flag;a=1;b",
           "x=(1 2 \"three\" :AAAA: ?1);p=x",
           "x=()",
           "x=( a  b )",
           "x=@1700000000",
           "x=%\"caf%c3%a9\"",
           "x=:AAAA:;q=1",
           "x=1;a;b=?0;c=\"s\"",
           "x=:AA:",  // unpadded base64 is tolerated
       }) {
    SCOPED_TRACE(std::string(other));
    EXPECT_EQ(parse_ok(std::string(other) + ", " + sha), hello());
    EXPECT_EQ(parse_ok(sha + "," + std::string(other)), hello());
    EXPECT_EQ(parse_ok(std::string(other) + "\t,\t" + sha + " "), hello());
  }
}

TEST(DigestHeaderTest, ParametersOnSha256AreIgnored) {
  EXPECT_EQ(parse_ok(std::string("sha-256=:") + kHelloB64 + ":;x=1"), hello());
}

TEST(DigestHeaderTest, UnpaddedSha256IsAccepted) {
  std::string unpadded(kHelloB64);
  unpadded.pop_back();
  EXPECT_EQ(parse_ok("sha-256=:" + unpadded + ":"), hello());
}

TEST(DigestHeaderTest, LastDuplicateWins) {
  const auto other = format_sha256_digest_header(sha256("other"));
  EXPECT_EQ(parse_ok(other + ", " + format_sha256_digest_header(hello())), hello());
  // The overwritten member no longer matters, but the last one must be valid.
  EXPECT_EQ(parse_ok("sha-256=1, " + format_sha256_digest_header(hello())), hello());
  expect_invalid(format_sha256_digest_header(hello()) + ", sha-256=1");
}

TEST(DigestHeaderTest, Sha256MustBe32ByteSequence) {
  expect_invalid("sha-256=:AAAA:");
  expect_invalid("sha-256=:" + std::string(kHelloB64) + "AAAA:");
  expect_invalid("sha-256=\"" + std::string(kHelloB64) + "\"");
  expect_invalid("sha-256=" +
                 std::string("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
  expect_invalid("sha-256");
  expect_invalid("sha-256=(:" + std::string(kHelloB64) + ":)");
  expect_invalid("sha-256=::");
}

TEST(DigestHeaderTest, MalformedDictionaries) {
  const std::string sha = format_sha256_digest_header(hello());
  for (const std::string& h : {
           sha + ",",
           "," + sha,
           sha + ",,x=1",
           sha + " x=1",
           sha + ";",
           sha + ";X=1",
           "\t" + sha,
           "SHA-256=:" + std::string(kHelloB64) + ":",
           "1x=1, " + sha,
           "-x=1, " + sha,
           "x=, " + sha,
           "x==1, " + sha,
           "x=:AAA, " + sha,
           "x=:AA!A:, " + sha,
           "x=:A:, " + sha,
           "x=:A===:, " + sha,
           "x=\"unterminated, " + sha,
           "x=\"bad \\n escape\", " + sha,
           "x=\"tab\there\", " + sha,
           "x=\"caf\xc3\xa9\", " + sha,
           "x=?2, " + sha,
           "x=?, " + sha,
           "x=-, " + sha,
           "x=1.2.3, " + sha,
           "x=1., " + sha,
           "x=1.2345, " + sha,
           "x=1234567890123456, " + sha,
           "x=1234567890123.5, " + sha,
           "x=(1 2, " + sha,
           "x=(1,2), " + sha,
           "x=(1)(2), " + sha,
           "x=@1.5, " + sha,
           "x=%\"%C3%A9\", " + sha,
           "x=%\"%ff\", " + sha,
           "x=%abc, " + sha,
           "x=$, " + sha,
           "x=1;, " + sha,
           "x=1; =2, " + sha,
       }) {
    SCOPED_TRACE(h);
    expect_invalid(h);
  }
}

TEST(DigestHeaderTest, NumberLimitsAreInclusive) {
  const std::string sha = format_sha256_digest_header(hello());
  EXPECT_EQ(parse_ok("x=123456789012345, " + sha), hello());
  EXPECT_EQ(parse_ok("x=-123456789012345, " + sha), hello());
  EXPECT_EQ(parse_ok("x=123456789012.123, " + sha), hello());
}

TEST(DigestHeaderTest, LengthLimit) {
  const std::string sha = format_sha256_digest_header(hello());
  std::string padding = "x=\"" + std::string(8 * 1024 - sha.size() - 6, 'a') + "\", ";
  ASSERT_EQ(padding.size() + sha.size(), 8u * 1024);
  EXPECT_EQ(parse_ok(padding + sha), hello());
  expect_invalid(" " + padding + sha);
}

}  // namespace
}  // namespace hifi
