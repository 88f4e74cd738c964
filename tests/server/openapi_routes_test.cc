// Every route of HiFi's own API is documented in docs/api.yaml, with its
// method, and every documented path is served: the document and the route
// tables cannot drift apart. (The Subsonic API, under /rest/, is
// documented in docs/subsonic.md.)
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "server/http_internal.h"

namespace hifi::http_internal {
namespace {

// "/api/v1/songs/{songId}/star" -> "/api/v1/songs/{}/star"
std::string route_shape(const std::string& path) {
  return std::regex_replace(path, std::regex("\\{[^}/]*\\}"), "{}");
}

std::string verb(http::verb v) {
  auto name = std::string(http::to_string(v));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

// Path shape -> documented methods, read from the document's `paths:`.
std::map<std::string, std::set<std::string>> documented() {
  std::ifstream in(std::string(HIFI_SOURCE_DIR) + "/docs/api.yaml");
  EXPECT_TRUE(in) << "cannot read docs/api.yaml";
  std::map<std::string, std::set<std::string>> out;
  const std::regex path_line("^  (/[^:]*):\\s*$");
  const std::regex method_line("^    (get|put|post|patch|delete|head):\\s*$");
  std::string line, current;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (line.rfind("paths:", 0) == 0) {
      in_paths = true;
      continue;
    }
    if (in_paths && !line.empty() && line[0] != ' ' && line[0] != '#') break;
    if (!in_paths) continue;
    std::smatch m;
    if (std::regex_match(line, m, path_line)) {
      current = route_shape(m[1]);
      out[current];
    } else if (!current.empty() && std::regex_match(line, m, method_line)) {
      out[current].insert(m[1]);
    }
  }
  return out;
}

TEST(OpenApiRoutes, EveryRouteIsDocumentedAndEveryDocumentedPathIsServed) {
  const auto docs = documented();
  ASSERT_GT(docs.size(), 10u);
  std::set<std::string> served;
  for (auto* table : {health_routes, auth_routes, credential_routes, user_routes, song_routes, library_routes,
                      room_routes, room_socket_routes, annotation_routes, playlist_routes, share_routes,
                      cluster_routes}) {
    for (const auto& route : table()) {
      served.insert(route.pattern);
      auto it = docs.find(route.pattern);
      if (it == docs.end()) {
        ADD_FAILURE() << route.pattern << " is not in docs/api.yaml";
        continue;
      }
      EXPECT_TRUE(it->second.count(verb(route.method))) << verb(route.method) << " " << route.pattern
                                                        << " is not documented";
    }
  }
  for (const auto& [path, methods] : docs) {
    EXPECT_TRUE(served.count(path)) << path << " is documented but not served";
  }
}

}  // namespace
}  // namespace hifi::http_internal
