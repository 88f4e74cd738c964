// Playlists: getPlaylists, getPlaylist, createPlaylist (also replacing an
// existing playlist's songs), updatePlaylist, deletePlaylist: over HiFi's
// Playlists service, so a playlist made in an app is the same one the web
// app and `hifi playlists` show.
//
// A playlist's Subsonic id is its HiFi id (16 hex digits). Its cover art is
// that of its first song with a cover.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"

namespace hifi::subsonic {
namespace {

constexpr std::size_t kMaxIdsPerCall = kMaxPlaylistSongs;

std::string owner_name(const Call& call, const std::string& user_id) {
  if (user_id == call.caller.user.id) return call.caller.user.username;
  auto user = call.accounts.get_user(user_id);
  return user ? user->username : std::string();
}

Element playlist_element(const Call& call, const Playlist& p, const std::vector<Song>& songs, const char* name) {
  std::int64_t duration_ms = 0;
  std::string cover;
  for (const auto& s : songs) {
    duration_ms += s.duration_ms;
    if (cover.empty() && s.cover_sha256) cover = s.id;
  }
  Element e = Element::item(name);
  e.set("id", p.id).set("name", p.name);
  e.set_if("comment", p.comment);
  e.set("owner", owner_name(call, p.owner))
      .set("public", p.is_public)
      .set("songCount", static_cast<std::int64_t>(songs.size()))
      .set("duration", (duration_ms + 500) / 1000)
      .set("created", iso_time(p.created_at))
      .set("changed", iso_time(p.updated_at));
  if (!cover.empty()) e.set("coverArt", cover);
  return e;
}

Element playlist_with_songs(const Call& call, const Playlist& p) {
  const auto songs = songs_of(call.catalog, p.songs);
  auto e = playlist_element(call, p, songs, "playlist");
  e.set_repeated(false);
  for (const auto& s : songs) e.add(song_entry(s, "entry"));
  return e;
}

// Song ids from a repeated parameter, each a song of the library.
Expected<std::vector<std::string>> song_ids(const Call& call, std::string_view name) {
  auto texts = call.params.all(name);
  if (texts.size() > kMaxIdsPerCall) {
    return generic_error(fmt::format("a playlist holds at most {} songs", kMaxPlaylistSongs));
  }
  for (const auto& text : texts) {
    auto id = parse_id(text);
    if (!id || id->kind != IdKind::kSong) return not_found_error(fmt::format("'{}' is not a song id", text.substr(0, 64)));
    if (auto e = check_in_library(call.catalog, *id)) return *e;
  }
  return texts;
}

Expected<Body> get_playlists(const Call& call) {
  const auto& me = call.caller.user;
  User viewer = me;
  if (auto name = call.params.get("username"); name && *name != me.username) {
    if (!me.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may list another user's playlists"};
    auto state = call.accounts.account_state_by_name(*name);
    if (!state) return error_from_status(state.status());
    viewer = state->user;
    viewer.role = "user";  // their view, not an admin's
  }
  Element list("playlists");
  for (const auto& p : call.playlists.list(viewer)) {
    list.add(playlist_element(call, p, songs_of(call.catalog, p.songs), "playlist"));
  }
  return Body{std::move(list)};
}

Expected<Body> get_playlist(const Call& call) {
  auto id = call.params.required("id");
  if (!id) return id.error();
  auto p = call.playlists.get(*id, call.caller.user);
  if (!p) return error_from_status(p.status());
  return Body{playlist_with_songs(call, *p)};
}

// createPlaylist: `name` makes a new playlist; `playlistId` replaces the
// songs of an existing one (the old API's way to edit).
Expected<Body> create_playlist(const Call& call) {
  auto songs = song_ids(call, "songId");
  if (!songs) return songs.error();
  const auto playlist_id = call.params.get("playlistId");
  const auto name = call.params.get("name");
  if (playlist_id) {
    PlaylistEdit edit;
    edit.songs = *songs;
    if (name) edit.name = *name;
    auto p = call.playlists.update(*playlist_id, call.caller.user, edit);
    if (!p) return error_from_status(p.status());
    return Body{playlist_with_songs(call, *p)};
  }
  if (!name) return missing_parameter("name");
  auto p = call.playlists.create(call.caller.user, *name, "", false, *songs);
  if (!p) return error_from_status(p.status());
  return Body{playlist_with_songs(call, *p)};
}

Expected<Body> update_playlist(const Call& call) {
  auto id = call.params.required("playlistId");
  if (!id) return id.error();
  PlaylistEdit edit;
  edit.name = call.params.get("name");
  edit.comment = call.params.get("comment");
  if (call.params.has("public")) {
    auto is_public = call.params.boolean("public", false);
    if (!is_public) return is_public.error();
    edit.is_public = *is_public;
  }
  auto add = song_ids(call, "songIdToAdd");
  if (!add) return add.error();
  edit.add = *add;
  for (const auto& text : call.params.all("songIndexToRemove")) {
    char* end = nullptr;
    const auto index = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || index < 0 || index >= static_cast<long long>(kMaxPlaylistSongs)) {
      return generic_error(fmt::format("songIndexToRemove '{}' is not an index of the playlist", text.substr(0, 32)));
    }
    edit.remove.push_back(static_cast<std::size_t>(index));
  }
  auto p = call.playlists.update(*id, call.caller.user, edit);
  if (!p) return error_from_status(p.status());
  return Body{};
}

Expected<Body> delete_playlist(const Call& call) {
  auto id = call.params.required("id");
  if (!id) return id.error();
  if (auto s = call.playlists.remove(*id, call.caller.user); !s) return error_from_status(s);
  return Body{};
}

}  // namespace

std::vector<Endpoint> playlist_endpoints() {
  return {
      {"getPlaylists", true, get_playlists},
      {"getPlaylist", true, get_playlist},
      {"createPlaylist", true, create_playlist},
      {"updatePlaylist", true, update_playlist},
      {"deletePlaylist", true, delete_playlist},
  };
}

}  // namespace hifi::subsonic
