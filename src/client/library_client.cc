#include "client/library_client.h"

#include <boost/json.hpp>

#include <charconv>

namespace hifi::client {
namespace json = boost::json;
namespace {

std::string item_path(LibraryItem kind, const std::string& id) {
  const char* base = kind == LibraryItem::kSong ? "/api/v1/songs/" : kind == LibraryItem::kAlbum ? "/api/v1/albums/"
                                                                                                 : "/api/v1/artists/";
  return base + url_encode(id);
}

json::array strings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& s : items) out.push_back(json::value(s));
  return out;
}

}  // namespace

ApiResult<bool> LibraryClient::no_content(const std::string& method, const std::string& target,
                                          const json::value* body) {
  ApiResult<bool> out;
  auto r = api_.request(method, target, body ? json::serialize(*body) : std::string(),
                        body ? std::map<std::string, std::string>{{"Content-Type", "application/json"}}
                             : std::map<std::string, std::string>{});
  if (!r) {
    out.error = r.error;
    return out;
  }
  out.value = true;
  return out;
}

ApiResult<bool> LibraryClient::star(LibraryItem kind, const std::string& id, bool starred) {
  return no_content(starred ? "PUT" : "DELETE", item_path(kind, id) + "/star", nullptr);
}

ApiResult<bool> LibraryClient::rate(LibraryItem kind, const std::string& id, int rating) {
  const json::value body = {{"rating", rating}};
  return no_content("PUT", item_path(kind, id) + "/rating", &body);
}

ApiResult<json::value> LibraryClient::starred() { return api_.json("GET", "/api/v1/me/starred"); }

ApiResult<json::value> LibraryClient::history(int limit, const std::string& cursor) {
  std::string target = "/api/v1/me/history?limit=" + std::to_string(limit);
  if (!cursor.empty()) target += "&cursor=" + url_encode(cursor);
  return api_.json("GET", target);
}

ApiResult<json::value> LibraryClient::record_play(const std::string& song_id, const std::string& client) {
  json::value body = {{"song_id", song_id}};
  if (!client.empty()) body.as_object()["client"] = client;
  return api_.json("POST", "/api/v1/me/history", &body);
}

ApiResult<json::value> LibraryClient::playlists() { return api_.json("GET", "/api/v1/playlists"); }

ApiResult<json::value> LibraryClient::playlist(const std::string& id) {
  return api_.json("GET", "/api/v1/playlists/" + url_encode(id));
}

ApiResult<json::value> LibraryClient::create_playlist(const std::string& name, const std::string& comment,
                                                      bool is_public, const std::vector<std::string>& song_ids) {
  const json::value body = {{"name", name}, {"comment", comment}, {"public", is_public}, {"song_ids", strings(song_ids)}};
  return api_.json("POST", "/api/v1/playlists", &body);
}

ApiResult<json::value> LibraryClient::update_playlist(const std::string& id, const PlaylistChange& change) {
  json::object body;
  if (change.name) body["name"] = *change.name;
  if (change.comment) body["comment"] = *change.comment;
  if (change.is_public) body["public"] = *change.is_public;
  if (!change.add.empty()) body["add"] = strings(change.add);
  if (!change.remove.empty()) {
    json::array remove;
    for (auto i : change.remove) remove.push_back(i);
    body["remove"] = std::move(remove);
  }
  const json::value value = std::move(body);
  return api_.json("PATCH", "/api/v1/playlists/" + url_encode(id), &value);
}

ApiResult<bool> LibraryClient::delete_playlist(const std::string& id) {
  return no_content("DELETE", "/api/v1/playlists/" + url_encode(id), nullptr);
}

ApiResult<json::value> LibraryClient::shares() { return api_.json("GET", "/api/v1/shares"); }

ApiResult<json::value> LibraryClient::create_share(const ShareRequest& request) {
  json::object body;
  if (!request.song_ids.empty()) body["song_ids"] = strings(request.song_ids);
  if (!request.album_id.empty()) body["album_id"] = request.album_id;
  if (!request.playlist_id.empty()) body["playlist_id"] = request.playlist_id;
  if (!request.description.empty()) body["description"] = request.description;
  if (request.expires_at != 0) body["expires_at"] = request.expires_at;
  const json::value value = std::move(body);
  return api_.json("POST", "/api/v1/shares", &value);
}

ApiResult<bool> LibraryClient::delete_share(const std::string& id) {
  return no_content("DELETE", "/api/v1/shares/" + url_encode(id), nullptr);
}

std::optional<std::int64_t> parse_duration_ms(const std::string& text) {
  if (text.size() < 2 || text.size() > 12) return std::nullopt;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || end != text.data() + text.size() - 1 || n <= 0) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1000; break;
    case 'm': unit = 60'000; break;
    case 'h': unit = 3'600'000; break;
    case 'd': unit = 86'400'000; break;
    case 'w': unit = 7 * 86'400'000LL; break;
    default: return std::nullopt;
  }
  constexpr std::int64_t kTenYearsMs = 3653LL * 86'400'000;
  if (n > kTenYearsMs / unit) return std::nullopt;
  return n * unit;
}

}  // namespace hifi::client
