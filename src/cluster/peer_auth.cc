#include "cluster/peer_auth.h"

#include <openssl/crypto.h>

#include <charconv>
#include <cstdlib>
#include <vector>

#include "common/random.h"
#include "common/sha256.h"

namespace hifi::cluster {

namespace {

bool is_hex(const std::string& s, std::size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto space = text.find(' ', start);
    out.push_back(text.substr(start, space - start));
    if (space == std::string::npos) break;
    start = space + 1;
  }
  return out;
}

}  // namespace

PeerAuth::PeerAuth(std::string node_id, const std::string& secret) : node_id_(std::move(node_id)) {
  if (secret.empty()) return;
  const auto key = sha256("hifi peer auth\n" + secret);
  mac_ = std::make_unique<const HmacSha256>(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

std::string PeerAuth::mac(const PeerRequest& request, const std::string& from, std::int64_t when_s,
                          const std::string& nonce) const {
  const std::string message = "hifi peer v2\n" + request.method + "\n" + request.target + "\n" + from + "\n" +
                              request.destination + "\n" + std::to_string(when_s) + "\n" + nonce + "\n" +
                              request.body_sha256;
  return to_hex(mac_->mac(message));
}

std::string PeerAuth::header_value(const PeerRequest& request, std::int64_t now_s) const {
  if (!enabled()) return {};
  const auto nonce = random_hex(16);
  return node_id_ + " " + request.destination + " " + std::to_string(now_s) + " " + nonce + " " +
         request.body_sha256 + " " + mac(request, node_id_, now_s, nonce);
}

std::optional<VerifiedPeer> PeerAuth::verify(const std::string& header, const std::string& method,
                                             const std::string& target, std::int64_t now_s,
                                             std::string* why) const {
  auto refuse = [&](const char* reason) -> std::optional<VerifiedPeer> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (!enabled()) return refuse("this node has no cluster secret");
  if (header.empty()) return refuse("no header");
  if (header.size() > 512) return refuse("the header is too long");
  const auto fields = split_spaces(header);
  if (fields.size() != 6) return refuse("the header does not have the six fields of this version");
  const auto& from = fields[0];
  const auto& to = fields[1];
  const auto& when_text = fields[2];
  const auto& nonce = fields[3];
  const auto& body = fields[4];
  const auto& given = fields[5];
  std::int64_t when = 0;
  auto [end, ec] = std::from_chars(when_text.data(), when_text.data() + when_text.size(), when);
  if (from.empty() || ec != std::errc() || end != when_text.data() + when_text.size() || !is_hex(nonce, 32) ||
      !is_hex(body, 64) || !is_hex(given, 64)) {
    return refuse("the header is malformed");
  }
  PeerRequest request{method, target, to, body};
  const auto expected = mac(request, from, when, nonce);
  if (CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return refuse("the signature does not hold (another cluster secret, or another request)");
  }
  if (to != node_id_) return refuse("the request was signed for another node");
  if (std::llabs(now_s - when) > kMaxSkewSeconds) return refuse("the header's time is too far from this node's clock");
  if (!remember(from, nonce, when, now_s)) return refuse("the request was already received once (a replay)");
  return VerifiedPeer{from, body};
}

bool PeerAuth::remember(const std::string& from, const std::string& nonce, std::int64_t when_s,
                        std::int64_t now_s) const {
  std::lock_guard lock(mu_);
  // Headers older than the window are refused by their time: forget them.
  while (!seen_by_time_.empty() && seen_by_time_.begin()->first < now_s - kMaxSkewSeconds) {
    seen_.erase(seen_by_time_.begin()->second);
    seen_by_time_.erase(seen_by_time_.begin());
  }
  if (seen_.size() >= kMaxRememberedNonces) return false;
  auto key = from + " " + nonce;
  auto [it, inserted] = seen_.emplace(key, when_s);
  if (!inserted) return false;
  seen_by_time_.emplace(when_s, std::move(key));
  return true;
}

}  // namespace hifi::cluster
