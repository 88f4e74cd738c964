// UrlSigner: short-lived signed stream URLs, so that <audio> elements and
// redirects can fetch a song without an Authorization header.
//
// A signature is HMAC-SHA256(secret, "stream\n<subject>\n<expires>") in
// unpadded base64url; `expires` is Unix seconds. A stream URL's subject is
// "<song-id>\n<user-id>\n<sessions-epoch>": the URL is the user's, and
// ends with the account (disabled, deleted) or with its sessions epoch
// (signing out everywhere else, a password change), which the router checks
// on every use (AccountService::check_grant), on whichever node. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/hmac.h"

namespace hifi {

// Whose a signed stream URL is: the user, and their sessions epoch when it
// was made (User::sessions_epoch).
struct StreamGrant {
  std::string user_id;
  std::uint64_t sessions_epoch = 0;
};

// A signed stream URL's parts, as its query carries them.
struct SignedStream {
  StreamGrant grant;
  std::int64_t expires_s = 0;
};

class UrlSigner {
 public:
  // secret: at least 32 random bytes.
  explicit UrlSigner(std::string secret);

  std::string sign(const std::string& subject, std::int64_t expires_s) const;
  // True when the signature matches and now_s < expires_s. Constant time
  // in what the caller does not know: a signature that verified lately
  // (kept per thread, the last 64 by message) is compared with the one
  // given instead of computing the MAC again, and only a correct one takes
  // that shortcut. A player asks for many ranges of one signed URL.
  bool verify(const std::string& subject, std::int64_t expires_s, std::string_view signature,
              std::int64_t now_s) const;
  // "/api/v1/songs/<id>/stream?expires=<s>&user=<user-id>&epoch=<n>&signature=<sig>"
  std::string stream_path(const std::string& song_id, const SignedStream& signed_stream) const;
  // Whether a stream URL's signature holds for the song and has not
  // expired (whether its grant still holds is the accounts' to say).
  bool verify_stream(const std::string& song_id, const SignedStream& signed_stream, std::string_view signature,
                     std::int64_t now_s) const;

 private:
  std::string message(const std::string& subject, std::int64_t expires_s) const;

  HmacSha256 mac_;
  std::uint64_t id_;  // tells this signer's remembered signatures from another's
};

// The signing key of a cluster, derived from the secret every node shares
// (so that the secret itself never signs anything).
std::string cluster_signing_key(const std::string& cluster_secret);

// Reads the secret from path, creating it (32 random bytes, mode 0600) when
// it does not exist. Throws std::runtime_error on failure (start-up only).
std::string load_or_create_secret(const std::string& path);

}  // namespace hifi
