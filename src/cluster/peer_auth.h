// PeerAuth: how nodes of a cluster prove to each other that they hold the
// cluster secret, on the node-to-node API under /internal/v1.
//
// A request carries the header
//   X-HiFi-Peer: <from> <to> <unix-seconds> <nonce> <body-sha256> <mac>
// where <from> is the sending node's id, <to> the receiving node's id,
// <nonce> 32 random hex digits, <body-sha256> the hex SHA-256 of the request
// body (of no bytes when there is none), and <mac> the hex
// HMAC-SHA256(key, "hifi peer v2\n<METHOD>\n<target>\n<from>\n<to>\n
// <unix-seconds>\n<nonce>\n<body-sha256>"), <target> being the request's
// path and query as sent. key = SHA-256("hifi peer auth\n" + secret), so the
// secret itself never signs anything.
//
// A receiving node accepts a header only when its MAC holds, it names this
// node as <to>, its time is within kMaxSkewSeconds of this node's clock, and
// its nonce has not been seen within that window (a captured request cannot
// be replayed, nor sent to another node, nor given another query or body).
// The body is checked by whoever reads it, against the verified digest.
//
// Thread-safe: the key is immutable; the record of seen nonces is guarded.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/hmac.h"

namespace hifi::cluster {

inline constexpr const char* kPeerHeader = "X-HiFi-Peer";

// The body digest a request signs when its sender does not know it yet (an
// upload streamed on while it arrives): the receiver hashes the bytes and
// the sender checks that digest before it commits the copy.
inline constexpr const char* kStreamedBodySha256 = "0000000000000000000000000000000000000000000000000000000000000000";

// The hex SHA-256 of no bytes: the body digest of a request without a body.
inline constexpr const char* kEmptyBodySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// What one node-to-node request says, as its header signs it.
struct PeerRequest {
  std::string method;       // "PUT"
  std::string target;       // path and query, "/internal/v1/blobs/<sha256>"
  std::string destination;  // the receiving node's id
  std::string body_sha256 = kEmptyBodySha256;
};

// A header that verified.
struct VerifiedPeer {
  std::string node_id;      // who sent it
  std::string body_sha256;  // what its body must hash to
};

class PeerAuth {
 public:
  static constexpr std::int64_t kMaxSkewSeconds = 300;
  // Nonces remembered at most; beyond that a valid header is refused (only
  // holders of the cluster secret can make headers, so this bounds memory
  // against a runaway peer, not against strangers).
  static constexpr std::size_t kMaxRememberedNonces = 1'000'000;

  // An empty secret makes a PeerAuth that signs nothing valid and accepts
  // nothing (a node without a cluster secret has no peers). node_id: this
  // node, the sender of what it signs and the destination of what it accepts.
  PeerAuth(std::string node_id, const std::string& secret);

  bool enabled() const { return mac_ != nullptr; }
  const std::string& node_id() const { return node_id_; }

  // A header for `request` sent now, with a fresh nonce. Empty when disabled.
  std::string header_value(const PeerRequest& request, std::int64_t now_s) const;

  // The sender and the body digest when `header` is valid for a request with
  // this method and target, addressed to this node, and not a replay; else
  // nullopt with `why` (when given) saying what was wrong.
  std::optional<VerifiedPeer> verify(const std::string& header, const std::string& method,
                                     const std::string& target, std::int64_t now_s,
                                     std::string* why = nullptr) const;

 private:
  std::string mac(const PeerRequest& request, const std::string& from, std::int64_t when_s,
                  const std::string& nonce) const;
  // True the first time (from, nonce) is seen within the window.
  bool remember(const std::string& from, const std::string& nonce, std::int64_t when_s,
                std::int64_t now_s) const;

  std::string node_id_;
  std::unique_ptr<const HmacSha256> mac_;  // null: no secret

  mutable std::mutex mu_;
  // "<from> <nonce>" -> its header's time; and by time, to forget old ones.
  mutable std::unordered_map<std::string, std::int64_t> seen_;
  mutable std::multimap<std::int64_t, std::string> seen_by_time_;
};

}  // namespace hifi::cluster
