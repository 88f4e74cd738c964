// Jukeboxes: HiFi has no sound card on the server, so a user's jukebox (the
// Subsonic jukeboxControl endpoint) drives a room instead, and everyone
// listening to that room hears what the remote control does. This keeps
// which room that is, per user, and the gain the remote control set (rooms
// have no gain of their own: it is only reported back).
//
// Key:  jukebox/<user-id>  {room_id, gain}
//
// The room is the one the user chose (any room the user may use: every
// room but someone else's personal one), else the user's personal room
// (RoomService::personal_room), which is also where a chosen room that was
// deleted falls back to.
//
// Thread-safety: a stateless view of the store and the rooms; all methods
// are thread-safe and write to the store: call them from worker threads.
#pragma once

#include <string>

#include "common/status.h"
#include "library/accounts.h"
#include "room/room_service.h"
#include "store/meta_store.h"

namespace hifi::room {

struct JukeboxChoice {
  std::string room_id;  // empty: none chosen or made yet
  double gain = 1.0;    // 0.0 to 1.0
};

class Jukeboxes {
 public:
  Jukeboxes(MetaStore& store, RoomService& rooms) : store_(store), rooms_(rooms) {}

  // The user's choice as stored (an empty room_id when there is none).
  Result<JukeboxChoice> choice(const std::string& user_id);
  // Makes `room_id` the user's jukebox; kNotFound for an unknown room.
  Result<JukeboxChoice> choose(const User& user, const std::string& room_id);
  // kInvalidArgument outside [0, 1] (and for NaN).
  Result<JukeboxChoice> set_gain(const User& user, double gain);
  // The room the user's jukebox drives, made now when needed (see above).
  Result<Room> room_of(const User& user);
  // Forgets the user's choice (their account is being deleted).
  Status forget(const std::string& user_id);

 private:
  // Reads the record (and its revision, 0 when absent).
  Result<JukeboxChoice> load(const std::string& user_id, Revision* revision);
  // Writes `choice` if the record is still at `revision`; false when not.
  Result<bool> store_if(const std::string& user_id, const JukeboxChoice& choice, Revision revision);
  Result<JukeboxChoice> update(const std::string& user_id, const std::function<Status(JukeboxChoice&)>& change);

  MetaStore& store_;
  RoomService& rooms_;
};

}  // namespace hifi::room
