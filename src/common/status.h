// Status and Result: the one error type HiFi's layers return.
//
// A Status is either OK or carries a Code and a human-readable message. The
// message is meant for operators and end users (it may end up in an HTTP
// problem "detail"), so it never contains stack traces or internal pointers.
// Result<T> holds either a value or a non-OK Status.
//
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "common/check.h"

namespace hifi {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // the caller sent something malformed
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // a create collided with an existing thing
  kFailedPrecondition,  // a compare-and-swap or state precondition failed
  kUnauthenticated,     // no or bad credentials
  kPermissionDenied,    // authenticated, but not allowed
  kResourceExhausted,   // a limit was hit (size, rate, count)
  kUnsupported,         // e.g. a file that is not decodable audio
  kCompacted,           // a watch asked for history that is gone
  kUnavailable,         // a dependency is down; retrying may help
  kIoError,             // the local disk failed
  kInternal,            // a bug or an impossible state
};

const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status already_exists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status permission_denied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status io_error(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status internal_error(std::string m) { return {Code::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    HIFI_CHECK(!status_.is_ok(), "a Result built from a Status must carry an error");
  }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }

  // value() of a Result that holds an error is a bug: the process stops.
  T& value() & { check_value(); return *value_; }
  const T& value() const& { check_value(); return *value_; }
  T&& value() && { check_value(); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check_value() const {
    HIFI_CHECK(value_.has_value(), "value() of a Result that holds an error");
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace hifi
