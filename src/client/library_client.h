// LibraryClient: the caller's side of the library over HiFi's API (stars
// and ratings, play history, playlists, shares, the saved play queue),
// on top of an ApiClient (its failover and errors). Answers are the API's
// JSON documents (docs/api.yaml); errors are the ApiClient's ApiErrors.
//
// Thread-safety: as the ApiClient it uses.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/api_client.h"

namespace hifi::client {

enum class LibraryItem { kSong, kAlbum, kArtist };

// What a playlist edit changes (PATCH /api/v1/playlists/{id}); unset fields
// stay as they are.
struct PlaylistChange {
  std::optional<std::string> name;
  std::optional<std::string> comment;
  std::optional<bool> is_public;
  std::vector<std::string> add;        // song ids appended
  std::vector<std::int64_t> remove;    // positions in song_ids (0 is the first)
};

// What a share is made of: song ids, or an album, or a playlist.
struct ShareRequest {
  std::vector<std::string> song_ids;
  std::string album_id;
  std::string playlist_id;
  std::string description;
  std::int64_t expires_at = 0;  // Unix ms; 0: never
};

class LibraryClient {
 public:
  explicit LibraryClient(ApiClient& api) : api_(api) {}

  // PUT or DELETE /api/v1/{songs,albums,artists}/{id}/star.
  ApiResult<bool> star(LibraryItem kind, const std::string& id, bool starred);
  // PUT .../{id}/rating; 0 removes it.
  ApiResult<bool> rate(LibraryItem kind, const std::string& id, int rating);
  // {"songs", "albums", "artists"}
  ApiResult<boost::json::value> starred();

  // {"items": [{"song", "played_at", ...}], "next"}
  ApiResult<boost::json::value> history(int limit, const std::string& cursor = {});
  ApiResult<boost::json::value> record_play(const std::string& song_id, const std::string& client);

  ApiResult<boost::json::value> playlists();
  ApiResult<boost::json::value> playlist(const std::string& id);
  ApiResult<boost::json::value> create_playlist(const std::string& name, const std::string& comment, bool is_public,
                                                const std::vector<std::string>& song_ids);
  ApiResult<boost::json::value> update_playlist(const std::string& id, const PlaylistChange& change);
  ApiResult<bool> delete_playlist(const std::string& id);

  ApiResult<boost::json::value> shares();
  ApiResult<boost::json::value> create_share(const ShareRequest& request);
  ApiResult<bool> delete_share(const std::string& id);

 private:
  ApiResult<bool> no_content(const std::string& method, const std::string& target, const boost::json::value* body);

  ApiClient& api_;
};

// "7d", "12h", "30m", "90s", "2w" -> milliseconds; nullopt when malformed
// or not positive (at most ten years).
std::optional<std::int64_t> parse_duration_ms(const std::string& text);

}  // namespace hifi::client
