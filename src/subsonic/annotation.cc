// Annotation: star and unstar (songs, albums, artists), setRating,
// scrobble (now playing, and plays: counts, last played, history) and
// getNowPlaying (from scrobbles, and from HiFi's rooms that are playing).
//
// Plays are counted only from scrobble (and HiFi's own players), never from
// stream: apps fetch ahead, and a fetched song is not a heard one.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "common/sha256.h"
#include "subsonic/endpoints.h"
#include "subsonic/entries.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

constexpr std::size_t kMaxIdsPerCall = 500;
// A now-playing scrobble stays listed for the song's length plus this.
constexpr std::int64_t kNowPlayingSlackMs = 60'000;
constexpr std::int64_t kNowPlayingWindowMs = 6 * 3600 * 1000;

ItemKind kind_of(IdKind kind) {
  switch (kind) {
    case IdKind::kSong: return ItemKind::kSong;
    case IdKind::kAlbum: return ItemKind::kAlbum;
    case IdKind::kArtist: return ItemKind::kArtist;
  }
  return ItemKind::kSong;
}

// The ids of star/unstar: `id` (songs, or albums and artists as the old
// API's folders), `albumId` and `artistId`, each known to the library.
Expected<std::vector<ParsedId>> starred_items(const Call& call) {
  std::vector<ParsedId> out;
  for (const char* name : {"id", "albumId", "artistId"}) {
    for (const auto& text : call.params.all(name)) {
      auto id = parse_id(text);
      if (!id) return not_found_error(fmt::format("'{}' is not the id of a song, album or artist", text.substr(0, 64)));
      out.push_back(std::move(*id));
    }
  }
  if (out.empty()) return missing_parameter("id");
  if (out.size() > kMaxIdsPerCall) return generic_error(fmt::format("at most {} ids per call", kMaxIdsPerCall));
  for (const auto& id : out) {
    if (auto e = check_in_library(call.catalog, id)) return *e;
  }
  return out;
}

Expected<Body> set_starred(const Call& call, bool starred) {
  auto items = starred_items(call);
  if (!items) return items.error();
  for (const auto& id : *items) {
    if (auto s = call.annotations.star(call.caller.user.id, kind_of(id.kind), id.id, starred); !s) {
      return error_from_status(s);
    }
  }
  return Body{};
}

Expected<Body> star(const Call& call) { return set_starred(call, true); }
Expected<Body> unstar(const Call& call) { return set_starred(call, false); }

Expected<Body> set_rating(const Call& call) {
  auto id = id_param(call.params);
  if (!id) return id.error();
  auto rating = call.params.required_integer("rating", 0, 5);
  if (!rating) return rating.error();
  if (auto e = check_in_library(call.catalog, *id)) return *e;
  if (auto s = call.annotations.set_rating(call.caller.user.id, kind_of(id->kind), id->id, static_cast<int>(*rating));
      !s) {
    return error_from_status(s);
  }
  return Body{};
}

// scrobble: id (repeated), time (repeated, Unix ms, one per id or none),
// submission (default true: a play; false: now playing).
Expected<Body> scrobble(const Call& call) {
  const auto ids = call.params.all("id");
  if (ids.empty()) return missing_parameter("id");
  if (ids.size() > kMaxIdsPerCall) return generic_error(fmt::format("at most {} ids per call", kMaxIdsPerCall));
  const auto times = call.params.all("time");
  if (!times.empty() && times.size() != ids.size()) {
    return generic_error("give one time per id, or none");
  }
  auto submission = call.params.boolean("submission", true);
  if (!submission) return submission.error();
  const auto client = call.params.get("c").value_or("");
  std::vector<std::pair<std::string, std::int64_t>> plays;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto id = parse_id(ids[i]);
    if (!id || id->kind != IdKind::kSong) {
      return not_found_error(fmt::format("'{}' is not a song id", ids[i].substr(0, 64)));
    }
    if (auto e = check_in_library(call.catalog, *id)) return *e;
    std::int64_t at = call.now_ms;
    if (!times.empty()) {
      char* end = nullptr;
      errno = 0;
      const auto value = std::strtoll(times[i].c_str(), &end, 10);
      // From 2001 (before any Subsonic app) to a day from now.
      if (times[i].empty() || *end != '\0' || errno != 0 || value < 978'307'200'000LL ||
          value > call.now_ms + 24LL * 3600 * 1000) {
        return generic_error(fmt::format("time '{}' is not a time in Unix milliseconds", times[i].substr(0, 32)));
      }
      at = value;
    }
    plays.emplace_back(id->id, at);
  }
  for (const auto& [song_id, at] : plays) {
    Status s = *submission ? call.annotations.record_play(call.caller.user.id, Play{song_id, at, client, ""})
                           : call.annotations.set_now_playing(call.caller.user.id, song_id, client);
    if (!s) return error_from_status(s);
  }
  return Body{};
}

Element now_playing_entry(const Song& song, const std::string& username, std::int64_t since, std::int64_t now,
                          const std::string& player) {
  auto e = song_entry(song, "entry");
  const auto digest = sha256(player);
  e.set("username", username)
      .set("minutesAgo", std::max<std::int64_t>(0, (now - since) / 60'000))
      .set("playerId", (digest[0] << 8 | digest[1]) & 0x7fff)
      .set("playerName", player);
  return e;
}

Expected<Body> get_now_playing(const Call& call) {
  Element list("nowPlaying");
  auto scrobbles = call.annotations.now_playing(kNowPlayingWindowMs);
  if (!scrobbles) return error_from_status(scrobbles.status());
  std::map<std::string, std::string> names;  // user id -> username
  auto username = [&](const std::string& user_id) {
    auto it = names.find(user_id);
    if (it == names.end()) {
      auto user = call.accounts.get_user(user_id);
      it = names.emplace(user_id, user ? user->username : std::string()).first;
    }
    return it->second;
  };
  for (const auto& np : *scrobbles) {
    auto song = call.catalog.get(np.song_id);
    if (!song || np.since + song->duration_ms + kNowPlayingSlackMs < call.now_ms) continue;
    const auto name = username(np.user_id);
    if (name.empty()) continue;
    list.add(now_playing_entry(*song, name, np.since, call.now_ms, np.client.empty() ? "Subsonic app" : np.client));
  }
  // Rooms that are playing: every listener hears their song now.
  for (const auto& room : call.rooms.list()) {
    const auto* item = room.state.current_item();
    if (!room.state.playing || !item) continue;
    auto song = call.catalog.get(item->song_id);
    if (!song) continue;
    const auto started = room.state.position_at - room.state.position_ms;
    const auto by = username(room.last_command_by.empty() ? room.owner : room.last_command_by);
    if (by.empty()) continue;
    list.add(now_playing_entry(*song, by, started, call.now_ms, "HiFi room: " + room.name));
  }
  return Body{std::move(list)};
}

}  // namespace

std::optional<Error> check_in_library(const Catalog& catalog, const ParsedId& id) {
  switch (id.kind) {
    case IdKind::kSong:
      if (catalog.get_or_read_through(id.id)) return std::nullopt;
      return not_found_error("no song with id '" + id.id + "'");
    case IdKind::kAlbum:
      if (catalog.album(id.id)) return std::nullopt;
      return not_found_error("no album with id '" + album_ref(id.id) + "'");
    case IdKind::kArtist:
      if (!catalog.albums_by_artist(id.id).empty()) return std::nullopt;
      for (const auto& a : catalog.artists("")) {
        if (a.id == id.id) return std::nullopt;
      }
      return not_found_error("no artist with id '" + artist_ref(id.id) + "'");
  }
  return not_found_error("no such id");
}

std::vector<Endpoint> annotation_endpoints() {
  return {
      {"star", true, star},
      {"unstar", true, unstar},
      {"setRating", true, set_rating},
      {"scrobble", true, scrobble},
      {"getNowPlaying", true, get_now_playing},
  };
}

}  // namespace hifi::subsonic
