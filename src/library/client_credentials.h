// ClientCredentials: what a user gives apps that speak another protocol
// than HiFi's own (Subsonic apps on phones and desktops) instead of their
// account password: app passwords and API keys, each named after the device,
// shown once, listed with their last use and revocable; and the checks of an
// app's credentials against them and against the account password.
//
// Keys (values are JSON):
//   app-passwords/<user-id>/<id>  {id, name, sealed, password_version, created_at, last_used_at}
//   api-keys/<sha256(key)>        {id, user_id, name, password_version, created_at, last_used_at}
//
// App passwords must stay readable by the server, because Subsonic's token
// authentication sends md5(password + salt), which only the password itself
// can be checked against. They are sealed (libsodium secretbox:
// XSalsa20-Poly1305, a fresh random nonce each) with a key that is not in
// the store (the node derives it from the cluster secret, or keeps it in a
// file in its data directory), so a copy of the store does not reveal them.
// API keys are only ever compared, so only their SHA-256 is stored (they
// carry 192 random bits).
//
// Every credential holds only while its account is enabled and its
// password unchanged: a record keeps the password_version it was made under
// (AccountState), and every check reads the account. So disabling an account
// or changing its password ends all access through them at once, on every
// node of a cluster. Records of an old password version are dropped when
// their owner lists them.
//
// Account-password checks (Argon2id, tens of milliseconds) that succeed are
// remembered in memory for kPasswordCacheTtlMs, keyed by a keyed hash of
// user id, password version and password: a password change misses at once,
// and a disabled account is refused because the account is read first.
//
// Failed checks are rate limited per account and per client address with
// the login limits of AccountOptions; beyond them every check of that
// account or address answers kResourceExhausted until the window passes.
//
// Thread-safety: all methods are thread-safe. They read the store (and the
// password checks may run Argon2id): call them from worker threads.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "library/accounts.h"
#include "library/rate_limiter.h"
#include "store/meta_store.h"

namespace hifi {

enum class CredentialKind { kAppPassword, kApiKey };

struct ClientCredential {
  std::string id;  // 16 hex digits
  std::string name;
  std::int64_t created_at = 0;    // Unix ms
  std::int64_t last_used_at = 0;  // Unix ms, to within kLastUseResolutionMs; 0: never used
};

struct NewClientCredential {
  ClientCredential credential;
  std::string secret;  // the app password or API key: only ever returned here
};

// Names: 1 to 64 characters of valid UTF-8 without control characters,
// surrounding white space removed.
inline constexpr std::size_t kMaxCredentialNameChars = 64;
// Of each kind, per user.
inline constexpr std::size_t kMaxCredentialsPerUser = 50;
inline constexpr std::int64_t kPasswordCacheTtlMs = 5 * 60 * 1000;
// last_used_at is written at most this often per credential.
inline constexpr std::int64_t kLastUseResolutionMs = 60 * 1000;

class ClientCredentials {
 public:
  // sealing_secret: at least 16 secret bytes, the same on every node of a
  // cluster; the sealing key is derived from it. `limits` gives the failure
  // limits (max_failures_per_account, max_attempts_per_address,
  // rate_window_ms). Not owned: store, accounts, clock.
  ClientCredentials(MetaStore& store, AccountService& accounts, const Clock& clock,
                    const std::string& sealing_secret, const AccountOptions& limits);

  // kInvalidArgument for a bad name; kResourceExhausted past
  // kMaxCredentialsPerUser.
  Result<NewClientCredential> create(CredentialKind kind, const User& owner, const std::string& name);
  // The owner's credentials, oldest first.
  Result<std::vector<ClientCredential>> list(CredentialKind kind, const User& owner);
  // kNotFound when the owner has no credential of this kind with this id.
  Status revoke(CredentialKind kind, const User& owner, const std::string& id);
  // Removes every app password and API key of the user: for an account
  // being deleted (AccountService::delete_user). OK when there are none.
  Status remove_all(const std::string& user_id);

  // The checks. Each answers the user, or: kUnauthenticated for wrong
  // credentials, an unknown user or a disabled account (the message does
  // not tell which, unless the credentials were right);
  // kResourceExhausted when rate limited (retry_after_ms set, if given);
  // other codes when the store fails.

  // `password` is one of the user's app passwords or the account password.
  // Checking the account password runs Argon2id (unless a recent check of
  // the same password is remembered). With `needs_hashing` given, that check
  // is not run here: *needs_hashing is set and kUnauthenticated returned,
  // without counting a failure, so the caller can call again (with nullptr)
  // on a thread meant for hashing.
  Result<User> check_password(const std::string& username, const std::string& password,
                              const std::string& client_address, std::int64_t* retry_after_ms,
                              bool* needs_hashing = nullptr);
  // token: md5(app password + salt) as 32 lowercase hex digits. Also
  // kFailedPrecondition when the name has no app password to check against
  // (unknown users included, so that this tells nothing about who exists).
  Result<User> check_token(const std::string& username, const std::string& token, const std::string& salt,
                           const std::string& client_address, std::int64_t* retry_after_ms);
  Result<User> check_api_key(const std::string& key, const std::string& client_address,
                             std::int64_t* retry_after_ms);

 private:
  struct Stored;
  static std::optional<Stored> parse(const KeyValue& kv, CredentialKind kind);
  Result<std::vector<Stored>> load(CredentialKind kind, const std::string& user_id);
  void note_use(const Stored& stored);
  // kResourceExhausted while the address (or the account, when named) is
  // over its failure limit.
  Status check_limits(const std::string& folded_name, const std::string& address, std::int64_t* retry_after_ms);
  Status failed(const std::string& folded_name, const std::string& address, Status status);
  bool password_cached(const AccountState& state, const std::string& password);
  void cache_password(const AccountState& state, const std::string& password);
  std::string cache_key(const AccountState& state, const std::string& password) const;
  std::string seal(const std::string& plain) const;
  Result<std::string> unseal(const std::string& sealed) const;

  MetaStore& store_;
  AccountService& accounts_;
  const Clock& clock_;
  std::string sealing_key_;  // crypto_secretbox_KEYBYTES
  std::string cache_hash_key_;  // random per process: the cache keys are useless elsewhere
  RateLimiter account_failures_;
  RateLimiter address_failures_;

  std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> password_cache_;  // key -> expires at (ms)
  std::unordered_map<std::string, std::int64_t> last_use_written_;  // record key -> ms
};

}  // namespace hifi
