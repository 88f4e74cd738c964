// RequestTarget against Boost.URL's parse_origin_form, which the router
// used before: the same targets accepted, split and decoded the same way.
#include "server/request_target.h"

#include <gtest/gtest.h>

#include <boost/url.hpp>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace hifi {
namespace {

void expect_same_as_boost(const std::string& target) {
  SCOPED_TRACE(target);
  const auto mine = RequestTarget::parse(target);
  const auto boost = boost::urls::parse_origin_form(target);
  ASSERT_EQ(mine.has_value(), static_cast<bool>(boost));
  if (!mine) return;
  EXPECT_EQ(mine->encoded_path(), std::string_view(boost->encoded_path()));
  EXPECT_EQ(mine->has_query(), boost->has_query());
  EXPECT_EQ(mine->encoded_query(), std::string_view(boost->encoded_query()));
  EXPECT_EQ(mine->path(), std::string(boost->path()));
  std::vector<std::string> segments;
  for (auto segment : boost->segments()) segments.push_back(segment);
  EXPECT_EQ(mine->segments(), segments);
  std::vector<std::pair<std::string, std::string>> params;
  for (auto param : boost->params()) params.emplace_back(param.key, param.value);
  EXPECT_EQ(mine->query_params(), params);
}

TEST(RequestTargetTest, SplitsAndDecodes) {
  const auto t = RequestTarget::parse("/api/v1/songs/a%20b/stream?expires=1&signature=x%2By");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encoded_path(), "/api/v1/songs/a%20b/stream");
  EXPECT_TRUE(t->has_query());
  EXPECT_EQ(t->encoded_query(), "expires=1&signature=x%2By");
  EXPECT_EQ(t->path(), "/api/v1/songs/a b/stream");
  EXPECT_EQ(t->segments(), (std::vector<std::string>{"api", "v1", "songs", "a b", "stream"}));
  EXPECT_TRUE(RequestTarget::parse("/")->segments().empty());
  EXPECT_EQ(RequestTarget::parse("/a/")->segments(), (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(RequestTarget::parse("/a%2Fb")->segments(), (std::vector<std::string>{"a/b"}));
  EXPECT_FALSE(RequestTarget::parse("/a")->has_query());
  EXPECT_TRUE(RequestTarget::parse("/a?")->has_query());
  using Params = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(t->query_params(), (Params{{"expires", "1"}, {"signature", "x+y"}}));
  EXPECT_EQ(RequestTarget::parse("/a?x+y=%41+b&n&=v&k==w&k=2")->query_params(),
            (Params{{"x y", "A b"}, {"n", ""}, {"", "v"}, {"k", "=w"}, {"k", "2"}}));
  EXPECT_TRUE(RequestTarget::parse("/a")->query_params().empty());
  EXPECT_EQ(RequestTarget::parse("/a?")->query_params(), (Params{{"", ""}}));
  EXPECT_EQ(RequestTarget::parse("/a?a=1&")->query_params(), (Params{{"a", "1"}, {"", ""}}));
  // A target never parsed (a request context's before the router ran).
  EXPECT_TRUE(RequestTarget().segments().empty());
  EXPECT_TRUE(RequestTarget().query_params().empty());
}

TEST(RequestTargetTest, RefusesWhatIsNotAnOriginForm) {
  for (const char* bad : {"", "a", "*", "http://host/a", "/a b", "/a#frag", "/a?b#c", "/%", "/%4", "/%G1", "/a?%",
                          "/a?x=%zz", "/\x7f", "/\x80", "/a\\b", "/a\"b", "/a<b>", "/a{b}", "/a|b", "/a^b", "/a`b",
                          "/a[b]", "/a?[b]"}) {
    EXPECT_FALSE(RequestTarget::parse(bad)) << bad;
  }
}

TEST(RequestTargetTest, AgreesWithBoostUrlOnKnownTargets) {
  for (const char* target :
       {"/", "//", "//a", "/a/", "/a//b", "/a%2Fb/c", "/a?x", "/a?", "/?q=1", "/a+b", "/%41", "/a?b?c", "/a?b/c",
        "/a:b@c", "/a;b=c,d", "/~a-b_c.d", "/!$&'()*+,;=", "/a?!$&'()*+,;=:@/?", "/%00", "/%ff%FF", "/a%2f..%2f..",
        "/../x", "/./x", "/a?x=1&x=2&&y", "/rest/ping.view?u=a&p=enc:6869", "/api/v1/songs/0123456789abcdef/stream",
        "/a?&", "/a?a=1&", "/a?=x", "/a?a==b", "/a?x+y=%41+b", "/a?%2B=%26%3D"}) {
    expect_same_as_boost(target);
  }
}

// Random targets over an alphabet that mixes allowed characters, forbidden
// ones and escapes, half of them starting with '/'.
TEST(RequestTargetTest, AgreesWithBoostUrlOnRandomTargets) {
  std::mt19937 rng(20261207);
  const std::string alphabet =
      "abcXYZ0189-._~!$&'()*+,;=:@/?%#[]{}<>\"\\|^` \t\x7f\x80\xff";
  const std::string allowed = "abcXYZ0189-._~!$&'()*+,;=:@/?";  // every other target: valid ones mostly
  const std::vector<std::string> pieces = {"%20", "%2F", "%2f", "%zz", "%4", "%", "?", "/", "//", "%E2%82%AC"};
  std::uniform_int_distribution<int> length(0, 24);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string target = i % 2 == 0 ? "/" : "";
    const int n = length(rng);
    for (int k = 0; k < n; ++k) {
      if (rng() % 4 == 0) {
        target += pieces[rng() % pieces.size()];
      } else {
        const auto& chars = i % 4 < 2 ? allowed : alphabet;
        target += chars[rng() % chars.size()];
      }
    }
    accepted += RequestTarget::parse(target).has_value() ? 1 : 0;
    expect_same_as_boost(target);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(accepted, 2000);  // the splitting was compared too, not only refusals
}

}  // namespace
}  // namespace hifi
