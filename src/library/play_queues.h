// Play queues and bookmarks: where a user left off, saved by their apps so
// that listening continues on another device.
//
// Keys (values are JSON):
//   play-queues/<user-id>               {songs, current, position_ms, changed_at, changed_by}
//   bookmarks/<user-id>/<song-id>       {position_ms, comment, created_at, changed_at}
// Read straight from the store (one get or range per request): they are
// read when an app starts, not on every screen.
//
// Thread-safety: all methods are thread-safe and block on the store: call
// them from worker threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/meta_store.h"

namespace hifi {

struct PlayQueue {
  std::vector<std::string> songs;  // song ids, in order
  std::string current;             // the song playing (one of songs), or empty
  std::int64_t position_ms = 0;    // within `current`
  std::int64_t changed_at = 0;     // Unix ms
  std::string changed_by;          // the client that saved it
};

struct Bookmark {
  std::string song_id;
  std::int64_t position_ms = 0;
  std::string comment;
  std::int64_t created_at = 0;
  std::int64_t changed_at = 0;
};

inline constexpr std::size_t kMaxPlayQueueSongs = 5'000;
inline constexpr std::size_t kMaxBookmarksPerUser = 1'000;

class PlayQueues {
 public:
  PlayQueues(MetaStore& store, const Clock& clock);

  // nullopt when the user has no saved queue.
  Result<std::optional<PlayQueue>> get(const std::string& user_id) const;
  // Saves the queue, replacing the last one; an empty song list clears it.
  // kInvalidArgument for more than kMaxPlayQueueSongs songs or a current
  // song that is not in the list.
  Status save(const std::string& user_id, const PlayQueue& queue);

  // The user's bookmarks, newest change first.
  Result<std::vector<Bookmark>> bookmarks(const std::string& user_id) const;
  // Creates or replaces the bookmark on a song. kResourceExhausted past
  // kMaxBookmarksPerUser.
  Status set_bookmark(const std::string& user_id, const std::string& song_id, std::int64_t position_ms,
                      const std::string& comment);
  // kNotFound when there is none.
  Status delete_bookmark(const std::string& user_id, const std::string& song_id);

  // Deletes a user's queue and bookmarks (on account deletion).
  Status forget_user(const std::string& user_id);

 private:
  MetaStore& store_;
  const Clock& clock_;
};

}  // namespace hifi
