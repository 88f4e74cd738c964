// What HiFi knows about artists, albums and songs beyond their tags, with
// no outside lookups: getArtistInfo(2) and getAlbumInfo(2) (cover URLs,
// similar artists by shared genre; biographies and notes stay empty),
// getSimilarSongs(2) (the seed's artist first, then its genres), and
// getAvatar, which HiFi has nothing for (error 70). startScan is in
// system.cc, beside getScanStatus.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

constexpr std::int64_t kMaxSimilarArtists = 100;
constexpr std::int64_t kMaxSimilarSongs = 500;
// The most songs read from the catalog for one group of similar songs.
constexpr std::size_t kMaxCandidates = 5000;
// The cover sizes of smallImageUrl, mediumImageUrl and largeImageUrl.
constexpr std::pair<const char*, int> kImageSizes[] = {
    {"smallImageUrl", 300}, {"mediumImageUrl", 600}, {"largeImageUrl", 1200}};

// What an id of any kind belongs to: its artist, its genres, and the songs
// it names (a song's, an album's; none for an artist).
struct Seed {
  std::string artist_id;
  std::set<std::string> genres;
  std::set<std::string> songs;
};

Expected<Seed> seed_of(const Catalog& catalog, const ParsedId& id) {
  Seed seed;
  std::vector<Song> songs;
  if (id.kind == IdKind::kSong) {
    auto song = catalog.get_or_read_through(id.id);
    if (!song) return error_from_status(song.status());
    seed.artist_id = artist_id_of(song->artist);
    songs.push_back(std::move(*song));
  } else if (id.kind == IdKind::kAlbum) {
    auto album = catalog.album(id.id);
    if (!album) return error_from_status(album.status());
    seed.artist_id = album->artist_id;
    songs = album_songs(catalog, album->id);
  } else {
    if (catalog.albums_by_artist(id.id).empty()) return not_found_error("no artist with id 'ar-" + id.id + "'");
    seed.artist_id = id.id;
    SongQuery q;
    q.artist_id = id.id;
    for (const auto& s : query_songs(catalog, q, kMaxCandidates)) {
      if (!s.genre.empty()) seed.genres.insert(s.genre);
    }
  }
  for (const auto& s : songs) {
    seed.songs.insert(s.id);
    if (!s.genre.empty()) seed.genres.insert(s.genre);
  }
  return seed;
}

// The artist's albums' and songs' genres.
std::set<std::string> artist_genres(const Catalog& catalog, const std::string& artist_id) {
  std::set<std::string> genres;
  for (const auto& a : catalog.albums_by_artist(artist_id)) {
    if (!a.genre.empty()) genres.insert(a.genre);
  }
  return genres;
}

// Up to `count` other artists with albums in one of `genres`, those sharing
// the most albums first.
std::vector<Artist> similar_artists(const Catalog& catalog, const std::string& artist_id,
                                    const std::set<std::string>& genres, std::size_t count) {
  std::map<std::string, int> shared;
  for (const auto& a : catalog.albums("")) {
    if (a.artist_id != artist_id && genres.contains(a.genre)) ++shared[a.artist_id];
  }
  std::vector<Artist> out;
  for (auto& a : catalog.artists("")) {
    if (shared.contains(a.id)) out.push_back(std::move(a));
  }
  std::stable_sort(out.begin(), out.end(),
                   [&](const Artist& x, const Artist& y) { return shared[x.id] > shared[y.id]; });
  if (out.size() > count) out.resize(count);
  return out;
}

void add_image_urls(const Call& call, Element& info, const std::string& cover_id) {
  if (cover_id.empty() || !call.cover_url) return;
  for (const auto& [name, size] : kImageSizes) info.add(Element(name).text(call.cover_url(cover_id, size)));
}

// getArtistInfo (an id of an artist, album or song) and getArtistInfo2 (an
// artist's).
Expected<Body> artist_info(const Call& call, bool id3) {
  auto count = call.params.integer("count", 0, kMaxSimilarArtists, 20);
  if (!count) return count.error();
  // HiFi knows only the artists it has: includeNotPresent changes nothing.
  if (auto present = call.params.boolean("includeNotPresent", false); !present) return present.error();
  auto id = id_param(call.params);
  if (!id) return id.error();
  if (id3 && id->kind != IdKind::kArtist) return not_found_error("not an artist id: artist ids start with ar-");
  auto seed = seed_of(call.catalog, *id);
  if (!seed) return seed.error();
  const auto albums = call.catalog.albums_by_artist(seed->artist_id);
  Element info(id3 ? "artistInfo2" : "artistInfo");
  info.add(Element("biography").text(""));
  const bool has_cover = std::any_of(albums.begin(), albums.end(), [](const Album& a) { return !a.cover_song_id.empty(); });
  add_image_urls(call, info, has_cover ? artist_ref(seed->artist_id) : "");
  auto genres = artist_genres(call.catalog, seed->artist_id);
  genres.insert(seed->genres.begin(), seed->genres.end());
  for (const auto& a : similar_artists(call.catalog, seed->artist_id, genres, static_cast<std::size_t>(*count))) {
    info.add(artist_entry(a, id3, "similarArtist"));
  }
  return Body{std::move(info)};
}

Expected<Body> get_artist_info(const Call& call) { return artist_info(call, false); }
Expected<Body> get_artist_info2(const Call& call) { return artist_info(call, true); }

// getAlbumInfo (an album's or a song's id) and getAlbumInfo2 (an album's).
Expected<Body> album_info(const Call& call, bool id3) {
  auto id = id_param(call.params);
  if (!id) return id.error();
  std::string album_id;
  if (id->kind == IdKind::kAlbum) {
    album_id = id->id;
  } else if (id->kind == IdKind::kSong && !id3) {
    auto song = call.catalog.get_or_read_through(id->id);
    if (!song) return error_from_status(song.status());
    album_id = album_id_of(*song);
    if (album_id.empty()) return not_found_error("this song belongs to no album");
  } else {
    return not_found_error(id3 ? "not an album id: album ids start with al-"
                               : "not an album or song id: album ids start with al-, song ids are 32 hex digits");
  }
  auto album = call.catalog.album(album_id);
  if (!album) return error_from_status(album.status());
  Element info("albumInfo");
  info.add(Element("notes").text(""));
  add_image_urls(call, info, album->cover_song_id.empty() ? "" : album_ref(album->id));
  return Body{std::move(info)};
}

Expected<Body> get_album_info(const Call& call) { return album_info(call, false); }
Expected<Body> get_album_info2(const Call& call) { return album_info(call, true); }

// Songs like the seed's: its artist's first, then songs sharing one of its
// genres, each group shuffled; the seed's own songs left out.
Expected<Body> similar_songs(const Call& call, bool id3) {
  auto id = id_param(call.params);
  if (!id) return id.error();
  auto count = call.params.integer("count", 1, kMaxSimilarSongs, 50);
  if (!count) return count.error();
  auto seed = seed_of(call.catalog, *id);
  if (!seed) return seed.error();
  const auto wanted = static_cast<std::size_t>(*count);
  std::mt19937_64 rng(std::random_device{}());
  std::set<std::string> taken = seed->songs;
  std::vector<Song> out;
  auto add_group = [&](std::vector<Song> group) {
    std::erase_if(group, [&](const Song& s) { return taken.contains(s.id); });
    std::shuffle(group.begin(), group.end(), rng);
    for (auto& s : group) {
      if (out.size() >= wanted) return;
      if (taken.insert(s.id).second) out.push_back(std::move(s));
    }
  };
  SongQuery by_artist;
  by_artist.artist_id = seed->artist_id;
  add_group(query_songs(call.catalog, by_artist, kMaxCandidates));
  std::vector<Song> by_genre;
  for (const auto& genre : seed->genres) {
    if (out.size() + by_genre.size() >= kMaxCandidates) break;
    SongQuery q;
    q.genre = genre;
    auto songs = query_songs(call.catalog, q, kMaxCandidates);
    by_genre.insert(by_genre.end(), std::make_move_iterator(songs.begin()), std::make_move_iterator(songs.end()));
  }
  add_group(std::move(by_genre));
  Element list(id3 ? "similarSongs2" : "similarSongs");
  for (const auto& s : out) list.add(song_entry(s));
  return Body{std::move(list)};
}

Expected<Body> get_similar_songs(const Call& call) { return similar_songs(call, false); }
Expected<Body> get_similar_songs2(const Call& call) { return similar_songs(call, true); }

Expected<Body> get_avatar(const Call& call) {
  auto name = call.params.required("username");
  if (!name) return name.error();
  return not_found_error(fmt::format("no avatar for '{}': HiFi keeps no user avatars", name->substr(0, 64)));
}

}  // namespace

std::vector<Endpoint> info_endpoints() {
  return {
      {"getArtistInfo", true, get_artist_info},
      {"getArtistInfo2", true, get_artist_info2},
      {"getAlbumInfo", true, get_album_info},
      {"getAlbumInfo2", true, get_album_info2},
      {"getSimilarSongs", true, get_similar_songs},
      {"getSimilarSongs2", true, get_similar_songs2},
      {"getAvatar", true, get_avatar},
  };
}

}  // namespace hifi::subsonic
