// HIFI_CHECK: stops the process on a state the code holds to be impossible.
//
//   HIFI_CHECK(value_.has_value(), "value() of a Result that holds an error");
//
// When the condition is false, logs "<file>:<line>: check failed: <cond>:
// <message>" at critical level through spdlog's default logger, flushes it
// and calls std::abort(). Unlike assert() it is active in every build type,
// so a broken invariant ends the process instead of corrupting state.
//
// For bugs only: input from users, peers, files or the network is answered
// with a Status, never with a check. The message is a const char*,
// std::string or std::string_view and is evaluated only when the check fails.
#pragma once

#include <string_view>

namespace hifi {

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               std::string_view message);

}  // namespace hifi

#define HIFI_CHECK(condition, message)                                      \
  do {                                                                      \
    if (!(condition)) [[unlikely]] {                                        \
      ::hifi::check_failed(__FILE__, __LINE__, #condition, (message));      \
    }                                                                       \
  } while (false)
