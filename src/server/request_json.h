// Reading JSON request bodies from untrusted clients.
//
// parse_json_object() bounds depth and size and insists on an object;
// JsonFields then pulls typed fields with errors that name the field, so the
// HTTP layer can answer a precise 400 problem.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

struct JsonLimits {
  std::size_t max_bytes = 64 * 1024;
  std::size_t max_depth = 16;
};

// kInvalidArgument with a readable message ("request body is not valid JSON:
// ...", "request body must be a JSON object") or kResourceExhausted when the
// body is larger than the limit.
Result<boost::json::object> parse_json_object(std::string_view body, JsonLimits limits = {});

class JsonFields {
 public:
  explicit JsonFields(const boost::json::object& object) : object_(object) {}

  // Required fields: kInvalidArgument "missing field 'x'" / "field 'x' must be a string".
  Result<std::string> required_string(std::string_view name) const;
  Result<std::int64_t> required_int(std::string_view name) const;
  // Optional fields: nullopt when absent or null, an error when of the wrong type.
  Result<std::optional<std::string>> optional_string(std::string_view name) const;
  Result<std::optional<std::int64_t>> optional_int(std::string_view name) const;
  Result<std::optional<bool>> optional_bool(std::string_view name) const;

 private:
  const boost::json::object& object_;
};

}  // namespace hifi
