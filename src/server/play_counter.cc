#include "server/play_counter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace hifi {

std::int64_t play_threshold_ms(std::int64_t duration_ms) {
  return std::min<std::int64_t>(std::max<std::int64_t>(duration_ms / 2, 1), 4 * 60 * 1000);
}

PlayCounter::PlayCounter(RoomHub& hub, Annotations& annotations, const Clock& room_clock,
                         std::chrono::milliseconds period)
    : hub_(hub), annotations_(annotations), clock_(room_clock), period_(period) {}

PlayCounter::~PlayCounter() { stop(); }

void PlayCounter::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { loop(); });
}

void PlayCounter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PlayCounter::loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period_, [&] { return stopping_; })) {
    lock.unlock();
    check_now();
    lock.lock();
  }
}

std::string played_on(const room::Room& room, const ListenerInfo& user) {
  const auto& devices = user.devices;
  if (!room.state.speaker.empty()) {
    for (const auto& d : devices) {
      if (d.id == room.state.speaker) return d.name;
    }
  }
  if (devices.size() == 1) return devices.front().name;
  return "HiFi room";
}

int PlayCounter::check_now() {
  std::lock_guard check(check_mu_);
  const auto now = clock_.now_ms();
  int recorded = 0;
  std::set<std::string> seen;
  for (const auto& local : hub_.local_rooms()) {
    const auto& room = local.room;
    seen.insert(room.id);
    const auto* item = room.state.current_item();
    if (!item || !room.state.playing) continue;
    auto counted = counted_.find(room.id);
    if (counted != counted_.end() && counted->second == room.state.selection) continue;
    const auto position = room.state.position_at_time(now);
    if (position < play_threshold_ms(item->duration_ms)) continue;
    counted_[room.id] = room.state.selection;
    for (const auto& user : local.users) {
      auto s = annotations_.record_play(user.user_id,
                                        Play{item->song_id, now - position, played_on(room, user), room.id});
      if (s) {
        ++recorded;
      } else {
        spdlog::warn("plays: cannot count {}'s play of {} in room {}: {}", user.username, item->song_id, room.id,
                     s.message());
      }
    }
  }
  // Forget rooms nobody here listens to any more.
  std::erase_if(counted_, [&](const auto& entry) { return !seen.contains(entry.first); });
  return recorded;
}

}  // namespace hifi
