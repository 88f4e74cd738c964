#include "common/content_hash.h"

namespace hifi {

Result<ContentHash> ContentHash::parse(std::string_view hex) {
  if (!is_sha256_hex(hex)) return invalid_argument("expected 64 lowercase hex digits");
  Digest digest{};
  auto nibble = [](char c) { return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  for (std::size_t i = 0; i < digest.size(); ++i) {
    digest[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return ContentHash(digest);
}

}  // namespace hifi
