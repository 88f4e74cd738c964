// The Subsonic endpoints that answer a document, by resource: system.cc
// (ping, license, extensions, tokenInfo, user, scan status), browse.cc
// (folders, indexes, directories, genres, artists, albums, songs), lists.cc
// (album lists, random songs, songs by genre, starred) and search.cc
// (search2, search3), users.cc (getUser, getUsers and the admin's user
// management, changePassword) and jukebox.cc (jukeboxControl, over a room).
// The endpoints that answer bytes (stream, download,
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
#include "library/annotations.h"
#include "library/catalog.h"
#include "library/client_credentials.h"
#include "library/play_queues.h"
#include "library/playlists.h"
#include "library/shares.h"
#include "room/room_service.h"
#include "subsonic/auth.h"
#include "subsonic/ids.h"
#include "subsonic/document.h"
#include "subsonic/params.h"

namespace hifi::subsonic {

struct Call {
  const Params& params;
  const Caller& caller;  // an empty user for endpoints without authentication
  Catalog& catalog;
  AccountService& accounts;
  std::int64_t now_ms;
  Annotations& annotations;
  Playlists& playlists;
  PlayQueues& play_queues;
  Shares& shares;
  room::RoomService& rooms;
  ClientCredentials& credentials;
  MetaStore& store;
  // "http://host:port" as the client reached this node, for links it is
  // given (shares).
  std::string base_url;
  // An absolute URL of the cover art `cover_id` at `size` pixels that the
  // caller's apps can load without credentials (a signed getCoverArt URL).
  std::function<std::string(const std::string& cover_id, int size)> cover_url = {};
};

using Body = std::vector<Element>;

struct Endpoint {
  std::string_view name;  // "getAlbum" (requests may add ".view")
  bool needs_auth;
  Expected<Body> (*run)(const Call& call);
  // Runs Argon2id (sets a password): run on the password pool, not the
  // worker pool.
  bool hashes_password = false;
};

std::vector<Endpoint> system_endpoints();
std::vector<Endpoint> browse_endpoints();
std::vector<Endpoint> list_endpoints();
std::vector<Endpoint> search_endpoints();
std::vector<Endpoint> annotation_endpoints();  // annotation.cc: stars, ratings, scrobbles, now playing
std::vector<Endpoint> playlist_endpoints();    // playlists.cc
std::vector<Endpoint> play_queue_endpoints();  // play_queue.cc: play queues and bookmarks
std::vector<Endpoint> share_endpoints();       // shares.cc
std::vector<Endpoint> info_endpoints();
std::vector<Endpoint> users_endpoints();
std::vector<Endpoint> jukebox_endpoints();

// The endpoint of that name (without ".view"), or nullptr.
const Endpoint* find_endpoint(std::string_view name);
// For an endpoint of the Subsonic API that HiFi does not have (podcasts,
// videos, chat...): the message saying so; nullopt for other names.
std::optional<std::string> unsupported_endpoint(std::string_view name);

// The songs a query matches, every page of them up to `max`.
std::vector<Song> query_songs(const Catalog& catalog, SongQuery query, std::size_t max);
// Every song of an album, in disc and track order.
std::vector<Song> album_songs(const Catalog& catalog, const std::string& album_id);
// Error 70 unless the song, album or artist is in the library (a song
// uploaded through another node a moment ago included).
std::optional<Error> check_in_library(const Catalog& catalog, const ParsedId& id);
// The songs of a list of ids, in order, leaving out those no longer in the
// library.
std::vector<Song> songs_of(const Catalog& catalog, const std::vector<std::string>& ids);
// The music folder parameter, where an endpoint takes one: absent or 1.
std::optional<Error> check_music_folder(const Params& params);

}  // namespace hifi::subsonic
