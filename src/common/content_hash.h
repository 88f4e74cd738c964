// ContentHash: the SHA-256 of a blob's bytes, the name under which HiFi
// stores, replicates and serves it.
//
// Contract: a ContentHash always holds a well-formed digest. Text from
// outside (HTTP paths, stored JSON records, file names on disk) becomes one
// only through parse(), which accepts exactly 64 lowercase hex digits; code
// that takes a ContentHash never re-validates it, and hex() can be used as a
// file name or store key as is. The hex form is computed once and cached,
// since blob paths, store keys and logs use it constantly.
//
// A default-constructed ContentHash is the all-zero digest: a placeholder to
// be assigned, never the name of a real blob.
//
// Thread-safety: an immutable value; copies are independent.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "common/sha256.h"
#include "common/status.h"

namespace hifi {

class ContentHash {
 public:
  ContentHash() : hex_(to_hex(digest_)) {}

  // kInvalidArgument unless `hex` is exactly 64 lowercase hex digits.
  static Result<ContentHash> parse(std::string_view hex);
  static ContentHash from_digest(const Digest& digest) { return ContentHash(digest); }
  // The hash of `data` (small, in-memory bytes).
  static ContentHash of(std::string_view data) { return ContentHash(sha256(data)); }

  const Digest& digest() const { return digest_; }
  // 64 lowercase hex digits.
  const std::string& hex() const { return hex_; }
  // The first 12 hex digits, for logs.
  std::string short_hex() const { return hex_.substr(0, 12); }

  friend bool operator==(const ContentHash& a, const ContentHash& b) { return a.digest_ == b.digest_; }
  friend std::strong_ordering operator<=>(const ContentHash& a, const ContentHash& b) {
    return a.digest_ <=> b.digest_;
  }
  friend std::ostream& operator<<(std::ostream& os, const ContentHash& h) { return os << h.hex_; }

 private:
  explicit ContentHash(const Digest& digest) : digest_(digest), hex_(to_hex(digest)) {}

  Digest digest_{};
  std::string hex_;
};

}  // namespace hifi

template <>
struct std::hash<hifi::ContentHash> {
  std::size_t operator()(const hifi::ContentHash& h) const noexcept {
    // The digest is uniformly distributed: its first bytes are a good hash.
    std::size_t out = 0;
    for (std::size_t i = 0; i < sizeof(out); ++i) out = (out << 8) | h.digest()[i];
    return out;
  }
};
