#include "library/annotations.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>

#include "common/random.h"
#include "common/sha256.h"
#include "common/text.h"
#include "library/json_record.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kAnnPrefix[] = "ann/";
constexpr char kHistoryPrefix[] = "history/";
constexpr char kNowPlayingPrefix[] = "now-playing/";
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);
constexpr std::int64_t kInvertBase = 9'999'999'999'999'999;  // 16 digits, past year 300,000
constexpr std::size_t kMaxItemIdBytes = 64;
constexpr std::size_t kMaxNowPlayingPerUser = 20;
constexpr std::int64_t kNowPlayingKeepMs = 24LL * 3600 * 1000;

Status check_item_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxItemIdBytes || id.find('/') != std::string::npos) {
    return invalid_argument("not an id of the library: '" + id.substr(0, kMaxItemIdBytes) + "'");
  }
  return Status::ok();
}

Status check_user_id(const std::string& id) {
  if (id.empty() || id.find('/') != std::string::npos) return invalid_argument("not a user id");
  return Status::ok();
}

std::string ann_key(const std::string& user_id, ItemKind kind, const std::string& item_id) {
  return std::string(kAnnPrefix) + user_id + "/" + item_kind_name(kind) + "/" + item_id;
}

Annotation annotation_from(const json::object& o) {
  Annotation a;
  a.starred_at = json_int(o, "starred_at");
  a.rating = static_cast<int>(std::clamp<std::int64_t>(json_int(o, "rating"), 0, 5));
  a.play_count = std::max<std::int64_t>(json_int(o, "play_count"), 0);
  a.last_played = json_int(o, "last_played");
  return a;
}

json::object annotation_to(const Annotation& a) {
  json::object o;
  if (a.starred_at) o["starred_at"] = a.starred_at;
  if (a.rating) o["rating"] = a.rating;
  if (a.play_count) o["play_count"] = a.play_count;
  if (a.last_played) o["last_played"] = a.last_played;
  return o;
}

Play play_from(const json::object& o) {
  return Play{json_text(o, "song_id"), json_int(o, "played_at"), json_text(o, "client"), json_text(o, "room_id")};
}

std::string history_suffix(std::int64_t played_at) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016lld", static_cast<long long>(kInvertBase - std::max<std::int64_t>(played_at, 0)));
  return std::string(buf) + "-" + random_hex(4);
}

bool valid_history_cursor(const std::string& c) {
  if (c.size() != 25 || c[16] != '-') return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i == 16) continue;
    const char ch = c[i];
    const bool ok = i < 16 ? (ch >= '0' && ch <= '9') : ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
    if (!ok) return false;
  }
  return true;
}

std::string clean_client(const std::string& client) {
  auto text = is_valid_utf8(client) ? without_control_chars(client) : std::string();
  return truncate_utf8(text, kMaxClientNameBytes);
}

}  // namespace

const char* item_kind_name(ItemKind kind) {
  switch (kind) {
    case ItemKind::kSong: return "song";
    case ItemKind::kAlbum: return "album";
    case ItemKind::kArtist: return "artist";
  }
  return "song";
}

Annotations::Annotations(MetaStore& store, const Clock& clock)
    : store_(store),
      clock_(clock),
      view_(store, kAnnPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
            [this](const WatchResponse& response) { apply(response); },
            WatchedViewOptions{.name = "annotations"}) {}

Annotations::~Annotations() { view_.stop(); }

Status Annotations::start() { return view_.start(); }
void Annotations::stop() { view_.stop(); }

void Annotations::put_locked(const std::string& key, const std::string& value) {
  // ann/<user>/<kind>/<item>
  const auto rest = std::string_view(key).substr(sizeof(kAnnPrefix) - 1);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return;
  const std::string user(rest.substr(0, slash));
  const std::string item(rest.substr(slash + 1));
  auto record = parse_record(value);
  if (!record) {
    spdlog::warn("annotations: skipping unreadable record {}", key);
    return;
  }
  auto& slot = by_user_[user][item];
  const bool is_song = item.starts_with("song/");
  if (is_song) plays_[item.substr(5)] -= slot.play_count;
  slot = annotation_from(*record);
  if (is_song) {
    auto& total = plays_[item.substr(5)];
    total += slot.play_count;
    if (total <= 0) plays_.erase(item.substr(5));
  }
}

void Annotations::erase_locked(const std::string& key) {
  const auto rest = std::string_view(key).substr(sizeof(kAnnPrefix) - 1);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return;
  auto user = by_user_.find(std::string(rest.substr(0, slash)));
  if (user == by_user_.end()) return;
  const std::string item(rest.substr(slash + 1));
  auto it = user->second.find(item);
  if (it == user->second.end()) return;
  if (item.starts_with("song/")) {
    auto total = plays_.find(item.substr(5));
    if (total != plays_.end() && (total->second -= it->second.play_count) <= 0) plays_.erase(total);
  }
  user->second.erase(it);
  if (user->second.empty()) by_user_.erase(user);
}

void Annotations::reset(const RangeResult& snapshot) {
  std::lock_guard lock(mu_);
  by_user_.clear();
  plays_.clear();
  for (const auto& kv : snapshot.kvs) put_locked(kv.key, kv.value);
}

void Annotations::apply(const WatchResponse& response) {
  std::lock_guard lock(mu_);
  for (const auto& event : response.events) {
    if (event.type == WatchEvent::Type::kDelete) {
      erase_locked(event.kv.key);
    } else {
      put_locked(event.kv.key, event.kv.value);
    }
  }
}

Status Annotations::wait_for_revision(Revision revision) {
  return view_.wait_for_revision(revision, std::chrono::steady_clock::now() + kCatchUpTimeout);
}

Status Annotations::change(const std::string& user_id, ItemKind kind, const std::string& item_id,
                           const std::function<void(Annotation&)>& edit, const std::vector<Op>& also) {
  if (auto s = check_user_id(user_id); !s) return s;
  if (auto s = check_item_id(item_id); !s) return s;
  auto update = update_json_record(
      store_, ann_key(user_id, kind, item_id),
      [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        Annotation a = current ? annotation_from(*current) : Annotation{};
        edit(a);
        if (a.empty()) return std::optional<json::object>();
        return std::optional<json::object>(annotation_to(a));
      },
      also);
  if (!update) return update.status();
  // A view only learns revisions that touch its prefix: wait for writes only.
  return update->written ? wait_for_revision(update->revision) : Status::ok();
}

Status Annotations::star(const std::string& user_id, ItemKind kind, const std::string& item_id, bool starred) {
  const auto now = clock_.now_ms();
  return change(user_id, kind, item_id, [&](Annotation& a) {
    if (!starred) {
      a.starred_at = 0;
    } else if (!a.starred()) {
      a.starred_at = now;
    }
  });
}

Status Annotations::set_rating(const std::string& user_id, ItemKind kind, const std::string& item_id, int rating) {
  if (rating < 0 || rating > 5) return invalid_argument("a rating is 1 to 5 stars, or 0 to remove it");
  return change(user_id, kind, item_id, [&](Annotation& a) { a.rating = rating; });
}

Status Annotations::record_play(const std::string& user_id, const Play& play) {
  if (auto s = check_user_id(user_id); !s) return s;
  if (auto s = check_item_id(play.song_id); !s) return s;
  json::object entry;
  entry["song_id"] = play.song_id;
  entry["played_at"] = play.played_at;
  if (auto client = clean_client(play.client); !client.empty()) entry["client"] = client;
  if (!play.room_id.empty()) entry["room_id"] = play.room_id.substr(0, kMaxItemIdBytes);
  const auto history_key = std::string(kHistoryPrefix) + user_id + "/" + history_suffix(play.played_at);
  std::int64_t count = 0;
  auto s = change(
      user_id, ItemKind::kSong, play.song_id,
      [&](Annotation& a) {
        a.play_count += 1;
        a.last_played = std::max(a.last_played, play.played_at);
        count = a.play_count;
      },
      {Op::put(history_key, json::serialize(entry))});
  if (!s) return s;
  // Trimming reads up to kMaxHistory keys: do it now and then, not per play.
  std::int64_t total = 0;
  {
    std::lock_guard lock(mu_);
    if (auto user = by_user_.find(user_id); user != by_user_.end()) {
      for (const auto& [item, a] : user->second) total += a.play_count;
    }
  }
  if (total > static_cast<std::int64_t>(kMaxHistory) && total % 32 == 0) trim_history(user_id);
  return Status::ok();
}

void Annotations::trim_history(const std::string& user_id) {
  const auto prefix = std::string(kHistoryPrefix) + user_id + "/";
  auto all = store_.range(prefix, kMaxHistory + 1000);
  if (!all || all->kvs.size() <= kMaxHistory) return;
  std::vector<Op> ops;
  for (std::size_t i = kMaxHistory; i < all->kvs.size(); ++i) ops.push_back(Op::del(all->kvs[i].key));
  if (auto txn = store_.txn({}, ops); !txn) {
    spdlog::warn("annotations: trimming the history of {} failed: {}", user_id, txn.status().message());
  }
}

Annotation Annotations::get(const std::string& user_id, ItemKind kind, const std::string& item_id) const {
  std::lock_guard lock(mu_);
  auto user = by_user_.find(user_id);
  if (user == by_user_.end()) return {};
  auto it = user->second.find(std::string(item_kind_name(kind)) + "/" + item_id);
  return it == user->second.end() ? Annotation{} : it->second;
}

std::map<std::string, Annotation> Annotations::of_user(const std::string& user_id, ItemKind kind) const {
  std::map<std::string, Annotation> out;
  const auto prefix = std::string(item_kind_name(kind)) + "/";
  std::lock_guard lock(mu_);
  auto user = by_user_.find(user_id);
  if (user == by_user_.end()) return out;
  for (auto it = user->second.lower_bound(prefix); it != user->second.end() && it->first.starts_with(prefix); ++it) {
    out.emplace(it->first.substr(prefix.size()), it->second);
  }
  return out;
}

std::int64_t Annotations::total_plays(const std::string& song_id) const {
  std::lock_guard lock(mu_);
  auto it = plays_.find(song_id);
  return it == plays_.end() ? 0 : it->second;
}

std::map<std::string, std::int64_t> Annotations::all_plays() const {
  std::lock_guard lock(mu_);
  return plays_;
}

Result<HistoryPage> Annotations::history(const std::string& user_id, std::size_t limit,
                                         const std::string& cursor) const {
  if (auto s = check_user_id(user_id); !s) return s;
  if (limit < 1 || limit > 500) return invalid_argument("limit must be 1 to 500");
  if (!cursor.empty() && !valid_history_cursor(cursor)) return invalid_argument("not a cursor of this history");
  const auto prefix = std::string(kHistoryPrefix) + user_id + "/";
  auto range = store_.range(prefix, limit + 1, cursor.empty() ? std::string() : prefix + cursor);
  if (!range) return range.status();
  HistoryPage page;
  for (std::size_t i = 0; i < range->kvs.size() && i < limit; ++i) {
    if (auto o = parse_record(range->kvs[i].value)) page.items.push_back(play_from(*o));
  }
  if (range->kvs.size() > limit) page.next = range->kvs[limit - 1].key.substr(prefix.size());
  return page;
}

Status Annotations::set_now_playing(const std::string& user_id, const std::string& song_id,
                                    const std::string& client) {
  if (auto s = check_user_id(user_id); !s) return s;
  if (auto s = check_item_id(song_id); !s) return s;
  const auto name = clean_client(client);
  const auto prefix = std::string(kNowPlayingPrefix) + user_id + "/";
  const auto now = clock_.now_ms();
  json::object entry;
  entry["song_id"] = song_id;
  entry["client"] = name;
  entry["since"] = now;
  std::vector<Op> ops{Op::put(prefix + to_hex(sha256(name)).substr(0, 16), json::serialize(entry))};
  // Keep a user's entries few and fresh: apps name themselves freely.
  if (auto mine = store_.range(prefix); mine) {
    std::vector<std::pair<std::int64_t, std::string>> by_age;
    for (const auto& kv : mine->kvs) {
      auto o = parse_record(kv.value);
      by_age.emplace_back(o ? json_int(*o, "since") : 0, kv.key);
    }
    std::sort(by_age.begin(), by_age.end(), std::greater<>());
    for (std::size_t i = 0; i < by_age.size(); ++i) {
      if (by_age[i].second == ops.front().key) continue;
      if (i + 1 >= kMaxNowPlayingPerUser || by_age[i].first < now - kNowPlayingKeepMs) {
        ops.push_back(Op::del(by_age[i].second));
      }
    }
  }
  auto txn = store_.txn({}, ops);
  return txn ? Status::ok() : txn.status();
}

Result<std::vector<NowPlaying>> Annotations::now_playing(std::int64_t window_ms) const {
  auto range = store_.range(kNowPlayingPrefix);
  if (!range) return range.status();
  const auto since = clock_.now_ms() - window_ms;
  std::vector<NowPlaying> out;
  for (const auto& kv : range->kvs) {
    auto o = parse_record(kv.value);
    if (!o) continue;
    const auto rest = std::string_view(kv.key).substr(sizeof(kNowPlayingPrefix) - 1);
    NowPlaying np{std::string(rest.substr(0, rest.find('/'))), json_text(*o, "song_id"), json_text(*o, "client"),
                  json_int(*o, "since")};
    if (np.since >= since) out.push_back(std::move(np));
  }
  std::sort(out.begin(), out.end(), [](const NowPlaying& a, const NowPlaying& b) { return a.since > b.since; });
  return out;
}

Status Annotations::forget_user(const std::string& user_id) {
  if (auto s = check_user_id(user_id); !s) return s;
  bool annotated = false;
  {
    std::lock_guard lock(mu_);
    annotated = by_user_.contains(user_id);
  }
  auto txn = store_.txn({}, {Op::del_prefix(std::string(kAnnPrefix) + user_id + "/"),
                             Op::del_prefix(std::string(kHistoryPrefix) + user_id + "/"),
                             Op::del_prefix(std::string(kNowPlayingPrefix) + user_id + "/")});
  if (!txn) return txn.status();
  // Without annotations the delete does not touch the view's prefix.
  return annotated ? wait_for_revision(txn->revision) : Status::ok();
}

Result<std::vector<std::pair<std::int64_t, Song>>> top_songs(const Catalog& catalog, const Annotations& annotations,
                                                             const std::string& artist_id, std::size_t count) {
  SongQuery q;
  q.artist_id = artist_id;
  q.sort = SongSort::kAlbum;
  q.limit = 500;
  std::vector<std::pair<std::int64_t, Song>> songs;
  for (;;) {
    auto page = catalog.query(q);
    if (!page) return page.status();
    for (auto& s : page->items) {
      const auto plays = annotations.total_plays(s.id);
      songs.emplace_back(plays, std::move(s));
    }
    if (page->next.empty() || songs.size() >= 10'000) break;
    q.cursor = page->next;
  }
  std::stable_sort(songs.begin(), songs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (songs.size() > count) songs.resize(count);
  return songs;
}

}  // namespace hifi
