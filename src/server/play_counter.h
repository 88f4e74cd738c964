// PlayCounter: counts the plays heard in HiFi's rooms. When a room's song
// has played past half its length or four minutes, whichever comes first
// (the rule scrobblers use), every user listening to that room on this node
// gets a play of it: play count, last played and history, with the room
// named. Each node counts its own listeners, so a listener is counted once
// wherever they are connected. A song counts once per selection: played
// again (a skip back, repeat) it counts again; a seek within it does not.
//
// A thread checks the rooms with local listeners every `period`.
//
// Thread-safety: start(), stop() and check_now() may be called from any
// thread; check_now() blocks on the store.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "library/annotations.h"
#include "server/room_hub.h"

namespace hifi {

// The position at which a song of this length has been played: half of
// it, at most four minutes.
std::int64_t play_threshold_ms(std::int64_t duration_ms);

// The "client" a play in a room is recorded with: the name of the user's
// device that plays the room (its speaker, or the user's only device there),
// else "HiFi room". The room itself is recorded beside it.
std::string played_on(const room::Room& room, const ListenerInfo& user);

class PlayCounter {
 public:
  PlayCounter(RoomHub& hub, Annotations& annotations, const Clock& room_clock,
              std::chrono::milliseconds period = std::chrono::seconds(1));
  ~PlayCounter();

  void start();
  void stop();
  // Records the plays due now; returns how many it recorded.
  int check_now();

 private:
  void loop();

  RoomHub& hub_;
  Annotations& annotations_;
  const Clock& clock_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::mutex check_mu_;  // one check at a time
  // room id -> the selection of its current item already counted
  std::map<std::string, std::int64_t> counted_;
  std::thread thread_;
};

}  // namespace hifi
