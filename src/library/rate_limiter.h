// RateLimiter: counts events per key in a sliding window, in memory.
//
// Used for login attempts. Memory is bounded: at most max_keys keys are
// tracked; when full, the keys with the oldest last event are dropped.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace hifi {

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, int limit, std::int64_t window_ms, std::size_t max_keys = 100000);

  // Milliseconds until another event for key would be allowed; 0 if allowed now.
  std::int64_t blocked_for_ms(const std::string& key);
  void record(const std::string& key);
  void reset(const std::string& key);

 private:
  void prune(std::deque<std::int64_t>& events, std::int64_t now);

  const Clock& clock_;
  const int limit_;
  const std::int64_t window_ms_;
  const std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<std::int64_t>> events_;
};

}  // namespace hifi
