#include "cluster/peer_auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <charconv>
#include <cstdlib>

#include "common/sha256.h"

namespace hifi::cluster {

PeerAuth::PeerAuth(std::string node_id, const std::string& secret) : node_id_(std::move(node_id)) {
  if (secret.empty()) return;
  auto digest = sha256("hifi peer auth\n" + secret);
  key_.assign(digest.begin(), digest.end());
}

std::string PeerAuth::mac(const std::string& method, const std::string& path,
                          const std::string& node_id, std::int64_t when_s) const {
  const std::string message = method + "\n" + path + "\n" + node_id + "\n" + std::to_string(when_s);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return to_hex(out, len);
}

std::string PeerAuth::header_value(const std::string& method, const std::string& path,
                                   std::int64_t now_s) const {
  if (!enabled()) return {};
  return node_id_ + " " + std::to_string(now_s) + " " + mac(method, path, node_id_, now_s);
}

std::optional<std::string> PeerAuth::verify(const std::string& header, const std::string& method,
                                            const std::string& path, std::int64_t now_s) const {
  if (!enabled() || header.size() > 256) return std::nullopt;
  auto first = header.find(' ');
  auto second = first == std::string::npos ? first : header.find(' ', first + 1);
  if (second == std::string::npos) return std::nullopt;
  std::string node_id = header.substr(0, first);
  std::string when_text = header.substr(first + 1, second - first - 1);
  std::string given = header.substr(second + 1);
  std::int64_t when = 0;
  auto [end, ec] = std::from_chars(when_text.data(), when_text.data() + when_text.size(), when);
  if (node_id.empty() || ec != std::errc() || end != when_text.data() + when_text.size()) {
    return std::nullopt;
  }
  if (std::llabs(now_s - when) > kMaxSkewSeconds) return std::nullopt;
  auto expected = mac(method, path, node_id, when);
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return std::nullopt;
  }
  return node_id;
}

}  // namespace hifi::cluster
