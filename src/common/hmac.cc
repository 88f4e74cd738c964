#include "common/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <mutex>
#include <stdexcept>
#include <vector>

namespace hifi {

namespace {

// Contexts kept for reuse; more are made when more threads MAC at once, and
// those past this many are freed when given back.
constexpr std::size_t kPooledContexts = 16;

}  // namespace

struct HmacSha256::Impl {
  EVP_MAC_CTX* keyed = nullptr;    // the key set; each new context is a copy
  std::mutex mu;
  std::vector<EVP_MAC_CTX*> idle;  // keyed, guarded by mu

  EVP_MAC_CTX* make() const {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed);
    if (ctx == nullptr) throw std::runtime_error("OpenSSL could not copy an HMAC-SHA256 context");
    return ctx;
  }
};

// Throws when OpenSSL cannot make the context (it has no HMAC or no
// SHA-256: a broken installation), at start-up.
HmacSha256::HmacSha256(std::string_view key) : impl_(std::make_unique<Impl>()) {
  EVP_MAC* algorithm = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (algorithm == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  impl_->keyed = EVP_MAC_CTX_new(algorithm);  // holds its own reference to the algorithm
  EVP_MAC_free(algorithm);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (impl_->keyed == nullptr ||
      EVP_MAC_init(impl_->keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    EVP_MAC_CTX_free(impl_->keyed);
    throw std::runtime_error("OpenSSL HMAC-SHA256 initialisation failed");
  }
}

HmacSha256::~HmacSha256() {
  for (auto* ctx : impl_->idle) EVP_MAC_CTX_free(ctx);
  EVP_MAC_CTX_free(impl_->keyed);
}

Digest HmacSha256::mac(std::string_view message) const {
  EVP_MAC_CTX* ctx = nullptr;
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->idle.empty()) {
      ctx = impl_->idle.back();
      impl_->idle.pop_back();
    }
  }
  if (ctx == nullptr) ctx = impl_->make();
  Digest out{};
  std::size_t len = 0;
  // A null key starts a new MAC with the key set before.
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size()) {
    EVP_MAC_CTX_free(ctx);
    throw std::runtime_error("OpenSSL HMAC-SHA256 failed");
  }
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->idle.size() < kPooledContexts) {
      impl_->idle.push_back(ctx);
      ctx = nullptr;
    }
  }
  EVP_MAC_CTX_free(ctx);
  return out;
}

}  // namespace hifi
