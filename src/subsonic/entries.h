// The Subsonic elements of HiFi's songs, albums and artists, built field by
// field from domain values (the Subsonic counterpart of api_json): the only
// place that decides which attributes an app sees. Attribute names are those
// of the Subsonic 1.16.1 schema, plus cheap OpenSubsonic additions
// (mediaType, channelCount, samplingRate).
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "library/annotations.h"
#include "library/catalog.h"
#include "subsonic/document.h"

namespace hifi::subsonic {

// A song as a `Child` (named `element`: "song", "child", "entry"...).
Element song_entry(const Song& song, const char* element = "song");
// An album as an `AlbumID3`; with_songs adds its songs as `song` children.
Element album_entry(const Album& album, const char* element = "album");
Element album_with_songs(const Album& album, const std::vector<Song>& songs);
// An album as a directory `Child` (getAlbumList, getMusicDirectory, search2).
Element album_directory_entry(const Album& album, const char* element = "album");
// An artist as an `ArtistID3` (id3 true) or a folder-style `Artist`.
Element artist_entry(const Artist& artist, bool id3, const char* element = "artist");
// Artists grouped by their first letter (`index` elements with `artist`
// children), for getIndexes and getArtists: "A".."Z", then "#" for the rest.
std::vector<Element> artist_index(const std::vector<Artist>& artists, bool id3);
// The articles getIndexes and getArtists announce (HiFi does not skip them).
inline constexpr char kIgnoredArticles[] = "";
// Adds the user's own marks to every song, album, artist and directory
// element in `body` (children included): starred, userRating, and for songs
// and albums playCount and played (an album's are its songs' together,
// found through `catalog`). The user's marks are read only if `body` has
// such an element.
void annotate(std::vector<Element>& body, const Annotations& annotations, const std::string& user_id,
              const Catalog& catalog);

// Unix ms as the schema's xs:dateTime in UTC ("2024-05-01T12:00:00.000Z").
std::string iso_time(std::int64_t unix_ms);

}  // namespace hifi::subsonic
