// Repr-Digest / Content-Digest header (RFC 9530): a Structured Fields
// dictionary (RFC 8941) such as  sha-256=:base64:, sha-512=:base64:
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/sha256.h"
#include "common/status.h"

namespace hifi {

// The sha-256 member, if present. kInvalidArgument when the header is not a
// well-formed dictionary, or its sha-256 member is not a 32-byte byte
// sequence. Other algorithms are skipped. Values are limited to 8 KiB.
Result<std::optional<Digest>> parse_sha256_digest_header(std::string_view value);

// "sha-256=:<base64>:"
std::string format_sha256_digest_header(const Digest& digest);

}  // namespace hifi
