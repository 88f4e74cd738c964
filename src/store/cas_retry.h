// Helpers for read-change-compare-and-swap loops on one store key (a room,
// a user's record): services read the key, compute the new value and write
// it with a txn that compares the mod revision, retrying (bounded) when
// another writer got in first.
//
// Two things keep such loops from starving under contention:
//  - CasTurns: writers of the same key through one process take turns
//    around the read and the write, so they never lose a compare to each
//    other; only another process (another node) can make one retry.
//  - back_off_after_lost_compare(): after a lost compare, a random pause,
//    so that nodes retrying together spread out instead of colliding again
//    in the same group commit.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string_view>

namespace hifi {

// A fixed set of mutexes a key hashes to (two keys may share one, which
// only serialises them). Thread-safe. The holder must not take another
// turn of the same CasTurns while holding one (two keys may share a stripe).
class CasTurns {
 public:
  std::mutex& of(std::string_view key) {
    return stripes_[std::hash<std::string_view>{}(key) % stripes_.size()];
  }

 private:
  std::array<std::mutex, 64> stripes_;
};

// Sleeps a random moment of up to `attempt` ms (at most 8 ms): call before
// retry number `attempt` (1, 2, ...) of a compare that another writer won.
void back_off_after_lost_compare(int attempt);

}  // namespace hifi
