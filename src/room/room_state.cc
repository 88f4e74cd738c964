#include "room/room_state.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>

namespace hifi::room {
namespace json = boost::json;
namespace {

// "Previous" restarts the current song when it has played longer than this.
constexpr std::int64_t kRestartThresholdMs = 3000;

void select(RoomState& s, const std::string& item_id, std::int64_t at_time) {
  ++s.selection;
  s.current = item_id;
  s.position_ms = 0;
  s.position_at = at_time;
  if (item_id.empty()) s.playing = false;
}

// The item after index i, honouring repeat-all; empty at the end.
std::string next_item_after(const RoomState& s, int i) {
  if (i + 1 < static_cast<int>(s.queue.size())) return s.queue[i + 1].id;
  if (s.repeat == RepeatMode::kAll && !s.queue.empty()) return s.queue.front().id;
  return {};
}

Status check_expected(const RoomState& s, const Command& c) {
  if (!c.expected_item.empty() && c.expected_item != s.current) {
    return failed_precondition("the current item is no longer '" + c.expected_item + "'");
  }
  if (c.expected_selection && *c.expected_selection != s.selection) {
    return failed_precondition("the room has moved on since selection " + std::to_string(*c.expected_selection) +
                               " (now " + std::to_string(s.selection) + ")");
  }
  return Status::ok();
}

}  // namespace

const char* repeat_mode_name(RepeatMode mode) {
  switch (mode) {
    case RepeatMode::kOff: return "off";
    case RepeatMode::kAll: return "all";
    case RepeatMode::kOne: return "one";
  }
  return "off";
}

Result<RepeatMode> parse_repeat_mode(std::string_view text) {
  if (text == "off") return RepeatMode::kOff;
  if (text == "all") return RepeatMode::kAll;
  if (text == "one") return RepeatMode::kOne;
  return invalid_argument("mode must be off, all or one");
}

bool is_device_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

const char* command_type_name(Command::Type type) {
  switch (type) {
    case Command::Type::kAdd: return "add";
    case Command::Type::kRemove: return "remove";
    case Command::Type::kMove: return "move";
    case Command::Type::kClear: return "clear";
    case Command::Type::kPlay: return "play";
    case Command::Type::kPause: return "pause";
    case Command::Type::kSeek: return "seek";
    case Command::Type::kSkip: return "skip";
    case Command::Type::kPrevious: return "previous";
    case Command::Type::kRepeat: return "repeat";
    case Command::Type::kSelect: return "select";
    case Command::Type::kShuffle: return "shuffle";
    case Command::Type::kSpeaker: return "speaker";
    case Command::Type::kAdvance: return "advance";
  }
  return "unknown";
}

Result<Command::Type> parse_command_type(std::string_view text) {
  static const std::pair<const char*, Command::Type> kNames[] = {
      {"add", Command::Type::kAdd},     {"remove", Command::Type::kRemove},
      {"move", Command::Type::kMove},   {"clear", Command::Type::kClear},
      {"play", Command::Type::kPlay},   {"pause", Command::Type::kPause},
      {"seek", Command::Type::kSeek},   {"skip", Command::Type::kSkip},
      {"previous", Command::Type::kPrevious}, {"repeat", Command::Type::kRepeat},
      {"select", Command::Type::kSelect},   {"shuffle", Command::Type::kShuffle},
      {"speaker", Command::Type::kSpeaker},
  };
  for (auto& [name, type] : kNames) {
    if (text == name) return type;
  }
  // "advance" is internal and cannot be sent by clients.
  return invalid_argument("unknown command type '" + std::string(text) + "'");
}

const QueueItem* RoomState::current_item() const {
  int i = index_of(current);
  return i < 0 ? nullptr : &queue[i];
}

int RoomState::index_of(const std::string& item_id) const {
  if (item_id.empty()) return -1;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    if (queue[i].id == item_id) return static_cast<int>(i);
  }
  return -1;
}

std::int64_t RoomState::position_at_time(std::int64_t now) const {
  const auto* item = current_item();
  if (!item) return 0;
  auto pos = position_ms;
  if (playing && now > position_at) pos += now - position_at;
  return std::clamp<std::int64_t>(pos, 0, item->duration_ms);
}

std::optional<std::int64_t> RoomState::ends_at() const {
  const auto* item = current_item();
  if (!playing || !item) return std::nullopt;
  return position_at + (item->duration_ms - position_ms);
}

bool needs_fetch(const RoomState& state, const Command& c) {
  if (!changes_playback(state, c)) return false;
  switch (c.type) {
    case Command::Type::kSeek:
    case Command::Type::kPrevious:
    case Command::Type::kSelect:
    case Command::Type::kAdd:
      return true;
    default:
      return false;
  }
}

bool changes_playback(const RoomState& state, const Command& c) {
  switch (c.type) {
    case Command::Type::kPlay:
    case Command::Type::kPause:
    case Command::Type::kSeek:
    case Command::Type::kSkip:
    case Command::Type::kPrevious:
    case Command::Type::kSelect:
    case Command::Type::kClear:
      return true;
    case Command::Type::kAdd:
      return c.play || c.replace;
    case Command::Type::kRemove:
      return !c.item_id.empty() && c.item_id == state.current;
    case Command::Type::kMove:
    case Command::Type::kRepeat:
    case Command::Type::kShuffle:
    case Command::Type::kSpeaker:
    case Command::Type::kAdvance:
      return false;
  }
  return false;
}

Result<RoomState> apply(const RoomState& state, const Command& c, std::int64_t now,
                        const Limits& limits) {
  RoomState s = state;
  // Freeze the clock-derived position first: every command below starts from
  // "where playback is at `now`".
  auto freeze = [&] {
    s.position_ms = s.position_at_time(now);
    s.position_at = now;
  };
  switch (c.type) {
    case Command::Type::kAdd: {
      if (c.songs.empty()) return invalid_argument("add needs at least one song");
      if (c.replace) {
        s.queue.clear();
        select(s, "", now);
      }
      if (s.queue.size() + c.songs.size() > limits.max_queue) {
        return resource_exhausted("a queue holds at most " + std::to_string(limits.max_queue) + " items");
      }
      std::int64_t index;
      if (c.at == Command::kAtEnd) {
        index = static_cast<std::int64_t>(s.queue.size());
      } else if (c.at == Command::kAtNext) {
        int cur = s.index_of(s.current);
        index = cur < 0 ? static_cast<std::int64_t>(s.queue.size()) : cur + 1;
      } else if (c.at >= 0 && c.at <= static_cast<std::int64_t>(s.queue.size())) {
        index = c.at;
      } else {
        return invalid_argument("index " + std::to_string(c.at) + " is outside the queue (0.." +
                                std::to_string(s.queue.size()) + ")");
      }
      std::vector<QueueItem> items;
      for (const auto& song : c.songs) {
        if (song.duration_ms < 0) return invalid_argument("a song cannot have a negative duration");
        items.push_back({"q" + std::to_string(s.next_item_seq++), song.song_id, c.by, song.duration_ms});
      }
      s.queue.insert(s.queue.begin() + index, items.begin(), items.end());
      if (c.play) {
        select(s, items.front().id, now);
        s.playing = true;
      } else if (s.current.empty()) {
        select(s, items.front().id, now);
      }
      return s;
    }
    case Command::Type::kRemove: {
      int i = s.index_of(c.item_id);
      if (i < 0) return not_found("no item '" + c.item_id + "' in the queue");
      if (s.queue[i].id == s.current) {
        // The next item takes over, keeping play/pause; none left stops.
        std::string next = i + 1 < static_cast<int>(s.queue.size()) ? s.queue[i + 1].id : std::string();
        bool was_playing = s.playing;
        select(s, next, now);
        s.playing = was_playing && !next.empty();
      }
      s.queue.erase(s.queue.begin() + i);
      return s;
    }
    case Command::Type::kMove: {
      int i = s.index_of(c.item_id);
      if (i < 0) return not_found("no item '" + c.item_id + "' in the queue");
      if (c.to < 0 || c.to >= static_cast<std::int64_t>(s.queue.size())) {
        return invalid_argument("position " + std::to_string(c.to) + " is outside the queue (0.." +
                                std::to_string(s.queue.size() - 1) + ")");
      }
      auto item = s.queue[i];
      s.queue.erase(s.queue.begin() + i);
      s.queue.insert(s.queue.begin() + c.to, item);
      return s;
    }
    case Command::Type::kClear:
      s.queue.clear();
      select(s, "", now);
      return s;
    case Command::Type::kPlay:
      if (s.playing) return s;  // already playing: nothing changes
      if (s.current.empty()) {
        if (s.queue.empty()) return failed_precondition("the queue is empty: add songs first");
        select(s, s.queue.front().id, now);
      }
      freeze();
      // A finished song played again starts over.
      if (const auto* item = s.current_item(); item && s.position_ms >= item->duration_ms) s.position_ms = 0;
      s.playing = true;
      return s;
    case Command::Type::kPause:
      if (!s.playing) return s;  // already paused: nothing changes
      freeze();
      s.playing = false;
      return s;
    case Command::Type::kSeek: {
      const auto* item = s.current_item();
      if (!item) return failed_precondition("nothing is selected to seek in");
      if (c.position_ms < 0) return invalid_argument("position_ms cannot be negative");
      if (auto st = check_expected(s, c); !st) return st;
      s.position_ms = std::min(c.position_ms, item->duration_ms);
      s.position_at = now;
      return s;
    }
    case Command::Type::kSkip: {
      if (auto st = check_expected(s, c); !st) return st;
      int i = s.index_of(s.current);
      if (i < 0) return failed_precondition("nothing is playing to skip");
      bool was_playing = s.playing;
      select(s, next_item_after(s, i), now);
      s.playing = was_playing && !s.current.empty();
      return s;
    }
    case Command::Type::kPrevious: {
      if (auto st = check_expected(s, c); !st) return st;
      int i = s.index_of(s.current);
      if (i < 0) {
        if (s.queue.empty()) return failed_precondition("the queue is empty");
        select(s, s.queue.back().id, now);
        return s;
      }
      bool was_playing = s.playing;
      if (s.position_at_time(now) > kRestartThresholdMs || (i == 0 && s.repeat != RepeatMode::kAll)) {
        select(s, s.current, now);
      } else {
        select(s, s.queue[i == 0 ? s.queue.size() - 1 : i - 1].id, now);
      }
      s.playing = was_playing;
      return s;
    }
    case Command::Type::kRepeat:
      s.repeat = c.mode;
      return s;
    case Command::Type::kSelect: {
      int i = s.index_of(c.item_id);
      if (i < 0) return not_found("no item '" + c.item_id + "' in the queue");
      if (c.position_ms < 0) return invalid_argument("position_ms cannot be negative");
      bool was_playing = s.playing;
      select(s, c.item_id, now);
      s.position_ms = std::min(c.position_ms, s.queue[i].duration_ms);
      s.playing = was_playing;
      return s;
    }
    case Command::Type::kShuffle: {
      // Fisher-Yates over the items after the current one (all of them when
      // nothing is selected), driven by splitmix64 from the seed.
      const auto first = static_cast<std::size_t>(s.index_of(s.current) + 1);
      std::uint64_t x = c.seed;
      auto next_random = [&x] {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
      };
      for (std::size_t i = s.queue.size(); i > first + 1; --i) {
        const auto j = first + next_random() % (i - first);
        std::swap(s.queue[i - 1], s.queue[j]);
      }
      return s;
    }
    case Command::Type::kSpeaker:
      if (!c.device.empty() && !is_device_id(c.device)) {
        return invalid_argument("device must be empty (every device) or 1 to 64 of A-Z, a-z, 0-9, '_' and '-'");
      }
      s.speaker = c.device;
      return s;
    case Command::Type::kAdvance: {
      if (auto st = check_expected(s, c); !st) return st;
      auto end = s.ends_at();
      if (!end || *end > now) return failed_precondition("the current item has not ended");
      int i = s.index_of(s.current);
      // Repeating a cycle that takes no time (repeat-one of a zero-length
      // item, repeat-all of a queue of them) would "end" again at once, for
      // ever, without time passing: stop as at the end of the queue instead.
      std::string next;
      if (s.repeat == RepeatMode::kOne) {
        if (s.queue[i].duration_ms > 0) next = s.current;
      } else {
        next = next_item_after(s, i);
        bool wraps = i + 1 == static_cast<int>(s.queue.size());
        if (wraps && std::all_of(s.queue.begin(), s.queue.end(),
                                 [](const QueueItem& q) { return q.duration_ms == 0; })) {
          next.clear();
        }
      }
      // The next item starts exactly when the last one ended, however late
      // this command runs, so every listener agrees on the position.
      select(s, next, *end);
      if (s.current.empty()) {
        s.position_at = now;
      } else {
        s.playing = true;
      }
      return s;
    }
  }
  return invalid_argument("unknown command");
}

json::array queue_to_json(const std::vector<QueueItem>& queue) {
  json::array out;
  for (const auto& item : queue) {
    out.push_back({{"id", item.id},
                   {"song_id", item.song_id},
                   {"added_by", item.added_by},
                   {"duration_ms", item.duration_ms}});
  }
  return out;
}

json::object to_json(const RoomState& s) {
  return {{"queue", queue_to_json(s.queue)},
          {"current", s.current.empty() ? json::value(nullptr) : json::value(s.current)},
          {"playing", s.playing},
          {"position_ms", s.position_ms},
          {"position_at", s.position_at},
          {"repeat", repeat_mode_name(s.repeat)},
          {"next_item_seq", s.next_item_seq},
          {"selection", s.selection},
          {"speaker", s.speaker}};
}

Result<RoomState> state_from_json(const json::object& o) {
  RoomState s;
  try {
    for (const auto& v : o.at("queue").as_array()) {
      const auto& item = v.as_object();
      s.queue.push_back({json::value_to<std::string>(item.at("id")),
                         json::value_to<std::string>(item.at("song_id")),
                         json::value_to<std::string>(item.at("added_by")),
                         item.at("duration_ms").to_number<std::int64_t>()});
    }
    if (!o.at("current").is_null()) s.current = json::value_to<std::string>(o.at("current"));
    s.playing = o.at("playing").as_bool();
    s.position_ms = o.at("position_ms").to_number<std::int64_t>();
    s.position_at = o.at("position_at").to_number<std::int64_t>();
    auto repeat = parse_repeat_mode(json::value_to<std::string>(o.at("repeat")));
    if (!repeat) return invalid_argument("unknown repeat mode");
    s.repeat = *repeat;
    s.next_item_seq = o.at("next_item_seq").to_number<std::int64_t>();
    // Absent in records written before selections were counted.
    if (const auto* sel = o.if_contains("selection")) s.selection = sel->to_number<std::int64_t>();
    if (const auto* speaker = o.if_contains("speaker")) s.speaker = json::value_to<std::string>(*speaker);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed room state: ") + e.what());
  }
  // The invariants apply() keeps: a state that breaks them is not a state.
  std::set<std::string> ids;
  for (const auto& item : s.queue) {
    if (item.id.empty() || !ids.insert(item.id).second) return invalid_argument("duplicate or empty item id");
    if (item.duration_ms < 0) return invalid_argument("negative duration");
  }
  if (s.next_item_seq < 1) return invalid_argument("next_item_seq must be positive");
  // Item ids are "q<sequence>"; the next one must be new, or ids get reused.
  for (const auto& id : ids) {
    if (id.size() < 2 || id.size() > 19 || id[0] != 'q' ||
        !std::all_of(id.begin() + 1, id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    if (std::stoll(id.substr(1)) >= s.next_item_seq) return invalid_argument("next_item_seq reuses item ids");
  }
  const auto* item = s.current_item();
  if (!s.current.empty() && !item) return invalid_argument("current item not in queue");
  if (s.playing && !item) return invalid_argument("playing without a current item");
  if (s.position_ms < 0 || s.position_ms > (item ? item->duration_ms : 0)) {
    return invalid_argument("position_ms outside the current item");
  }
  return s;
}

}  // namespace hifi::room
