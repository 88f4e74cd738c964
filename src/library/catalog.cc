#include "library/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <new>
#include <random>
#include <span>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "common/base64.h"
#include "common/sha256.h"
#include "common/text.h"
#include "library/media_probe.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kSongsPrefix[] = "songs/";
constexpr std::size_t kMaxLimit = 500;
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);
constexpr std::size_t kSortCount = 5;  // the values of SongSort
// A query narrowed to an album, an artist or a genre of at most this many
// songs sorts just those; a wider one walks the kept order of its sort.
constexpr std::size_t kNarrowSongs = 2048;
// One change of more songs than this re-indexes the library as a whole
// rather than song by song.
constexpr std::size_t kBulkChange = 1024;

std::string short_hash(std::string_view text, std::size_t hex_digits) {
  return to_hex(sha256(text)).substr(0, hex_digits);
}

// What short_hash(text, 16) spells, as a number (album and artist ids).
std::uint64_t id64(std::string_view text) {
  const auto digest = sha256(text);
  std::uint64_t out = 0;
  for (int i = 0; i < 8; ++i) out = (out << 8) | digest[static_cast<std::size_t>(i)];
  return out;
}

std::string hex16(std::uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) out[static_cast<std::size_t>(i)] = kDigits[id & 0xf];
  return out;
}

// The number hex16() spelled as `text`; nullopt when it is not 16 lowercase
// hex digits, which is no album's or artist's id.
std::optional<std::uint64_t> parse_id64(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t out = 0;
  for (char c : text) {
    std::uint64_t v;
    if (c >= '0' && c <= '9') {
      v = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    out = (out << 4) | v;
  }
  return out;
}

std::string album_artist_of(const Song& s) {
  return !s.album_artist.empty() ? s.album_artist : s.artist;
}

std::string title_from_filename(const std::string& filename) {
  auto base = filename;
  if (auto slash = base.find_last_of("/\\"); slash != std::string::npos) base = base.substr(slash + 1);
  if (auto dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  base = is_valid_utf8(base) ? without_control_chars(base) : std::string();
  if (base.size() > 256) {
    std::size_t cut = 256;  // on a character boundary
    while (cut > 0 && (static_cast<unsigned char>(base[cut]) & 0xC0) == 0x80) --cut;
    base.resize(cut);
  }
  return base.empty() ? "Untitled" : base;
}

std::string album_key(const Song& song, const std::string& folded_album) {
  return short_hash(fold_for_search(album_artist_of(song)) + '\0' + folded_album, 16);
}

std::string padded_number(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(n));
  return buf;
}

// The order of padded_number() texts, as numbers: "-000...5" (every
// negative number) before "000...0", and among the negative ones the
// smaller magnitude first, as the text compares.
std::uint64_t padded_rank(std::int64_t n) {
  const auto u = static_cast<std::uint64_t>(n);
  return n < 0 ? ~u : (std::uint64_t{1} << 63) + u;
}

template <typename T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

int compare_text(std::string_view a, std::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

// Which byte pairs a text holds, hashed to 256 bits: a text holds a
// needle only if its mask covers the needle's. One per song, side by side,
// lets a search skip most songs without reading them.
using SearchMask = std::array<std::uint64_t, 4>;

SearchMask search_mask(std::string_view text) {
  SearchMask mask{};
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const auto pair = static_cast<std::uint32_t>(static_cast<unsigned char>(text[i])) << 8 |
                      static_cast<unsigned char>(text[i + 1]);
    const auto bit = (pair * 0x9E3779B1u) >> 24;
    mask[bit >> 6] |= std::uint64_t{1} << (bit & 63);
  }
  return mask;
}

bool covers(const SearchMask& text, const SearchMask& needle) {
  return ((text[0] & needle[0]) == needle[0]) & ((text[1] & needle[1]) == needle[1]) &
         ((text[2] & needle[2]) == needle[2]) & ((text[3] & needle[3]) == needle[3]);
}

}  // namespace

std::string album_id_of(const Song& song) {
  return song.album.empty() ? std::string() : album_key(song, fold_for_search(song.album));
}

std::string artist_id_of(std::string_view artist_name) { return short_hash(fold_for_search(artist_name), 16); }

// A song as the catalog keeps it: its numbers and hashes, the ids of its
// album and artists, and its texts (the Song's strings, then the folded
// ones that searches and sorts compare) back to back in the same
// allocation, right after the struct (make_entry()): one allocation where
// a Song and its folded copies took about twenty, and a third of the bytes.
struct Catalog::Entry {
  enum Text : std::uint8_t {
    kId, kTitle, kArtist, kAlbum, kAlbumArtist, kGenre, kContentType, kFormat, kCodec,
    kCoverMime, kFilename, kUploadedBy,
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
  std::string_view folded_artist() const { return search_text().substr(folded_title_size + 1, folded_artist_size); }
  std::string_view folded_album() const {
    return search_text().substr(folded_title_size + folded_artist_size + 2, folded_album_size);
  }
  // Folded album_artist_of(): the album artist's, or the artist's when there is none.
  std::string_view folded_album_artist() const {
    const auto own = search_text().substr(folded_title_size + folded_artist_size + folded_album_size + 3);
    return text(kAlbumArtist).empty() ? folded_artist() : own;
  }
  std::string_view folded_genre() const { return text(kFoldedGenre); }
  bool has_album() const { return !text(kAlbum).empty(); }
  bool has_artist() const { return !text(kArtist).empty(); }
  std::string_view album_artist() const {
    return text(kAlbumArtist).empty() ? text(kArtist) : text(kAlbumArtist);
  }

  Song song() const {
    Song s;
    s.id = id();
    s.sha256 = ContentHash::from_digest(sha256);
    s.size = size;
    s.title = text(kTitle);
    s.artist = text(kArtist);
    s.album = text(kAlbum);
    s.album_artist = text(kAlbumArtist);
    s.genre = text(kGenre);
    s.track = track;
    s.disc = disc;
    s.year = year;
    s.duration_ms = duration_ms;
    s.content_type = text(kContentType);
    s.format = text(kFormat);
    s.codec = text(kCodec);
    s.bitrate = bitrate;
    s.sample_rate = sample_rate;
    s.channels = channels;
    if (has_cover) s.cover_sha256 = ContentHash::from_digest(cover_sha256);
    s.cover_mime = text(kCoverMime);
    s.filename = text(kFilename);
    s.uploaded_by = text(kUploadedBy);
    s.uploaded_at = uploaded_at;
    return s;
  }

  // The text a page's cursor holds ("k"); songs are in the order of
  // (sort_key, id), compared bytewise.
  std::string sort_key(SongSort sort) const {
    switch (sort) {
      case SongSort::kTitle: return std::string(folded_title());
      case SongSort::kArtist: {
        std::string key;
        key.reserve(folded_artist().size() + folded_album().size() + folded_title().size() + 42);
        key.append(folded_artist()).append(1, '\0').append(folded_album()).append(1, '\0');
        key.append(padded_number(disc)).append(padded_number(track)).append(folded_title());
        return key;
      }
      case SongSort::kAlbum:
        return std::string(folded_album()) + '\0' + padded_number(disc) + padded_number(track);
      case SongSort::kUploadedAt: return padded_number(uploaded_at);
      case SongSort::kDuration: return padded_number(duration_ms);
    }
    return std::string(folded_title());
  }
};

void Catalog::EntryDeleter::operator()(const Entry* entry) const {
  if (entry == nullptr) return;
  entry->~Entry();
  ::operator delete(const_cast<Entry*>(entry));
}

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

Catalog::EntryPtr Catalog::make_entry(Song s, Names* names) {
  const auto folded_title = fold_for_search(s.title);
  const auto folded_artist = Names::fold(names, s.artist);
  const auto folded_album = Names::fold(names, s.album);
  const auto folded_own_album_artist = Names::fold(names, s.album_artist);
  const auto& folded_album_artist = s.album_artist.empty() ? folded_artist : folded_own_album_artist;
  std::string search;
  search.reserve(folded_title.size() + folded_artist.size() + folded_album.size() +
                 folded_own_album_artist.size() + 3);
  search.append(folded_title).append(1, '\n').append(folded_artist).append(1, '\n');
  search.append(folded_album).append(1, '\n').append(folded_own_album_artist);
  const auto folded_genre = Names::fold(names, s.genre);
  const std::array<std::string_view, Entry::kTextCount> texts = {
      s.id, s.title, s.artist, s.album, s.album_artist, s.genre, s.content_type, s.format, s.codec,
      s.cover_mime, s.filename, s.uploaded_by, search, folded_genre};
  std::size_t total = 0;
  for (auto t : texts) total += t.size();
  void* memory = ::operator new(sizeof(Entry) + total);
  auto* e = new (memory) Entry();
  EntryPtr out(e);
  char* chars = reinterpret_cast<char*>(e + 1);
  std::uint32_t at = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (!texts[i].empty()) std::memcpy(chars + at, texts[i].data(), texts[i].size());
    at += static_cast<std::uint32_t>(texts[i].size());
    e->ends[i] = at;
  }
  e->size = s.size;
  e->duration_ms = s.duration_ms;
  e->bitrate = s.bitrate;
  e->uploaded_at = s.uploaded_at;
  e->track = s.track;
  e->disc = s.disc;
  e->year = s.year;
  e->sample_rate = s.sample_rate;
  e->channels = s.channels;
  e->sha256 = s.sha256.digest();
  if (s.cover_sha256) {
    e->has_cover = true;
    e->cover_sha256 = s.cover_sha256->digest();
  }
  e->folded_title_size = static_cast<std::uint32_t>(folded_title.size());
  e->folded_artist_size = static_cast<std::uint32_t>(folded_artist.size());
  e->folded_album_size = static_cast<std::uint32_t>(folded_album.size());
  e->nul_in_keys = folded_artist.find('\0') != std::string::npos || folded_album.find('\0') != std::string::npos;
  e->album_id = Names::id(names, folded_album_artist + '\0' + folded_album);
  e->artist_id = Names::id(names, folded_artist);
  e->album_artist_id = Names::id(names, folded_album_artist);
  return out;
}

std::string song_to_json(const Song& s) { return json::serialize(song_to_json_object(s)); }

json::object song_to_json_object(const Song& s) {
  json::object o;
  o["id"] = s.id;
  o["sha256"] = s.sha256.hex();
  o["size"] = s.size;
  o["title"] = s.title;
  o["artist"] = s.artist;
  o["album"] = s.album;
  o["album_artist"] = s.album_artist;
  o["genre"] = s.genre;
  o["track"] = s.track;
  o["disc"] = s.disc;
  o["year"] = s.year;
  o["duration_ms"] = s.duration_ms;
  o["content_type"] = s.content_type;
  o["format"] = s.format;
  o["codec"] = s.codec;
  o["bitrate"] = s.bitrate;
  o["sample_rate"] = s.sample_rate;
  o["channels"] = s.channels;
  o["cover_sha256"] = s.cover_sha256 ? s.cover_sha256->hex() : std::string();
  o["cover_mime"] = s.cover_mime;
  o["filename"] = s.filename;
  o["uploaded_by"] = s.uploaded_by;
  o["uploaded_at"] = s.uploaded_at;
  return o;
}

Result<Song> song_from_json(std::string_view text) {
  boost::system::error_code ec;
  // A record's parse allocates from the stack (unless it is large).
  unsigned char buffer[4096];
  json::monotonic_resource memory(buffer, sizeof buffer);
  auto v = json::parse(text, ec, &memory);
  if (ec || !v.is_object()) return invalid_argument("a song record is a JSON object");
  const auto& o = v.as_object();
  Song s;
  auto str = [&](const char* k) -> std::string {
    auto* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto num = [&](const char* k) -> std::int64_t {
    auto* p = o.if_contains(k);
    if (!p) return 0;
    if (p->is_int64()) return p->as_int64();
    if (p->is_uint64()) return static_cast<std::int64_t>(p->as_uint64());
    return 0;
  };
  s.id = str("id");
  s.size = static_cast<std::uint64_t>(num("size"));
  s.title = str("title");
  s.artist = str("artist");
  s.album = str("album");
  s.album_artist = str("album_artist");
  s.genre = str("genre");
  s.track = static_cast<int>(num("track"));
  s.disc = static_cast<int>(num("disc"));
  s.year = static_cast<int>(num("year"));
  s.duration_ms = num("duration_ms");
  s.content_type = str("content_type");
  s.format = str("format");
  s.codec = str("codec");
  s.bitrate = num("bitrate");
  s.sample_rate = static_cast<int>(num("sample_rate"));
  s.channels = static_cast<int>(num("channels"));
  s.cover_mime = str("cover_mime");
  s.filename = str("filename");
  s.uploaded_by = str("uploaded_by");
  s.uploaded_at = num("uploaded_at");
  const auto sha256 = str("sha256");
  if (s.id.empty() || sha256.empty()) return invalid_argument("a song record needs an id and a sha256");
  auto hash = ContentHash::parse(sha256);
  if (!hash) return invalid_argument("song record sha256: " + hash.status().message());
  s.sha256 = std::move(*hash);
  if (const auto cover = str("cover_sha256"); !cover.empty()) {
    auto cover_hash = ContentHash::parse(cover);
    if (!cover_hash) return invalid_argument("song record cover_sha256: " + cover_hash.status().message());
    s.cover_sha256 = std::move(*cover_hash);
  }
  return s;
}

Result<SongSort> parse_song_sort(std::string_view text) {
  if (text == "title") return SongSort::kTitle;
  if (text == "artist") return SongSort::kArtist;
  if (text == "album") return SongSort::kAlbum;
  if (text == "uploaded_at") return SongSort::kUploadedAt;
  if (text == "duration") return SongSort::kDuration;
  return invalid_argument("sort must be title, artist, album, uploaded_at or duration");
}


// What a query's filters ask for, folded and parsed once per query.
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
    return !needle.empty() || !genre.empty() || album_id || artist_id || from_year > 0 || to_year > 0;
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
    std::string key;                  // folded album artist, NUL, folded name: the order of albums()
    bool listed = false;              // some song has an album tag: in album_list
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
  std::array<bool, kSortCount> ordered{};  // orders[i] is built and kept current
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
  static int compare_keys(SongSort sort, const Entry& a, const Entry& b) {
    switch (sort) {
      case SongSort::kTitle: return compare_text(a.folded_title(), b.folded_title());
      case SongSort::kArtist:
        if (a.nul_in_keys || b.nul_in_keys) return compare_text(a.sort_key(sort), b.sort_key(sort));
        if (int c = compare_text(a.folded_artist(), b.folded_artist())) return c;
        if (int c = compare_text(a.folded_album(), b.folded_album())) return c;
        if (int c = three_way(padded_rank(a.disc), padded_rank(b.disc))) return c;
        if (int c = three_way(padded_rank(a.track), padded_rank(b.track))) return c;
        return compare_text(a.folded_title(), b.folded_title());
      case SongSort::kAlbum:
        if (a.nul_in_keys || b.nul_in_keys) return compare_text(a.sort_key(sort), b.sort_key(sort));
        if (int c = compare_text(a.folded_album(), b.folded_album())) return c;
        if (int c = three_way(padded_rank(a.disc), padded_rank(b.disc))) return c;
        return three_way(padded_rank(a.track), padded_rank(b.track));
      case SongSort::kUploadedAt: return three_way(padded_rank(a.uploaded_at), padded_rank(b.uploaded_at));
      case SongSort::kDuration: return three_way(padded_rank(a.duration_ms), padded_rank(b.duration_ms));
    }
    return 0;
  }
  struct Less {
    SongSort sort;
    bool operator()(const Entry* a, const Entry* b) const {
      if (int c = compare_keys(sort, *a, *b)) return c < 0;
      return a->id() < b->id();
    }
  };
  // Whether (sort key, id) of `e` is before / after the cursor's.
  static int compare_to_cursor(SongSort sort, const Entry& e, const Cursor& cursor) {
    if (int c = compare_text(e.sort_key(sort), cursor.key)) return c;
    return compare_text(e.id(), cursor.id);
  }

  // What orders the songs' sort keys as far as it tells: for the text
  // sorts the key's first 16 bytes (as two big-endian numbers, zeros after
  // a shorter key), which order two keys when they differ; for the numbers
  // the whole key. Sorting by it first turns most comparisons of a sort of
  // all songs into comparisons of numbers side by side.
  struct KeyPrefix {
    std::uint64_t high = 0, low = 0;
    auto operator<=>(const KeyPrefix&) const = default;
  };
  static KeyPrefix key_prefix(SongSort sort, const Entry& e) {
    std::array<unsigned char, 16> bytes{};
    std::size_t filled = 0;
    auto put = [&](std::string_view text) {
      for (std::size_t i = 0; i < text.size() && filled < bytes.size(); ++i) {
        bytes[filled++] = static_cast<unsigned char>(text[i]);
      }
    };
    auto put_number = [&](std::int64_t n) {
      if (filled == bytes.size()) return;
      char text[32];
      std::snprintf(text, sizeof text, "%020lld", static_cast<long long>(n));  // padded_number()
      put(text);
    };
    switch (sort) {
      case SongSort::kTitle: put(e.folded_title()); break;
      case SongSort::kArtist:
        put(e.folded_artist());
        put(std::string_view("\0", 1));
        put(e.folded_album());
        put(std::string_view("\0", 1));
        put_number(e.disc);
        break;
      case SongSort::kAlbum:
        put(e.folded_album());
        put(std::string_view("\0", 1));
        put_number(e.disc);
        break;
      case SongSort::kUploadedAt: return {padded_rank(e.uploaded_at), 0};
      case SongSort::kDuration: return {padded_rank(e.duration_ms), 0};
    }
    KeyPrefix out;
    for (std::size_t i = 0; i < 8; ++i) out.high = (out.high << 8) | bytes[i];
    for (std::size_t i = 8; i < 16; ++i) out.low = (out.low << 8) | bytes[i];
    return out;
  }

  void build_order(SongSort sort) {
    std::vector<std::pair<KeyPrefix, const Entry*>> keyed;
    keyed.reserve(dense.size());
    for (const Entry* e : dense) keyed.emplace_back(key_prefix(sort, *e), e);
    const Less less{sort};
    std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : less(a.second, b.second);
    });
    const auto i = static_cast<std::size_t>(sort);
    auto& order = orders[i];
    order.clear();
    order.reserve(keyed.size());
    for (const auto& [prefix, e] : keyed) order.push_back(e);
    ordered[i] = true;
  }

  // Takes `removed` out of the order and puts `added` in: a binary search
  // for each, then one pass. `removed` must still be alive.
  static void patch_order(std::vector<const Entry*>& order, SongSort sort, const std::vector<const Entry*>& removed,
                          std::vector<const Entry*> added) {
    const Less less{sort};
    std::vector<std::size_t> drop;
    drop.reserve(removed.size());
    for (const Entry* e : removed) {
      auto it = std::lower_bound(order.begin(), order.end(), e, less);
      if (it == order.end() || *it != e) it = std::find(order.begin(), order.end(), e);  // never expected
      if (it != order.end()) drop.push_back(static_cast<std::size_t>(it - order.begin()));
    }
    std::sort(drop.begin(), drop.end());
    std::sort(added.begin(), added.end(), less);
    std::vector<std::size_t> at;  // insert added[k] before order[at[k]]
    at.reserve(added.size());
    for (const Entry* e : added) {
      at.push_back(static_cast<std::size_t>(std::upper_bound(order.begin(), order.end(), e, less) - order.begin()));
    }
    std::vector<const Entry*> out;
    out.reserve(order.size() - drop.size() + added.size());
    std::size_t d = 0, a = 0, from = 0;
    auto copy_to = [&](std::size_t end) {  // order[from, end) less the dropped ones
      while (from < end) {
        while (d < drop.size() && drop[d] < from) ++d;
        if (d < drop.size() && drop[d] == from) {
          ++d;
          ++from;
          continue;
        }
        const std::size_t stop = d < drop.size() && drop[d] < end ? drop[d] : end;
        out.insert(out.end(), order.begin() + static_cast<std::ptrdiff_t>(from),
                   order.begin() + static_cast<std::ptrdiff_t>(stop));
        from = stop;
      }
    };
    for (; a < added.size(); ++a) {
      copy_to(at[a]);
      out.push_back(added[a]);
    }
    copy_to(order.size());
    order.swap(out);
  }

  // The songs matching `filter` (which has a text), in no order, found
  // through the masks; false when more than `max` match (then `out` holds
  // some of them).
  bool text_matches(const Filter& filter, std::size_t max, std::vector<const Entry*>& out) const {
    const auto needle = search_mask(filter.needle);
    for (std::size_t i = 0; i < dense.size(); ++i) {
      if (!covers(masks[i], needle) || !filter.matches(*dense[i])) continue;
      if (out.size() == max) return false;
      out.push_back(dense[i]);
    }
    return true;
  }

  // ---- Albums, artists, genres

  static void insert_by_id(std::vector<const Entry*>& songs, const Entry* e) {
    auto it = std::lower_bound(songs.begin(), songs.end(), e->id(),
                               [](const Entry* x, std::string_view id) { return x->id() < id; });
    songs.insert(it, e);
  }
  static void erase_by_id(std::vector<const Entry*>& songs, const Entry* e) {
    auto it = std::lower_bound(songs.begin(), songs.end(), e->id(),
                               [](const Entry* x, std::string_view id) { return x->id() < id; });
    if (it == songs.end() || *it != e) it = std::find(songs.begin(), songs.end(), e);
    if (it != songs.end()) songs.erase(it);
  }

  // Adds `e` to dense and to the album, artist and genre indexes. In bulk
  // (songs added in id order) at the ends of the lists, else in place.
  void link(const Entry* e, bool bulk) {
    e->slot = static_cast<std::uint32_t>(dense.size());
    dense.push_back(e);
    masks.push_back(search_mask(e->search_text()));
    auto& album = albums[e->album_id];
    bulk ? album.songs.push_back(e) : insert_by_id(album.songs, e);
    auto& artist = artists[e->artist_id];
    bulk ? artist.songs.push_back(e) : insert_by_id(artist.songs, e);
    if (!bulk) {
      touched_albums.push_back(e->album_id);
      touched_artists.push_back(e->artist_id);
    }
    if (const auto g = e->folded_genre(); !g.empty()) {
      auto it = genres.find(g);
      if (it == genres.end()) it = genres.emplace(std::string(g), GenreInfo{}).first;
      bulk ? it->second.songs.push_back(e) : insert_by_id(it->second.songs, e);
      if (e->has_album()) ++it->second.albums[e->album_id];
    }
    if (e->has_album()) ++album_artist_albums[e->album_artist_id][e->album_id];
  }

  void unlink(const Entry* e) {
    const auto slot = e->slot;
    dense[slot] = dense.back();
    dense[slot]->slot = slot;
    dense.pop_back();
    masks[slot] = masks.back();
    masks.pop_back();
    if (auto it = albums.find(e->album_id); it != albums.end()) erase_by_id(it->second.songs, e);
    if (auto it = artists.find(e->artist_id); it != artists.end()) erase_by_id(it->second.songs, e);
    touched_albums.push_back(e->album_id);
    touched_artists.push_back(e->artist_id);
    if (const auto g = e->folded_genre(); !g.empty()) {
      if (auto it = genres.find(g); it != genres.end()) {
        erase_by_id(it->second.songs, e);
        if (e->has_album()) {
          if (auto a = it->second.albums.find(e->album_id); a != it->second.albums.end() && --a->second <= 0) {
            it->second.albums.erase(a);
          }
        }
        if (it->second.songs.empty()) genres.erase(it);
      }
    }
    if (e->has_album()) {
      if (auto it = album_artist_albums.find(e->album_artist_id); it != album_artist_albums.end()) {
        if (auto a = it->second.find(e->album_id); a != it->second.end() && --a->second <= 0) it->second.erase(a);
        if (it->second.empty()) album_artist_albums.erase(it);
      }
    }
  }

  // An album's figures from its songs (by id): its name and artist from the
  // first with an album tag, its genre and cover from the first that has
  // one, the latest year, the earliest upload.
  static Album summarize(std::uint64_t id, AlbumInfo& info) {
    Album a;
    bool first = true;
    for (const Entry* e : info.songs) {
      if (!e->has_album()) continue;
      if (first) {
        first = false;
        a.id = hex16(id);
        a.name = e->text(Entry::kAlbum);
        a.artist = e->album_artist();
        a.artist_id = hex16(e->album_artist_id);
        a.created_at = e->uploaded_at;
        if (!info.listed) {
          info.key.assign(e->folded_album_artist()).append(1, '\0').append(e->folded_album());
        }
      }
      if (a.genre.empty()) a.genre = e->text(Entry::kGenre);
      a.created_at = std::min(a.created_at, e->uploaded_at);
      a.year = std::max(a.year, e->year);
      a.song_count += 1;
      a.duration_ms += e->duration_ms;
      if (a.cover_song_id.empty() && e->has_cover) a.cover_song_id = e->id();
    }
    return a;
  }

  static Artist summarize(std::uint64_t id, ArtistInfo& info) {
    Artist a;
    std::vector<std::uint64_t> album_ids;
    for (const Entry* e : info.songs) {
      if (!e->has_artist()) continue;
      if (a.song_count == 0) {
        a.id = hex16(id);
        a.name = e->text(Entry::kArtist);
        if (!info.listed) info.key = e->folded_artist();
      }
      a.song_count += 1;
      if (e->has_album()) album_ids.push_back(e->album_id);
    }
    std::sort(album_ids.begin(), album_ids.end());
    a.album_count = static_cast<int>(std::unique(album_ids.begin(), album_ids.end()) - album_ids.begin());
    return a;
  }

  // Recomputes the touched albums (or artists), and their places in the list.
  template <typename Info, typename Item>
  static void refresh(std::vector<std::uint64_t>& touched, std::unordered_map<std::uint64_t, Info>& infos,
                      List<Item>& list) {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const auto id : touched) {
      auto it = infos.find(id);
      if (it == infos.end()) continue;
      auto& info = it->second;
      auto item = summarize(id, info);  // sets the key of one not listed yet
      if (item.song_count > 0) {
        list.put(info.key, std::move(item));
        info.listed = true;
      } else if (info.listed) {
        list.erase(info.key, hex16(id));
        info.listed = false;
      }
      if (info.songs.empty()) infos.erase(it);
    }
    touched.clear();
  }

  // The whole list anew.
  template <typename Info, typename Item>
  static void relist(std::unordered_map<std::uint64_t, Info>& infos, List<Item>& list) {
    std::vector<std::pair<const std::string*, Item>> listed;
    for (auto& [id, info] : infos) {
      info.listed = false;
      auto item = summarize(id, info);
      info.listed = item.song_count > 0;
      if (info.listed) listed.emplace_back(&info.key, std::move(item));
    }
    std::sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) {
      return std::tie(*a.first, a.second.id) < std::tie(*b.first, b.second.id);
    });
    list.clear();
    list.keys.reserve(listed.size());
    list.items.reserve(listed.size());
    for (auto& [key, item] : listed) {
      list.keys.push_back(*key);
      list.items.push_back(std::move(item));
    }
  }

  void refresh() {
    refresh(touched_albums, albums, album_list);
    refresh(touched_artists, artists, artist_list);
  }

  // Every index anew from `songs`: after a reload, or a change of many
  // songs at once. The orders are built again when read.
  void reindex() {
    dense.clear();
    dense.reserve(songs.size());
    masks.clear();
    masks.reserve(songs.size());
    albums.clear();
    album_list.clear();
    artists.clear();
    artist_list.clear();
    genres.clear();
    album_artist_albums.clear();
    touched_albums.clear();
    touched_artists.clear();
    for (auto& order : orders) std::vector<const Entry*>().swap(order);
    ordered.fill(false);
    for (const auto& [id, entry] : songs) link(entry.get(), /*bulk=*/true);  // in id order
    relist(albums, album_list);
    relist(artists, artist_list);
  }
};

Catalog::Catalog(MetaStore& store, BlobStore& blobs, const Clock& clock)
    : store_(store),
      blobs_(blobs),
      clock_(clock),
      state_(std::make_unique<State>()),
      view_(store, kSongsPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
            [this](const WatchResponse& response) { apply(response); },
            WatchedViewOptions{.name = "catalog"}) {}

Catalog::~Catalog() { view_.stop(); }

std::shared_lock<std::shared_mutex> Catalog::read_lock() const {
  { std::lock_guard gate(gate_); }
  return std::shared_lock(mu_);
}

std::unique_lock<std::shared_mutex> Catalog::write_lock() const {
  std::lock_guard gate(gate_);
  return std::unique_lock(mu_);
}

Status Catalog::start() { return view_.start(); }

namespace {

// The song of a record under songs/<id>; nullopt (logged) when it is not
// one, or names another id than its key.
std::optional<Song> song_of_record(std::string_view key, std::string_view value) {
  auto song = song_from_json(value);
  if (!song) {
    spdlog::warn("catalog: skipping unreadable record {}", key);
    return std::nullopt;
  }
  if (key.substr(sizeof(kSongsPrefix) - 1) != song->id) {
    spdlog::warn("catalog: skipping record {}, which holds song {}", key, song->id);
    return std::nullopt;
  }
  return std::move(*song);
}

}  // namespace

void Catalog::reset(const RangeResult& snapshot) {
  auto state = std::make_unique<State>();
  Names names;
  for (const auto& kv : snapshot.kvs) {
    auto song = song_of_record(kv.key, kv.value);
    if (!song) continue;
    auto entry = make_entry(std::move(*song), &names);
    const auto id = entry->id();
    state->songs.try_emplace(id, std::move(entry));  // keys are unique: always added
  }
  state->reindex();
  // Every order now, without the lock, rather than on the first read of
  // each sort.
  for (std::size_t i = 0; i < kSortCount; ++i) state->build_order(static_cast<SongSort>(i));
  {
    auto lock = write_lock();
    state_.swap(state);
    changed_at_ = clock_.now_ms();
  }
  // The old state goes here, without the lock.
}

void Catalog::apply(const WatchResponse& response) {
  // The records are read and folded without the lock.
  struct Change {
    std::string id;
    EntryPtr entry;  // null: deleted
  };
  std::vector<Change> changes;
  changes.reserve(response.events.size());
  for (const auto& event : response.events) {
    auto id = event.kv.key.substr(sizeof(kSongsPrefix) - 1);
    if (event.type == WatchEvent::Type::kDelete) {
      changes.push_back({std::move(id), nullptr});
    } else if (auto song = song_of_record(event.kv.key, event.kv.value)) {
      changes.push_back({std::move(id), make_entry(std::move(*song))});
    }
  }
  std::vector<EntryPtr> gone;  // freed after the lock is released
  auto lock = write_lock();
  changed_at_ = clock_.now_ms();
  auto& st = *state_;
  const bool bulk = changes.size() > kBulkChange;
  std::vector<const Entry*> removed, added;
  for (auto& change : changes) {
    if (auto it = st.songs.find(change.id); it != st.songs.end()) {
      const Entry* old = it->second.get();
      if (!bulk) st.unlink(old);
      if (auto a = std::find(added.begin(), added.end(), old); a != added.end()) {
        added.erase(a);  // added earlier in this change: in no order yet
      } else {
        removed.push_back(old);
      }
      gone.push_back(std::move(it->second));
      st.songs.erase(it);
    }
    if (change.entry) {
      const Entry* e = change.entry.get();
      if (!st.songs.try_emplace(e->id(), std::move(change.entry)).second) continue;  // never: erased above
      if (!bulk) st.link(e, /*bulk=*/false);
      added.push_back(e);
    }
  }
  if (bulk) {
    st.reindex();
    return;
  }
  st.refresh();
  if (removed.empty() && added.empty()) return;
  for (std::size_t i = 0; i < kSortCount; ++i) {
    if (st.ordered[i]) State::patch_order(st.orders[i], static_cast<SongSort>(i), removed, added);
  }
}

Status Catalog::wait_for_revision(Revision revision) {
  return view_.wait_for_revision(revision, std::chrono::steady_clock::now() + kCatchUpTimeout);
}

std::optional<Song> Catalog::find_by_sha256(const ContentHash& sha256) const {
  const auto id = sha256.hex().substr(0, 32);
  auto lock = read_lock();
  auto it = state_->songs.find(id);
  if (it == state_->songs.end() || it->second->sha256 != sha256.digest()) return std::nullopt;
  return it->second->song();
}

Result<Song> Catalog::get(const std::string& id) const {
  {
    auto lock = read_lock();
    auto it = state_->songs.find(id);
    if (it != state_->songs.end()) return it->second->song();
  }
  return not_found("no song with id '" + id + "'");
}

std::size_t Catalog::size() const {
  auto lock = read_lock();
  return state_->songs.size();
}
Result<UploadOutcome> Catalog::add_upload(BlobWriter& writer, const std::string& filename,
                                          const std::string& uploader_id) {
  const auto sha = ContentHash::from_digest(writer.digest());
  if (auto existing = find_by_sha256(sha)) {
    // Known song. Keep these bytes if this node lacks them (another node of
    // a cluster took the first upload); otherwise they cost nothing.
    if (!blobs_.exists(sha)) {
      std::lock_guard publish_lock(blob_lock(sha));
      auto blob = writer.commit();
      if (!blob) return blob.status();
      if (replication_) {
        if (auto s = replication_->note_local_copy(sha); !s) return s;
      }
    } else {
      writer.abort();
    }
    return UploadOutcome{*existing, false};
  }
  auto media = probe_media(writer.temp_path());
  if (!media) return media.status();
  std::lock_guard publish_lock(blob_lock(sha));
  auto blob = writer.commit();
  if (!blob) return blob.status();

  Song song;
  song.id = sha.hex().substr(0, 32);
  song.sha256 = blob->sha256;
  song.size = blob->size;
  song.title = media->title.empty() ? title_from_filename(filename) : media->title;
  song.artist = media->artist;
  song.album = media->album;
  song.album_artist = media->album_artist;
  song.genre = media->genre;
  song.track = media->track;
  song.disc = media->disc;
  song.year = media->year;
  song.duration_ms = media->duration_ms;
  song.content_type = media->content_type;
  song.format = media->format;
  song.codec = media->codec;
  song.bitrate = media->bitrate;
  song.sample_rate = media->sample_rate;
  song.channels = media->channels;
  song.filename = is_valid_utf8(filename) && filename.size() <= 1024 ? without_control_chars(filename) : std::string();
  song.uploaded_by = uploader_id;
  song.uploaded_at = clock_.now_ms();
  if (!media->cover_bytes.empty()) {
    auto cover = blobs_.put(media->cover_bytes);
    if (!cover) return cover.status();
    song.cover_sha256 = cover->sha256;
    song.cover_mime = media->cover_mime;
  }
  if (replication_) {
    // Every copy is durable before the song is published: an acknowledged
    // upload survives the loss of any R-1 nodes.
    if (song.cover_sha256) {
      if (auto s = replication_->replicate(*song.cover_sha256); !s) return s;
    }
    if (auto s = replication_->replicate(song.sha256); !s) return s;
  }

  const auto key = kSongsPrefix + song.id;
  auto txn = store_.txn({Compare::absent(key)}, {Op::put(key, song_to_json(song))});
  if (!txn) return txn.status();
  if (!txn->succeeded) {
    // A concurrent upload of the same bytes won; it is the same song.
    auto kv = store_.get(key);
    if (!kv) return kv.status();
    auto existing = song_from_json(kv->value);
    if (!existing) return internal_error("corrupt song record");
    if (auto s = wait_for_revision(kv->mod_revision); !s) return s;
    return UploadOutcome{*existing, false};
  }
  if (auto s = wait_for_revision(txn->revision); !s) return s;
  return UploadOutcome{song, true};
}


Result<SongPage> Catalog::query(const SongQuery& q) const {
  std::optional<Cursor> cursor;
  if (!q.cursor.empty()) {
    boost::system::error_code ec;
    auto decoded = base64_decode(q.cursor);
    if (!decoded) return invalid_argument("malformed cursor");
    auto v = json::parse(*decoded, ec);
    if (ec || !v.is_object() || !v.as_object().contains("k") || !v.as_object().contains("i") ||
        !v.as_object().at("k").is_string() || !v.as_object().at("i").is_string()) {
      return invalid_argument("malformed cursor");
    }
    cursor = Cursor{std::string(v.as_object().at("k").as_string()), std::string(v.as_object().at("i").as_string())};
  }
  const Filter filter(q);
  {
    auto lock = read_lock();
    if (auto page = page_locked(q, filter, cursor, /*may_build=*/false)) return std::move(*page);
  }
  // The first read of this sort since a change of many songs at once: sort.
  auto lock = write_lock();
  return std::move(*page_locked(q, filter, cursor, /*may_build=*/true));
}

std::optional<SongPage> Catalog::page_locked(const SongQuery& q, const Filter& filter,
                                             const std::optional<Cursor>& cursor, bool may_build) const {
  auto& st = *state_;
  SongPage page;
  if (filter.impossible) return page;
  // The smallest of the album's, the artist's and the genre's songs.
  const std::vector<const Entry*>* narrow = nullptr;
  auto narrow_to = [&](const std::vector<const Entry*>& songs) {
    if (narrow == nullptr || songs.size() < narrow->size()) narrow = &songs;
  };
  if (filter.album_id) {
    auto it = st.albums.find(*filter.album_id);
    if (it == st.albums.end()) return page;
    narrow_to(it->second.songs);
  }
  if (filter.artist_id) {
    auto it = st.artists.find(*filter.artist_id);
    if (it == st.artists.end()) return page;
    narrow_to(it->second.songs);
  }
  if (!filter.genre.empty()) {
    auto it = st.genres.find(filter.genre);
    if (it == st.genres.end()) return page;
    narrow_to(it->second.songs);
  }
  // The songs to walk, ascending by (sort key, id); `filtered` when the
  // walk must still test each against the filters.
  std::vector<const Entry*> few;
  std::span<const Entry* const> songs;
  bool filtered = false;
  bool found = false;
  if (narrow != nullptr && narrow->size() <= kNarrowSongs) {
    for (const Entry* e : *narrow) {
      if (filter.matches(*e)) few.push_back(e);
    }
    found = true;
  } else if (!filter.needle.empty()) {
    // A search: when few songs match (a rare word), sort those; when many
    // do, the walk of the order below soon fills the page.
    found = st.text_matches(filter, kNarrowSongs, few);
  }
  if (found) {
    std::sort(few.begin(), few.end(), State::Less{q.sort});
    songs = few;
  } else {
    const auto i = static_cast<std::size_t>(q.sort);
    if (!st.ordered[i]) {
      if (!may_build) return std::nullopt;
      st.build_order(q.sort);
    }
    songs = st.orders[i];
    filtered = filter.any();
  }
  const std::size_t n = songs.size();
  // Walk step r (0, 1, ...) visits songs[r] ascending, songs[n-1-r] descending.
  std::size_t r = 0, skip = 0;
  if (cursor) {
    if (!q.descending) {  // after the cursor: the first (key, id) above it
      r = static_cast<std::size_t>(
          std::partition_point(songs.begin(), songs.end(),
                               [&](const Entry* e) { return State::compare_to_cursor(q.sort, *e, *cursor) <= 0; }) -
          songs.begin());
    } else {  // below it, from the nearest down
      const auto below = static_cast<std::size_t>(
          std::partition_point(songs.begin(), songs.end(),
                               [&](const Entry* e) { return State::compare_to_cursor(q.sort, *e, *cursor) < 0; }) -
          songs.begin());
      r = n - below;
    }
  } else if (filtered) {
    skip = q.offset;
  } else {
    r = std::min(q.offset, n);
  }
  const auto limit = std::clamp<std::size_t>(q.limit, 1, kMaxLimit);
  const Entry* last = nullptr;
  bool more = false;
  for (; r < n; ++r) {
    const Entry* e = songs[q.descending ? n - 1 - r : r];
    if (filtered && !filter.matches(*e)) continue;
    if (skip > 0) {
      --skip;
      continue;
    }
    if (page.items.size() == limit) {
      more = true;
      break;
    }
    page.items.push_back(e->song());
    last = e;
  }
  if (more && last != nullptr) {
    json::object c;
    c["k"] = last->sort_key(q.sort);
    c["i"] = last->id();
    page.next = base64_encode(json::serialize(c));
  }
  return page;
}

std::vector<Song> Catalog::random_songs(const SongQuery& query, std::size_t count) const {
  const Filter filter(query);
  if (filter.impossible || count == 0) return {};
  std::mt19937_64 rng(std::random_device{}());
  auto lock = read_lock();
  const auto& st = *state_;
  const std::vector<const Entry*>* from = &st.dense;
  auto narrow_to = [&](const std::vector<const Entry*>* songs) {
    if (songs == nullptr) {
      from = nullptr;
    } else if (from != nullptr && songs->size() < from->size()) {
      from = songs;
    }
  };
  if (filter.album_id) {
    auto it = st.albums.find(*filter.album_id);
    narrow_to(it == st.albums.end() ? nullptr : &it->second.songs);
  }
  if (filter.artist_id && from != nullptr) {
    auto it = st.artists.find(*filter.artist_id);
    narrow_to(it == st.artists.end() ? nullptr : &it->second.songs);
  }
  if (!filter.genre.empty() && from != nullptr) {
    auto it = st.genres.find(filter.genre);
    narrow_to(it == st.genres.end() ? nullptr : &it->second.songs);
  }
  if (from == nullptr) return {};
  std::vector<const Entry*> matching;
  if (from == &st.dense && !filter.needle.empty()) {
    st.text_matches(filter, st.dense.size(), matching);
    from = &matching;
  } else if (filter.any()) {
    for (const Entry* e : *from) {
      if (filter.matches(*e)) matching.push_back(e);
    }
    from = &matching;
  }
  // Floyd's sample of `count` distinct places, then in random order.
  const std::size_t n = from->size();
  count = std::min(count, n);
  std::vector<std::size_t> picked;
  picked.reserve(count);
  std::unordered_set<std::size_t> chosen;
  for (std::size_t j = n - count; j < n; ++j) {
    const auto t = std::uniform_int_distribution<std::size_t>(0, j)(rng);
    const auto place = chosen.insert(t).second ? t : j;
    if (place == j) chosen.insert(j);
    picked.push_back(place);
  }
  std::shuffle(picked.begin(), picked.end(), rng);
  std::vector<Song> out;
  out.reserve(picked.size());
  for (const auto place : picked) out.push_back((*from)[place]->song());
  return out;
}

std::vector<Album> Catalog::albums_by_artist(const std::string& artist_id) const {
  const auto id = parse_id64(artist_id);
  if (!id) return {};
  auto lock = read_lock();
  const auto& st = *state_;
  std::vector<std::size_t> found;  // places in album_list
  auto add = [&](std::uint64_t album_id) {
    auto it = st.albums.find(album_id);
    if (it == st.albums.end() || !it->second.listed) return;
    const auto hex = hex16(album_id);
    if (const auto i = st.album_list.find(it->second.key, hex); st.album_list.at(i, it->second.key, hex)) {
      found.push_back(i);
    }
  };
  if (auto it = st.artists.find(*id); it != st.artists.end()) {
    for (const Entry* e : it->second.songs) {
      if (e->has_album()) add(e->album_id);
    }
  }
  if (auto it = st.album_artist_albums.find(*id); it != st.album_artist_albums.end()) {
    for (const auto& [album_id, songs] : it->second) add(album_id);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  std::vector<Album> out;
  out.reserve(found.size());
  for (const auto i : found) out.push_back(st.album_list.items[i]);
  return out;
}

std::vector<Genre> Catalog::genres() const {
  auto lock = read_lock();
  std::vector<Genre> out;
  out.reserve(state_->genres.size());
  for (const auto& [folded, g] : state_->genres) {
    // Named as its first song (by id) spells it.
    out.push_back(Genre{std::string(g.songs.front()->text(Entry::kGenre)), static_cast<int>(g.songs.size()),
                        static_cast<int>(g.albums.size())});
  }
  return out;
}

std::vector<Album> Catalog::albums(const std::string& text) const {
  const auto needle = text.empty() ? std::string() : fold_for_search(text);
  auto lock = read_lock();
  const auto& list = state_->album_list;
  if (needle.empty()) return list.items;
  std::vector<Album> out;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (list.keys[i].find(needle) != std::string::npos) out.push_back(list.items[i]);
  }
  return out;
}

Result<Album> Catalog::album(const std::string& id) const {
  if (const auto n = parse_id64(id)) {
    auto lock = read_lock();
    if (auto it = state_->albums.find(*n); it != state_->albums.end() && it->second.listed) {
      if (const auto* album = state_->album_list.get(it->second.key, id)) return *album;
    }
  }
  return not_found("no album with id '" + id + "'");
}

std::vector<Artist> Catalog::artists(const std::string& text) const {
  const auto needle = text.empty() ? std::string() : fold_for_search(text);
  auto lock = read_lock();
  const auto& list = state_->artist_list;
  if (needle.empty()) return list.items;
  std::vector<Artist> out;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (list.keys[i].find(needle) != std::string::npos) out.push_back(list.items[i]);
  }
  return out;
}

std::map<std::string, Catalog::UploadTotals> Catalog::upload_totals() const {
  std::map<std::string, UploadTotals, std::less<>> totals;
  {
    auto lock = read_lock();
    for (const Entry* e : state_->dense) {
      const auto user = e->text(Entry::kUploadedBy);
      auto it = totals.find(user);
      if (it == totals.end()) it = totals.emplace(std::string(user), UploadTotals{}).first;
      ++it->second.songs;
      it->second.bytes += static_cast<std::int64_t>(e->size);
    }
  }
  return {totals.begin(), totals.end()};
}

Result<Artist> Catalog::artist(const std::string& id) const {
  if (const auto n = parse_id64(id)) {
    auto lock = read_lock();
    if (auto it = state_->artists.find(*n); it != state_->artists.end() && it->second.listed) {
      if (const auto* artist = state_->artist_list.get(it->second.key, id)) return *artist;
    }
  }
  const auto albums = albums_by_artist(id);
  for (const auto& album : albums) {
    if (album.artist_id == id) return Artist{id, album.artist, 0, static_cast<int>(albums.size())};
  }
  return not_found("no artist with id '" + id + "'");
}
std::mutex& Catalog::blob_lock(const ContentHash& sha256) {
  return blob_locks_[std::hash<ContentHash>{}(sha256) % blob_locks_.size()];
}

Result<Song> Catalog::get_or_read_through(const std::string& id) const {
  auto song = get(id);
  // Song ids are the first 32 hex digits of a SHA-256; anything else is not
  // worth a store read.
  const bool plausible = id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (song || song.status().code() != Code::kNotFound || !plausible) return song;
  auto kv = store_.get(kSongsPrefix + id);
  if (!kv) return kv.status().code() == Code::kNotFound ? song.status() : kv.status();
  auto stored = song_from_json(kv->value);
  if (!stored) return internal_error("corrupt song record " + id);
  return stored;
}

Result<Song> Catalog::edit_tags(const std::string& id, const SongTagEdit& edit, const User& actor) {
  constexpr std::size_t kMaxTagChars = 500;
  SongTagEdit clean = edit;
  for (auto [field, what] : {std::pair{&clean.title, "the title"}, {&clean.artist, "the artist"},
                             {&clean.album, "the album"}, {&clean.album_artist, "the album artist"},
                             {&clean.genre, "the genre"}}) {
    if (!*field) continue;
    auto text = clean_user_text(**field, kMaxTagChars, what, /*allow_empty=*/field != &clean.title);
    if (!text) return text.status();
    *field = std::move(*text);
  }
  for (auto [field, max, what] : {std::tuple{&clean.track, 999, "track"}, {&clean.disc, 999, "disc"},
                                  {&clean.year, 9999, "year"}}) {
    if (*field && (**field < 0 || **field > max)) {
      return invalid_argument(std::string(what) + " must be between 0 and " + std::to_string(max));
    }
  }
  const auto key = kSongsPrefix + id;
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) {
      return kv.status().code() == Code::kNotFound ? not_found("no song with id '" + id + "'") : kv.status();
    }
    auto song = song_from_json(kv->value);
    if (!song) return internal_error("corrupt song record");
    if (song->uploaded_by != actor.id && !actor.is_admin()) {
      return permission_denied("only the uploader or an admin may edit a song");
    }
    if (clean.title) song->title = *clean.title;
    if (clean.artist) song->artist = *clean.artist;
    if (clean.album) song->album = *clean.album;
    if (clean.album_artist) song->album_artist = *clean.album_artist;
    if (clean.genre) song->genre = *clean.genre;
    if (clean.track) song->track = *clean.track;
    if (clean.disc) song->disc = *clean.disc;
    if (clean.year) song->year = *clean.year;
    auto txn = store_.txn({Compare::mod_revision_equals(key, kv->mod_revision)}, {Op::put(key, song_to_json(*song))});
    if (!txn) return txn.status();
    if (!txn->succeeded) continue;  // changed meanwhile: edit the newer record
    if (auto s = wait_for_revision(txn->revision); !s) return s;
    return std::move(*song);
  }
  return unavailable("the song changes too often to edit it now; try again");
}

Status Catalog::remove(const std::string& id, const User& actor) {
  const auto key = kSongsPrefix + id;
  auto kv = store_.get(key);
  if (!kv) return kv.status().code() == Code::kNotFound ? not_found("no song with id '" + id + "'")
                                                         : kv.status();
  auto stored = song_from_json(kv->value);
  if (!stored) return internal_error("corrupt song record");
  const Song& song = *stored;
  if (song.uploaded_by != actor.id && !actor.is_admin()) {
    return permission_denied("only the uploader or an admin may delete a song");
  }
  std::lock_guard publish_lock(blob_lock(song.sha256));
  auto txn = store_.txn({Compare::mod_revision_equals(key, kv->mod_revision)}, {Op::del(key)});
  if (!txn) return txn.status();
  if (!txn->succeeded) return not_found("no song with id '" + id + "'");
  if (auto s = wait_for_revision(txn->revision); !s) return s;
  // The record is gone first, so a crash here leaves at worst an unreferenced
  // blob, never a song without bytes.
  if (blobs_.remove(song.sha256) && replication_) replication_->forget_local_copy(song.sha256);
  if (song.cover_sha256) {
    bool shared = false;
    {
      auto lock = read_lock();
      for (const Entry* e : state_->dense) {
        if (e->has_cover && e->cover_sha256 == song.cover_sha256->digest()) {
          shared = true;
          break;
        }
      }
    }
    if (!shared && blobs_.remove(*song.cover_sha256) && replication_) {
      replication_->forget_local_copy(*song.cover_sha256);
    }
  }
  return Status::ok();
}

Result<std::vector<ContentHash>> Catalog::referenced_blobs() const {
  if (auto status = view_.status(); status.stale) {
    return unavailable("the catalog view is not following the store (" +
                       status.last_error.to_string() + ")");
  }
  std::vector<ContentHash> out;
  {
    auto lock = read_lock();
    out.reserve(state_->dense.size());
    for (const Entry* e : state_->dense) {
      out.push_back(ContentHash::from_digest(e->sha256));
      if (e->has_cover) out.push_back(ContentHash::from_digest(e->cover_sha256));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace hifi
