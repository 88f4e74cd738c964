// RoomHub's seek data (docs/protocol.md, "Seek data"): for a change that
// jumps into a song, the bytes a listener's player reads to start there,
// sent right before the change's `state` to the listeners that asked.
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <set>

#include "server/room_hub.h"

namespace hifi {
namespace {

// Whether the change makes players open its song at a position (a jump
// whose audio they must fetch first; room::needs_fetch), past the start
// (from the start a player's first request is the plan's opening anyway).
bool jumps_into_song(const room::Room& room) {
  const auto& c = room.last_command;
  if (c != "seek" && c != "previous" && c != "select" && c != "add") return false;
  return room.state.playing && room.state.position_ms > 0 && room.state.current_item() != nullptr;
}

}  // namespace

void RoomHub::set_seek_planner(SeekPlanner planner, bool holds_every_song) {
  std::lock_guard lock(mu_);
  seek_planner_ = std::move(planner);
  holds_every_song_ = holds_every_song;
}

std::vector<std::pair<RoomHub::SeekDataKey, SharedMessage>> RoomHub::plan_seek_data(const room::Room& room) {
  if (!seek_planner_ || !jumps_into_song(room)) return {};
  std::set<SeekDataKey> wanted;
  {
    std::lock_guard lock(mu_);
    auto it = channels_.find(room.id);
    if (it == channels_.end()) return {};
    const auto& channel = it->second;
    if (channel.room && channel.room->revision >= room.revision) return {};  // sent already
    for (const auto& [key, count] : channel.seek_wishes) {
      if (wanted.size() == kMaxSeekDataRates) break;
      wanted.insert(key);
    }
  }
  const auto& song_id = room.state.current_item()->song_id;
  std::vector<std::pair<SeekDataKey, SharedMessage>> out;
  for (const auto& [rate, behind] : wanted) {
    // The frame a player computes from the state, computed as it does
    // (Player: frame_of), so that the two agree to the last bit; its
    // decoder starts `behind` frames before it.
    const double frames_per_ms = rate / 1000.0;
    const auto position =
        static_cast<std::uint64_t>(std::llround(static_cast<double>(room.state.position_ms) * frames_per_ms));
    const std::uint64_t frame = position > behind ? position - behind : 0;
    const auto started = std::chrono::steady_clock::now();
    auto data = seek_planner_(song_id, frame, rate);
    if (!data) continue;
    // One binary message: a JSON header line, then the multipart body.
    auto message = std::make_shared<std::string>(boost::json::serialize(boost::json::object{
        {"type", "seek_data"},
        {"revision", room.revision},
        {"song_id", song_id},
        {"frame", frame},
        {"rate", rate},
        {"etag", data->etag},
        {"content_type", data->content_type},
    }));
    message->push_back('\n');
    message->append(data->body);
    spdlog::debug("room {}: seek data for song {} at frame {} ({} Hz): {} bytes in {:.1f} ms", room.id, song_id,
                  frame, rate, message->size(),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    out.emplace_back(SeekDataKey{rate, behind}, std::move(message));
  }
  return out;
}

}  // namespace hifi
