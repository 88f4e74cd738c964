// The catalog's in-memory index: each song as the catalog keeps it
// (Catalog::Entry), the filters of a query, and State: every song and
// every index of them (orders by each sort, albums, artists, genres).
// Internal to the catalog: catalog.cc (the view, reads, uploads, edits)
// and catalog_index.cc (the index itself) share it; callers use
// catalog.h.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/text.h"
#include "library/catalog.h"

namespace hifi {
namespace catalog_detail {

inline constexpr std::size_t kSortCount = 5;  // the values of SongSort

std::string short_hash(std::string_view text, std::size_t hex_digits);

// What short_hash(text, 16) spells, as a number (album and artist ids).
std::uint64_t id64(std::string_view text);

std::string hex16(std::uint64_t id);

// The number hex16() spelled as `text`; nullopt when it is not 16 lowercase
// hex digits, which is no album's or artist's id.
std::optional<std::uint64_t> parse_id64(std::string_view text);

std::string album_artist_of(const Song& s);

std::string title_from_filename(const std::string& filename);

std::string album_key(const Song& song, const std::string& folded_album);

std::string padded_number(std::int64_t n);

// The order of padded_number() texts, as numbers: "-000...5" (every
// negative number) before "000...0", and among the negative ones the
// smaller magnitude first, as the text compares.
std::uint64_t padded_rank(std::int64_t n);

// Which byte pairs a text holds, hashed to 256 bits: a text holds a
// needle only if its mask covers the needle's. One per song, side by side,
// lets a search skip most songs without reading them.
using SearchMask = std::array<std::uint64_t, 4>;

SearchMask search_mask(std::string_view text);

template <typename T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

inline int compare_text(std::string_view a, std::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

inline bool covers(const SearchMask& text, const SearchMask& needle) {
  return ((text[0] & needle[0]) == needle[0]) & ((text[1] & needle[1]) == needle[1]) &
         ((text[2] & needle[2]) == needle[2]) & ((text[3] & needle[3]) == needle[3]);
}

}  // namespace catalog_detail

// Only the catalog's own files include this header.
using namespace catalog_detail;

// A song as the catalog keeps it: its numbers and hashes, the ids of its
// album and artists, and its texts (the Song's strings, then the folded
// ones that searches and sorts compare) back to back in the same
// allocation, right after the struct (make_entry()): one allocation where
// a Song and its folded copies took about twenty, and a third of the bytes.
struct Catalog::Entry {
  enum Text : std::uint8_t {
    kId,
    kTitle,
    kArtist,
    kAlbum,
    kAlbumArtist,
    kGenre,
    kContentType,
    kFormat,
    kCodec,
    kCoverMime,
    kFilename,
    kUploadedBy,
    kSearch,  // folded "title\nartist\nalbum\nalbum artist"
    kFoldedGenre,
    kTextCount
  };

  std::uint64_t size = 0;
  std::int64_t duration_ms = 0, bitrate = 0, uploaded_at = 0;
  int track = 0, disc = 0, year = 0, sample_rate = 0, channels = 0;
  // As album_id_of() and artist_id_of() spell them (hex16()); the album
  // id also for a song without an album tag, as a query may name it.
  std::uint64_t album_id = 0, artist_id = 0, album_artist_id = 0;
  Digest sha256{}, cover_sha256{};
  bool has_cover = false;
  bool nul_in_keys = false;  // the folded artist or album holds a NUL: sorts compare whole keys
  std::uint32_t folded_title_size = 0, folded_artist_size = 0, folded_album_size = 0;  // in kSearch
  std::array<std::uint32_t, kTextCount> ends{};  // where each text ends, from the first
  mutable std::uint32_t slot = 0;                // index in State::dense

  std::string_view text(Text t) const {
    const std::uint32_t begin = t == kId ? 0 : ends[t - 1];
    return {reinterpret_cast<const char*>(this + 1) + begin, ends[t] - begin};
  }
  std::string_view id() const { return text(kId); }
  std::string_view search_text() const { return text(kSearch); }
  std::string_view folded_title() const { return search_text().substr(0, folded_title_size); }
  std::string_view folded_artist() const {
    return search_text().substr(folded_title_size + 1, folded_artist_size);
  }
  std::string_view folded_album() const {
    return search_text().substr(folded_title_size + folded_artist_size + 2, folded_album_size);
  }
  // Folded album_artist_of(): the album artist's, or the artist's when there is none.
  std::string_view folded_album_artist() const {
    const auto own =
        search_text().substr(folded_title_size + folded_artist_size + folded_album_size + 3);
    return text(kAlbumArtist).empty() ? folded_artist() : own;
  }
  std::string_view folded_genre() const { return text(kFoldedGenre); }
  bool has_album() const { return !text(kAlbum).empty(); }
  bool has_artist() const { return !text(kArtist).empty(); }
  std::string_view album_artist() const {
    return text(kAlbumArtist).empty() ? text(kArtist) : text(kAlbumArtist);
  }

  // Built in place, field by field: a Song default-constructed first
  // would hex-encode a zero digest only to replace it.
  Song song() const {
    return Song{
        .id = std::string(id()),
        .sha256 = ContentHash::from_digest(sha256),
        .size = size,
        .title = std::string(text(kTitle)),
        .artist = std::string(text(kArtist)),
        .album = std::string(text(kAlbum)),
        .album_artist = std::string(text(kAlbumArtist)),
        .genre = std::string(text(kGenre)),
        .track = track,
        .disc = disc,
        .year = year,
        .duration_ms = duration_ms,
        .content_type = std::string(text(kContentType)),
        .format = std::string(text(kFormat)),
        .codec = std::string(text(kCodec)),
        .bitrate = bitrate,
        .sample_rate = sample_rate,
        .channels = channels,
        .cover_sha256 = has_cover ? std::optional<ContentHash>(ContentHash::from_digest(cover_sha256)) : std::nullopt,
        .cover_mime = std::string(text(kCoverMime)),
        .filename = std::string(text(kFilename)),
        .uploaded_by = std::string(text(kUploadedBy)),
        .uploaded_at = uploaded_at,
    };
  }

  // The text a page's cursor holds ("k"); songs are in the order of
  // (sort_key, id), compared bytewise.
  std::string sort_key(SongSort sort) const {
    switch (sort) {
      case SongSort::kTitle:
        return std::string(folded_title());
      case SongSort::kArtist: {
        std::string key;
        key.reserve(folded_artist().size() + folded_album().size() + folded_title().size() + 42);
        key.append(folded_artist()).append(1, '\0').append(folded_album()).append(1, '\0');
        key.append(padded_number(disc)).append(padded_number(track)).append(folded_title());
        return key;
      }
      case SongSort::kAlbum:
        return std::string(folded_album()) + '\0' + padded_number(disc) + padded_number(track);
      case SongSort::kUploadedAt:
        return padded_number(uploaded_at);
      case SongSort::kDuration:
        return padded_number(duration_ms);
    }
    return std::string(folded_title());
  }
};

struct Catalog::Names {
  std::unordered_map<std::string, std::string> folded;
  std::unordered_map<std::string, std::uint64_t> ids;

  static std::string fold(Names* names, const std::string& text) {
    if (names == nullptr) return fold_for_search(text);
    auto it = names->folded.find(text);
    if (it == names->folded.end()) it = names->folded.emplace(text, fold_for_search(text)).first;
    return it->second;
  }
  static std::uint64_t id(Names* names, const std::string& folded) {
    if (names == nullptr) return id64(folded);
    auto it = names->ids.find(folded);
    if (it == names->ids.end()) it = names->ids.emplace(folded, id64(folded)).first;
    return it->second;
  }
};

struct Catalog::Filter {
  std::string needle;  // folded text
  std::string genre;   // folded
  std::optional<std::uint64_t> album_id, artist_id;
  bool impossible = false;  // an album or artist id that no song can have
  int from_year = 0, to_year = 0;

  explicit Filter(const SongQuery& q) : from_year(q.from_year), to_year(q.to_year) {
    if (!q.text.empty()) needle = fold_for_search(q.text);
    if (!q.genre.empty()) genre = fold_for_search(q.genre);
    if (!q.album_id.empty()) {
      album_id = parse_id64(q.album_id);
      impossible = impossible || !album_id;
    }
    if (!q.artist_id.empty()) {
      artist_id = parse_id64(q.artist_id);
      impossible = impossible || !artist_id;
    }
  }
  bool any() const {
    return !needle.empty() || !genre.empty() || album_id || artist_id || from_year > 0 ||
           to_year > 0;
  }
  bool matches(const Entry& e) const {
    if (album_id && e.album_id != *album_id) return false;
    if (artist_id && e.artist_id != *artist_id) return false;
    if (from_year > 0 && e.year < from_year) return false;
    if (to_year > 0 && e.year > to_year) return false;
    if (!genre.empty() && e.folded_genre() != genre) return false;
    if (!needle.empty() && e.search_text().find(needle) == std::string_view::npos) return false;
    return true;
  }
};

// Every song and every index of them. Changed only with mu_ held alone
// (reset() builds a new one without the lock and swaps it in).
//
// Orders: for each sort, every song by (sort key, id) ascending; a
// descending page walks it backwards. All are sorted when a snapshot loads
// (after a change of many songs at once, on the first read of each sort),
// then patched on each change: a binary search per song changed and one
// pass over the order. A page is then a binary search for its cursor (or
// an index, for an offset without filters) and a walk of the page's songs
// plus those that its filters skip. A search whose words few songs hold
// finds them through the masks instead and sorts just those; a query for
// an album, an artist or a small genre sorts that one's songs.
// Albums, artists, genres: the songs of each, by id; an album's and an
// artist's figures are recomputed from its own songs when they change.
struct Catalog::State {
  struct AlbumInfo {
    std::vector<const Entry*> songs;  // every song with this album id, by id
    std::string key;      // folded album artist, NUL, folded name: the order of albums()
    bool listed = false;  // some song has an album tag: in album_list
  };
  struct ArtistInfo {
    std::vector<const Entry*> songs;  // every song with this artist id, by id
    std::string key;                  // the folded name: the order of artists()
    bool listed = false;              // some song has an artist tag: in artist_list
  };
  // The listed albums (or artists), summed up, side by side in their order
  // (key, then id): what albums("") copies out.
  template <typename Item>
  struct List {
    std::vector<std::string> keys;
    std::vector<Item> items;  // items[i]'s key is keys[i]

    // Where (key, id) is or would go.
    std::size_t find(const std::string& key, const std::string& id) const {
      std::size_t low = 0, high = items.size();
      while (low < high) {
        const auto mid = low + (high - low) / 2;
        if (std::tie(keys[mid], items[mid].id) < std::tie(key, id)) {
          low = mid + 1;
        } else {
          high = mid;
        }
      }
      return low;
    }
    bool at(std::size_t i, const std::string& key, const std::string& id) const {
      return i < items.size() && keys[i] == key && items[i].id == id;
    }
    const Item* get(const std::string& key, const std::string& id) const {
      const auto i = find(key, id);
      return at(i, key, id) ? &items[i] : nullptr;
    }
    void put(const std::string& key, Item item) {
      const auto i = find(key, item.id);
      if (at(i, key, item.id)) {
        items[i] = std::move(item);
        return;
      }
      keys.insert(keys.begin() + static_cast<std::ptrdiff_t>(i), key);
      items.insert(items.begin() + static_cast<std::ptrdiff_t>(i), std::move(item));
    }
    void erase(const std::string& key, const std::string& id) {
      const auto i = find(key, id);
      if (!at(i, key, id)) return;
      keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
    }
    void clear() {
      keys.clear();
      items.clear();
    }
  };
  struct GenreInfo {
    std::vector<const Entry*> songs;                // by id
    std::unordered_map<std::uint64_t, int> albums;  // album id -> its songs of this genre
  };

  std::map<std::string_view, EntryPtr, std::less<>> songs;  // by id (the key views the entry's)
  std::vector<const Entry*> dense;                          // every song, in no order (Entry::slot)
  std::vector<SearchMask> masks;                            // of dense[i]'s search text
  std::array<std::vector<const Entry*>, kSortCount> orders;
  std::array<bool, kSortCount> ordered{};               // orders[i] is built and kept current
  std::unordered_map<std::uint64_t, AlbumInfo> albums;  // by album id
  List<Album> album_list;
  std::unordered_map<std::uint64_t, ArtistInfo> artists;  // by artist id
  List<Artist> artist_list;
  std::map<std::string, GenreInfo, std::less<>> genres;  // by folded name
  // Album artist id -> album id -> that album's songs (with an album tag)
  // whose album artist (or artist, without one) has this id.
  std::unordered_map<std::uint64_t, std::unordered_map<std::uint64_t, int>> album_artist_albums;
  // Albums and artists whose songs changed since the last refresh().
  std::vector<std::uint64_t> touched_albums, touched_artists;

  // ---- Orders

  // -1, 0, 1 as a.sort_key(sort) compares with b.sort_key(sort), without
  // building the keys (unless a NUL in the folded artist or album, which
  // the keys use as a separator, makes the fields compare differently).
  static int compare_keys(SongSort sort, const Entry& a, const Entry& b);
  struct Less {
    SongSort sort;
    bool operator()(const Entry* a, const Entry* b) const {
      if (int c = compare_keys(sort, *a, *b)) return c < 0;
      return a->id() < b->id();
    }
  };
  // Whether (sort key, id) of `e` is before / after the cursor's.
  static int compare_to_cursor(SongSort sort, const Entry& e, const Cursor& cursor);

  // What orders the songs' sort keys as far as it tells: for the text
  // sorts the key's first 16 bytes (as two big-endian numbers, zeros after
  // a shorter key), which order two keys when they differ; for the numbers
  // the whole key. Sorting by it first turns most comparisons of a sort of
  // all songs into comparisons of numbers side by side.
  struct KeyPrefix {
    std::uint64_t high = 0, low = 0;
    auto operator<=>(const KeyPrefix&) const = default;
  };
  static KeyPrefix key_prefix(SongSort sort, const Entry& e);

  void build_order(SongSort sort);

  // Takes `removed` out of the order and puts `added` in: a binary search
  // for each, then one pass. `removed` must still be alive.
  static void patch_order(std::vector<const Entry*>& order, SongSort sort,
                          const std::vector<const Entry*>& removed,
                          std::vector<const Entry*> added);

  // The songs matching `filter` (which has a text), in no order, found
  // through the masks; false when more than `max` match (then `out` holds
  // some of them).
  bool text_matches(const Filter& filter, std::size_t max, std::vector<const Entry*>& out) const;

  // ---- Albums, artists, genres

  static void insert_by_id(std::vector<const Entry*>& songs, const Entry* e);
  static void erase_by_id(std::vector<const Entry*>& songs, const Entry* e);

  // Adds `e` to dense and to the album, artist and genre indexes. In bulk
  // (songs added in id order) at the ends of the lists, else in place.
  void link(const Entry* e, bool bulk);

  void unlink(const Entry* e);

  // An album's figures from its songs (by id): its name and artist from the
  // first with an album tag, its genre and cover from the first that has
  // one, the latest year, the earliest upload.
  static Album summarize(std::uint64_t id, AlbumInfo& info);

  static Artist summarize(std::uint64_t id, ArtistInfo& info);

  // Recomputes the touched albums (or artists), and their places in the list.
  template <typename Info, typename Item>
  static void refresh(std::vector<std::uint64_t>& touched,
                      std::unordered_map<std::uint64_t, Info>& infos, List<Item>& list);

  // The whole list anew.
  template <typename Info, typename Item>
  static void relist(std::unordered_map<std::uint64_t, Info>& infos, List<Item>& list);

  void refresh();

  // Every index anew from `songs`: after a reload, or a change of many
  // songs at once. The orders are built again when read.
  void reindex();
};

}  // namespace hifi
