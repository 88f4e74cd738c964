// The catalog's indexes (kept orders, album/artist/genre summaries, search
// masks) against a reference: the way the catalog answered before it kept
// them, reimplemented here in the simplest form (filter every song, build
// each song's sort key, sort). Song records are written straight to a real
// SQLite MetaStore, so a test can hold thousands of songs, with tags chosen
// to hit the corners: equal keys, negative numbers, NULs in names, names
// that fold alike, songs without tags.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <boost/json.hpp>

#include "blob/blob_store.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/sha256.h"
#include "common/text.h"
#include "library/catalog.h"
#include "store/meta_store.h"
#include "support/eventually.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;
using hifi::testing::eventually;

constexpr SongSort kSorts[] = {SongSort::kTitle, SongSort::kArtist, SongSort::kAlbum, SongSort::kUploadedAt,
                               SongSort::kDuration};

std::string nul(const char* a, const char* b) { return std::string(a) + '\0' + b; }

// ---- The reference ---------------------------------------------------------

// fold_for_search(), remembered: the tags come from small pools.
const std::string& fold(const std::string& text) {
  static std::map<std::string, std::string> folded;
  auto it = folded.find(text);
  if (it == folded.end()) it = folded.emplace(text, fold_for_search(text)).first;
  return it->second;
}

std::string padded(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(n));
  return buf;
}

std::string ref_key(const Song& s, SongSort sort) {
  switch (sort) {
    case SongSort::kTitle: return fold(s.title);
    case SongSort::kArtist:
      return fold(s.artist) + '\0' + fold(s.album) + '\0' + padded(s.disc) + padded(s.track) +
             fold(s.title);
    case SongSort::kAlbum: return fold(s.album) + '\0' + padded(s.disc) + padded(s.track);
    case SongSort::kUploadedAt: return padded(s.uploaded_at);
    case SongSort::kDuration: return padded(s.duration_ms);
  }
  return {};
}

std::string album_artist_of(const Song& s) { return s.album_artist.empty() ? s.artist : s.album_artist; }

// The album id a query may name, also for a song without an album tag.
std::string ref_album_key(const Song& s) {
  return to_hex(sha256(fold(album_artist_of(s)) + '\0' + fold(s.album))).substr(0, 16);
}

bool ref_matches(const Song& s, const SongQuery& q) {
  const auto text = fold(s.title) + "\n" + fold(s.artist) + "\n" + fold(s.album) +
                    "\n" + fold(s.album_artist);
  if (!q.text.empty() && text.find(fold(q.text)) == std::string::npos) return false;
  if (!q.album_id.empty() && ref_album_key(s) != q.album_id) return false;
  if (!q.artist_id.empty() && artist_id_of(s.artist) != q.artist_id) return false;
  if (!q.genre.empty() && fold(s.genre) != fold(q.genre)) return false;
  if (q.from_year > 0 && s.year < q.from_year) return false;
  if (q.to_year > 0 && s.year > q.to_year) return false;
  return true;
}

// Every match of the query's filters, in its order (cursor, offset and
// limit ignored).
std::vector<Song> ref_query(const std::map<std::string, Song>& songs, const SongQuery& q) {
  std::vector<std::pair<std::string, Song>> matches;
  for (const auto& [id, s] : songs) {
    if (ref_matches(s, q)) matches.emplace_back(ref_key(s, q.sort), s);
  }
  std::sort(matches.begin(), matches.end(), [&](const auto& a, const auto& b) {
    return q.descending ? std::tie(b.first, b.second.id) < std::tie(a.first, a.second.id)
                        : std::tie(a.first, a.second.id) < std::tie(b.first, b.second.id);
  });
  std::vector<Song> out;
  for (auto& [key, s] : matches) out.push_back(std::move(s));
  return out;
}

std::string ref_cursor(const Song& s, SongSort sort) {
  boost::json::object c;
  c["k"] = ref_key(s, sort);
  c["i"] = s.id;
  return base64_encode(boost::json::serialize(c));
}

struct RefDerived {
  std::vector<Album> albums;
  std::vector<Artist> artists;
  std::vector<Genre> genres;
};

// Albums, artists and genres as the catalog summed them up before it kept
// them: one scan of every song by id.
RefDerived ref_derived(const std::map<std::string, Song>& songs) {
  std::map<std::string, Album> albums;
  std::map<std::string, std::string> album_keys;
  std::map<std::string, Artist> artists;
  std::map<std::string, std::set<std::string>> albums_of;
  std::map<std::string, std::string> artist_keys;
  std::map<std::string, Genre> genres;
  std::map<std::string, std::set<std::string>> genre_albums;
  for (const auto& [id, s] : songs) {
    if (!s.album.empty()) {
      const auto album_id = ref_album_key(s);
      auto& a = albums[album_id];
      if (a.id.empty()) {
        a.id = album_id;
        a.name = s.album;
        a.artist = album_artist_of(s);
        a.artist_id = artist_id_of(album_artist_of(s));
        a.created_at = s.uploaded_at;
        album_keys[a.id] = fold(a.artist) + '\0' + fold(s.album);
      }
      if (a.genre.empty()) a.genre = s.genre;
      a.created_at = std::min(a.created_at, s.uploaded_at);
      a.year = std::max(a.year, s.year);
      a.song_count += 1;
      a.duration_ms += s.duration_ms;
      if (a.cover_song_id.empty() && s.cover_sha256) a.cover_song_id = s.id;
    }
    if (!s.artist.empty()) {
      const auto artist_id = artist_id_of(s.artist);
      auto& a = artists[artist_id];
      if (a.id.empty()) {
        a.id = artist_id;
        a.name = s.artist;
        artist_keys[a.id] = fold(s.artist);
      }
      a.song_count += 1;
      if (!s.album.empty()) albums_of[a.id].insert(ref_album_key(s));
    }
    if (const auto g = fold(s.genre); !g.empty()) {
      auto& genre = genres[g];
      if (genre.name.empty()) genre.name = s.genre;
      genre.song_count += 1;
      if (!s.album.empty()) genre_albums[g].insert(ref_album_key(s));
    }
  }
  RefDerived out;
  std::vector<std::pair<std::string, Album>> sorted_albums;
  for (auto& [id, a] : albums) sorted_albums.emplace_back(album_keys[id], a);
  std::sort(sorted_albums.begin(), sorted_albums.end(),
            [](const auto& x, const auto& y) { return std::tie(x.first, x.second.id) < std::tie(y.first, y.second.id); });
  for (auto& [key, a] : sorted_albums) out.albums.push_back(a);
  std::vector<std::pair<std::string, Artist>> sorted_artists;
  for (auto& [id, a] : artists) {
    a.album_count = static_cast<int>(albums_of[id].size());
    sorted_artists.emplace_back(artist_keys[id], a);
  }
  std::sort(sorted_artists.begin(), sorted_artists.end(),
            [](const auto& x, const auto& y) { return std::tie(x.first, x.second.id) < std::tie(y.first, y.second.id); });
  for (auto& [key, a] : sorted_artists) out.artists.push_back(a);
  for (auto& [folded, g] : genres) {
    g.album_count = static_cast<int>(genre_albums[folded].size());
    out.genres.push_back(g);
  }
  return out;
}

std::vector<Album> ref_albums_by_artist(const std::map<std::string, Song>& songs, const RefDerived& derived,
                                        const std::string& artist_id) {
  std::set<std::string> ids;
  for (const auto& [id, s] : songs) {
    if (!s.album.empty() && (artist_id_of(s.artist) == artist_id || artist_id_of(album_artist_of(s)) == artist_id)) {
      ids.insert(ref_album_key(s));
    }
  }
  std::vector<Album> out;
  for (const auto& a : derived.albums) {
    if (ids.count(a.id)) out.push_back(a);
  }
  return out;
}

// ---- Comparing ---------------------------------------------------------------

std::string describe(const Album& a) {
  return a.id + "|" + a.name + "|" + a.artist + "|" + a.artist_id + "|" + a.genre + "|" + std::to_string(a.year) +
         "|" + std::to_string(a.song_count) + "|" + std::to_string(a.duration_ms) + "|" +
         std::to_string(a.created_at) + "|" + a.cover_song_id;
}
std::string describe(const Artist& a) {
  return a.id + "|" + a.name + "|" + std::to_string(a.song_count) + "|" + std::to_string(a.album_count);
}
std::string describe(const Genre& g) {
  return g.name + "|" + std::to_string(g.song_count) + "|" + std::to_string(g.album_count);
}
template <typename T>
std::vector<std::string> describe_all(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(describe(item));
  return out;
}
std::vector<std::string> ids_of(const std::vector<Song>& songs) {
  std::vector<std::string> out;
  for (const auto& s : songs) out.push_back(s.id);
  return out;
}

std::string describe(const SongQuery& q) {
  return "sort=" + std::to_string(static_cast<int>(q.sort)) + (q.descending ? " desc" : " asc") + " text='" +
         q.text + "' genre='" + q.genre + "' album=" + q.album_id + " artist=" + q.artist_id +
         " years=" + std::to_string(q.from_year) + "-" + std::to_string(q.to_year) +
         " limit=" + std::to_string(q.limit);
}

// ---- The fixture ---------------------------------------------------------------

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-catalog-index-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return {};
  }
  return pattern;
}

class CatalogIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
    auto store = open_sqlite_meta_store(dir_ + "/meta.db");
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    blobs_ = std::make_unique<BlobStore>(dir_);
    catalog_ = std::make_unique<Catalog>(*store_, *blobs_, clock_);
    ASSERT_TRUE(catalog_->start().is_ok());
  }

  void TearDown() override {
    catalog_.reset();
    blobs_.reset();
    store_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  // Song number n: tags drawn from small pools, so that keys tie, names
  // fold alike, and some are empty, negative or hold a NUL.
  Song make_song(int n) {
    static const std::vector<std::string> titles = {
        "Love Song", "love song", "Zephyr Dawn", "Björk's Tune", "BJÖRK'S TUNE", "Ångström", "a", "", "Night",
        "Song of Songs", "Strasse", "STRASSE", "straße", "Tomorrow", nul("Nul", "Title"), "ok", "Ok"};
    static const std::vector<std::string> artists = {
        "", "Abba", "ABBA", "Björk", "BJÖRK", "The Beatles", nul("Nul", "Artist"), "Nul", "Zed", "Various", "An Artist Of Length"};
    static const std::vector<std::string> albums = {"", "Gold", "gold", "Homogenic", nul("Nul", "Album"), "nul", "Abbey Road",
                                                    "Songs From The Big Chair And A Long Name"};
    static const std::vector<std::string> album_artists = {"", "", "", "Various Artists", "various artists"};
    static const std::vector<std::string> genres = {"", "Rock", "rock", "Jazz", "Électro", "ÉLECTRO"};
    std::uniform_int_distribution<std::size_t> pick(0, 1000);
    auto from = [&](const auto& pool) { return pool[pick(rng_) % pool.size()]; };
    Song s;
    s.sha256 = ContentHash::of("catalog index test " + std::to_string(n));
    s.id = s.sha256.hex().substr(0, 32);
    s.title = from(titles);
    if (pick(rng_) % 7 == 0) s.title += " " + std::to_string(n % 13);
    s.artist = from(artists);
    s.album = from(albums);
    s.album_artist = from(album_artists);
    s.genre = from(genres);
    s.track = static_cast<int>(from(std::vector<int>{-1, 0, 1, 2, 3, 10, 999}));
    s.disc = static_cast<int>(from(std::vector<int>{0, 1, 2}));
    s.year = static_cast<int>(from(std::vector<int>{0, 1969, 1997, 2020}));
    s.duration_ms = from(std::vector<std::int64_t>{-5, 0, 1000, 1000, 250000, -700});
    s.uploaded_at = from(std::vector<std::int64_t>{-1, 0, 100, 100, 200, 1'700'000'000'000});
    if (pick(rng_) % 2 == 0) s.cover_sha256 = ContentHash::of("cover " + s.album);
    s.cover_mime = s.cover_sha256 ? "image/jpeg" : "";
    s.content_type = "audio/flac";
    s.format = "flac";
    s.codec = "flac";
    s.size = 1000 + static_cast<std::uint64_t>(n);
    s.uploaded_by = pick(rng_) % 2 == 0 ? "u1" : "u2";
    s.filename = "song " + std::to_string(n) + ".flac";
    return s;
  }

  // Puts and deletes in one transaction, mirrored in model_; waits until
  // the catalog has applied it.
  void change(const std::vector<Song>& puts, const std::vector<std::string>& deletes = {}) {
    std::vector<Op> ops;
    for (const auto& s : puts) {
      ops.push_back(Op::put("songs/" + s.id, song_to_json(s)));
      model_[s.id] = s;
    }
    for (const auto& id : deletes) {
      ops.push_back(Op::del("songs/" + id));
      model_.erase(id);
    }
    auto txn = store_->txn({}, ops);
    ASSERT_TRUE(txn.is_ok() && txn->succeeded);
    const auto revision = txn->revision;
    ASSERT_TRUE(eventually([&] { return catalog_->view_status().applied_revision >= revision; }));
  }

  void add_songs(int count, int chunk = 500) {
    std::vector<Song> batch;
    for (int i = 0; i < count; ++i) {
      batch.push_back(make_song(next_++));
      if (static_cast<int>(batch.size()) == chunk) {
        change(batch);
        batch.clear();
      }
    }
    if (!batch.empty()) change(batch);
  }

  std::vector<Song> all_pages(const Catalog& catalog, SongQuery q, std::vector<std::string>* cursors = nullptr) {
    std::vector<Song> out;
    for (int guard = 0; guard < 100000; ++guard) {
      auto page = catalog.query(q);
      EXPECT_TRUE(page.is_ok()) << page.status().to_string();
      if (!page.is_ok()) break;
      EXPECT_LE(page->items.size(), q.limit);
      out.insert(out.end(), page->items.begin(), page->items.end());
      if (page->next.empty()) break;
      EXPECT_EQ(page->items.size(), q.limit) << "a page before the last is full";
      if (cursors) cursors->push_back(page->next);
      q.cursor = page->next;
    }
    return out;
  }

  // Every page of every sort, both ways, with and without each filter,
  // compared with the reference; and the cursors are the former ones.
  void expect_queries_match(const Catalog& catalog, std::size_t limit) {
    std::vector<SongQuery> filters(1);
    auto with = [&](auto set) {
      SongQuery q;
      set(q);
      filters.push_back(q);
    };
    with([](SongQuery& q) { q.text = "o"; });            // most songs
    with([](SongQuery& q) { q.text = "SONG"; });         // many
    with([](SongQuery& q) { q.text = "zephyr"; });       // few
    with([](SongQuery& q) { q.text = "no such words"; });
    with([](SongQuery& q) { q.text = "ström"; });
    with([](SongQuery& q) { q.genre = "ROCK"; });
    with([](SongQuery& q) { q.genre = "électro"; });
    with([](SongQuery& q) { q.genre = "polka"; });
    with([](SongQuery& q) { q.from_year = 1990; q.to_year = 2000; });
    with([](SongQuery& q) { q.genre = "jazz"; q.text = "song"; q.from_year = 1970; });
    for (const auto& s : {model_.begin()->second, std::prev(model_.end())->second}) {
      with([&](SongQuery& q) { q.album_id = ref_album_key(s); });
      with([&](SongQuery& q) { q.artist_id = artist_id_of(s.artist); });
      with([&](SongQuery& q) { q.artist_id = artist_id_of(s.artist); q.text = "o"; });
    }
    with([](SongQuery& q) { q.album_id = "not an id"; });
    with([](SongQuery& q) { q.artist_id = "0123456789ABCDEF"; });
    for (auto q : filters) {
      for (auto sort : kSorts) {
        for (bool descending : {false, true}) {
          q.sort = sort;
          q.descending = descending;
          q.limit = limit;
          const auto want = ref_query(model_, q);
          std::vector<std::string> cursors;
          const auto got = all_pages(catalog, q, &cursors);
          ASSERT_EQ(ids_of(got), ids_of(want)) << describe(q);
          // The cursor of each page is the one the catalog always made.
          for (std::size_t i = 0; i < cursors.size(); ++i) {
            ASSERT_EQ(cursors[i], ref_cursor(want[(i + 1) * limit - 1], sort)) << describe(q);
          }
          // Offsets: a few pages, the last, and past the end.
          for (std::size_t offset : {std::size_t{0}, std::size_t{1}, limit, want.size() / 2,
                                     want.size() > 0 ? want.size() - 1 : 0, want.size(), want.size() + 1,
                                     want.size() + 1000}) {
            auto page_query = q;
            page_query.offset = offset;
            auto page = catalog.query(page_query);
            ASSERT_TRUE(page.is_ok());
            const auto first = std::min(offset, want.size());
            const auto last = std::min(first + limit, want.size());
            ASSERT_EQ(ids_of(page->items),
                      ids_of(std::vector<Song>(want.begin() + static_cast<std::ptrdiff_t>(first),
                                               want.begin() + static_cast<std::ptrdiff_t>(last))))
                << describe(q) << " offset " << offset;
            EXPECT_EQ(page->next.empty(), last == want.size()) << describe(q) << " offset " << offset;
          }
        }
      }
    }
  }

  void expect_summaries_match(const Catalog& catalog) {
    const auto want = ref_derived(model_);
    ASSERT_EQ(describe_all(catalog.albums("")), describe_all(want.albums));
    ASSERT_EQ(describe_all(catalog.artists("")), describe_all(want.artists));
    ASSERT_EQ(describe_all(catalog.genres()), describe_all(want.genres));
    for (const auto& a : want.albums) {
      auto got = catalog.album(a.id);
      ASSERT_TRUE(got.is_ok()) << a.id;
      EXPECT_EQ(describe(*got), describe(a));
    }
    std::set<std::string> artist_ids;
    for (const auto& a : want.artists) artist_ids.insert(a.id);
    for (const auto& a : want.albums) artist_ids.insert(a.artist_id);
    for (const auto& id : artist_ids) {
      EXPECT_EQ(describe_all(catalog.albums_by_artist(id)), describe_all(ref_albums_by_artist(model_, want, id)))
          << id;
      EXPECT_TRUE(catalog.artist(id).is_ok()) << id;
    }
    for (const auto& a : want.artists) EXPECT_EQ(describe(*catalog.artist(a.id)), describe(a));
    // The album list in each order, page by page: albums("") sorted (stably)
    // by the name's fold, or the newest first.
    auto by_name = want.albums;
    std::stable_sort(by_name.begin(), by_name.end(),
                     [](const Album& a, const Album& b) { return fold(a.name) < fold(b.name); });
    auto newest = want.albums;
    std::stable_sort(newest.begin(), newest.end(),
                     [](const Album& a, const Album& b) { return a.created_at > b.created_at; });
    EXPECT_EQ(catalog.album_count(), want.albums.size());
    for (const auto& [order, all] : std::vector<std::pair<AlbumOrder, std::vector<Album>>>{
             {AlbumOrder::kArtist, want.albums}, {AlbumOrder::kName, by_name}, {AlbumOrder::kNewest, newest}}) {
      for (const std::size_t limit : {std::size_t{1}, std::size_t{7}, all.size() + 1}) {
        std::vector<Album> paged;
        for (std::size_t offset = 0; offset < all.size(); offset += limit) {
          const auto page = catalog.albums_in_order(order, offset, limit);
          ASSERT_EQ(page.size(), std::min(limit, all.size() - offset));
          paged.insert(paged.end(), page.begin(), page.end());
        }
        EXPECT_EQ(describe_all(paged), describe_all(all)) << "order " << static_cast<int>(order) << ", limit " << limit;
      }
      EXPECT_TRUE(catalog.albums_in_order(order, all.size(), 10).empty());
      EXPECT_TRUE(catalog.albums_in_order(order, 0, 0).empty());
    }
    // Searches of albums and artists: their folded names hold the text.
    for (const std::string text : {"GOLD", "björk", "a", "zzz"}) {
      std::vector<Album> albums;
      for (const auto& a : want.albums) {
        if ((fold(a.artist) + '\0' + fold(a.name)).find(fold(text)) !=
            std::string::npos) {
          albums.push_back(a);
        }
      }
      EXPECT_EQ(describe_all(catalog.albums(text)), describe_all(albums)) << text;
      std::vector<Artist> artists;
      for (const auto& a : want.artists) {
        if (fold(a.name).find(fold(text)) != std::string::npos) artists.push_back(a);
      }
      EXPECT_EQ(describe_all(catalog.artists(text)), describe_all(artists)) << text;
    }
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Catalog> catalog_;
  std::map<std::string, Song> model_;  // what the store holds
  std::mt19937_64 rng_{20261205};
  int next_ = 0;
};

TEST_F(CatalogIndexTest, PagesBySortCursorAndOffsetAreTheReferencesAlsoInALargeLibrary) {
  // More songs than the catalog sorts on the spot for a search or a genre,
  // so both ways of answering (walking the kept order, sorting the few
  // matches) are compared.
  add_songs(2600);
  ASSERT_EQ(catalog_->size(), model_.size());
  expect_queries_match(*catalog_, 50);
  // A catalog that loads the same songs at once builds its indexes in one go.
  Catalog fresh(*store_, *blobs_, clock_);
  ASSERT_TRUE(fresh.start().is_ok());
  expect_queries_match(fresh, 97);
}

TEST_F(CatalogIndexTest, SmallPagesOfASmallLibrary) {
  add_songs(60, 7);
  expect_queries_match(*catalog_, 1);
  expect_queries_match(*catalog_, 7);
  expect_summaries_match(*catalog_);
}

TEST_F(CatalogIndexTest, AlbumsArtistsAndGenresFollowEveryChange) {
  add_songs(300, 50);
  expect_summaries_match(*catalog_);
  // Songs come, go and change their tags, a few at a time, as a library
  // does; the summaries kept up to date change by change must stay those a
  // scan of all songs makes.
  std::uniform_int_distribution<int> dice(0, 99);
  for (int round = 0; round < 40; ++round) {
    std::vector<Song> puts;
    std::vector<std::string> deletes;
    for (int k = dice(rng_) % 4; k >= 0; --k) puts.push_back(make_song(next_++));
    for (int k = dice(rng_) % 3; k > 0 && !model_.empty(); --k) {
      auto it = model_.begin();
      std::advance(it, dice(rng_) % static_cast<int>(model_.size()));
      if (dice(rng_) % 2 == 0) {
        // Retagged: a new album, artist, genre or year for the same song.
        auto s = make_song(next_++);
        s.id = it->second.id;
        s.sha256 = it->second.sha256;
        puts.push_back(s);
      } else if (std::none_of(puts.begin(), puts.end(), [&](const Song& p) { return p.id == it->first; }) &&
                 std::find(deletes.begin(), deletes.end(), it->first) == deletes.end()) {
        deletes.push_back(it->first);
      }
    }
    change(puts, deletes);
    if (round % 8 == 7) {
      expect_summaries_match(*catalog_);
      expect_queries_match(*catalog_, 13);
    }
  }
  expect_summaries_match(*catalog_);
  // Deleting every song of an album and of an artist takes them off the lists.
  const auto victim = model_.begin()->second;
  std::vector<std::string> same;
  for (const auto& [id, s] : model_) {
    if (ref_album_key(s) == ref_album_key(victim) || artist_id_of(s.artist) == artist_id_of(victim.artist)) {
      same.push_back(id);
    }
  }
  change({}, same);
  expect_summaries_match(*catalog_);
  EXPECT_EQ(catalog_->album(ref_album_key(victim)).status().code(), Code::kNotFound);
  // And a catalog that loads them all at once agrees.
  Catalog fresh(*store_, *blobs_, clock_);
  ASSERT_TRUE(fresh.start().is_ok());
  expect_summaries_match(fresh);
}

TEST_F(CatalogIndexTest, PagingWhileSongsComeAndGoSkipsNoneThatStayedAndRepeatsNone) {
  add_songs(200, 100);
  std::uniform_int_distribution<int> dice(0, 999);
  for (auto sort : kSorts) {
    for (bool descending : {false, true}) {
      // Songs there from the first page to the last must each be seen
      // once; songs added or removed meanwhile may or may not be.
      std::set<std::string> stayed, retagged;
      for (const auto& [id, s] : model_) stayed.insert(id);
      SongQuery q;
      q.sort = sort;
      q.descending = descending;
      q.limit = 9;
      std::vector<Song> seen;
      for (int page_no = 0; page_no < 1000; ++page_no) {
        auto page = catalog_->query(q);
        ASSERT_TRUE(page.is_ok());
        seen.insert(seen.end(), page->items.begin(), page->items.end());
        // Between pages: three new songs, two gone (one of them, at times,
        // the song the cursor names), one retagged.
        std::vector<Song> puts = {make_song(next_++), make_song(next_++), make_song(next_++)};
        std::vector<std::string> deletes;
        for (int k = 0; k < 2; ++k) {
          auto it = model_.begin();
          std::advance(it, dice(rng_) % static_cast<int>(model_.size()));
          if (k == 0 && dice(rng_) % 3 == 0 && !page->items.empty()) it = model_.find(page->items.back().id);
          if (it == model_.end() || std::find(deletes.begin(), deletes.end(), it->first) != deletes.end()) continue;
          deletes.push_back(it->first);
          stayed.erase(it->first);
        }
        auto retag = model_.begin();
        std::advance(retag, dice(rng_) % static_cast<int>(model_.size()));
        if (std::find(deletes.begin(), deletes.end(), retag->first) == deletes.end()) {
          auto s = make_song(next_++);
          s.id = retag->second.id;
          s.sha256 = retag->second.sha256;
          puts.push_back(s);
          stayed.erase(s.id);  // its keys changed: it may move across the cursor
          retagged.insert(s.id);
        }
        change(puts, deletes);
        if (page->next.empty()) break;
        q.cursor = page->next;
      }
      std::set<std::string> unique;
      for (const auto& s : seen) {
        // Only a song whose keys changed may come round again.
        EXPECT_TRUE(unique.insert(s.id).second || retagged.count(s.id)) << "seen twice: " << s.id;
      }
      for (const auto& id : stayed) EXPECT_EQ(unique.count(id), 1u) << "skipped: " << id;
      // In order across pages, each song as it was when its page was read.
      for (std::size_t i = 1; i < seen.size(); ++i) {
        const auto a = std::make_pair(ref_key(seen[i - 1], sort), seen[i - 1].id);
        const auto b = std::make_pair(ref_key(seen[i], sort), seen[i].id);
        EXPECT_TRUE(descending ? b < a : a < b) << "sort " << static_cast<int>(sort) << " at " << i;
      }
    }
  }
  // And the kept orders are still the reference's.
  expect_queries_match(*catalog_, 25);
}

TEST_F(CatalogIndexTest, ACursorFromAnotherSortOrAForeignKeyStillPages) {
  add_songs(80);
  for (auto sort : kSorts) {
    for (bool descending : {false, true}) {
      SongQuery q;
      q.sort = sort;
      q.descending = descending;
      q.limit = 10;
      const auto want = ref_query(model_, q);
      // A cursor names a place between keys, whether or not a song is there.
      for (const std::string& key : {std::string(), std::string("m"), std::string(1, '\0'), std::string("\xc3\xbf\xc3\xbf"),
                                    padded(100), padded(-3)}) {
        boost::json::object c;
        c["k"] = key;
        c["i"] = "5";
        q.cursor = base64_encode(boost::json::serialize(c));
        auto page = catalog_->query(q);
        ASSERT_TRUE(page.is_ok());
        std::vector<Song> expected;
        for (const auto& s : want) {
          const auto here = std::make_pair(ref_key(s, sort), s.id);
          const auto at = std::make_pair(key, std::string("5"));
          if ((descending ? here < at : at < here) && expected.size() < q.limit) expected.push_back(s);
        }
        EXPECT_EQ(ids_of(page->items), ids_of(expected)) << "sort " << static_cast<int>(sort) << " key " << key;
      }
    }
  }
}

TEST_F(CatalogIndexTest, AChangeOfManySongsAtOnceIsIndexedAsAWhole) {
  add_songs(100);
  // More songs in one transaction than the catalog applies one by one,
  // with some deleted in the same transaction.
  std::vector<Song> puts;
  for (int i = 0; i < 1500; ++i) puts.push_back(make_song(next_++));
  std::vector<std::string> deletes;
  for (auto it = model_.begin(); deletes.size() < 30; ++it) deletes.push_back(it->first);
  change(puts, deletes);
  ASSERT_EQ(catalog_->size(), model_.size());
  expect_queries_match(*catalog_, 200);
  expect_summaries_match(*catalog_);
  // And it goes on one change at a time afterwards.
  change({make_song(next_++)}, {model_.begin()->first});
  expect_queries_match(*catalog_, 200);
}

TEST_F(CatalogIndexTest, RandomSongsAreDistinctMatches) {
  add_songs(400);
  for (const auto& [text, genre, from_year] : {std::tuple<std::string, std::string, int>{"", "", 0},
                                               {"song", "", 0},
                                               {"", "rock", 0},
                                               {"o", "jazz", 1990},
                                               {"zephyr", "", 0},
                                               {"nothing like it", "", 0}}) {
    SongQuery q;
    q.text = text;
    q.genre = genre;
    q.from_year = from_year;
    std::set<std::string> matching;
    for (const auto& [id, s] : model_) {
      if (ref_matches(s, q)) matching.insert(id);
    }
    for (std::size_t count : {std::size_t{1}, std::size_t{10}, std::size_t{1000}}) {
      const auto got = catalog_->random_songs(q, count);
      EXPECT_EQ(got.size(), std::min(count, matching.size())) << text << "/" << genre;
      std::set<std::string> unique;
      for (const auto& s : got) {
        EXPECT_TRUE(matching.count(s.id)) << s.id;
        EXPECT_TRUE(unique.insert(s.id).second) << s.id;
      }
    }
  }
}

TEST_F(CatalogIndexTest, SongsReadBackAsWritten) {
  add_songs(50);
  for (const auto& [id, s] : model_) {
    auto got = catalog_->get(id);
    ASSERT_TRUE(got.is_ok());
    EXPECT_EQ(song_to_json(*got), song_to_json(s));
    auto by_hash = catalog_->find_by_sha256(s.sha256);
    ASSERT_TRUE(by_hash.has_value());
    EXPECT_EQ(song_to_json(*by_hash), song_to_json(s));
  }
  std::map<std::string, Catalog::UploadTotals> totals;
  for (const auto& [id, s] : model_) {
    totals[s.uploaded_by].songs += 1;
    totals[s.uploaded_by].bytes += static_cast<std::int64_t>(s.size);
  }
  const auto got = catalog_->upload_totals();
  ASSERT_EQ(got.size(), totals.size());
  for (const auto& [user, t] : totals) {
    EXPECT_EQ(got.at(user).songs, t.songs);
    EXPECT_EQ(got.at(user).bytes, t.bytes);
  }
}

TEST_F(CatalogIndexTest, ARecordUnderAnotherSongsKeyIsSkipped) {
  auto s = make_song(1);
  auto other = make_song(2);
  auto txn = store_->txn({}, {Op::put("songs/" + other.id, song_to_json(s))});
  ASSERT_TRUE(txn.is_ok() && txn->succeeded);
  ASSERT_TRUE(eventually([&] { return catalog_->view_status().applied_revision >= txn->revision; }));
  EXPECT_EQ(catalog_->size(), 0u);
  Catalog fresh(*store_, *blobs_, clock_);
  ASSERT_TRUE(fresh.start().is_ok());
  EXPECT_EQ(fresh.size(), 0u);
}

}  // namespace
}  // namespace hifi
