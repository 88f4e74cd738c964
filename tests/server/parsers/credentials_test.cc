#include "server/credentials.h"

#include <gtest/gtest.h>

namespace hifi {
namespace {

TEST(Credentials, BearerTokenIsTakenFromTheHeader) {
  EXPECT_EQ(parse_bearer("Bearer abc123").value(), "abc123");
  EXPECT_EQ(parse_bearer("bearer abc123").value(), "abc123");  // the scheme is case-insensitive
  EXPECT_EQ(parse_bearer("BEARER   abc123  ").value(), "abc123");
  EXPECT_EQ(parse_bearer("Bearer a-b.c_d~e+f/g==").value(), "a-b.c_d~e+f/g==");
}

TEST(Credentials, MalformedHeadersAreUnauthenticated) {
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer    ", "Basic YWxpY2U6cHc=", "Bearerabc",
                          "Bearer a b", "Bearer a\"b", "Bearer ===", "Token abc"}) {
    auto r = parse_bearer(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << bad;
    EXPECT_FALSE(r.status().message().empty());
  }
  EXPECT_TRUE(parse_bearer("Bearer " + std::string(kMaxTokenBytes, 'a')).is_ok());
  EXPECT_FALSE(parse_bearer("Bearer " + std::string(kMaxTokenBytes + 1, 'a')).is_ok());
}

TEST(Credentials, TheHeaderWinsOverTheQueryParameter) {
  EXPECT_EQ(extract_token({"Bearer from-header", std::string_view("from-query")}).value(), "from-header");
  EXPECT_EQ(extract_token({"", std::string_view("from-query")}).value(), "from-query");
  // A route that does not allow query tokens ignores them.
  EXPECT_EQ(extract_token({"", std::nullopt}).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(extract_token({"", std::string_view("")}).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(extract_token({"", std::string_view("a b")}).status().code(), Code::kUnauthenticated);
  // A bad header is not rescued by a query token.
  EXPECT_FALSE(extract_token({"Basic x", std::string_view("from-query")}).is_ok());
}

}  // namespace
}  // namespace hifi
