// Base64 (RFC 4648): the standard alphabet with '=' padding, used for etcd's
// JSON bytes, Repr-Digest values and catalog cursors, and the URL-safe
// alphabet without padding, used for URL signatures.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

// Standard alphabet ('+', '/'), padded with '=' to a multiple of 4.
std::string base64_encode(std::string_view bytes);
// The same appended to `out`.
void base64_append(std::string& out, std::string_view bytes);

// URL-safe alphabet ('-', '_'), no padding.
std::string base64url_encode(std::string_view bytes);

// Decodes the standard, padded form. kInvalidArgument on anything else: a
// length that is not a multiple of 4, a character outside the alphabet,
// '=' other than at the end of the last group of four.
Result<std::string> base64_decode(std::string_view text);

}  // namespace hifi
