// The room state machine: a room's queue and playback state as a value, and
// apply(), a pure function from (state, command, now) to the next state.
//
// Everything that changes a room goes through apply(), on whichever node
// takes the command; the result is written with compare-and-swap, so every
// node sees the same sequence of states. Commands carry preconditions (the
// item a client believes is current) so a retried or raced command never
// acts twice.
//
// Invariants apply() keeps (property-tested in tests/room):
//  - `current` is the id of an item in `queue`, or empty.
//  - 0 <= position_ms <= duration of the current item; 0 when there is none.
//  - `playing` implies a current item.
//  - a rejected command changes nothing (apply returns an error, no state);
//  - the same command sequence at the same times gives the same states.
//
// Times are server Unix milliseconds. Thread-safety: plain values.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hifi::room {

enum class RepeatMode { kOff, kAll, kOne };
const char* repeat_mode_name(RepeatMode mode);
// "off", "all" or "one"; kInvalidArgument for anything else.
Result<RepeatMode> parse_repeat_mode(std::string_view text);

struct QueueItem {
  std::string id;  // stable within the room: "q<sequence>"
  std::string song_id;
  std::string added_by;  // user id
  std::int64_t duration_ms = 0;
  bool operator==(const QueueItem&) const = default;
};

struct RoomState {
  std::vector<QueueItem> queue;
  std::string current;  // item id; empty: nothing selected
  bool playing = false;
  std::int64_t position_ms = 0;  // position of the current item ...
  std::int64_t position_at = 0;  // ... at this server time
  RepeatMode repeat = RepeatMode::kOff;
  std::int64_t next_item_seq = 1;
  // Counts selections: it grows every time an item is selected or restarted
  // from the top (skip, previous, advance, removing the current item), so a
  // client can name "this play of the current item" in a precondition even
  // when a restart leaves the same item current.
  std::int64_t selection = 0;
  // The device that plays the room's sound ("" = every device of every
  // listener). Rooms where one person listens on several devices (a
  // personal room) use it: the other devices are remote controls.
  std::string speaker;
  bool operator==(const RoomState&) const = default;

  const QueueItem* current_item() const;
  // Index of the item in the queue, or -1.
  int index_of(const std::string& item_id) const;
  // The position the current item has reached at server time `now`. A
  // position_at in the future means the state takes effect then (a timed
  // command, see changes_playback()); before it, this is position_ms.
  std::int64_t position_at_time(std::int64_t now) const;
  // Server time at which the current item ends if nothing intervenes;
  // nullopt when not playing.
  std::optional<std::int64_t> ends_at() const;
};

struct SongRef {
  std::string song_id;
  std::int64_t duration_ms = 0;
};

struct Command {
  enum class Type {
    kAdd,       // songs, at
    kRemove,    // item_id
    kMove,      // item_id, to
    kClear,
    kPlay,
    kPause,
    kSeek,      // position_ms
    kSkip,      // optional expected_item
    kPrevious,  // optional expected_item
    kRepeat,    // mode
    kSelect,    // item_id, position_ms: jump to an item, keeping play/pause
    kShuffle,   // seed: the items after the current one in a random order
    kSpeaker,   // device: which device plays ("" = every device)
    kAdvance,   // internal: the current item (expected_item) has ended
  };
  // Where kAdd inserts: at the end, right after the current item, or at an index.
  static constexpr std::int64_t kAtEnd = -1;
  static constexpr std::int64_t kAtNext = -2;

  Type type = Type::kPlay;
  std::string by;  // user id issuing the command
  std::vector<SongRef> songs;
  std::int64_t at = kAtEnd;
  // kAdd: the queue becomes exactly `songs` (replace), and/or the first of
  // them is selected and plays from its start (play).
  bool replace = false;
  bool play = false;
  // kShuffle: the order is a pure function of the seed (chosen by the node
  // that takes the command), so apply() stays deterministic.
  std::uint64_t seed = 0;
  std::string device;  // kSpeaker
  std::string item_id;
  std::int64_t to = 0;
  std::int64_t position_ms = 0;
  std::string expected_item;  // precondition; empty: none
  // Precondition on RoomState::selection (skip, previous, seek); nullopt: none.
  std::optional<std::int64_t> expected_selection;
  RepeatMode mode = RepeatMode::kOff;
};

// Device ids name one device of a listener (a browser, a CLI player): 1 to
// 64 of A-Z, a-z, 0-9, '_' and '-'.
bool is_device_id(std::string_view id);

const char* command_type_name(Command::Type type);
// The name of a command a client may send; kInvalidArgument for anything
// else, including "advance", which only the server issues.
Result<Command::Type> parse_command_type(std::string_view text);

// The most items a queue may be configured to hold. With it a room's
// record (room_service.cc) stays far below etcd's default request limit of
// 1.5 MiB, since every command rewrites the whole record: an item is at
// most 147 bytes of JSON ({"id":"q<up to 19 digits>","song_id":"<32 hex>",
// "added_by":"<24 hex>","duration_ms":<up to 19 digits>}, plus a comma;
// 120 for a typical one), and the rest of the record under 1 KiB (a room
// name of 100 characters is at most 400 bytes), so 5,000 items make at most
// 736 KB, under half the limit, and the default 2,000 at most 295 KB.
inline constexpr std::size_t kMaxQueueItemsCeiling = 5'000;

struct Limits {
  std::size_t max_queue = 2'000;  // 1 to kMaxQueueItemsCeiling
};

// Whether the command changes what listeners hear (play, pause, seek, skip,
// previous, select, clear, an add that plays or replaces, removing the
// current item). Those take effect at a server time slightly in the future
// (RoomService: the room's command lead), so that every listener changes at
// the same sample; the others (queue edits, repeat, shuffle, speaker) change
// nothing that is playing and take effect at once.
bool changes_playback(const RoomState& state, const Command& command);
// Whether listeners must fetch the audio a playback change goes to before
// they can play it: a seek, previous, select, an add that plays or
// replaces. Play, pause, skip (to the next item, which players fetch
// ahead), clear and removing the current item go to audio they hold.
bool needs_fetch(const RoomState& state, const Command& command);

// The command leads of a room (docs/protocol.md, "Commands that land on the
// same sample"), in ms: how far in the future a playback change takes
// effect so that every listener can play it at its sample.
struct CommandLeads {
  std::int64_t held_ms = 0;     // a change to audio the listeners hold
  std::int64_t fetched_ms = 0;  // a change to audio they must fetch first (>= held_ms)
  bool operator==(const CommandLeads&) const = default;
};

// The next state, or: kFailedPrecondition (stale expected_item, nothing to
// play, advance before the end), kNotFound (unknown item), kInvalidArgument
// (bad index, position or device id), kResourceExhausted (queue full).
Result<RoomState> apply(const RoomState& state, const Command& command, std::int64_t now,
                        const Limits& limits = {});

boost::json::object to_json(const RoomState& state);
// The queue as stored and as clients see it (docs/protocol.md): one object
// per item with id, song_id, added_by and duration_ms.
boost::json::array queue_to_json(const std::vector<QueueItem>& queue);
// kInvalidArgument when the JSON does not describe a valid state.
Result<RoomState> state_from_json(const boost::json::object& object);

}  // namespace hifi::room
