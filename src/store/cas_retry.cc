#include "store/cas_retry.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include "common/random.h"

namespace hifi {

void back_off_after_lost_compare(int attempt) {
  if (attempt <= 0) return;
  const auto ceiling_us = static_cast<std::uint64_t>(std::min(attempt, 8)) * 1000;
  std::this_thread::sleep_for(std::chrono::microseconds(random_u64() % (ceiling_us + 1)));
}

}  // namespace hifi
