// Browsing: getMusicFolders, getIndexes and getMusicDirectory (artist ->
// albums -> songs, the folder-style view), getGenres, getArtists,
// getArtist, getAlbum, getSong (the tag-based view).
#include <algorithm>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

// An artist by id: one with songs of its own, or only the album artist of
// some albums (a compilation's "Various Artists").
Expected<Artist> find_artist(const Catalog& catalog, const std::string& id, std::vector<Album>& albums) {
  albums = catalog.albums_by_artist(id);
  auto artist = catalog.artist(id);
  if (!artist) return not_found_error("no artist with id 'ar-" + id + "'");
  return std::move(*artist);
}

Expected<Body> get_music_folders(const Call&) {
  Element folders("musicFolders");
  folders.add(Element::item("musicFolder").set("id", kMusicFolderId).set("name", "Music"));
  return Body{std::move(folders)};
}

// getIndexes and getArtists: every artist, grouped by first letter.
Expected<Element> artist_indexes(const Call& call, const char* name, bool id3) {
  if (auto e = check_music_folder(call.params)) return *e;
  Element out(name);
  out.set("ignoredArticles", kIgnoredArticles);
  for (auto& index : artist_index(call.catalog.artists(""), id3)) out.add(std::move(index));
  return out;
}

Expected<Body> get_indexes(const Call& call) {
  auto since = call.params.integer("ifModifiedSince", 0, INT64_MAX, 0);
  if (!since) return since.error();
  const auto changed = call.catalog.last_changed_ms();
  if (*since > 0 && *since >= changed) {
    // Nothing changed since the app's copy: an empty index says so.
    if (auto e = check_music_folder(call.params)) return *e;
    Element unchanged("indexes");
    unchanged.set("ignoredArticles", kIgnoredArticles).set("lastModified", changed);
    return Body{std::move(unchanged)};
  }
  auto indexes = artist_indexes(call, "indexes", false);
  if (!indexes) return indexes.error();
  indexes->set("lastModified", changed);
  return Body{std::move(*indexes)};
}

Expected<Body> get_music_directory(const Call& call) {
  auto id = id_param(call.params);
  if (!id) return id.error();
  Element dir("directory");
  if (id->kind == IdKind::kArtist) {
    std::vector<Album> albums;
    auto artist = find_artist(call.catalog, id->id, albums);
    if (!artist) return artist.error();
    dir.set("id", artist_ref(artist->id)).set("parent", kMusicFolderId).set("name", artist->name);
    for (const auto& a : albums) dir.add(album_directory_entry(a, "child"));
    return Body{std::move(dir)};
  }
  if (id->kind == IdKind::kAlbum) {
    auto album = call.catalog.album(id->id);
    if (!album) return error_from_status(album.status());
    dir.set("id", album_ref(album->id)).set("parent", artist_ref(album->artist_id)).set("name", album->name);
    for (const auto& s : album_songs(call.catalog, album->id)) dir.add(song_entry(s, "child"));
    return Body{std::move(dir)};
  }
  return not_found_error("a song is not a directory; ask for its album (al-...) or artist (ar-...)");
}

Expected<Body> get_genres(const Call& call) {
  Element genres("genres");
  for (const auto& g : call.catalog.genres()) {
    genres.add(Element::item("genre").set("songCount", g.song_count).set("albumCount", g.album_count).text(g.name));
  }
  return Body{std::move(genres)};
}

Expected<Body> get_artists(const Call& call) {
  auto artists = artist_indexes(call, "artists", true);
  if (!artists) return artists.error();
  return Body{std::move(*artists)};
}

Expected<Body> get_artist(const Call& call) {
  auto id = id_param_of(call.params, IdKind::kArtist);
  if (!id) return id.error();
  std::vector<Album> albums;
  auto artist = find_artist(call.catalog, *id, albums);
  if (!artist) return artist.error();
  Element e("artist");
  e.set("id", artist_ref(artist->id)).set("name", artist->name).set("coverArt", artist_ref(artist->id));
  e.set("albumCount", albums.size());
  for (const auto& a : albums) e.add(album_entry(a));
  return Body{std::move(e)};
}

Expected<Body> get_album(const Call& call) {
  auto id = id_param_of(call.params, IdKind::kAlbum);
  if (!id) return id.error();
  auto album = call.catalog.album(*id);
  if (!album) return error_from_status(album.status());
  return Body{album_with_songs(*album, album_songs(call.catalog, album->id))};
}

Expected<Body> get_song(const Call& call) {
  auto id = id_param_of(call.params, IdKind::kSong);
  if (!id) return id.error();
  auto song = call.catalog.get_or_read_through(*id);
  if (!song) return error_from_status(song.status());
  return Body{song_entry(*song).set_repeated(false)};
}

}  // namespace

std::vector<Endpoint> browse_endpoints() {
  return {
      {"getMusicFolders", true, get_music_folders},
      {"getIndexes", true, get_indexes},
      {"getMusicDirectory", true, get_music_directory},
      {"getGenres", true, get_genres},
      {"getArtists", true, get_artists},
      {"getArtist", true, get_artist},
      {"getAlbum", true, get_album},
      {"getSong", true, get_song},
  };
}

}  // namespace hifi::subsonic
