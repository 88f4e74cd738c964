// PeerAuth: how nodes of a cluster prove to each other that they hold the
// cluster secret, on the node-to-node API under /internal/v1.
//
// A request carries the header
//   X-HiFi-Peer: <node-id> <unix-seconds> <hex HMAC-SHA256(key, "<METHOD>\n<path>\n<node-id>\n<unix-seconds>")>
// where key = SHA-256("hifi peer auth\n" + secret), so the secret itself
// never signs anything. A header older or newer than kMaxSkewSeconds is
// refused, which bounds how long a captured header can be replayed, and only
// for the same method and path. Immutable, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hifi::cluster {

inline constexpr const char* kPeerHeader = "X-HiFi-Peer";

class PeerAuth {
 public:
  static constexpr std::int64_t kMaxSkewSeconds = 300;

  // An empty secret makes a PeerAuth that signs nothing valid and accepts
  // nothing (a node without a cluster secret has no peers).
  PeerAuth(std::string node_id, const std::string& secret);

  bool enabled() const { return !key_.empty(); }
  std::string header_value(const std::string& method, const std::string& path,
                           std::int64_t now_s) const;
  // The sending node's id when the header is valid for this request.
  std::optional<std::string> verify(const std::string& header, const std::string& method,
                                    const std::string& path, std::int64_t now_s) const;

 private:
  std::string mac(const std::string& method, const std::string& path, const std::string& node_id,
                  std::int64_t when_s) const;

  std::string node_id_;
  std::string key_;
};

}  // namespace hifi::cluster
