// RoomService: rooms as records in the MetaStore, changed only through the
// pure room state machine (room_state.h) and compare-and-swap.
//
// Keys:  rooms/<room-id>  {id, name, owner, created_at, private, state, last_command}
//
// Private rooms: a user's personal room (personal_room()) is private: only
// its owner may see it, join it or command it (to anyone else it does not
// exist: kNotFound, never a hint that it does); its owner or an admin may
// delete it, and the next personal_room() makes it anew. Its id is derived
// from the owner's id, so two devices asking at once get the same room.
//
// Ordering: every command is a CAS on the room's one key, so the store's
// revision order is the order of commands; all nodes learn of changes through
// one watch on rooms/ (a WatchedView) and deliver them in that order. When
// that watch ends the view resumes it, or reloads rooms/ after a compaction
// and tells the listener of every room that changed or vanished meanwhile;
// writers wait (bounded) for the view to follow again instead of failing.
//
// Auto-advance: a scheduler thread applies an internal "advance" command when
// the current song ends. Its precondition (that item is current and has
// ended) makes a second attempt, by this node or another, a harmless no-op.
// After a restart, rooms whose song ended while the node was down are
// advanced in as many steps as needed, each at the server time the previous
// song ended.
//
// Thread-safety: all methods are thread-safe. execute(), create() and
// remove() write to the store: call them from worker threads. The event
// listener is called in revision order with no lock of this service held, on
// the store's watch thread (or the view's restart thread after a reload).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "library/accounts.h"
#include "room/room_state.h"
#include "store/cas_retry.h"
#include "store/meta_store.h"
#include "store/watched_view.h"

namespace hifi::room {

struct Room {
  std::string id;
  std::string name;
  std::string owner;  // user id
  std::int64_t created_at = 0;
  bool is_private = false;  // only the owner may see, join or command it
  RoomState state;
  Revision revision = 0;  // the store revision of this version of the room
  // The command that produced this version ("create" for a new room).
  std::string last_command = "create";
  std::string last_command_by;
};

struct RoomEvent {
  enum class Type { kUpdated, kDeleted };
  Type type = Type::kUpdated;
  Room room;  // for kDeleted only id and revision are meaningful
};

// Resolves a song id to what a queue keeps of it (the id and the song's
// duration); kNotFound for a song that is not in the library.
using SongLookup = std::function<Result<SongRef>(const std::string& song_id)>;

struct RoomServiceOptions {
  Limits limits;
  // When set, every "add" takes its songs' durations from here, whatever the
  // command carried, and refuses unknown songs. A node always sets it.
  SongLookup song_lookup;
  std::size_t max_rooms = 10'000;
  // Rooms one user may own, their personal room not counted.
  std::size_t max_rooms_per_user = 50;
  // When false no scheduler thread runs and tests call advance_due_rooms().
  bool auto_advance = true;
};

// Commands that change what is heard take effect this far ahead at most;
// those whose audio listeners must fetch first (a seek), this far: a web
// player hears the audio it holds about 190 ms after a command and needs
// its fetch (30-70 ms) on top, and a jump is better late for everyone than
// on time for some and cut short for others.
inline constexpr std::int64_t kMaxCommandLeadMs = 200;
inline constexpr std::int64_t kMaxFetchCommandLeadMs = 400;

// Room names: 1 to 100 characters of valid UTF-8, no control characters.
Status validate_room_name(const std::string& name);

// Whether `user` may see, join and command `room`: every room but someone
// else's private one.
inline bool may_use(const Room& room, const std::string& user_id) {
  return !room.is_private || room.owner == user_id;
}
// The id of the personal room of the user with this id.
std::string personal_room_id(const std::string& user_id);

class RoomService {
 public:
  RoomService(MetaStore& store, const Clock& clock, RoomServiceOptions options = {});
  ~RoomService();

  // Loads the rooms, starts watching and (optionally) the scheduler.
  Status start();
  void stop();

  // Called for every change of every room, in store order.
  void set_listener(std::function<void(const RoomEvent&)> listener);

  // The command leads of a room: how far in the future (server ms) a
  // command that changes what is heard (changes_playback()) takes effect, so
  // that it reaches every listener before then and all of them change at the
  // same sample: `fetched_ms` for a change whose audio listeners must fetch
  // first (needs_fetch()), `held_ms` for the others. The node derives them
  // from the leads its listeners report (RoomHub); the service bounds them
  // to 0..kMaxCommandLeadMs (fetched: to kMaxFetchCommandLeadMs). Without
  // them, commands take effect at once.
  // Timed commands never take effect before the room's pending one
  // (state.position_at), so they apply in their order.
  void set_command_lead(std::function<CommandLeads(const std::string& room_id)> leads);

  Result<Room> create(const std::string& name, const std::string& owner);
  // The user's personal room (see the top of this file), made on first use.
  Result<Room> personal_room(const User& user);
  Result<Room> get(const std::string& id) const;
  // get() for a user: kNotFound also for someone else's private room.
  Result<Room> get_for(const std::string& id, const std::string& user_id) const;
  std::vector<Room> list() const;
  // Only the room's owner or an admin may delete it (kPermissionDenied).
  Status remove(const std::string& id, const User& actor);

  // Applies the command. On kFailedPrecondition (and other rejections)
  // `current` (if given) receives the room as it is, so callers can show it.
  // The songs of an "add" are resolved with options.song_lookup first
  // (kNotFound for an unknown song, before anything is written).
  Result<Room> execute(const std::string& room_id, const Command& command,
                       Room* current = nullptr);

  // Applies "advance" to every room whose current item has ended by now.
  // Returns how many rooms advanced.
  int advance_due_rooms();

  // Whether the room view follows the store (stale while its watch is being
  // restarted), and how often it was restarted: for /healthz and /metrics.
  ViewStatus view_status() const { return view_.status(); }

 private:
  void reset(const RangeResult& snapshot);
  void apply_events(const WatchResponse& response);
  // Hands events to the listener, outside mu_.
  void notify(const std::vector<RoomEvent>& events);
  // Waits (bounded) until the view has applied `revision`.
  Status wait_for_revision(Revision revision);
  void scheduler_loop();
  // Writes a new room if its key is absent; false when it exists already.
  Result<bool> insert(Room& room);

  MetaStore& store_;
  const Clock& clock_;
  RoomServiceOptions options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Room> rooms_;
  bool loaded_ = false;  // rooms_ was loaded once; later loads are reported as events
  bool stopping_ = false;
  std::function<void(const RoomEvent&)> listener_;
  std::function<CommandLeads(const std::string&)> command_lead_;  // under mu_
  // The events of the revision the view applied last, for its after_apply
  // (both on the store's watch thread).
  std::vector<RoomEvent> applied_events_;
  // Commands on one room through this node take turns around the read and
  // the write (see cas_retry.h).
  CasTurns command_turns_;
  // After the state its callbacks use; stopped in stop().
  WatchedView view_;
  std::thread scheduler_;
};

}  // namespace hifi::room
