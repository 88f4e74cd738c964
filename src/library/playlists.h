// Playlists: named, ordered lists of songs that a user owns and may make
// public (readable by every user; only the owner, or an admin, edits).
//
// Keys (values are JSON):
//   playlists/<playlist-id>   {id, owner, name, comment, public, songs, created_at, updated_at}
// A playlist's id is 16 random hex digits. Its songs are catalog song ids
// in order; a song may appear more than once. A song deleted from the
// library stays listed here and is skipped by readers, so a re-upload of
// the same bytes brings it back.
//
// Served from an in-memory view of playlists/ (a WatchedView) like the
// catalog; every edit is a compare-and-swap on the playlist's key, and the
// writer waits until this node's view has it, so it reads its own edit.
//
// Thread-safety: all methods are thread-safe; writers block on the store.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "library/accounts.h"
#include "store/meta_store.h"
#include "store/watched_view.h"

namespace hifi {

struct Playlist {
  std::string id;
  std::string owner;  // user id
  std::string name;
  std::string comment;
  bool is_public = false;
  std::vector<std::string> songs;  // song ids, in order
  std::int64_t created_at = 0;     // Unix ms
  std::int64_t updated_at = 0;
};

inline constexpr std::size_t kMaxPlaylistSongs = 5'000;
inline constexpr std::size_t kMaxPlaylistsPerUser = 1'000;
inline constexpr std::size_t kMaxPlaylistNameChars = 200;
inline constexpr std::size_t kMaxPlaylistCommentChars = 2'000;

// What an edit changes; unset fields stay as they are. Applied in this
// order: name, comment, public, songs (replace), remove (indexes into the
// list before this edit), move, add (appended at the end, or inserted at
// insert_at).
struct PlaylistEdit {
  std::optional<std::string> name;
  std::optional<std::string> comment;
  std::optional<bool> is_public;
  std::optional<std::vector<std::string>> songs;
  std::vector<std::size_t> remove;
  std::optional<std::pair<std::size_t, std::size_t>> move;  // from index, to index
  std::vector<std::string> add;
  std::optional<std::size_t> insert_at;
};

class Playlists {
 public:
  Playlists(MetaStore& store, const Clock& clock);
  ~Playlists();

  Status start();
  void stop();

  // kInvalidArgument for a bad name (1-200 characters), comment, or more
  // than kMaxPlaylistSongs songs; kResourceExhausted past
  // kMaxPlaylistsPerUser. Song ids are checked by the caller.
  Result<Playlist> create(const User& owner, const std::string& name, const std::string& comment, bool is_public,
                          const std::vector<std::string>& songs);
  // kNotFound for an unknown id, and for another user's private playlist
  // (unless `viewer` is an admin): its existence is not revealed. A
  // playlist this node's view does not have (yet) is read from the store:
  // one made through another node a moment ago opens here at once. May
  // block on the store: call from worker threads.
  Result<Playlist> get(const std::string& id, const User& viewer) const;
  // The viewer's own playlists, then the public playlists of others; each
  // group by name.
  std::vector<Playlist> list(const User& viewer) const;
  // Only the owner or an admin may edit (kPermissionDenied; kNotFound when
  // the viewer may not even see it). kInvalidArgument for an index out of
  // range or a result past the limits; nothing is changed then.
  Result<Playlist> update(const std::string& id, const User& actor, const PlaylistEdit& edit);
  Status remove(const std::string& id, const User& actor);
  // Deletes every playlist of a user (on account deletion).
  Status forget_user(const std::string& user_id);

  ViewStatus view_status() const { return view_.status(); }

 private:
  void reset(const RangeResult& snapshot);
  void apply(const WatchResponse& response);
  Status wait_for_revision(Revision revision);

  MetaStore& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Playlist> playlists_;  // by id
  WatchedView view_;
};

}  // namespace hifi
