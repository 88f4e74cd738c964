// Response mappers: the JSON bodies of HiFi's HTTP API (/api/v1) and of the
// room WebSocket, built from domain values. The only place that decides
// which fields a client sees; stored records (which carry more, such as a
// cover's hash) are never sent as they are.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <vector>

#include "library/accounts.h"
#include "library/annotations.h"
#include "library/catalog.h"
#include "room/room_service.h"

namespace hifi {

struct ListenerInfo;
struct RoomListeners;

namespace api_json {

boost::json::object user(const User& user);
// A song with its cover_url (null without a cover) and stream_url.
boost::json::object song(const Song& song);
boost::json::object album(const Album& album);
boost::json::object artist(const Artist& artist);
// What the caller did with an item, added to its JSON: "starred" (Unix ms,
// or null when not starred) and "rating" (0-5, 0: not rated); for songs
// (with_plays) also "play_count" and "last_played" (Unix ms or null).
void add_annotation(boost::json::object& item, const Annotation& mine, bool with_plays);
// A user as the owner of something: id and username.
boost::json::object owner(const std::string& id, const std::string& username);

boost::json::array listeners(const std::vector<ListenerInfo>& listeners);
// A room's playback state and queue as listeners see it, with who listens
// ("listener_count", and the first of them in "listeners") and the room's
// revision.
boost::json::object room_state(const room::Room& room, const RoomListeners& listeners);
// id, name, owner and created_at: what names a room.
boost::json::object room_ref(const room::Room& room);
// A room in lists: room_ref, revision, listener_count and now_playing (with
// the current song's title and artist when `current_song` is given).
boost::json::object room_summary(const room::Room& room, const RoomListeners& listeners,
                                 const Song* current_song);
// room_summary plus "state".
boost::json::object room_full(const room::Room& room, const RoomListeners& listeners,
                              const Song* current_song);

}  // namespace api_json
}  // namespace hifi
