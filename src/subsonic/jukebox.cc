// jukeboxControl: HiFi has no sound card on the server, so the jukebox is a
// remote control for a room (room/jukebox.h says which one). Every action
// is a room command through RoomService::execute, so everyone listening to
// the room hears it:
//   get, status         read the room (jukeboxPlaylist adds the queue)
//   set                 clear, then add the `id` songs (playing on if it was)
//   start, stop         play, pause
//   skip                select the item at `index`, at `offset` seconds
//   add                 add the `id` songs at the end
//   clear               clear
//   remove              remove the item at `index`
//   shuffle             a random order, by moves (at most kMaxShuffle items)
//   setGain             `gain` in [0, 1], kept with the choice of room:
//                       rooms have no gain, so it is only reported back
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "room/jukebox.h"
#include "subsonic/endpoints.h"
#include "subsonic/entries.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

// Songs per set or add, as for HiFi's own room API (a request's parameter
// limit, kMaxParams, is lower still).
constexpr std::size_t kMaxIds = 1000;
// Items a shuffle reorders: each move is a room command.
constexpr std::size_t kMaxShuffle = 1000;
constexpr char kActions[] = "get, status, set, start, stop, skip, add, clear, remove, shuffle, setGain";

struct Jukebox {
  const Call& call;
  room::Jukeboxes jukeboxes;
  room::Room room;

  Expected<room::Room> run(room::Command command) {
    command.by = call.caller.user.id;
    auto next = call.rooms.execute(room.id, command);
    if (!next) return error_from_status(next.status());
    room = std::move(*next);
    return room;
  }
};

// The `id` parameters as songs for an add: at least one, at most kMaxIds,
// each a song id (error 70 otherwise).
Expected<std::vector<room::SongRef>> song_ids(const Params& params, bool required) {
  auto ids = params.all("id");
  if (ids.empty() && required) return missing_parameter("id");
  if (ids.size() > kMaxIds) return generic_error(fmt::format("at most {} ids at once", kMaxIds));
  std::vector<room::SongRef> out;
  for (const auto& text : ids) {
    auto id = parse_id(text);
    if (!id || id->kind != IdKind::kSong) return not_found_error(fmt::format("'{}' is not a song id", text.substr(0, 64)));
    out.push_back({id->id, 0});
  }
  return out;
}

// The queue item at parameter "index": error 10 when missing, 0 when out
// of range.
Expected<std::string> item_at(const room::Room& room, const Params& params) {
  const auto& queue = room.state.queue;
  if (!params.has("index")) return missing_parameter("index");
  if (queue.empty()) return generic_error("index is out of range: the jukebox's queue is empty");
  auto index = params.required_integer("index", 0, static_cast<std::int64_t>(queue.size()) - 1);
  if (!index) return index.error();
  return queue[static_cast<std::size_t>(*index)].id;
}

Expected<double> gain_param(const Params& params) {
  auto text = params.required("gain");
  if (!text) return text.error();
  char* end = nullptr;
  const double gain = std::strtod(text->c_str(), &end);
  if (text->empty() || end != text->c_str() + text->size() || !std::isfinite(gain) || gain < 0 || gain > 1) {
    return generic_error("gain must be a number from 0.0 to 1.0");
  }
  return gain;
}

Expected<bool> shuffle(Jukebox& j) {
  auto queue = j.room.state.queue;
  if (queue.size() > kMaxShuffle) {
    return generic_error(fmt::format("HiFi shuffles queues of at most {} songs", kMaxShuffle));
  }
  std::mt19937_64 random(std::random_device{}());
  for (std::size_t i = 0; i + 1 < queue.size(); ++i) {
    const auto pick = std::uniform_int_distribution<std::size_t>(i, queue.size() - 1)(random);
    if (pick == i) continue;
    room::Command move;
    move.type = room::Command::Type::kMove;
    move.item_id = queue[pick].id;
    move.to = static_cast<std::int64_t>(i);
    if (auto r = j.run(move); !r) return r.error();
    auto item = queue[pick];
    queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(pick));
    queue.insert(queue.begin() + static_cast<std::ptrdiff_t>(i), item);
  }
  return true;
}

// Applies the action; error 0 naming the actions for an unknown one.
Expected<bool> act(Jukebox& j, const std::string& action, double* gain) {
  using Type = room::Command::Type;
  const auto& params = j.call.params;
  auto simple = [&](Type type) -> Expected<bool> {
    room::Command c;
    c.type = type;
    if (auto r = j.run(c); !r) return r.error();
    return true;
  };
  if (action == "get" || action == "status") return true;
  if (action == "start") return simple(Type::kPlay);
  if (action == "stop") return simple(Type::kPause);
  if (action == "clear") return simple(Type::kClear);
  if (action == "shuffle") return shuffle(j);
  if (action == "setGain") {
    auto g = gain_param(params);
    if (!g) return g.error();
    auto choice = j.jukeboxes.set_gain(j.call.caller.user, *g);
    if (!choice) return error_from_status(choice.status());
    *gain = choice->gain;
    return true;
  }
  if (action == "add" || action == "set") {
    const bool set = action == "set";
    auto songs = song_ids(params, !set);
    if (!songs) return songs.error();
    const bool was_playing = j.room.state.playing;
    if (set) {
      if (auto r = simple(Type::kClear); !r) return r;
    }
    if (songs->empty()) return true;
    room::Command add;
    add.type = Type::kAdd;
    add.songs = std::move(*songs);
    if (auto r = j.run(add); !r) return r.error();
    return set && was_playing ? simple(Type::kPlay) : Expected<bool>(true);
  }
  if (action == "skip" || action == "remove") {
    auto item = item_at(j.room, params);
    if (!item) return item.error();
    room::Command c;
    c.item_id = *item;
    c.type = action == "skip" ? Type::kSelect : Type::kRemove;
    if (action == "skip") {
      auto offset = params.integer("offset", 0, 24LL * 3600, 0);
      if (!offset) return offset.error();
      c.position_ms = *offset * 1000;
    }
    if (auto r = j.run(c); !r) return r.error();
    return true;
  }
  return generic_error(fmt::format("unknown jukebox action '{}'; the actions are {}", action.substr(0, 32), kActions));
}

Expected<Body> jukebox_control(const Call& call) {
  auto action = call.params.required("action");
  if (!action) return action.error();
  Jukebox j{call, room::Jukeboxes(call.store, call.rooms), {}};
  auto room = j.jukeboxes.room_of(call.caller.user);
  if (!room) return error_from_status(room.status());
  j.room = std::move(*room);
  auto choice = j.jukeboxes.choice(call.caller.user.id);
  if (!choice) return error_from_status(choice.status());
  double gain = choice->gain;
  if (auto done = act(j, *action, &gain); !done) return done.error();

  const auto& state = j.room.state;
  const bool with_queue = *action == "get";
  Element e(with_queue ? "jukeboxPlaylist" : "jukeboxStatus");
  e.set("currentIndex", state.index_of(state.current)).set("playing", state.playing).set("gain", gain);
  e.set("position", state.position_at_time(call.now_ms) / 1000);
  if (with_queue) {
    for (const auto& item : state.queue) {
      auto song = call.catalog.get(item.song_id);
      if (song) {
        e.add(song_entry(*song, "entry"));
        continue;
      }
      Song gone;  // deleted from the library since it was queued
      gone.id = item.song_id;
      gone.title = "(no longer in the library)";
      gone.duration_ms = item.duration_ms;
      e.add(song_entry(gone, "entry"));
    }
  }
  return Body{std::move(e)};
}

}  // namespace

std::vector<Endpoint> jukebox_endpoints() { return {{"jukeboxControl", true, jukebox_control}}; }

}  // namespace hifi::subsonic
