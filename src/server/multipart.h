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
// kInvalidArgument when it is missing, empty, longer than 70 characters, made
// of characters RFC 2046 does not allow in a boundary, or the type is not
// multipart/form-data.
Result<std::string> multipart_boundary(std::string_view content_type);

// name and filename are valid UTF-8 without control characters; filename
// comes from filename* (RFC 8187) when the part has one. content_type is the
// field value as sent, without surrounding whitespace.
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

  // A boundary multipart_boundary() would reject puts the parser in the
  // error state: feed() and finish() return kInvalidArgument.
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
  enum class State {
    kPreamble,       // discarding until the first delimiter
    kAfterBoundary,  // just after a delimiter: "--" closes, else padding
    kPadding,        // skipping transport padding up to the CRLF
    kHeaders,        // collecting a part's header block
    kBody,           // handing out part data
    kEpilogue,       // after the close delimiter: discarding
    kError,
  };
  Status fail(Status s);
  // Runs the state machine over data; *consumed is how much of it is done
  // with. The rest (a possible partial delimiter, or an incomplete header
  // block) must be presented again, followed by more input.
  Status process(std::string_view data, std::size_t* consumed);
  Status begin_part(std::string_view header_block);

  std::string boundary_;  // "\r\n--" + boundary
  Handler handler_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  // Unconsumed input: at most boundary_.size() - 1 bytes in the body, or an
  // incomplete header block of at most max_header_bytes + 1.
  std::string buffer_;
  std::size_t header_scanned_ = 0;  // bytes of the header block already searched
  std::size_t parts_ = 0;
  Status error_;
};

}  // namespace hifi
