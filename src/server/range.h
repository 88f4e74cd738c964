// Parsing of the HTTP Range request header (RFC 9110 section 14.2).
//
// HiFi serves one range per response. A header it does not understand
// (another unit, or several ranges) is ignored, as the RFC allows, and the
// whole representation is sent with 200.
#pragma once

#include <cstdint>
#include <string_view>

namespace hifi {

struct ByteRange {
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

struct RangeRequest {
  enum class Kind {
    kWhole,          // no usable Range header: send everything with 200
    kPartial,        // send `range` with 206
    kUnsatisfiable,  // 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::kWhole;
  ByteRange range;
};

// header: the Range header's value (may be empty). size: representation size.
// Handles "bytes=a-b", "bytes=a-" and "bytes=-n", clamping `b` to size-1.
// Syntactically invalid values are ignored (kWhole); a well-formed range that
// starts at or past the end, or a zero suffix, is kUnsatisfiable.
RangeRequest parse_range(std::string_view header, std::uint64_t size);

}  // namespace hifi
