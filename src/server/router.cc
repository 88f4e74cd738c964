#include "server/router.h"

#include "common/check.h"

namespace hifi::http_internal {
namespace {

// Splits "/api/v1/songs/{}" into literal segments and placeholders.
std::vector<std::string> split_pattern(const std::string& pattern) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= pattern.size()) {
    auto end = pattern.find('/', start);
    if (end == std::string::npos) end = pattern.size();
    out.push_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Router::Router() {
  for (auto* table : {health_routes, auth_routes, credential_routes, user_routes, song_routes, library_routes,
                      room_routes, room_socket_routes, annotation_routes, playlist_routes, share_routes,
                      cluster_routes, subsonic_routes}) {
    for (auto& r : table()) {
      auto segments = split_pattern(r.pattern);
      std::vector<bool> placeholder;
      for (const auto& segment : segments) placeholder.push_back(segment == "{}");
      routes_.push_back({r, std::move(segments), std::move(placeholder)});
    }
  }
  HIFI_CHECK(routes_.size() < 0xffff, "too many routes for the route index");
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& r = routes_[i];
    const auto n = r.segments.size();
    HIFI_CHECK(n > 0, "route pattern " + r.route.pattern + " has no segment");
    if (by_size_.size() <= n) by_size_.resize(n + 1);
    auto& bucket = by_size_[n];
    const auto key = key_of(n);
    (r.placeholder[key] ? bucket.any_key : bucket.by_key[r.segments[key]]).push_back(static_cast<std::uint16_t>(i));
  }
}

Router::Match Router::find(http::verb method, const std::vector<std::string_view>& segments) const {
  Match out;
  const auto verb = method == http::verb::head ? http::verb::get : method;
  const auto consider = [&](const CompiledRoute& r) {
    for (std::size_t i = 0; i < r.segments.size(); ++i) {
      if (!r.placeholder[i] && r.segments[i] != segments[i]) return false;
    }
    if (r.route.method == verb) {
      out.route = &r;
      return true;
    }
    if (!out.allowed.empty()) out.allowed += ", ";
    out.allowed += http::to_string(r.route.method);
    if (r.route.method == http::verb::get) out.allowed += ", HEAD";
    return false;
  };
  if (segments.empty() || segments.size() >= by_size_.size()) return out;
  // The routes keyed by this path's key segment and those with a
  // placeholder there, merged back into table order.
  const auto& bucket = by_size_[segments.size()];
  static const std::vector<std::uint16_t> kNone;
  const auto keyed = bucket.by_key.find(segments[key_of(segments.size())]);
  const auto& a = keyed == bucket.by_key.end() ? kNone : keyed->second;
  const auto& b = bucket.any_key;
  for (std::size_t i = 0, j = 0; i < a.size() || j < b.size();) {
    const bool from_a = j == b.size() || (i < a.size() && a[i] < b[j]);
    if (consider(routes_[from_a ? a[i++] : b[j++]])) break;
  }
  return out;
}

}  // namespace hifi::http_internal
