// Play queues and bookmarks: getPlayQueue, savePlayQueue (no id clears
// it), OpenSubsonic's getPlayQueueByIndex and savePlayQueueByIndex,
// getBookmarks, createBookmark, deleteBookmark. Positions are in
// milliseconds, as the spec has them.
#include <fmt/format.h>

#include <algorithm>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"

namespace hifi::subsonic {
namespace {

constexpr std::int64_t kMaxPositionMs = 100LL * 3600 * 1000;

Expected<std::vector<std::string>> queue_songs(const Call& call) {
  auto ids = call.params.all("id");
  if (ids.size() > kMaxPlayQueueSongs) {
    return generic_error(fmt::format("a play queue holds at most {} songs", kMaxPlayQueueSongs));
  }
  for (const auto& text : ids) {
    auto id = parse_id(text);
    if (!id || id->kind != IdKind::kSong) return not_found_error(fmt::format("'{}' is not a song id", text.substr(0, 64)));
  }
  return ids;
}

Expected<Body> play_queue(const Call& call, bool by_index) {
  auto queue = call.play_queues.get(call.caller.user.id);
  if (!queue) return error_from_status(queue.status());
  if (!*queue) return Body{};
  const auto& q = **queue;
  Element e(by_index ? "playQueueByIndex" : "playQueue");
  std::vector<Song> songs;
  std::int64_t current_index = -1;
  for (const auto& id : q.songs) {
    auto song = call.catalog.get(id);
    if (!song) continue;
    if (current_index < 0 && id == q.current) current_index = static_cast<std::int64_t>(songs.size());
    songs.push_back(std::move(*song));
  }
  if (by_index) {
    if (current_index >= 0) e.set("currentIndex", current_index);
  } else if (current_index >= 0) {
    e.set("current", q.current);
  }
  e.set("position", q.position_ms)
      .set("username", call.caller.user.username)
      .set("changed", iso_time(q.changed_at))
      .set("changedBy", q.changed_by);
  for (const auto& s : songs) e.add(song_entry(s, "entry"));
  return Body{std::move(e)};
}

Expected<Body> get_play_queue(const Call& call) { return play_queue(call, false); }
Expected<Body> get_play_queue_by_index(const Call& call) { return play_queue(call, true); }

Expected<Body> save(const Call& call, PlayQueue queue) {
  auto position = call.params.integer("position", 0, kMaxPositionMs, 0);
  if (!position) return position.error();
  queue.position_ms = *position;
  queue.changed_by = call.params.get("c").value_or("");
  if (auto s = call.play_queues.save(call.caller.user.id, queue); !s) return error_from_status(s);
  return Body{};
}

Expected<Body> save_play_queue(const Call& call) {
  auto songs = queue_songs(call);
  if (!songs) return songs.error();
  PlayQueue queue;
  queue.songs = std::move(*songs);
  queue.current = call.params.get("current").value_or("");
  if (!queue.current.empty() && std::find(queue.songs.begin(), queue.songs.end(), queue.current) == queue.songs.end()) {
    return generic_error("current must be one of the queue's ids");
  }
  return save(call, std::move(queue));
}

Expected<Body> save_play_queue_by_index(const Call& call) {
  auto songs = queue_songs(call);
  if (!songs) return songs.error();
  PlayQueue queue;
  queue.songs = std::move(*songs);
  if (call.params.has("currentIndex")) {
    if (queue.songs.empty()) return generic_error("currentIndex needs ids");
    auto index = call.params.integer("currentIndex", 0, static_cast<std::int64_t>(queue.songs.size()) - 1, 0);
    if (!index) return index.error();
    queue.current = queue.songs[static_cast<std::size_t>(*index)];
  }
  return save(call, std::move(queue));
}

Expected<Body> get_bookmarks(const Call& call) {
  auto marks = call.play_queues.bookmarks(call.caller.user.id);
  if (!marks) return error_from_status(marks.status());
  Element list("bookmarks");
  for (const auto& b : *marks) {
    auto song = call.catalog.get(b.song_id);
    if (!song) continue;
    Element e = Element::item("bookmark");
    e.set("position", b.position_ms).set("username", call.caller.user.username);
    e.set_if("comment", b.comment);
    e.set("created", iso_time(b.created_at)).set("changed", iso_time(b.changed_at));
    e.add(song_entry(*song, "entry").set_repeated(false));
    list.add(std::move(e));
  }
  return Body{std::move(list)};
}

Expected<Body> create_bookmark(const Call& call) {
  auto id = id_param(call.params);
  if (!id) return id.error();
  if (id->kind != IdKind::kSong) return not_found_error("bookmarks are on songs; give a song id");
  auto position = call.params.required_integer("position", 0, kMaxPositionMs);
  if (!position) return position.error();
  if (auto e = check_in_library(call.catalog, *id)) return *e;
  if (auto s = call.play_queues.set_bookmark(call.caller.user.id, id->id, *position,
                                             call.params.get("comment").value_or(""));
      !s) {
    return error_from_status(s);
  }
  return Body{};
}

Expected<Body> delete_bookmark(const Call& call) {
  auto id = id_param(call.params);
  if (!id) return id.error();
  if (id->kind != IdKind::kSong) return not_found_error("bookmarks are on songs; give a song id");
  if (auto s = call.play_queues.delete_bookmark(call.caller.user.id, id->id); !s) return error_from_status(s);
  return Body{};
}

}  // namespace

std::vector<Endpoint> play_queue_endpoints() {
  return {
      {"getPlayQueue", true, get_play_queue},
      {"savePlayQueue", true, save_play_queue},
      {"getPlayQueueByIndex", true, get_play_queue_by_index},
      {"savePlayQueueByIndex", true, save_play_queue_by_index},
      {"getBookmarks", true, get_bookmarks},
      {"createBookmark", true, create_bookmark},
      {"deleteBookmark", true, delete_bookmark},
  };
}

}  // namespace hifi::subsonic
