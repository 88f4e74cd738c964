// AccountService: users, passwords, session tokens and invites, kept in the
// MetaStore so that every node of a cluster sees the same accounts.
//
// Keys (values are JSON):
//   users/<user-id>            {id, username, password_hash, role, disabled, created_at, sessions_epoch}
//   usernames/<folded-name>    <user-id>           (uniqueness of names)
//   tokens/<sha256(token)>     {user_id, created_at, expires_at, device, address, last_used_at}
//   user-tokens/<user-id>/<sha256(token)>   ""       (a user's sessions, to list and revoke)
//   invites/<sha256(code)>     {created_by, created_at, expires_at}
//   accounts/admin             <user-id>           (the first account, made admin)
//   settings/registration      "open"|"invite"|"closed"  (set by an admin; else the flag)
//
// Passwords are stored as Argon2id strings (libsodium). Tokens (256-bit) and
// invite codes (128-bit) are random values given to the client once and
// stored only as SHA-256 hashes, so a copy of the store does not let anyone log in.
//
// Deleting an account removes users/<id> and usernames/<name> (the name
// becomes free for a new account, which gets a new id and so inherits
// nothing) and its tokens; accounts/admin keeps naming the first account
// even when it is gone, so registration never makes a second bootstrap
// admin. What the account uploaded stays in the shared library.
//
// Thread-safety: all methods are thread-safe. register_user, login,
// change_password, create_user and set_password run Argon2id (tens of
// milliseconds, 64 MiB): call them from the password pool, never from a
// network thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "library/access_watch.h"
#include "library/rate_limiter.h"
#include "store/meta_store.h"

namespace hifi {

enum class RegistrationMode { kOpen, kInvite, kClosed };
const char* registration_mode_name(RegistrationMode mode);
// "open", "invite", "closed"; kInvalidArgument for anything else.
Result<RegistrationMode> parse_registration_mode(std::string_view text);

struct User {
  std::string id;
  std::string username;
  std::string role;  // "admin" or "user"
  bool disabled = false;
  std::int64_t created_at = 0;  // Unix ms
  // Bytes of song files this user may have in the library, set by an admin;
  // nullopt: the server's --default-quota. 0: no limit.
  std::optional<std::uint64_t> quota_bytes;
  // Grows by one whenever every grant of the account made before must end
  // (signing out everywhere else, a password change, a disable): signed
  // stream URLs name the epoch they were made in (check_grant).
  std::uint64_t sessions_epoch = 0;
  bool is_admin() const { return role == "admin"; }
};

// An account as a credential derived from it is checked against at every
// use: the user (disabled or not) and a version of its password (16 hex
// digits of a hash of the stored Argon2id string), which changes with every
// password change, so that what was granted under the old password (app
// passwords, API keys, cached password checks) ends with it.
struct AccountState {
  User user;
  std::string password_version;
  // The mod_revision of the account's record when it was read: a write
  // that must not outlive a change of the account compares against it.
  Revision revision = 0;
};

struct Session {
  std::string token;  // only ever returned here, at login
  std::int64_t expires_at = 0;
  User user;
};

// A signed-in session as its user sees it (never the token).
struct SessionInfo {
  std::string id;       // 24 hex digits, naming it to revoke it
  std::string device;   // what signed in ("Firefox on Linux"), as the client said or its User-Agent
  std::string address;  // the client address it signed in from
  std::int64_t created_at = 0;
  std::int64_t last_used_at = 0;  // updated at most every kLastUseResolutionMs
  std::int64_t expires_at = 0;
  bool current = false;  // the session asking
};

struct Invite {
  std::string code;
  std::int64_t expires_at = 0;
};

struct AccountOptions {
  RegistrationMode registration = RegistrationMode::kOpen;
  std::int64_t token_ttl_ms = 30LL * 24 * 3600 * 1000;
  std::int64_t invite_ttl_ms = 7LL * 24 * 3600 * 1000;
  // Failed logins tolerated per account and attempts per client address,
  // each within the window, before login answers kResourceExhausted.
  int max_failures_per_account = 10;
  int max_attempts_per_address = 60;
  std::int64_t rate_window_ms = 15 * 60 * 1000;
  // Registrations attempted per client address per hour (each costs an
  // Argon2id run); 0: no limit.
  int registrations_per_address_per_hour = 20;
  // For tests: runs in login() between the password check and the session
  // write, where a password change may land.
  std::function<void()> before_session_write;
};

// The name of a session token in the store and in AccessEnded::token_hash
// (hex SHA-256).
std::string session_token_hash(const std::string& token);

// Username rules: 3 to 32 characters after NFC normalization; letters and
// digits of any script, '_', '-' and '.'; no spaces, controls or other
// punctuation. Names differing only in case or compatibility form collide.
Status validate_username(const std::string& username);
// Passwords: 8 to 1024 bytes of valid UTF-8.
Status validate_password(const std::string& password);

class AccountService {
 public:
  AccountService(MetaStore& store, const Clock& clock, AccountOptions options);
  ~AccountService();

  // Indexes tokens from before user-tokens/ existed, then starts watching
  // the accounts (AccessWatch): `on_access_ended` then hears of every
  // session and account that ends, on this node or any other, and grants
  // are checked from memory. Without start() nothing is reported and every
  // check_grant() reads the store. The error when the first load fails.
  Status start(AccessWatch::Listener on_access_ended);
  void stop();
  // The health of the accounts view; nullopt before start().
  std::optional<ViewStatus> view_status() const;

  // Whether a grant the account made at `sessions_epoch` (a signed stream
  // URL) still holds: OK when the account exists, is enabled and its
  // epoch is still that one; kUnauthenticated (saying why) otherwise. From
  // the accounts view without blocking when it can tell (nullopt when it
  // cannot: the view does not know the user yet, or knows an older epoch).
  std::optional<Status> check_grant_cached(const std::string& user_id, std::uint64_t sessions_epoch) const;
  // The same, reading the store when the view cannot tell (blocks).
  Status check_grant(const std::string& user_id, std::uint64_t sessions_epoch);

  // Counts a registration attempt from `client_address`: OK, or
  // kResourceExhausted (with *retry_after_ms) once the address made
  // registrations_per_address_per_hour of them within the last hour. Called
  // by the HTTP layer before register_user().
  Status admit_registration(const std::string& client_address, std::int64_t* retry_after_ms);

  // kAlreadyExists when the name is taken; kPermissionDenied when
  // registration is closed or the invite code is missing/invalid/used. The
  // first account of a server (the admin) registers in every mode.
  Result<User> register_user(const std::string& username, const std::string& password,
                             const std::string& invite_code);

  // kUnauthenticated for an unknown user, a wrong password or a disabled
  // account (the same message for all three); kResourceExhausted when rate
  // limited (retry_after_ms set).
  // `device` names the session in sessions() (clipped to 100 characters).
  Result<Session> login(const std::string& username, const std::string& password,
                        const std::string& client_address, std::int64_t* retry_after_ms,
                        const std::string& device = {});

  // The check behind login(), without a session: the same rate limits, the
  // same time spent on unknown names, the same answers (kUnauthenticated
  // for an unknown user, a wrong password or a disabled account;
  // kResourceExhausted when rate limited, retry_after_ms set).
  Result<AccountState> verify_password(const std::string& username, const std::string& password,
                                       const std::string& client_address, std::int64_t* retry_after_ms);

  // An account as it is now; kNotFound for an unknown id or name. One or
  // two store reads.
  Result<AccountState> account_state(const std::string& user_id);
  Result<AccountState> account_state_by_name(const std::string& username);

  // The user behind a token; kUnauthenticated if unknown, expired or disabled.
  // Notes the session's last use (a store write at most every
  // kLastUseResolutionMs per session).
  // After start(), a session checked once is checked again from memory,
  // without a store read, while the accounts view follows the store and
  // holds the session as live and the account unchanged: a logout,
  // revocation, disable or account change made on any node takes effect
  // here once this node's view has it (when its WebSockets close too).
  Result<User> authenticate(const std::string& token);
  Status logout(const std::string& token);

  static constexpr std::int64_t kLastUseResolutionMs = 5 * 60 * 1000;
  // The user's live sessions, most recently used first; `current_token`'s
  // is marked current. Expired ones are deleted on the way.
  Result<std::vector<SessionInfo>> sessions(const std::string& user_id, const std::string& current_token);
  // Ends one session of the user (kNotFound when the user has none by that id).
  Status revoke_session(const std::string& user_id, const std::string& session_id);
  // Deletes every expired session token (with its index entry) and every
  // expired invite code: what no request would delete, since nobody
  // presents them again. Housekeeping runs it; safe to run on several
  // nodes at once (each delete compares the record it read).
  struct SweepReport {
    int tokens = 0;
    int invites = 0;
  };
  Result<SweepReport> sweep_expired();
  // Ends every session of the user but keep_token's, and every signed URL
  // the account made (its sessions epoch grows).
  Status revoke_other_sessions(const std::string& user_id, const std::string& keep_token);

  // Also ends every session of the user except keep_token's, and every
  // signed URL the account made.
  Status change_password(const std::string& user_id, const std::string& old_password,
                         const std::string& new_password, const std::string& keep_token = {});

  Result<User> get_user(const std::string& user_id);

  // The admin operations: `actor` is the authenticated caller, and anyone
  // but an admin gets kPermissionDenied.
  Result<std::vector<User>> list_users(const User& actor);
  // Disabling revokes every token and signed URL of the user. kFailedPrecondition when an
  // admin tries to disable their own account (a server must keep an admin).
  Result<User> set_disabled(const User& actor, const std::string& user_id, bool disabled);
  Result<Invite> create_invite(const User& actor);
  // An account made by an admin, in every registration mode: `role` is
  // "admin" or "user". kInvalidArgument for a bad name, password or role;
  // kAlreadyExists when the name is taken. Runs Argon2id.
  Result<User> create_user(const User& actor, const std::string& username, const std::string& password,
                           const std::string& role);
  // Sets the password of `user_id` without asking for the old one: the
  // actor is an admin, or the user themself (already authenticated).
  // kPermissionDenied for anyone else; kInvalidArgument for a password
  // validate_password refuses; kNotFound for an unknown id. The password
  // version changes, so every app password, API key and remembered
  // password check of the account ends, and every session token (the
  // actor's own included) and signed URL of the account is revoked. Runs
  // Argon2id.
  Status set_password(const User& actor, const std::string& user_id, const std::string& new_password);
  // Makes the account "admin" or "user" (kInvalidArgument otherwise).
  // kFailedPrecondition when an admin demotes themself (a server must keep
  // an admin). Sessions stay: every request reads the role anew.
  Result<User> set_role(const User& actor, const std::string& user_id, const std::string& role);
  // Sets the account's storage quota in bytes (0: no limit; nullopt: the
  // server's default again). Uploads over it are refused; what is stored
  // already stays. Only an admin may (kPermissionDenied).
  Result<User> set_quota(const User& actor, const std::string& user_id, std::optional<std::uint64_t> quota_bytes);
  // Deletes the account and its session tokens (see the top of this file;
  // app passwords and API keys: ClientCredentials::remove_all, which the
  // callers run next, though none of them works without the account).
  // kFailedPrecondition for the actor's own account; kNotFound for an
  // unknown id.
  Status delete_user(const User& actor, const std::string& user_id);

  // The registration mode an admin set (settings/registration), else the
  // one the server was started with. Reads the store.
  Result<RegistrationMode> registration_mode_now();
  // kPermissionDenied for anyone but an admin.
  Result<RegistrationMode> set_registration_mode(const User& actor, RegistrationMode mode);
  // The mode as this node last read or set it, without a store read (for
  // /healthz): another node's change shows here at this node's next read.
  RegistrationMode registration_mode() const { return registration_.load(); }

 private:
  Status revoke_tokens_of(const std::string& user_id, const std::string& keep_token = {});
  // authenticate() from memory (see there); nullopt when the store must tell.
  std::optional<User> authenticate_cached(const std::string& token_hash);
  void remember_session(const std::string& token_hash, const User& user, Revision user_revision,
                        std::int64_t expires_at, std::int64_t last_used_at);
  // Before a session ends through this node: its next check reads the store
  // (the view may not have the end yet when the call returns).
  void forget_session(const std::string& token_hash);
  // Indexes, once per process, tokens written before user-tokens/ existed.
  Status index_legacy_tokens();
  Result<User> load_user(const std::string& user_id, std::string* password_hash,
                         Revision* mod_revision);
  // Waits (up to 10 s) until the accounts view has applied `revision`, so
  // that this node checks grants against an account change it just made.
  // A no-op before start().
  void catch_up(Revision revision) const;
  // Reads the record, lets `change` edit the user and password hash, writes
  // it back with compare-and-swap (retrying on races), then catches up;
  // change's error stops.
  Result<User> update_user(const std::string& user_id, const std::function<Status(User&, std::string&)>& change);

  MetaStore& store_;
  const Clock& clock_;
  AccountOptions options_;
  RateLimiter account_failures_;
  RateLimiter address_attempts_;
  RateLimiter registrations_;
  std::atomic<bool> legacy_tokens_indexed_{false};
  std::atomic<RegistrationMode> registration_;
  // Set by start(), before any request; stopped by stop() or the destructor.
  std::unique_ptr<AccessWatch> watch_;
  // Sessions checked against the store lately, by token hash, for
  // authenticate_cached(); cleared when it reaches kMaxCachedSessions.
  struct CachedSession {
    User user;
    Revision user_revision = 0;  // of users/<id> when it was read
    std::int64_t expires_at = 0;
    std::int64_t last_used_at = 0;
  };
  static constexpr std::size_t kMaxCachedSessions = 100'000;
  std::mutex sessions_mu_;
  std::unordered_map<std::string, CachedSession> sessions_;
};

}  // namespace hifi
