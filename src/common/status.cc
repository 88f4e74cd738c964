#include "common/status.h"

namespace hifi {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid-argument";
    case Code::kNotFound: return "not-found";
    case Code::kAlreadyExists: return "already-exists";
    case Code::kFailedPrecondition: return "failed-precondition";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kPermissionDenied: return "permission-denied";
    case Code::kResourceExhausted: return "resource-exhausted";
    case Code::kUnsupported: return "unsupported";
    case Code::kCompacted: return "compacted";
    case Code::kUnavailable: return "unavailable";
    case Code::kIoError: return "io-error";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace hifi
