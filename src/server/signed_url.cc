#include "server/signed_url.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <functional>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/base64.h"
#include "common/sha256.h"

namespace hifi {
namespace {

std::atomic<std::uint64_t> next_signer_id{1};

// A signature that verified, for the signer `signer` and `message`.
struct Verified {
  std::uint64_t signer = 0;
  std::string message;
  std::string signature;
};
constexpr std::size_t kVerifiedPerThread = 64;

// The place of `message`'s remembered signature in this thread's table:
// chosen by the message, which the caller knows, never by the signature.
Verified& verified_slot(std::string_view message) {
  thread_local std::array<Verified, kVerifiedPerThread> table;
  return table[std::hash<std::string_view>{}(message) % kVerifiedPerThread];
}

bool same_signature(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string stream_subject(const std::string& song_id, const StreamGrant& grant) {
  const auto epoch = std::to_string(grant.sessions_epoch);
  std::string out;
  out.reserve(song_id.size() + grant.user_id.size() + epoch.size() + 2);
  out.append(song_id).append("\n").append(grant.user_id).append("\n").append(epoch);
  return out;
}

}  // namespace

UrlSigner::UrlSigner(std::string secret) : mac_(secret), id_(next_signer_id++) {}

std::string UrlSigner::message(const std::string& subject, std::int64_t expires_s) const {
  const auto expires = std::to_string(expires_s);
  std::string out;
  out.reserve(7 + subject.size() + 1 + expires.size());
  out.append("stream\n").append(subject).append("\n").append(expires);
  return out;
}

std::string UrlSigner::sign(const std::string& subject, std::int64_t expires_s) const {
  const auto mac = mac_.mac(message(subject, expires_s));
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

bool UrlSigner::verify(const std::string& subject, std::int64_t expires_s,
                       std::string_view signature, std::int64_t now_s) const {
  if (now_s >= expires_s) return false;
  auto text = message(subject, expires_s);
  auto& slot = verified_slot(text);
  if (slot.signer == id_ && slot.message == text && same_signature(slot.signature, signature)) return true;
  // A wrong signature always takes the whole way, remembered message or not.
  const auto mac = mac_.mac(text);
  auto expected = base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  if (!same_signature(expected, signature)) return false;
  slot = {id_, std::move(text), std::move(expected)};
  return true;
}

std::string UrlSigner::stream_path(const std::string& song_id, const SignedStream& signed_stream) const {
  const auto& [grant, expires_s] = signed_stream;
  return "/api/v1/songs/" + song_id + "/stream?expires=" + std::to_string(expires_s) + "&user=" + grant.user_id +
         "&epoch=" + std::to_string(grant.sessions_epoch) +
         "&signature=" + sign(stream_subject(song_id, grant), expires_s);
}

bool UrlSigner::verify_stream(const std::string& song_id, const SignedStream& signed_stream,
                              std::string_view signature, std::int64_t now_s) const {
  return verify(stream_subject(song_id, signed_stream.grant), signed_stream.expires_s, signature, now_s);
}

std::string cluster_signing_key(const std::string& cluster_secret) {
  auto d = sha256("hifi url signing\n" + cluster_secret);
  return std::string(d.begin(), d.end());
}

std::string load_or_create_secret(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      auto secret = ss.str();
      if (secret.size() < 32) throw std::runtime_error("secret file " + path + " is too short");
      return secret;
    }
    // Only a missing file may be created: replacing one that exists but
    // cannot be read (permissions, I/O error, a link to a volume that is not
    // mounted) would silently invalidate every signed URL.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 || errno != ENOENT) {
      throw std::runtime_error("cannot read secret file " + path);
    }
  }
  std::string secret(32, '\0');
  randombytes_buf(secret.data(), secret.size());
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp);
  bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot write " + path);
  }
  return secret;
}

}  // namespace hifi
