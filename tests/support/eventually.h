// Waiting in tests for a condition that no event announces: poll it, with a
// deadline, instead of sleeping a fixed time and hoping.
#pragma once

#include <chrono>
#include <thread>

namespace hifi::testing {

// Polls done() every 2 ms until it holds or `deadline` passes; true when it
// held. The sleep is the polling interval, not a wait for an outcome.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace hifi::testing
