// HMAC-SHA256 under one key, for MACs computed on hot paths (every signed
// stream URL a request carries, every node-to-node request).
//
// The key is set once: each MAC then costs a short hash of the message.
// OpenSSL's one-shot HMAC() looks the algorithm up and sets the key again
// on every call (about 2 us a MAC here, against 0.3-0.5 us this way;
// bench/hmac_bench). The
// result is the standard HMAC-SHA256 (RFC 2104, RFC 4231).
// Thread-safe: calls on any thread share a small pool of contexts.
#pragma once

#include <memory>
#include <string_view>

#include "common/sha256.h"

namespace hifi {

class HmacSha256 {
 public:
  // key: any length (RFC 2104: longer than 64 bytes, it is hashed first).
  explicit HmacSha256(std::string_view key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  Digest mac(std::string_view message) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hifi
