// A Subsonic request's parameters: the query string, plus the body of a
// POST (OpenSubsonic formPost: application/x-www-form-urlencoded), parsed
// from untrusted text within limits. Names may repeat (id=1&id=2).
//
// No Beast here, so the parser tests and fuzzers reach it directly. A plain
// value; not thread-safe to change, safe to read from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "subsonic/error.h"

namespace hifi::subsonic {

inline constexpr std::size_t kMaxParams = 256;
inline constexpr std::size_t kMaxParamNameBytes = 64;
inline constexpr std::size_t kMaxParamValueBytes = 8 * 1024;
// Of a form body, and of all the parameters of a request together.
inline constexpr std::size_t kMaxParamBytes = 64 * 1024;

class Params {
 public:
  // Adds the parameters of "a=1&b=x+y&c=%C3%A9" (a query string or a form
  // body: '+' is a space, %XX a byte). A name without '=' has an empty
  // value; empty pieces ("a=1&&b=2") are skipped. kInvalidArgument for a
  // malformed escape or an empty name; kResourceExhausted past the limits
  // above. On error nothing is added.
  Status add_encoded(std::string_view text);

  // The first value of the parameter, if present.
  std::optional<std::string> get(std::string_view name) const;
  // Every value of the parameter, in order.
  std::vector<std::string> all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }

  // The first value, or error 10 naming the parameter.
  Expected<std::string> required(std::string_view name) const;
  // A whole number in [min, max]: `fallback` when absent, error 0 naming
  // the parameter and the range when malformed or outside it.
  Expected<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max,
                                 std::int64_t fallback) const;
  // A whole number in [min, max] that must be present (else error 10).
  Expected<std::int64_t> required_integer(std::string_view name, std::int64_t min, std::int64_t max) const;
  // "true" or "false" (any case): `fallback` when absent; error 0 otherwise.
  Expected<bool> boolean(std::string_view name, bool fallback) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
  std::size_t bytes_ = 0;
};

}  // namespace hifi::subsonic
