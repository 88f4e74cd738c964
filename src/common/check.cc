#include "common/check.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace hifi {

void check_failed(const char* file, int line, const char* condition, std::string_view message) {
  spdlog::critical("{}:{}: check failed: {}: {}", file, line, condition, message);
  spdlog::default_logger_raw()->flush();
  std::abort();
}

}  // namespace hifi
