// The Subsonic endpoints that answer a document, by resource: system.cc
// (ping, license, extensions, tokenInfo, user, scan status), browse.cc
// (folders, indexes, directories, genres, artists, albums, songs), lists.cc
// (album lists, random songs, songs by genre, starred) and search.cc
// (search2, search3). The endpoints that answer bytes (stream, download,
// getCoverArt) are in media.cc, next to the HTTP adapter (http.cc).
//
// An endpoint translates between parameters and service calls; the services
// decide. It runs on a worker thread (it may read the store) and answers the
// elements of its response, or an error.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "library/accounts.h"
#include "library/catalog.h"
#include "subsonic/auth.h"
#include "subsonic/document.h"
#include "subsonic/params.h"

namespace hifi::subsonic {

struct Call {
  const Params& params;
  const Caller& caller;  // an empty user for endpoints without authentication
  Catalog& catalog;
  AccountService& accounts;
  std::int64_t now_ms;
  // An absolute URL of the cover art `cover_id` at `size` pixels that the
  // caller's apps can load without credentials (a signed getCoverArt URL).
  std::function<std::string(const std::string& cover_id, int size)> cover_url = {};
};

using Body = std::vector<Element>;

struct Endpoint {
  std::string_view name;  // "getAlbum" (requests may add ".view")
  bool needs_auth;
  Expected<Body> (*run)(const Call& call);
};

std::vector<Endpoint> system_endpoints();
std::vector<Endpoint> browse_endpoints();
std::vector<Endpoint> list_endpoints();
std::vector<Endpoint> search_endpoints();
std::vector<Endpoint> info_endpoints();

// The endpoint of that name (without ".view"), or nullptr.
const Endpoint* find_endpoint(std::string_view name);
// For an endpoint of the Subsonic API that HiFi does not have (podcasts,
// playlists, jukebox...): the message saying so; nullopt for other names.
std::optional<std::string> unsupported_endpoint(std::string_view name);

// The songs a query matches, every page of them up to `max`.
std::vector<Song> query_songs(const Catalog& catalog, SongQuery query, std::size_t max);
// Every song of an album, in disc and track order.
std::vector<Song> album_songs(const Catalog& catalog, const std::string& album_id);
// The music folder parameter, where an endpoint takes one: absent or 1.
std::optional<Error> check_music_folder(const Params& params);

}  // namespace hifi::subsonic
