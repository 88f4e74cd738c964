// Fuzzes parse_json_object() and JsonFields. An accepted object must
// round-trip through serialize(), be accepted again under looser limits, and
// every accessor must agree with the value's actual type.
#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "server/request_json.h"

namespace {

void check_fields(const boost::json::object& object) {
  hifi::JsonFields fields(object);
  int checked = 0;
  for (const auto& [key, value] : object) {
    if (++checked > 16) break;
    const std::string_view name(key.data(), key.size());
    // With duplicate keys the accessor sees the last value, so only the
    // lookup's own result is trusted here.
    const auto& v = object.at(key);
    const bool is_int =
        v.is_int64() || (v.is_uint64() &&
                         v.get_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max()));
    if (fields.required_string(name).is_ok() != v.is_string()) std::abort();
    if (fields.required_int(name).is_ok() != is_int) std::abort();
    if (fields.optional_string(name).is_ok() != (v.is_string() || v.is_null())) std::abort();
    if (fields.optional_int(name).is_ok() != (is_int || v.is_null())) std::abort();
    if (fields.optional_bool(name).is_ok() != (v.is_bool() || v.is_null())) std::abort();
  }
  if (fields.required_string("\x01 absent").is_ok()) std::abort();
  if (!fields.optional_int("\x01 absent").is_ok()) std::abort();
}

// Equality, except that doubles need only agree to a few ulps: Boost 1.81
// parses decimals without correct rounding, so serialize() then parse() can
// move a double slightly.
bool same(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-14 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!same(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x) {
      const auto* other = y.if_contains(key);
      if (other == nullptr || !same(value, *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  hifi::JsonLimits tight;
  tight.max_bytes = 256;
  tight.max_depth = 3;
  const auto strict = hifi::parse_json_object(body, tight);
  const auto r = hifi::parse_json_object(body);
  if (strict.is_ok() && !r.is_ok()) std::abort();
  if (!r) {
    const auto code = r.status().code();
    if (code != hifi::Code::kInvalidArgument && code != hifi::Code::kResourceExhausted) {
      std::abort();
    }
    return 0;
  }
  check_fields(*r);
  const std::string text = boost::json::serialize(*r);
  const auto again = hifi::parse_json_object(text, {.max_bytes = text.size(), .max_depth = 16});
  if (!again || !same(boost::json::value(*again), boost::json::value(*r))) std::abort();
  return 0;
}
