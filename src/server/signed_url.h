// UrlSigner: short-lived signed stream URLs, so that <audio> elements and
// redirects can fetch a song without an Authorization header.
//
// A signature is HMAC-SHA256(secret, "stream\n<song-id>\n<expires>") in
// unpadded base64url; `expires` is Unix seconds. Thread-safe (immutable).
#pragma once

#include <cstdint>
#include <string>

namespace hifi {

class UrlSigner {
 public:
  // secret: at least 32 random bytes.
  explicit UrlSigner(std::string secret);

  std::string sign(const std::string& song_id, std::int64_t expires_s) const;
  // True when the signature matches and now_s < expires_s. Constant time.
  bool verify(const std::string& song_id, std::int64_t expires_s, const std::string& signature,
              std::int64_t now_s) const;
  // "/api/v1/songs/<id>/stream?expires=<s>&signature=<sig>"
  std::string stream_path(const std::string& song_id, std::int64_t expires_s) const;

 private:
  std::string secret_;
};

// The signing key of a cluster, derived from the secret every node shares
// (so that the secret itself never signs anything).
std::string cluster_signing_key(const std::string& cluster_secret);

// Reads the secret from path, creating it (32 random bytes, mode 0600) when
// it does not exist. Throws std::runtime_error on failure (start-up only).
std::string load_or_create_secret(const std::string& path);

}  // namespace hifi
