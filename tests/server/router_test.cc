// The router finds a request's route through an index (by the number of
// segments, then by the key segment), merged back into table order. These
// tests compare it with the plain definition: the first route of the tables,
// in order, whose pattern the path matches and whose method is the
// request's.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "server/api_fixture.h"
#include "server/http_internal.h"
#include "support/eventually.h"

namespace hifi::testing {
namespace {

using http_internal::Route;

std::vector<Route> every_route() {
  std::vector<Route> out;
  for (auto* table : {http_internal::health_routes, http_internal::auth_routes, http_internal::credential_routes,
                      http_internal::user_routes, http_internal::song_routes, http_internal::library_routes,
                      http_internal::room_routes, http_internal::room_socket_routes, http_internal::annotation_routes,
                      http_internal::playlist_routes, http_internal::share_routes, http_internal::cluster_routes,
                      http_internal::subsonic_routes}) {
    for (auto& r : table()) out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The plain definition: a walk of the whole table.
std::optional<std::string> first_match(const std::vector<Route>& routes, http::verb method, const std::string& path) {
  const auto segments = split(path);
  for (const auto& r : routes) {
    const auto pattern = split(r.pattern);
    if (pattern.size() != segments.size() || r.method != method) continue;
    bool same = true;
    for (std::size_t i = 0; i < pattern.size() && same; ++i) same = pattern[i] == "{}" || pattern[i] == segments[i];
    if (same) return r.pattern;
  }
  return std::nullopt;
}

// The request counter of the route the router chose (the metrics label is
// its pattern), for every status. The server counts a request after its
// answer is written, so a test waits for the count.
std::uint64_t counted(const std::string& metrics, http::verb method, const std::string& pattern) {
  const auto needle = "hifi_http_requests_total{method=\"" + std::string(http::to_string(method)) + "\",route=\"" +
                      pattern + "\",";
  std::uint64_t total = 0;
  for (auto at = metrics.find(needle); at != std::string::npos; at = metrics.find(needle, at + 1)) {
    const auto value = metrics.find("} ", at);
    total += std::stoull(metrics.substr(value + 2, metrics.find('\n', value) - value - 2));
  }
  return total;
}

class RouterTest : public ApiTest {};

// Every route, reached by a request shaped like it (each placeholder filled
// with a value, and with values that are other routes' literals), lands on
// the route a walk of the whole table finds.
TEST_F(RouterTest, TheIndexFindsTheRouteTheTableOrderGives) {
  const auto routes = every_route();
  ASSERT_GT(routes.size(), 50u);
  int checked = 0;
  for (const auto& r : routes) {
    for (const std::string filler : {"x1", "songs", "by-sha256", "me", "stream"}) {
      std::string path;
      for (const auto& segment : split(r.pattern)) path += "/" + (segment == "{}" ? filler : segment);
      const auto expected = first_match(routes, r.method, path);
      ASSERT_TRUE(expected) << path;
      const auto before = counted(server_->node().metrics().render(), r.method, *expected);
      // No credentials and no body: most routes answer 401 or 400, which is
      // enough, since only the route chosen matters here.
      server_->request(r.method, path);
      ASSERT_TRUE(eventually(
          [&] { return counted(server_->node().metrics().render(), r.method, *expected) == before + 1; },
          std::chrono::seconds(3)))
          << r.method << " " << path << " should be served by " << *expected;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(routes.size()) * 5);
}

// HEAD is served by the GET route, and a segment sent percent-encoded is
// matched decoded ("%73ongs" is "songs"), through the same index.
TEST_F(RouterTest, HeadAndEscapedSegmentsFindTheirRoute) {
  const auto before_head = counted(server_->node().metrics().render(), http::verb::head, "/api/v1/songs/{}/stream");
  server_->request(http::verb::head, "/api/v1/songs/x1/stream");
  EXPECT_TRUE(eventually([&] {
    return counted(server_->node().metrics().render(), http::verb::head, "/api/v1/songs/{}/stream") == before_head + 1;
  }));
  const auto before = counted(server_->node().metrics().render(), http::verb::get, "/api/v1/songs/{}/stream");
  server_->request(http::verb::get, "/api/v1/%73ongs/x%31/str%65am?a=%20b&c");
  EXPECT_TRUE(eventually([&] {
    return counted(server_->node().metrics().render(), http::verb::get, "/api/v1/songs/{}/stream") == before + 1;
  }));
}

// A path that only another method's routes match is a 405 naming each of
// them, in table order; one no route matches is a 404.
TEST_F(RouterTest, OtherMethodsAreNamedAndUnknownPathsAreNotFound) {
  auto res = server_->request(http::verb::put, "/api/v1/songs/x1");
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(res.header("allow"), "GET, HEAD, DELETE, PATCH");
  EXPECT_EQ(server_->request(http::verb::get, "/api/v1/songs/x1/nothing").status, 404);
  EXPECT_EQ(server_->request(http::verb::get, "/api/v1/nothing/x1/stream").status, 404);
  EXPECT_EQ(server_->request(http::verb::get, "/api/v1/a/b/c/d/e/f/g/h/i/j/k").status, 404);
}

}  // namespace
}  // namespace hifi::testing
