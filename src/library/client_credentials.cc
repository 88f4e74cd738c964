#include "library/client_credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "common/base64.h"
#include "common/random.h"
#include "common/sha256.h"
#include "common/text.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kAppPasswordsPrefix[] = "app-passwords/";
constexpr char kApiKeysPrefix[] = "api-keys/";
constexpr char kWrong[] = "wrong username or password";
constexpr std::size_t kMaxCachedPasswords = 10'000;
constexpr std::size_t kMaxUseMarks = 100'000;

std::string hex_sha256(std::string_view text) { return to_hex(sha256(text)); }

const char* kind_name(CredentialKind kind) {
  return kind == CredentialKind::kAppPassword ? "app password" : "API key";
}

// 24 characters in groups of four ("abcd-efgh-..."), 120 random bits, from an
// alphabet without look-alikes (no 0, 1, l, o): typed on phones.
std::string new_app_password() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
  std::string out;
  for (int i = 0; i < 24; ++i) {
    if (i > 0 && i % 4 == 0) out += '-';
    out += kAlphabet[randombytes_uniform(32)];
  }
  return out;
}

std::string md5_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_md5(), nullptr);
  return to_hex(digest, size);
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> normalize_name(const std::string& name) {
  if (!is_valid_utf8(name)) return invalid_argument("the name must be valid UTF-8");
  auto first = name.find_first_not_of(" \t");
  if (first == std::string::npos) return invalid_argument("give the credential a name, such as the device's");
  auto trimmed = nfc(name.substr(first, name.find_last_not_of(" \t") - first + 1));
  std::size_t chars = 0;
  for (unsigned char c : trimmed) {
    if (c < 0x20 || c == 0x7f) return invalid_argument("the name must not contain control characters");
    chars += (c & 0xC0) != 0x80;
  }
  if (chars > kMaxCredentialNameChars) {
    return invalid_argument("the name may be at most " + std::to_string(kMaxCredentialNameChars) + " characters");
  }
  return trimmed;
}

}  // namespace

struct ClientCredentials::Stored {
  std::string key;
  Revision mod_revision = 0;
  json::object record;
  std::string user_id;
  std::string password_version;
  std::string sealed;  // app passwords only
  ClientCredential credential;
};

ClientCredentials::ClientCredentials(MetaStore& store, AccountService& accounts, const Clock& clock,
                                     const std::string& sealing_secret, const AccountOptions& limits)
    : store_(store),
      accounts_(accounts),
      clock_(clock),
      account_failures_(clock, limits.max_failures_per_account, limits.rate_window_ms),
      address_failures_(clock, limits.max_attempts_per_address, limits.rate_window_ms) {
  HIFI_CHECK(sealing_secret.size() >= 16, "the sealing secret must have at least 16 bytes");
  const auto key = sha256("hifi app passwords\n" + sealing_secret);
  static_assert(sizeof(key) == crypto_secretbox_KEYBYTES);
  sealing_key_.assign(key.begin(), key.end());
  cache_hash_key_.resize(crypto_generichash_KEYBYTES);
  randombytes_buf(cache_hash_key_.data(), cache_hash_key_.size());
}

std::string ClientCredentials::seal(const std::string& plain) const {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, reinterpret_cast<const unsigned char*>(plain.data()),
                        plain.size(), nonce, reinterpret_cast<const unsigned char*>(sealing_key_.data()));
  return base64_encode(out);
}

Result<std::string> ClientCredentials::unseal(const std::string& sealed) const {
  auto bytes = base64_decode(sealed);
  if (!bytes || bytes->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return internal_error("a sealed app password is malformed");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(bytes->data());
  const auto box_size = bytes->size() - crypto_secretbox_NONCEBYTES;
  std::string plain(box_size - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), nonce + crypto_secretbox_NONCEBYTES,
                                 box_size, nonce, reinterpret_cast<const unsigned char*>(sealing_key_.data())) != 0) {
    return internal_error("an app password cannot be opened: it was sealed with another key");
  }
  return plain;
}

std::optional<ClientCredentials::Stored> ClientCredentials::parse(const KeyValue& kv, CredentialKind kind) {
  boost::system::error_code ec;
  auto v = json::parse(kv.value, ec);
  if (ec || !v.is_object()) return std::nullopt;
  Stored s;
  s.key = kv.key;
  s.mod_revision = kv.mod_revision;
  s.record = std::move(v.as_object());
  auto text = [&](const char* name) {
    const auto* p = s.record.if_contains(name);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto number = [&](const char* name) {
    const auto* p = s.record.if_contains(name);
    return p && p->is_int64() ? p->as_int64() : std::int64_t{0};
  };
  if (kind == CredentialKind::kAppPassword) {
    // app-passwords/<user-id>/<id>
    const auto rest = kv.key.substr(sizeof(kAppPasswordsPrefix) - 1);
    s.user_id = rest.substr(0, rest.find('/'));
  } else {
    s.user_id = text("user_id");
  }
  s.password_version = text("password_version");
  s.sealed = text("sealed");
  s.credential = {text("id"), text("name"), number("created_at"), number("last_used_at")};
  return s;
}

Result<std::vector<ClientCredentials::Stored>> ClientCredentials::load(CredentialKind kind,
                                                                      const std::string& user_id) {
  const bool app = kind == CredentialKind::kAppPassword;
  auto r = store_.range(app ? kAppPasswordsPrefix + user_id + "/" : std::string(kApiKeysPrefix));
  if (!r) return r.status();
  std::vector<Stored> out;
  for (const auto& kv : r->kvs) {
    auto s = parse(kv, kind);
    if (s && s->user_id == user_id) out.push_back(std::move(*s));
  }
  std::sort(out.begin(), out.end(), [](const Stored& a, const Stored& b) {
    return std::tie(a.credential.created_at, a.credential.id) < std::tie(b.credential.created_at, b.credential.id);
  });
  return out;
}

Result<NewClientCredential> ClientCredentials::create(CredentialKind kind, const User& owner, const std::string& name) {
  auto clean = normalize_name(name);
  if (!clean) return clean.status();
  auto state = accounts_.account_state(owner.id);
  if (!state) return state.status();
  auto existing = load(kind, owner.id);
  if (!existing) return existing.status();
  if (existing->size() >= kMaxCredentialsPerUser) {
    return resource_exhausted("an account may have at most " + std::to_string(kMaxCredentialsPerUser) + " " +
                              kind_name(kind) + "s; revoke one first");
  }
  NewClientCredential out;
  out.credential = {random_hex(8), *clean, clock_.now_ms(), 0};
  json::object o{{"id", out.credential.id},
                 {"name", out.credential.name},
                 {"password_version", state->password_version},
                 {"created_at", out.credential.created_at},
                 {"last_used_at", 0}};
  std::string key;
  if (kind == CredentialKind::kAppPassword) {
    out.secret = new_app_password();
    o["sealed"] = seal(out.secret);
    key = kAppPasswordsPrefix + owner.id + "/" + out.credential.id;
  } else {
    out.secret = "hifi_" + random_hex(24);
    o["user_id"] = owner.id;
    key = kApiKeysPrefix + hex_sha256(out.secret);
  }
  auto r = store_.txn({Compare::absent(key)}, {Op::put(key, json::serialize(o))});
  if (!r) return r.status();
  if (!r->succeeded) return internal_error("a new credential collided with an existing one");
  return out;
}

Result<std::vector<ClientCredential>> ClientCredentials::list(CredentialKind kind, const User& owner) {
  auto state = accounts_.account_state(owner.id);
  if (!state) return state.status();
  auto stored = load(kind, owner.id);
  if (!stored) return stored.status();
  std::vector<ClientCredential> out;
  std::vector<Op> stale;
  for (auto& s : *stored) {
    if (s.password_version == state->password_version) {
      out.push_back(s.credential);
    } else {
      stale.push_back(Op::del(s.key));  // made under a password that was changed since: void
    }
  }
  if (!stale.empty()) {
    if (auto r = store_.txn({}, stale); !r) spdlog::warn("could not drop void credentials: {}", r.status().to_string());
  }
  return out;
}

Status ClientCredentials::revoke(CredentialKind kind, const User& owner, const std::string& id) {
  auto stored = load(kind, owner.id);
  if (!stored) return stored.status();
  for (auto& s : *stored) {
    if (s.credential.id != id) continue;
    auto r = store_.txn({Compare::exists(s.key)}, {Op::del(s.key)});
    if (!r) return r.status();
    if (r->succeeded) return Status::ok();
    break;
  }
  return not_found(std::string("you have no ") + kind_name(kind) + " with id '" + id.substr(0, 64) + "'");
}

Status ClientCredentials::remove_all(const std::string& user_id) {
  std::vector<Op> ops;
  for (auto kind : {CredentialKind::kAppPassword, CredentialKind::kApiKey}) {
    auto stored = load(kind, user_id);
    if (!stored) return stored.status();
    for (const auto& s : *stored) ops.push_back(Op::del(s.key));
  }
  if (ops.empty()) return Status::ok();
  auto r = store_.txn({}, ops);
  return r ? Status::ok() : r.status();
}

void ClientCredentials::note_use(const Stored& stored) {
  const auto now = clock_.now_ms();
  {
    std::lock_guard lock(mu_);
    auto& written = last_use_written_[stored.key];
    if (written != 0 && now - written < kLastUseResolutionMs) return;
    if (now - stored.credential.last_used_at < kLastUseResolutionMs) {
      written = stored.credential.last_used_at;
      return;
    }
    if (last_use_written_.size() > kMaxUseMarks) last_use_written_.clear();
    last_use_written_[stored.key] = now;
  }
  auto record = stored.record;
  record["last_used_at"] = now;
  // Only over the record as read: a credential revoked meanwhile stays gone.
  auto r = store_.txn({Compare::mod_revision_equals(stored.key, stored.mod_revision)},
                      {Op::put(stored.key, json::serialize(record))});
  if (!r) spdlog::warn("could not record the use of a credential: {}", r.status().to_string());
}

Status ClientCredentials::check_limits(const std::string& folded_name, const std::string& address,
                                       std::int64_t* retry_after_ms) {
  auto wait = address_failures_.blocked_for_ms("a:" + address);
  if (!folded_name.empty()) wait = std::max(wait, account_failures_.blocked_for_ms("u:" + folded_name));
  if (wait <= 0) return Status::ok();
  if (retry_after_ms) *retry_after_ms = wait;
  return resource_exhausted("too many failed sign-ins; try again in " + std::to_string((wait + 999) / 1000) +
                            " seconds");
}

Status ClientCredentials::failed(const std::string& folded_name, const std::string& address, Status status) {
  if (status.code() == Code::kUnauthenticated || status.code() == Code::kFailedPrecondition) {
    address_failures_.record("a:" + address);
    if (!folded_name.empty()) account_failures_.record("u:" + folded_name);
  }
  return status;
}

std::string ClientCredentials::cache_key(const AccountState& state, const std::string& password) const {
  const auto message = state.user.id + '\0' + state.password_version + '\0' + password;
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                     reinterpret_cast<const unsigned char*>(cache_hash_key_.data()), cache_hash_key_.size());
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

bool ClientCredentials::password_cached(const AccountState& state, const std::string& password) {
  const auto key = cache_key(state, password);
  std::lock_guard lock(mu_);
  auto it = password_cache_.find(key);
  if (it == password_cache_.end()) return false;
  if (it->second > clock_.now_ms()) return true;
  password_cache_.erase(it);
  return false;
}

void ClientCredentials::cache_password(const AccountState& state, const std::string& password) {
  const auto key = cache_key(state, password);
  const auto now = clock_.now_ms();
  std::lock_guard lock(mu_);
  if (password_cache_.size() >= kMaxCachedPasswords) {
    std::erase_if(password_cache_, [&](const auto& entry) { return entry.second <= now; });
    if (password_cache_.size() >= kMaxCachedPasswords) password_cache_.clear();
  }
  password_cache_[key] = now + kPasswordCacheTtlMs;
}

Result<User> ClientCredentials::check_password(const std::string& username, const std::string& password,
                                               const std::string& client_address, std::int64_t* retry_after_ms,
                                               bool* needs_hashing) {
  const auto folded = fold_for_search(nfc(username));
  if (auto s = check_limits(folded, client_address, retry_after_ms); !s) return s;
  auto state = accounts_.account_state_by_name(username);
  if (!state && state.status().code() != Code::kNotFound) return state.status();
  if (state) {
    auto stored = load(CredentialKind::kAppPassword, state->user.id);
    if (!stored) return stored.status();
    for (const auto& s : *stored) {
      if (s.password_version != state->password_version) continue;
      auto plain = unseal(s.sealed);
      if (!plain || !same_secret(*plain, password)) continue;
      if (state->user.disabled) return failed(folded, client_address, unauthenticated("the account is disabled"));
      note_use(s);
      return state->user;
    }
    if (!state->user.disabled && password_cached(*state, password)) return state->user;
  }
  if (needs_hashing) {
    *needs_hashing = true;
    return unauthenticated("the account password is checked on the hashing pool");
  }
  // The account password: the same check (and limits) as a login.
  auto verified = accounts_.verify_password(username, password, client_address, retry_after_ms);
  if (!verified) return failed(folded, client_address, verified.status());
  cache_password(*verified, password);
  return verified->user;
}

Result<User> ClientCredentials::check_token(const std::string& username, const std::string& token,
                                            const std::string& salt, const std::string& client_address,
                                            std::int64_t* retry_after_ms) {
  const auto folded = fold_for_search(nfc(username));
  if (auto s = check_limits(folded, client_address, retry_after_ms); !s) return s;
  const auto no_app_password = failed_precondition(
      "token authentication works only with an app password; create one in HiFi (hifi app-passwords create "
      "NAME) and enter it in the app instead of your account password");
  auto state = accounts_.account_state_by_name(username);
  if (!state) {
    if (state.status().code() != Code::kNotFound) return state.status();
    return failed(folded, client_address, no_app_password);
  }
  auto stored = load(CredentialKind::kAppPassword, state->user.id);
  if (!stored) return stored.status();
  bool any = false;
  for (const auto& s : *stored) {
    if (s.password_version != state->password_version) continue;
    any = true;
    auto plain = unseal(s.sealed);
    if (!plain) {
      spdlog::error("app password {} of user {}: {}", s.credential.id, state->user.id, plain.status().message());
      continue;
    }
    if (!same_secret(md5_hex(*plain + salt), token)) continue;
    if (state->user.disabled) return failed(folded, client_address, unauthenticated("the account is disabled"));
    note_use(s);
    return state->user;
  }
  return failed(folded, client_address, any ? unauthenticated(kWrong) : no_app_password);
}

Result<User> ClientCredentials::check_api_key(const std::string& key, const std::string& client_address,
                                              std::int64_t* retry_after_ms) {
  if (auto s = check_limits("", client_address, retry_after_ms); !s) return s;
  const auto invalid = unauthenticated("the API key is not valid (revoked, or made before a password change)");
  auto kv = store_.get(kApiKeysPrefix + hex_sha256(key));
  if (!kv) {
    if (kv.status().code() != Code::kNotFound) return kv.status();
    return failed("", client_address, invalid);
  }
  auto stored = parse(*kv, CredentialKind::kApiKey);
  if (!stored) return internal_error("corrupt API key record");
  auto* it = &*stored;
  auto state = accounts_.account_state(it->user_id);
  if (!state) {
    if (state.status().code() == Code::kNotFound) return failed("", client_address, invalid);
    return state.status();
  }
  if (it->password_version != state->password_version) return failed("", client_address, invalid);
  if (state->user.disabled) return failed("", client_address, unauthenticated("the account is disabled"));
  note_use(*it);
  return state->user;
}

}  // namespace hifi
