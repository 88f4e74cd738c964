// The Subsonic adapter's one error type: a Subsonic error code and a message
// for the user, answered in the response envelope (with HTTP 200, as the
// protocol wants), and Expected<T>, a value or such an error.
//
// Plain values; thread-safe to copy.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "common/check.h"
#include "common/status.h"

namespace hifi::subsonic {

// The codes of the Subsonic API 1.16.1 and OpenSubsonic.
enum class ErrorCode {
  kGeneric = 0,
  kMissingParameter = 10,
  kWrongCredentials = 40,
  kTokenAuthNotSupported = 41,
  kAuthMechanismNotSupported = 42,
  kConflictingAuth = 43,
  kInvalidApiKey = 44,
  kNotAuthorized = 50,
  kNotFound = 70,
};

struct Error {
  ErrorCode code = ErrorCode::kGeneric;
  std::string message;
};

inline Error missing_parameter(const std::string& name) {
  return {ErrorCode::kMissingParameter, "required parameter '" + name + "' is missing"};
}
inline Error generic_error(std::string message) { return {ErrorCode::kGeneric, std::move(message)}; }
inline Error not_found_error(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }

// A service's Status as a Subsonic error: kNotFound -> 70,
// kPermissionDenied -> 50, kUnauthenticated -> 40, anything else -> 0
// (internal failures get a generic message; the detail is logged).
Error error_from_status(const Status& status);

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const {
    HIFI_CHECK(v_.index() == 1, "error() of an Expected that holds a value");
    return std::get<1>(v_);
  }

 private:
  T& value() {
    HIFI_CHECK(v_.index() == 0, "value of an Expected that holds an error");
    return std::get<0>(v_);
  }
  const T& value() const {
    HIFI_CHECK(v_.index() == 0, "value of an Expected that holds an error");
    return std::get<0>(v_);
  }
  std::variant<T, Error> v_;
};

}  // namespace hifi::subsonic
