// multipart/byteranges (RFC 9110, section 14.6): several ranges of one
// representation in one response body. The server answers a seek plan
// with one (GET /api/v1/songs/{id}/stream?seek_frame=...); the player
// parses it.
//
// Each part is "--BOUNDARY CRLF Content-Type: T CRLF Content-Range: bytes
// FIRST-LAST/SIZE CRLF CRLF <bytes> CRLF", the body ends "--BOUNDARY--
// CRLF". The parser takes any header fields in a part, needs a
// Content-Range in each, and checks that the bytes are as many as it says.
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hifi {

struct BytePart {
  std::uint64_t first = 0;  // offset of bytes[0] in the representation
  std::string bytes;
  std::uint64_t total = 0;  // the representation's size (Content-Range's "/SIZE"); 0 for "*"
};

// The Content-Type of a body made by format_byteranges with `boundary`.
std::string byteranges_content_type(std::string_view boundary);

// The body: `parts` in order, each tagged with `part_type` and the total
// `size` of the representation.
std::string format_byteranges(const std::vector<BytePart>& parts, std::string_view boundary,
                              std::string_view part_type, std::uint64_t size);

// The parts of a body whose Content-Type is `content_type`.
// kInvalidArgument when the type is not multipart/byteranges with a
// boundary, or the body is not well formed.
Result<std::vector<BytePart>> parse_byteranges(std::string_view content_type, std::string_view body);

}  // namespace hifi
