#include "library/play_queues.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/text.h"
#include "library/json_record.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kQueuePrefix[] = "play-queues/";
constexpr char kBookmarkPrefix[] = "bookmarks/";
constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxCommentChars = 1'000;
constexpr std::size_t kMaxClientBytes = 100;

Status check_id(const std::string& id, const char* what) {
  if (id.empty() || id.size() > kMaxIdBytes || id.find('/') != std::string::npos) {
    return invalid_argument(std::string("not a ") + what + " id: '" + id.substr(0, kMaxIdBytes) + "'");
  }
  return Status::ok();
}

std::string bookmark_key(const std::string& user_id, const std::string& song_id) {
  return kBookmarkPrefix + user_id + "/" + song_id;
}

}  // namespace

PlayQueues::PlayQueues(MetaStore& store, const Clock& clock) : store_(store), clock_(clock) {}

Result<std::optional<PlayQueue>> PlayQueues::get(const std::string& user_id) const {
  if (auto s = check_id(user_id, "user"); !s) return s;
  auto kv = store_.get(kQueuePrefix + user_id);
  if (!kv) {
    if (kv.status().code() == Code::kNotFound) return std::optional<PlayQueue>();
    return kv.status();
  }
  auto o = parse_record(kv->value);
  if (!o) return std::optional<PlayQueue>();
  PlayQueue q;
  q.songs = json_strings(*o, "songs");
  q.current = json_text(*o, "current");
  q.position_ms = json_int(*o, "position_ms");
  q.changed_at = json_int(*o, "changed_at");
  q.changed_by = json_text(*o, "changed_by");
  return std::optional<PlayQueue>(std::move(q));
}

Status PlayQueues::save(const std::string& user_id, const PlayQueue& queue) {
  if (auto s = check_id(user_id, "user"); !s) return s;
  const auto key = kQueuePrefix + user_id;
  if (queue.songs.empty()) {
    auto txn = store_.txn({}, {Op::del(key)});
    return txn ? Status::ok() : txn.status();
  }
  if (queue.songs.size() > kMaxPlayQueueSongs) {
    return invalid_argument("a play queue holds at most " + std::to_string(kMaxPlayQueueSongs) + " songs");
  }
  for (const auto& id : queue.songs) {
    if (auto s = check_id(id, "song"); !s) return s;
  }
  if (!queue.current.empty() && std::find(queue.songs.begin(), queue.songs.end(), queue.current) == queue.songs.end()) {
    return invalid_argument("the current song must be one of the queue's songs");
  }
  if (queue.position_ms < 0) return invalid_argument("the position must not be negative");
  json::object o;
  o["songs"] = json_array_of(queue.songs);
  o["current"] = queue.current;
  o["position_ms"] = queue.position_ms;
  o["changed_at"] = clock_.now_ms();
  o["changed_by"] = truncate_utf8(is_valid_utf8(queue.changed_by) ? without_control_chars(queue.changed_by) : "",
                                  kMaxClientBytes);
  auto txn = store_.txn({}, {Op::put(key, json::serialize(o))});
  return txn ? Status::ok() : txn.status();
}

Result<std::vector<Bookmark>> PlayQueues::bookmarks(const std::string& user_id) const {
  if (auto s = check_id(user_id, "user"); !s) return s;
  const auto prefix = kBookmarkPrefix + user_id + "/";
  auto range = store_.range(prefix, kMaxBookmarksPerUser + 1);
  if (!range) return range.status();
  std::vector<Bookmark> out;
  for (const auto& kv : range->kvs) {
    auto o = parse_record(kv.value);
    if (!o) continue;
    out.push_back(Bookmark{kv.key.substr(prefix.size()), json_int(*o, "position_ms"), json_text(*o, "comment"),
                           json_int(*o, "created_at"), json_int(*o, "changed_at")});
  }
  std::sort(out.begin(), out.end(), [](const Bookmark& a, const Bookmark& b) { return a.changed_at > b.changed_at; });
  return out;
}

Status PlayQueues::set_bookmark(const std::string& user_id, const std::string& song_id, std::int64_t position_ms,
                                const std::string& comment) {
  if (auto s = check_id(user_id, "user"); !s) return s;
  if (auto s = check_id(song_id, "song"); !s) return s;
  if (position_ms < 0) return invalid_argument("the position must not be negative");
  auto clean = clean_user_text(comment, kMaxCommentChars, "the comment", true);
  if (!clean) return clean.status();
  const auto now = clock_.now_ms();
  auto update = update_json_record(
      store_, bookmark_key(user_id, song_id),
      [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        if (!current) {
          auto count = store_.range(kBookmarkPrefix + user_id + "/", kMaxBookmarksPerUser);
          if (!count) return count.status();
          if (count->kvs.size() >= kMaxBookmarksPerUser) {
            return resource_exhausted("you have " + std::to_string(kMaxBookmarksPerUser) +
                                      " bookmarks, the most one user may have; delete some first");
          }
        }
        json::object o;
        o["position_ms"] = position_ms;
        o["comment"] = *clean;
        o["created_at"] = current ? json_int(*current, "created_at") : now;
        o["changed_at"] = now;
        return std::optional<json::object>(std::move(o));
      });
  return update ? Status::ok() : update.status();
}

Status PlayQueues::delete_bookmark(const std::string& user_id, const std::string& song_id) {
  if (auto s = check_id(user_id, "user"); !s) return s;
  if (auto s = check_id(song_id, "song"); !s) return s;
  const auto key = bookmark_key(user_id, song_id);
  auto txn = store_.txn({Compare::exists(key)}, {Op::del(key)});
  if (!txn) return txn.status();
  if (!txn->succeeded) return not_found("there is no bookmark on song '" + song_id + "'");
  return Status::ok();
}

Status PlayQueues::forget_user(const std::string& user_id) {
  if (auto s = check_id(user_id, "user"); !s) return s;
  auto txn = store_.txn({}, {Op::del(kQueuePrefix + user_id), Op::del_prefix(kBookmarkPrefix + user_id + "/")});
  return txn ? Status::ok() : txn.status();
}

}  // namespace hifi
