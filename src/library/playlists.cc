#include "library/playlists.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>

#include "common/random.h"
#include "common/text.h"
#include "library/json_record.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kPrefix[] = "playlists/";
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxSongIdBytes = 64;

json::object to_json(const Playlist& p) {
  json::object o;
  o["id"] = p.id;
  o["owner"] = p.owner;
  o["name"] = p.name;
  o["comment"] = p.comment;
  o["public"] = p.is_public;
  o["songs"] = json_array_of(p.songs);
  o["created_at"] = p.created_at;
  o["updated_at"] = p.updated_at;
  return o;
}

Playlist from_json(const json::object& o) {
  Playlist p;
  p.id = json_text(o, "id");
  p.owner = json_text(o, "owner");
  p.name = json_text(o, "name");
  p.comment = json_text(o, "comment");
  p.is_public = json_bool(o, "public");
  p.songs = json_strings(o, "songs");
  p.created_at = json_int(o, "created_at");
  p.updated_at = json_int(o, "updated_at");
  return p;
}

bool valid_playlist_id(const std::string& id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status check_songs(const std::vector<std::string>& songs) {
  if (songs.size() > kMaxPlaylistSongs) {
    return invalid_argument("a playlist holds at most " + std::to_string(kMaxPlaylistSongs) + " songs");
  }
  for (const auto& id : songs) {
    if (id.empty() || id.size() > kMaxSongIdBytes) return invalid_argument("not a song id: '" + id.substr(0, 64) + "'");
  }
  return Status::ok();
}

bool may_see(const Playlist& p, const User& viewer) {
  return p.is_public || p.owner == viewer.id || viewer.is_admin();
}

// The stored playlist, if `actor` may `verb` it ("change", "delete"):
// kNotFound when absent or not visible to them, kPermissionDenied when they
// see it but do not own it.
Result<Playlist> playlist_to_edit(const std::optional<json::object>& current, const std::string& id,
                                  const User& actor, const char* verb) {
  if (!current) return not_found("no playlist with id '" + id + "'");
  auto p = from_json(*current);
  if (!may_see(p, actor)) return not_found("no playlist with id '" + id + "'");
  if (p.owner != actor.id && !actor.is_admin()) {
    return permission_denied(std::string("only the playlist's owner may ") + verb + " it");
  }
  return p;
}

}  // namespace

Playlists::Playlists(MetaStore& store, const Clock& clock)
    : store_(store),
      clock_(clock),
      view_(store, kPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
            [this](const WatchResponse& response) { apply(response); },
            WatchedViewOptions{.name = "playlists"}) {}

Playlists::~Playlists() { view_.stop(); }

Status Playlists::start() { return view_.start(); }
void Playlists::stop() { view_.stop(); }

void Playlists::reset(const RangeResult& snapshot) {
  std::map<std::string, Playlist> all;
  for (const auto& kv : snapshot.kvs) {
    if (auto o = parse_record(kv.value)) {
      auto p = from_json(*o);
      all[p.id] = std::move(p);
    } else {
      spdlog::warn("playlists: skipping unreadable record {}", kv.key);
    }
  }
  std::lock_guard lock(mu_);
  playlists_.swap(all);
}

void Playlists::apply(const WatchResponse& response) {
  std::lock_guard lock(mu_);
  for (const auto& event : response.events) {
    const auto id = event.kv.key.substr(sizeof(kPrefix) - 1);
    if (event.type == WatchEvent::Type::kDelete) {
      playlists_.erase(id);
    } else if (auto o = parse_record(event.kv.value)) {
      playlists_[id] = from_json(*o);
    }
  }
}

Status Playlists::wait_for_revision(Revision revision) {
  return view_.wait_for_revision(revision, std::chrono::steady_clock::now() + kCatchUpTimeout);
}

Result<Playlist> Playlists::create(const User& owner, const std::string& name, const std::string& comment,
                                   bool is_public, const std::vector<std::string>& songs) {
  auto clean_name = clean_user_text(name, kMaxPlaylistNameChars, "the playlist's name");
  if (!clean_name) return clean_name.status();
  auto clean_comment = clean_user_text(comment, kMaxPlaylistCommentChars, "the comment", true);
  if (!clean_comment) return clean_comment.status();
  if (auto s = check_songs(songs); !s) return s;
  {
    std::lock_guard lock(mu_);
    const auto owned = std::count_if(playlists_.begin(), playlists_.end(),
                                     [&](const auto& entry) { return entry.second.owner == owner.id; });
    if (static_cast<std::size_t>(owned) >= kMaxPlaylistsPerUser) {
      return resource_exhausted("you have " + std::to_string(owned) + " playlists, the most one user may have");
    }
  }
  Playlist p;
  p.id = random_hex(8);
  p.owner = owner.id;
  p.name = *clean_name;
  p.comment = *clean_comment;
  p.is_public = is_public;
  p.songs = songs;
  p.created_at = p.updated_at = clock_.now_ms();
  const auto key = kPrefix + p.id;
  auto txn = store_.txn({Compare::absent(key)}, {Op::put(key, json::serialize(to_json(p)))});
  if (!txn) return txn.status();
  if (!txn->succeeded) return internal_error("a new playlist id collided; try again");
  if (auto s = wait_for_revision(txn->revision); !s) return s;
  return p;
}

Result<Playlist> Playlists::get(const std::string& id, const User& viewer) const {
  const auto missing = not_found("no playlist with id '" + id.substr(0, 64) + "'");
  {
    std::lock_guard lock(mu_);
    if (auto it = playlists_.find(id); it != playlists_.end()) {
      if (!may_see(it->second, viewer)) return missing;
      return it->second;
    }
  }
  // Not in the view (yet): one made through another node a moment ago.
  if (!valid_playlist_id(id)) return missing;
  auto kv = store_.get(kPrefix + id);
  if (!kv) return kv.status().code() == Code::kNotFound ? missing : kv.status();
  auto o = parse_record(kv->value);
  if (!o) return missing;
  auto p = from_json(*o);
  if (!may_see(p, viewer)) return missing;
  return p;
}

std::vector<Playlist> Playlists::list(const User& viewer) const {
  std::vector<Playlist> mine, others;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, p] : playlists_) {
      if (p.owner == viewer.id) {
        mine.push_back(p);
      } else if (p.is_public) {
        others.push_back(p);
      }
    }
  }
  auto by_name = [](const Playlist& a, const Playlist& b) {
    auto fa = fold_for_search(a.name), fb = fold_for_search(b.name);
    return fa != fb ? fa < fb : a.id < b.id;
  };
  std::sort(mine.begin(), mine.end(), by_name);
  std::sort(others.begin(), others.end(), by_name);
  mine.insert(mine.end(), std::make_move_iterator(others.begin()), std::make_move_iterator(others.end()));
  return mine;
}

Result<Playlist> Playlists::update(const std::string& id, const User& actor, const PlaylistEdit& edit) {
  if (!valid_playlist_id(id)) return not_found("no playlist with id '" + id.substr(0, 64) + "'");
  std::optional<std::string> name, comment;
  if (edit.name) {
    auto n = clean_user_text(*edit.name, kMaxPlaylistNameChars, "the playlist's name");
    if (!n) return n.status();
    name = *n;
  }
  if (edit.comment) {
    auto c = clean_user_text(*edit.comment, kMaxPlaylistCommentChars, "the comment", true);
    if (!c) return c.status();
    comment = *c;
  }
  if (edit.songs) {
    if (auto s = check_songs(*edit.songs); !s) return s;
  }
  if (auto s = check_songs(edit.add); !s) return s;
  const auto now = clock_.now_ms();
  Playlist result;
  auto update = update_json_record(
      store_, kPrefix + id, [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        auto found = playlist_to_edit(current, id, actor, "change");
        if (!found) return found.status();
        auto& p = *found;
        if (name) p.name = *name;
        if (comment) p.comment = *comment;
        if (edit.is_public) p.is_public = *edit.is_public;
        if (edit.songs) p.songs = *edit.songs;
        if (!edit.remove.empty()) {
          std::vector<bool> drop(p.songs.size(), false);
          for (auto index : edit.remove) {
            if (index >= p.songs.size()) {
              return invalid_argument("index " + std::to_string(index) + " is past the playlist's " +
                                      std::to_string(p.songs.size()) + " songs");
            }
            drop[index] = true;
          }
          std::vector<std::string> kept;
          for (std::size_t i = 0; i < p.songs.size(); ++i) {
            if (!drop[i]) kept.push_back(std::move(p.songs[i]));
          }
          p.songs = std::move(kept);
        }
        if (edit.move) {
          auto [from, to] = *edit.move;
          if (from >= p.songs.size() || to >= p.songs.size()) {
            return invalid_argument("a move needs indexes below " + std::to_string(p.songs.size()));
          }
          auto song = std::move(p.songs[from]);
          p.songs.erase(p.songs.begin() + static_cast<std::ptrdiff_t>(from));
          p.songs.insert(p.songs.begin() + static_cast<std::ptrdiff_t>(to), std::move(song));
        }
        if (!edit.add.empty()) {
          const auto at = edit.insert_at.value_or(p.songs.size());
          if (at > p.songs.size()) {
            return invalid_argument("insert_at may be at most " + std::to_string(p.songs.size()));
          }
          p.songs.insert(p.songs.begin() + static_cast<std::ptrdiff_t>(at), edit.add.begin(), edit.add.end());
        }
        if (auto s = check_songs(p.songs); !s) return s;
        p.updated_at = now;
        result = p;
        return std::optional<json::object>(to_json(p));
      });
  if (!update) return update.status();
  if (auto s = wait_for_revision(update->revision); !s) return s;
  return result;
}

Status Playlists::remove(const std::string& id, const User& actor) {
  if (!valid_playlist_id(id)) return not_found("no playlist with id '" + id.substr(0, 64) + "'");
  auto update = update_json_record(
      store_, kPrefix + id, [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        auto found = playlist_to_edit(current, id, actor, "delete");
        if (!found) return found.status();
        return std::optional<json::object>();
      });
  if (!update) return update.status();
  return update->written ? wait_for_revision(update->revision) : Status::ok();
}

Status Playlists::forget_user(const std::string& user_id) {
  std::vector<Op> ops;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, p] : playlists_) {
      if (p.owner == user_id) ops.push_back(Op::del(kPrefix + id));
    }
  }
  if (ops.empty()) return Status::ok();
  auto txn = store_.txn({}, ops);
  if (!txn) return txn.status();
  return wait_for_revision(txn->revision);
}

}  // namespace hifi
