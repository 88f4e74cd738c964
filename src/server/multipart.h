// A streaming multipart/form-data parser (RFC 7578 over RFC 2046).
//
// The body is fed in chunks of any size (a byte at a time works); file data
// is handed out as it arrives, so a part is never held whole in memory.
// Limits bound what an untrusted sender can make the parser buffer.
//
// Not thread-safe: one parser per request.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

// The boundary parameter of a multipart/form-data Content-Type;
// kInvalidArgument when it is missing, empty, longer than 70 characters, or
// the type is not multipart/form-data.
Result<std::string> multipart_boundary(std::string_view content_type);

struct MultipartPartHeaders {
  std::string name;          // from Content-Disposition; may be empty
  std::string filename;      // from Content-Disposition; empty if none
  std::string content_type;  // empty if the part has none
};

struct MultipartLimits {
  std::size_t max_header_bytes = 8 * 1024;  // per part, all header lines together
  std::size_t max_parts = 64;
};

class MultipartParser {
 public:
  struct Handler {
    // A non-OK Status from a callback stops parsing and is returned by feed().
    std::function<Status(const MultipartPartHeaders&)> on_part_begin;
    std::function<Status(std::string_view)> on_part_data;
    std::function<Status()> on_part_end;
  };

  MultipartParser(std::string boundary, Handler handler, MultipartLimits limits = {});

  // Consumes the next chunk of the body. kInvalidArgument on malformed input,
  // kResourceExhausted when a limit is exceeded. After an error, further
  // calls return the same error.
  Status feed(std::string_view chunk);
  // Call at the end of the body: kInvalidArgument unless the closing
  // boundary was seen.
  Status finish();
  bool done() const;

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kEpilogue, kError };
  Status fail(Status s);
  Status process(bool at_end);

  std::string boundary_;  // "\r\n--" + boundary
  Handler handler_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string buffer_;
  std::size_t parts_ = 0;
  Status error_;
};

}  // namespace hifi
