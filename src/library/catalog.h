// Catalog: the shared library of songs, with albums and artists derived
// from their tags.
//
// Keys (values are JSON):  songs/<song-id>   the Song below
// A song's id is the first 32 hex digits of its SHA-256, so identical bytes
// are one song, on every node.
//
// The catalog keeps an in-memory view of every song, fed by a WatchedView of
// songs/ (which resumes or reloads when its watch ends), and serves reads
// from it. Writers go through the store and then wait until the view has
// caught up with their revision, so a client reads its own writes on this
// node, and other nodes converge in revision order.
//
// Reads are served from indexes kept current change by change (see
// Catalog::State in catalog.cc): a page of songs by any sort, from a cursor
// or an offset, costs about the page, not the library; albums, artists and
// genres are kept summed up. Loading 100,000 songs takes about a second, and
// some 850 bytes of memory a song (docs/benchmarks.md, "Library at scale").
//
// Thread-safety: all methods are thread-safe. add_upload() probes and
// fsyncs: call it from worker threads.
#pragma once

#include <boost/json/object.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "blob/blob_store.h"
#include "library/blob_replication.h"
#include "common/clock.h"
#include "common/status.h"
#include "library/accounts.h"
#include "store/meta_store.h"
#include "store/watched_view.h"

namespace hifi {

struct Song {
  std::string id;
  ContentHash sha256;
  std::uint64_t size = 0;
  std::string title;
  std::string artist;
  std::string album;
  std::string album_artist;
  std::string genre;
  int track = 0;
  int disc = 0;
  int year = 0;
  std::int64_t duration_ms = 0;
  std::string content_type;
  std::string format;
  std::string codec;
  std::int64_t bitrate = 0;
  int sample_rate = 0;
  int channels = 0;
  std::optional<ContentHash> cover_sha256;  // none when the file has no embedded cover
  std::string cover_mime;
  std::string filename;      // as uploaded, for display and downloads only
  std::string uploaded_by;   // user id
  std::int64_t uploaded_at = 0;
};

// A correction of a song's tags: each field that is set replaces the tag.
// The stored file and its hash stay as they are; the catalog (and so the
// song's album and artist) follows the new tags.
struct SongTagEdit {
  std::optional<std::string> title, artist, album, album_artist, genre;
  std::optional<int> track, disc, year;
  bool empty() const {
    return !title && !artist && !album && !album_artist && !genre && !track && !disc && !year;
  }
};

boost::json::object song_to_json_object(const Song& song);
std::string song_to_json(const Song& song);
// A stored song record; kInvalidArgument when the text is not JSON, not an
// object, lacks the id or sha256, or a sha256 is not 64 lowercase hex digits.
Result<Song> song_from_json(std::string_view text);

// The ids of a song's album (empty when it has no album tag) and of an
// artist by name, as Album::id and Artist::id have them: 16 hex digits of a
// hash of the folded names, so the same on every node.
std::string album_id_of(const Song& song);
std::string artist_id_of(std::string_view artist_name);

struct Album {
  std::string id;  // derived from artist and name
  std::string name;
  std::string artist;
  std::string artist_id;  // the id an Artist named `artist` has (it may have no songs of its own)
  std::string genre;      // the genre of its first song that has one
  int year = 0;
  int song_count = 0;
  std::int64_t duration_ms = 0;
  std::int64_t created_at = 0;  // when its first song was uploaded (Unix ms)
  std::string cover_song_id;  // a song of the album that has a cover, if any
};

struct Artist {
  std::string id;
  std::string name;
  int song_count = 0;
  int album_count = 0;
};

struct Genre {
  std::string name;
  int song_count = 0;
  int album_count = 0;
};

enum class SongSort { kTitle, kArtist, kAlbum, kUploadedAt, kDuration };

// Orders of the album list: by album artist, then name (albums()' order);
// by name; the newest first (by when its first song arrived). Ties keep
// albums()' order.
enum class AlbumOrder { kArtist, kName, kNewest };
// "title", "artist", "album", "uploaded_at" or "duration"; kInvalidArgument
// for anything else.
Result<SongSort> parse_song_sort(std::string_view text);

struct SongQuery {
  std::string text;           // matched against title, artist, album (case- and form-insensitive)
  std::string album_id;       // only songs of this album
  std::string artist_id;      // only songs of this artist
  std::string genre;          // only songs of this genre (case- and form-insensitive)
  int from_year = 0;          // only songs of this year or later (0: any)
  int to_year = 0;            // only songs of this year or earlier (0: any)
  SongSort sort = SongSort::kArtist;
  bool descending = false;
  std::size_t limit = 50;     // 1..500
  std::string cursor;         // from a previous page's `next`; empty for the first page
  std::size_t offset = 0;     // without a cursor: matches to skip first
};

struct SongPage {
  std::vector<Song> items;
  std::string next;  // empty when this is the last page
};

struct UploadOutcome {
  Song song;
  bool created = false;  // false: the same bytes were already in the library
};

class Catalog {
 public:
  Catalog(MetaStore& store, BlobStore& blobs, const Clock& clock);
  ~Catalog();

  // Loads every song and starts following changes. Call once at start-up.
  Status start();

  // From now on, uploads are published only after `replication` made their
  // blobs durable on enough nodes. Call before serving requests; not owned.
  void set_replication(BlobReplication* replication) { replication_ = replication; }

  // The SHA-256 of every blob a song references (its bytes and its cover),
  // sorted. Fails while the view is not following the store, because a
  // stale answer would make live songs look unreferenced.
  Result<std::vector<ContentHash>> referenced_blobs() const;

  // Adds the bytes written to `writer` (not yet committed) as a song.
  // Probes the audio (kUnsupported when it is not decodable audio), makes the
  // blob and its cover durable, then publishes the song. `filename` is only
  // used for display and as the title fallback; it never names a file.
  // `staged`: copies other nodes received while the upload arrived, handed
  // to the replication (see BlobReplication::replicate). Copies of an
  // upload that is not published are the caller's to abort.
  Result<UploadOutcome> add_upload(BlobWriter& writer, const std::string& filename,
                                   const std::string& uploader_id, const WaitForStagedCopies& staged = nullptr);

  // The song with the given SHA-256, if in the library.
  std::optional<Song> find_by_sha256(const ContentHash& sha256) const;
  Result<Song> get(const std::string& id) const;
  // get(), or when the view does not know the id (yet), the song record
  // read from the store: an upload through another node is acknowledged once
  // it is in the store, and a user may at once add it to a room or open its
  // link through this node. One store read (it may block on the network):
  // call it from worker threads. kNotFound when neither has it.
  Result<Song> get_or_read_through(const std::string& id) const;
  // kInvalidArgument for a malformed cursor.
  Result<SongPage> query(const SongQuery& query) const;
  std::vector<Album> albums(const std::string& text) const;
  // The albums in `order`, from place `offset`, at most `limit` of them:
  // a page of the list without copying the rest of it.
  std::vector<Album> albums_in_order(AlbumOrder order, std::size_t offset, std::size_t limit) const;
  // How many albums albums("") lists.
  std::size_t album_count() const;
  std::vector<Artist> artists(const std::string& text) const;
  Result<Album> album(const std::string& id) const;
  // The albums with a song by the artist, or whose album artist has this
  // artist's id; sorted like albums().
  std::vector<Album> albums_by_artist(const std::string& artist_id) const;
  // The artist with this id: one with songs of its own, or only the album
  // artist of some albums (a compilation's "Various Artists", whose
  // album_count counts those). kNotFound otherwise.
  Result<Artist> artist(const std::string& id) const;
  // Every genre a song has, with how many songs and albums have it, by name.
  std::vector<Genre> genres() const;
  // Up to `count` songs drawn at random from those matching the query's
  // filters (text, album, artist, genre, years); its order and paging are
  // ignored.
  std::vector<Song> random_songs(const SongQuery& filter, std::size_t count) const;
  // Applies the edit when `actor` uploaded the song or is an admin
  // (kPermissionDenied otherwise). Texts are cleaned like uploaded tags
  // (control characters removed, NFC) and hold at most 500 characters;
  // the title may not be empty; track and disc are 0 to 999, the year 0
  // to 9999 (0: unknown). kInvalidArgument for anything else, kNotFound for
  // an unknown id.
  Result<Song> edit_tags(const std::string& id, const SongTagEdit& edit, const User& actor);
  // Deletes the song and its blob, when `actor` uploaded it or is an admin
  // (kPermissionDenied otherwise). kNotFound for an unknown id.
  Status remove(const std::string& id, const User& actor);
  std::size_t size() const;
  // What each user uploaded that is still in the library: songs and bytes
  // (of the songs' files; covers not counted), by user id. O(songs).
  struct UploadTotals {
    std::int64_t songs = 0;
    std::int64_t bytes = 0;
  };
  std::map<std::string, UploadTotals> upload_totals() const;
  // When this node's view of the library last changed (Unix ms, by the
  // catalog's clock; the load at start-up counts as a change): what
  // Subsonic's getIndexes reports as lastModified.
  std::int64_t last_changed_ms() const { return changed_at_.load(); }

  // Whether the song view follows the store (stale while its watch is being
  // restarted), and how often it was restarted: for /healthz and /metrics.
  ViewStatus view_status() const { return view_.status(); }

 private:
  struct Entry;
  struct EntryDeleter {
    void operator()(const Entry* entry) const;
  };
  using EntryPtr = std::unique_ptr<const Entry, EntryDeleter>;
  struct Filter;
  struct State;
  struct Cursor {
    std::string key, id;
  };
  // Folded names and their ids, computed once per distinct name while a
  // snapshot loads (many songs share an artist, an album, a genre).
  struct Names;
  static EntryPtr make_entry(Song song, Names* names = nullptr);
  // Under a shared (read) lock of mu_; nullopt when it needs the order of
  // `q.sort` and that is not built yet (may_build: build it, mu_ is held
  // exclusively).
  std::optional<SongPage> page_locked(const SongQuery& q, const Filter& filter,
                                      const std::optional<Cursor>& cursor, bool may_build) const;
  void reset(const RangeResult& snapshot);
  void apply(const WatchResponse& response);
  // Waits (bounded) until the view has applied `revision`.
  Status wait_for_revision(Revision revision);

  MetaStore& store_;
  BlobStore& blobs_;
  BlobReplication* replication_ = nullptr;
  const Clock& clock_;
  // Readers share it; the view's reset() and apply() hold it alone, as
  // does a read that builds an order of the songs it lacks. Taken through
  // read_lock() and write_lock(): a writer waiting holds gate_, which new
  // readers pass, so that a steady stream of readers cannot keep a change
  // (and the upload waiting for it) out.
  mutable std::shared_mutex mu_;
  mutable std::mutex gate_;
  std::shared_lock<std::shared_mutex> read_lock() const;
  std::unique_lock<std::shared_mutex> write_lock() const;
  // The songs and every index of them (orders by each sort, albums,
  // artists, genres), kept current change by change.
  std::unique_ptr<State> state_;
  std::atomic<std::int64_t> changed_at_{0};
  // After state_ and mu_, which its callbacks use; stopped in ~Catalog.
  WatchedView view_;
  // Serialise "commit blob + publish song" against "unpublish song + remove
  // blob" for the same bytes, so a delete racing a re-upload never removes
  // the bytes of a published song. Striped by hash.
  std::mutex& blob_lock(const ContentHash& sha256);
  std::array<std::mutex, 64> blob_locks_;
};

}  // namespace hifi
