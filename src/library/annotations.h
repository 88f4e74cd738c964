// Annotations: what each user thinks of and does with the library: stars
// (favourites) and ratings on songs, albums and artists, plays of songs
// (counts, when last played, a history), and what each user is playing now.
//
// Keys (values are JSON):
//   ann/<user-id>/<kind>/<item-id>   {starred_at, rating, play_count, last_played}
//   history/<user-id>/<inverted ms>-<random>   {song_id, played_at, client, room_id}
//   now-playing/<user-id>/<client>   {song_id, client, since}
// <kind> is "song", "album" or "artist". History keys sort newest first
// (inverted time), so a page of history is one range read; each user keeps
// at most kMaxHistory plays (older ones are trimmed as new ones come).
//
// Like the catalog, annotations are served from an in-memory view of ann/
// kept by a WatchedView; a writer waits until the view has its revision, so
// a user reads their own star at once on this node, and every node
// converges in revision order. History and now-playing are read from the
// store (one range read each).
//
// Thread-safety: all methods are thread-safe. Writers and the store reads
// may block on the store: call them from worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "library/catalog.h"
#include "store/meta_store.h"
#include "store/watched_view.h"

namespace hifi {

enum class ItemKind { kSong, kAlbum, kArtist };
const char* item_kind_name(ItemKind kind);  // "song", "album", "artist"

struct Annotation {
  std::int64_t starred_at = 0;   // Unix ms; 0: not starred
  int rating = 0;                // 1-5; 0: not rated
  std::int64_t play_count = 0;   // songs only
  std::int64_t last_played = 0;  // Unix ms; 0: never (songs only)
  bool starred() const { return starred_at != 0; }
  bool empty() const { return starred_at == 0 && rating == 0 && play_count == 0; }
};

struct Play {
  std::string song_id;
  std::int64_t played_at = 0;  // Unix ms, when the listening started
  std::string client;          // the app or device, as it names itself (may be empty)
  std::string room_id;         // the room it was heard in (may be empty)
};

struct HistoryPage {
  std::vector<Play> items;  // newest first
  std::string next;         // cursor of the next page; empty at the end
};

struct NowPlaying {
  std::string user_id;
  std::string song_id;
  std::string client;
  std::int64_t since = 0;  // Unix ms
};

inline constexpr std::size_t kMaxHistory = 10'000;     // plays kept per user
inline constexpr std::size_t kMaxClientNameBytes = 100;

class Annotations {
 public:
  Annotations(MetaStore& store, const Clock& clock);
  ~Annotations();

  // Loads every annotation and starts following changes.
  Status start();
  void stop();

  // Item ids are the catalog's ids; they are not checked against the
  // catalog here (the API layer does), so a star survives a song's
  // re-upload under the same id. kInvalidArgument for an empty or over-long
  // id.
  Status star(const std::string& user_id, ItemKind kind, const std::string& item_id, bool starred);
  // rating 0 (removes it) to 5; kInvalidArgument otherwise.
  Status set_rating(const std::string& user_id, ItemKind kind, const std::string& item_id, int rating);
  // Counts a play of a song: play_count + 1, last_played, a history entry.
  // A play older than the song's last_played still counts (apps submit
  // offline plays late) but does not move last_played back.
  Status record_play(const std::string& user_id, const Play& play);

  Annotation get(const std::string& user_id, ItemKind kind, const std::string& item_id) const;
  // Every annotated item of one kind for a user, by item id.
  std::map<std::string, Annotation> of_user(const std::string& user_id, ItemKind kind) const;
  // Plays of a song by every user.
  std::int64_t total_plays(const std::string& song_id) const;
  // Plays per song by every user, for the songs played at least once.
  std::map<std::string, std::int64_t> all_plays() const;

  // A user's plays, newest first. limit 1..500; kInvalidArgument for a
  // malformed cursor.
  Result<HistoryPage> history(const std::string& user_id, std::size_t limit, const std::string& cursor = {}) const;

  // The user is playing this song now on `client` (replacing what that
  // client played before).
  Status set_now_playing(const std::string& user_id, const std::string& song_id, const std::string& client);
  // What users played in the last `window_ms`, newest first.
  Result<std::vector<NowPlaying>> now_playing(std::int64_t window_ms) const;

  // Forgets everything a user annotated (on account deletion).
  Status forget_user(const std::string& user_id);

  ViewStatus view_status() const { return view_.status(); }

 private:
  void reset(const RangeResult& snapshot);
  void apply(const WatchResponse& response);
  void put_locked(const std::string& key, const std::string& value);
  void erase_locked(const std::string& key);
  Status wait_for_revision(Revision revision);
  Status change(const std::string& user_id, ItemKind kind, const std::string& item_id,
                const std::function<void(Annotation&)>& edit, const std::vector<Op>& also = {});
  void trim_history(const std::string& user_id);

  MetaStore& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  // user id -> "<kind>/<item id>" -> annotation
  std::map<std::string, std::map<std::string, Annotation>> by_user_;
  std::map<std::string, std::int64_t> plays_;  // song id -> plays by everyone
  // After the data and mu_, which its callbacks use.
  WatchedView view_;
};

// An artist's songs, most played by everyone first (ties in album order),
// with their play counts; at most `count`, from the artist's first 10,000
// songs. What "top songs" means on artist pages, in HiFi's API and
// Subsonic's getTopSongs alike.
Result<std::vector<std::pair<std::int64_t, Song>>> top_songs(const Catalog& catalog, const Annotations& annotations,
                                                             const std::string& artist_id, std::size_t count);

}  // namespace hifi
