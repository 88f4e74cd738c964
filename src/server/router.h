// Router: HiFi's route tables, and which route a request's path and method
// name. The HTTP server asks it once per request, before authentication.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_internal.h"

namespace hifi::http_internal {

class Router {
 public:
  struct CompiledRoute {
    Route route;
    std::vector<std::string> segments;
    std::vector<bool> placeholder;  // per segment: "{}", which any value matches
  };
  struct Match {
    const CompiledRoute* route = nullptr;  // null: none for this method
    // When no route matched: the methods of the routes the path does match
    // ("GET, HEAD, DELETE"), in table order, for a 405's Allow; empty: 404.
    std::string allowed;
  };

  // Every route of every table, in table order. Crashes on a pattern
  // without segments (a programming error).
  Router();

  // The first route, in table order, whose pattern the decoded segments
  // match and whose method is `method` (HEAD is served by GET).
  Match find(http::verb method, const std::vector<std::string_view>& segments) const;

 private:
  // The routes a path may match, found without comparing it with every
  // route: by the number of its segments, then by its key segment (the
  // third, or the last of a shorter path: "songs" in /api/v1/songs/{}/stream,
  // "getSong.view" in /rest/getSong.view). Each list is in table order, and
  // find() merges the two it looks at back into that order, so the first
  // route that matches is the one a walk of the whole table finds.
  static std::size_t key_of(std::size_t segments) { return std::min<std::size_t>(2, segments - 1); }
  struct BySize {
    std::map<std::string, std::vector<std::uint16_t>, std::less<>> by_key;
    std::vector<std::uint16_t> any_key;  // a placeholder at the key segment
  };

  std::vector<CompiledRoute> routes_;
  std::vector<BySize> by_size_;  // [number of segments]
};

}  // namespace hifi::http_internal
