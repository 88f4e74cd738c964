#include "library/rate_limiter.h"

#include <algorithm>

namespace hifi {

RateLimiter::RateLimiter(const Clock& clock, int limit, std::int64_t window_ms,
                         std::size_t max_keys)
    : clock_(clock), limit_(limit), window_ms_(window_ms), max_keys_(max_keys) {}

void RateLimiter::prune(std::deque<std::int64_t>& events, std::int64_t now) {
  while (!events.empty() && events.front() <= now - window_ms_) events.pop_front();
}

std::int64_t RateLimiter::blocked_for_ms(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = events_.find(key);
  if (it == events_.end()) return 0;
  auto now = clock_.now_ms();
  prune(it->second, now);
  if (static_cast<int>(it->second.size()) < limit_ || it->second.empty()) return 0;
  return std::max<std::int64_t>(1, it->second.front() + window_ms_ - now);
}

void RateLimiter::record(const std::string& key) {
  std::lock_guard lock(mu_);
  auto now = clock_.now_ms();
  if (events_.size() >= max_keys_ && !events_.count(key)) {
    // Drop the key whose newest event is oldest: it matters least.
    auto victim = std::min_element(events_.begin(), events_.end(), [](auto& a, auto& b) {
      auto la = a.second.empty() ? 0 : a.second.back();
      auto lb = b.second.empty() ? 0 : b.second.back();
      return la < lb;
    });
    events_.erase(victim);
  }
  auto& events = events_[key];
  prune(events, now);
  events.push_back(now);
  // Only the newest `limit_` events can ever matter.
  while (static_cast<int>(events.size()) > limit_) events.pop_front();
}

void RateLimiter::reset(const std::string& key) {
  std::lock_guard lock(mu_);
  events_.erase(key);
}

}  // namespace hifi
