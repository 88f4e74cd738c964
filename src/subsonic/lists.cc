// Lists: getAlbumList and getAlbumList2 (random, newest, by name, by
// artist, by year, by genre, and from the caller's own marks: starred,
// highest rated, most and most recently played), getRandomSongs,
// getSongsByGenre, getStarred and getStarred2, getTopSongs (by everyone's
// plays).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>

#include "common/text.h"
#include "subsonic/endpoints.h"
#include "subsonic/entries.h"

namespace hifi::subsonic {
namespace {

constexpr std::int64_t kMaxListSize = 500;
constexpr std::int64_t kMaxOffset = 1'000'000;

// The caller's albums by their own marks: starred (latest first), highest
// (rating), frequent (plays of their songs), recent (last played).
std::vector<Album> albums_by_marks(const Call& call, const std::string& type, std::vector<Album> albums) {
  const auto& user = call.caller.user.id;
  std::map<std::string, std::int64_t> score;  // album id -> what it is sorted by
  if (type == "starred" || type == "highest") {
    for (const auto& [id, a] : call.annotations.of_user(user, ItemKind::kAlbum)) {
      const auto value = type == "starred" ? a.starred_at : a.rating;
      if (value > 0) score[id] = value;
    }
  } else {
    for (const auto& [id, a] : call.annotations.of_user(user, ItemKind::kSong)) {
      if (a.play_count == 0) continue;
      auto song = call.catalog.get(id);
      if (!song) continue;
      auto& slot = score[album_id_of(*song)];
      slot = type == "frequent" ? slot + a.play_count : std::max(slot, a.last_played);
    }
  }
  std::erase_if(albums, [&](const Album& a) { return !score.contains(a.id); });
  std::stable_sort(albums.begin(), albums.end(),
                   [&](const Album& a, const Album& b) { return score[a.id] > score[b.id]; });
  return albums;
}

// The list types that are an order of every album, paged by the catalog.
std::optional<AlbumOrder> plain_order(std::string_view type) {
  if (type == "alphabeticalByArtist") return AlbumOrder::kArtist;
  if (type == "alphabeticalByName") return AlbumOrder::kName;
  if (type == "newest") return AlbumOrder::kNewest;
  return std::nullopt;
}

// The albums getAlbumList(2) asks for, before paging (the other types).
Expected<std::vector<Album>> albums_for(const Call& call) {
  auto type = call.params.required("type");
  if (!type) return type.error();
  auto albums = call.catalog.albums("");  // by artist, then name
  if (*type == "random") {
    std::shuffle(albums.begin(), albums.end(), std::mt19937_64(std::random_device{}()));
    return albums;
  }
  if (*type == "byYear") {
    auto from = call.params.required_integer("fromYear", 0, 9999);
    if (!from) return from.error();
    auto to = call.params.required_integer("toYear", 0, 9999);
    if (!to) return to.error();
    const auto lo = std::min(*from, *to), hi = std::max(*from, *to);
    std::erase_if(albums, [&](const Album& a) { return a.year < lo || a.year > hi; });
    // From fromYear towards toYear: a later fromYear lists newest first.
    std::stable_sort(albums.begin(), albums.end(), [&](const Album& a, const Album& b) {
      return *from <= *to ? a.year < b.year : a.year > b.year;
    });
    return albums;
  }
  if (*type == "byGenre") {
    auto genre = call.params.required("genre");
    if (!genre) return genre.error();
    const auto folded = fold_for_search(*genre);
    std::erase_if(albums, [&](const Album& a) { return fold_for_search(a.genre) != folded; });
    return albums;
  }
  if (*type == "starred" || *type == "highest" || *type == "frequent" || *type == "recent") {
    return albums_by_marks(call, *type, std::move(albums));
  }
  return generic_error(fmt::format("unknown album list type '{}'; use random, newest, alphabeticalByName, "
                                   "alphabeticalByArtist, byYear, byGenre, starred, highest, frequent or recent",
                                   type->substr(0, 32)));
}

Expected<Body> album_list(const Call& call, bool id3) {
  if (auto e = check_music_folder(call.params)) return *e;
  auto size = call.params.integer("size", 1, kMaxListSize, 10);
  if (!size) return size.error();
  auto offset = call.params.integer("offset", 0, kMaxOffset, 0);
  if (!offset) return offset.error();
  Element list(id3 ? "albumList2" : "albumList");
  auto add = [&](const Album& a) { list.add(id3 ? album_entry(a) : album_directory_entry(a)); };
  if (auto order = plain_order(call.params.get("type").value_or(""))) {
    for (const auto& a : call.catalog.albums_in_order(*order, static_cast<std::size_t>(*offset),
                                                      static_cast<std::size_t>(*size))) {
      add(a);
    }
    return Body{std::move(list)};
  }
  auto albums = albums_for(call);
  if (!albums) return albums.error();
  const auto first = std::min<std::size_t>(static_cast<std::size_t>(*offset), albums->size());
  const auto last = std::min<std::size_t>(first + static_cast<std::size_t>(*size), albums->size());
  for (auto i = first; i < last; ++i) add((*albums)[i]);
  return Body{std::move(list)};
}

Expected<Body> get_album_list(const Call& call) { return album_list(call, false); }
Expected<Body> get_album_list2(const Call& call) { return album_list(call, true); }

Expected<Body> get_random_songs(const Call& call) {
  if (auto e = check_music_folder(call.params)) return *e;
  auto size = call.params.integer("size", 1, kMaxListSize, 10);
  if (!size) return size.error();
  auto from = call.params.integer("fromYear", 0, 9999, 0);
  if (!from) return from.error();
  auto to = call.params.integer("toYear", 0, 9999, 0);
  if (!to) return to.error();
  SongQuery filter;
  filter.genre = call.params.get("genre").value_or("");
  filter.from_year = static_cast<int>(*from);
  filter.to_year = static_cast<int>(*to);
  Element list("randomSongs");
  for (const auto& s : call.catalog.random_songs(filter, static_cast<std::size_t>(*size))) list.add(song_entry(s));
  return Body{std::move(list)};
}

Expected<Body> get_songs_by_genre(const Call& call) {
  if (auto e = check_music_folder(call.params)) return *e;
  auto genre = call.params.required("genre");
  if (!genre) return genre.error();
  auto count = call.params.integer("count", 1, kMaxListSize, 10);
  if (!count) return count.error();
  auto offset = call.params.integer("offset", 0, kMaxOffset, 0);
  if (!offset) return offset.error();
  SongQuery q;
  q.genre = *genre;
  if (q.genre.empty()) return missing_parameter("genre");
  q.limit = static_cast<std::size_t>(*count);
  q.offset = static_cast<std::size_t>(*offset);
  auto page = call.catalog.query(q);
  if (!page) return error_from_status(page.status());
  Element list("songsByGenre");
  for (const auto& s : page->items) list.add(song_entry(s));
  return Body{std::move(list)};
}

// getStarred (folder-style elements) and getStarred2 (ID3): the caller's
// starred artists, albums and songs, latest first.
Expected<Body> starred(const Call& call, bool id3) {
  if (auto e = check_music_folder(call.params)) return *e;
  const auto& user = call.caller.user.id;
  auto latest_first = [&](ItemKind kind) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    for (const auto& [id, a] : call.annotations.of_user(user, kind)) {
      if (a.starred()) out.emplace_back(a.starred_at, id);
    }
    std::sort(out.begin(), out.end(), std::greater<>());
    return out;
  };
  Element list(id3 ? "starred2" : "starred");
  const auto artists = latest_first(ItemKind::kArtist);
  if (!artists.empty()) {
    std::map<std::string, Artist> by_id;
    for (auto& a : call.catalog.artists("")) by_id.emplace(a.id, std::move(a));
    for (const auto& [at, id] : artists) {
      if (auto it = by_id.find(id); it != by_id.end()) list.add(artist_entry(it->second, id3));
    }
  }
  for (const auto& [at, id] : latest_first(ItemKind::kAlbum)) {
    if (auto album = call.catalog.album(id)) list.add(id3 ? album_entry(*album) : album_directory_entry(*album));
  }
  for (const auto& [at, id] : latest_first(ItemKind::kSong)) {
    if (auto song = call.catalog.get(id)) list.add(song_entry(*song));
  }
  return Body{std::move(list)};
}

Expected<Body> get_starred(const Call& call) { return starred(call, false); }
Expected<Body> get_starred2(const Call& call) { return starred(call, true); }

// getTopSongs: an artist's songs (by name), most played by everyone first.
Expected<Body> get_top_songs(const Call& call) {
  auto artist = call.params.required("artist");
  if (!artist) return artist.error();
  auto count = call.params.integer("count", 1, kMaxListSize, 50);
  if (!count) return count.error();
  auto songs = top_songs(call.catalog, call.annotations, artist_id_of(*artist), static_cast<std::size_t>(*count));
  if (!songs) return error_from_status(songs.status());
  Element list("topSongs");
  for (const auto& [plays, song] : *songs) list.add(song_entry(song));
  return Body{std::move(list)};
}

}  // namespace

std::vector<Endpoint> list_endpoints() {
  return {
      {"getAlbumList", true, get_album_list},
      {"getAlbumList2", true, get_album_list2},
      {"getRandomSongs", true, get_random_songs},
      {"getSongsByGenre", true, get_songs_by_genre},
      {"getStarred", true, get_starred},
      {"getStarred2", true, get_starred2},
      {"getTopSongs", true, get_top_songs},
  };
}

}  // namespace hifi::subsonic
