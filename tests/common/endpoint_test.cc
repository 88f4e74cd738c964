// Endpoint::parse and friends, and resolve_endpoint.
#include "common/endpoint.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/tcp_connect.h"

namespace hifi {
namespace {

Endpoint must_parse(std::string_view url, std::optional<std::uint16_t> default_port = std::nullopt) {
  auto ep = Endpoint::parse(url, default_port);
  EXPECT_TRUE(ep.is_ok()) << url << ": " << ep.status().to_string();
  return ep.is_ok() ? *ep : Endpoint{};
}

TEST(EndpointTest, HostPortAndPath) {
  auto ep = must_parse("http://music.example:8080/hifi");
  EXPECT_EQ(ep.scheme, "http");
  EXPECT_EQ(ep.host, "music.example");
  EXPECT_EQ(ep.port, 8080);
  EXPECT_EQ(ep.base_path, "/hifi");
  EXPECT_EQ(ep.host_header(), "music.example:8080");
  EXPECT_EQ(ep.port_string(), "8080");
  EXPECT_EQ(ep.target("/api/v1/songs"), "/hifi/api/v1/songs");
  EXPECT_EQ(ep.target("api"), "/hifi/api");
  EXPECT_EQ(ep.url("/healthz"), "http://music.example:8080/hifi/healthz");
  EXPECT_EQ(ep.url(), "http://music.example:8080/hifi/");
}

TEST(EndpointTest, DefaultPorts) {
  EXPECT_EQ(must_parse("http://a.example").port, 80);
  EXPECT_EQ(must_parse("https://a.example").port, 443);
  EXPECT_EQ(must_parse("http://a.example:").port, 80);  // an empty port is no port
  EXPECT_EQ(must_parse("http://a.example", 2379).port, 2379);
  EXPECT_EQ(must_parse("http://a.example:8080", 2379).port, 8080);
  EXPECT_EQ(must_parse("http://a.example").host_header(), "a.example:80");
}

TEST(EndpointTest, Ipv6InBrackets) {
  auto ep = must_parse("http://[::1]:8081");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 8081);
  EXPECT_EQ(ep.host_header(), "[::1]:8081");
  EXPECT_EQ(ep.url("/x"), "http://[::1]:8081/x");
  EXPECT_EQ(must_parse("http://[2001:DB8::1]").host, "2001:db8::1");
  EXPECT_EQ(must_parse("http://[2001:DB8::1]").port, 80);
}

TEST(EndpointTest, TrailingSlashesAndCase) {
  EXPECT_EQ(must_parse("http://a.example:1/").base_path, "");
  EXPECT_EQ(must_parse("http://a.example:1//").base_path, "");
  EXPECT_EQ(must_parse("http://a.example:1/p/").base_path, "/p");
  EXPECT_EQ(must_parse("http://a.example:1").target("/x"), "/x");
  EXPECT_EQ(must_parse("http://a.example:1").target(""), "/");
  auto upper = must_parse("HTTP://Music.Example:1");
  EXPECT_EQ(upper.scheme, "http");
  EXPECT_EQ(upper.host, "music.example");
  EXPECT_TRUE(must_parse("https://a.example").is_https());
  EXPECT_FALSE(must_parse("http://a.example").is_https());
  EXPECT_EQ(must_parse("http://10.0.0.7:8080/").host, "10.0.0.7");
}

TEST(EndpointTest, RejectsWhatIsNotAServerUrl) {
  for (std::string_view bad :
       {"", "a.example:8080", "/just/a/path", "ftp://a.example", "http://", "http:///x",
        "http://a.example:0", "http://a.example:65536", "http://a.example:99999999",
        "http://a.example:80x", "http://a.example:8080x/p", "http://user:pw@a.example", "http://a.example/?q=1",
        "http://a.example/#f", "http://[::1", "http://[v1.x]/", "not a url", "http://a b/"}) {
    auto ep = Endpoint::parse(bad);
    EXPECT_FALSE(ep.is_ok()) << bad;
    EXPECT_EQ(ep.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_NE(Endpoint::parse("ftp://a").status().message().find("unsupported scheme 'ftp'"),
            std::string::npos);
  EXPECT_NE(Endpoint::parse("::").status().message().find("not a URL"), std::string::npos);
}

TEST(ResolveEndpointTest, AddressesNeedNoLookup) {
  boost::system::error_code ec;
  auto v4 = resolve_endpoint(must_parse("http://127.0.0.1:8080"), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].address().to_string(), "127.0.0.1");
  EXPECT_EQ(v4[0].port(), 8080);
  auto v6 = resolve_endpoint(must_parse("http://[::1]:9"), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_TRUE(v6[0].address().is_v6());
}

TEST(ResolveEndpointTest, NamesGoThroughTheResolver) {
  boost::system::error_code ec;
  auto local = resolve_endpoint(must_parse("http://localhost:8080"), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(local.empty());
  for (const auto& a : local) EXPECT_EQ(a.port(), 8080);
  auto none = resolve_endpoint(must_parse("http://no-such-host.invalid:1"), ec);
  EXPECT_TRUE(ec);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace hifi
