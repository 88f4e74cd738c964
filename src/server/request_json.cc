#include "server/request_json.h"

#include <boost/json/parse.hpp>

#include <cmath>
#include <limits>

namespace hifi {
namespace {

std::string field_error(std::string_view name, std::string_view what) {
  return "field '" + std::string(name) + "' " + std::string(what);
}

// Finds a field, treating an explicit null like an absent one.
const boost::json::value* find_field(const boost::json::object& object, std::string_view name) {
  const auto* v = object.if_contains(name);
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

Result<std::int64_t> as_int(std::string_view name, const boost::json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    // Boost.JSON only picks uint64 for values above INT64_MAX, but checking
    // the bound keeps this correct for objects built any other way.
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return invalid_argument(field_error(name, "is out of range"));
    }
    return static_cast<std::int64_t>(v.get_uint64());
  }
  return invalid_argument(field_error(name, "must be an integer"));
}

// Boost.JSON turns a number too large for a double (1e400) into infinity,
// which it would later serialize as the non-JSON "Infinity". Recursion is
// bounded by the parser's max_depth.
bool all_numbers_finite(const boost::json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      if (!all_numbers_finite(e)) return false;
    }
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      if (!all_numbers_finite(kv.value())) return false;
    }
  }
  return true;
}

}  // namespace

Result<boost::json::object> parse_json_object(std::string_view body, JsonLimits limits) {
  if (body.size() > limits.max_bytes) {
    return resource_exhausted("request body is larger than " + std::to_string(limits.max_bytes) +
                              " bytes");
  }
  boost::json::parse_options options;
  options.max_depth = limits.max_depth;
  boost::json::error_code ec;
  auto value = boost::json::parse(boost::json::string_view(body.data(), body.size()), ec,
                                  boost::json::storage_ptr(), options);
  if (ec) return invalid_argument("request body is not valid JSON: " + ec.message());
  if (!value.is_object()) return invalid_argument("request body must be a JSON object");
  if (!all_numbers_finite(value)) {
    return invalid_argument("request body is not valid JSON: number out of range");
  }
  return std::move(value.get_object());
}

Result<std::string> JsonFields::required_string(std::string_view name) const {
  const auto* v = object_.if_contains(name);
  if (v == nullptr) return invalid_argument("missing field '" + std::string(name) + "'");
  if (!v->is_string()) return invalid_argument(field_error(name, "must be a string"));
  return std::string(v->get_string());
}

Result<std::int64_t> JsonFields::required_int(std::string_view name) const {
  const auto* v = object_.if_contains(name);
  if (v == nullptr) return invalid_argument("missing field '" + std::string(name) + "'");
  return as_int(name, *v);
}

Result<std::optional<std::string>> JsonFields::optional_string(std::string_view name) const {
  const auto* v = find_field(object_, name);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return invalid_argument(field_error(name, "must be a string"));
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::optional<std::int64_t>> JsonFields::optional_int(std::string_view name) const {
  const auto* v = find_field(object_, name);
  if (v == nullptr) return std::optional<std::int64_t>();
  auto n = as_int(name, *v);
  if (!n) return n.status();
  return std::optional<std::int64_t>(*n);
}

Result<std::optional<bool>> JsonFields::optional_bool(std::string_view name) const {
  const auto* v = find_field(object_, name);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_bool()) return invalid_argument(field_error(name, "must be a boolean"));
  return std::optional<bool>(v->get_bool());
}

}  // namespace hifi
