#include "subsonic/error.h"

#include <spdlog/spdlog.h>

namespace hifi::subsonic {

Error error_from_status(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound: return not_found_error(s.message());
    case Code::kPermissionDenied: return {ErrorCode::kNotAuthorized, s.message()};
    case Code::kUnauthenticated: return {ErrorCode::kWrongCredentials, s.message()};
    case Code::kInvalidArgument:
    case Code::kResourceExhausted:
    case Code::kUnsupported:
    case Code::kUnavailable:
    case Code::kFailedPrecondition:
    case Code::kAlreadyExists:
      return generic_error(s.message());
    default:
      spdlog::error("subsonic: {}", s.to_string());
      return generic_error("something went wrong on the server; the error was logged");
  }
}

}  // namespace hifi::subsonic
