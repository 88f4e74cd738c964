#include "library/accounts.h"

#include <sodium.h>

#include <boost/json.hpp>
#include <optional>

#include "common/random.h"
#include "common/sha256.h"
#include "common/text.h"
#include "library/account_keys.h"

namespace hifi {
namespace json = boost::json;
using namespace account_keys;

namespace {

constexpr std::size_t kMaxDeviceChars = 100;
constexpr char kAdminKey[] = "accounts/admin";
constexpr char kRegistrationKey[] = "settings/registration";
constexpr int kMaxCasRetries = 16;
constexpr char kBadCredentials[] = "wrong username or password";

std::string user_to_json(const User& u, const std::string& password_hash) {
  json::object o;
  o["id"] = u.id;
  o["username"] = u.username;
  o["password_hash"] = password_hash;
  o["role"] = u.role;
  o["disabled"] = u.disabled;
  o["created_at"] = u.created_at;
  if (u.quota_bytes) o["quota_bytes"] = *u.quota_bytes;
  o["sessions_epoch"] = u.sessions_epoch;
  return json::serialize(o);
}

bool user_from_json(const std::string& text, User& u, std::string& password_hash) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return false;
  auto& o = v.as_object();
  try {
    u.id = json::value_to<std::string>(o.at("id"));
    u.username = json::value_to<std::string>(o.at("username"));
    u.role = json::value_to<std::string>(o.at("role"));
    u.disabled = o.at("disabled").as_bool();
    u.created_at = o.at("created_at").to_number<std::int64_t>();
    password_hash = json::value_to<std::string>(o.at("password_hash"));
    if (const auto* quota = o.if_contains("quota_bytes"); quota && !quota->is_null()) {
      u.quota_bytes = quota->to_number<std::uint64_t>();
    }
    if (const auto* e = o.if_contains("sessions_epoch"); e && e->is_number()) {
      u.sessions_epoch = e->to_number<std::uint64_t>();
    }
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Argon2id with 19 MiB and 2 passes: OWASP's recommended minimum (its
// other equivalent settings trade memory for passes: 46 MiB x 1 ... 7 MiB
// x 5). libsodium's "interactive" preset (64 MiB x 2) cost 3.4 times as
// much CPU for each login here (docs/benchmarks.md, "Login"), which is
// what made a login take 150-200 ms and let a login flood hold the CPU.
// The parameters are stored in each hash, so hashes made with other ones
// keep verifying; they are not rehashed on login, since a hash's change
// would end the app passwords and API keys made under it.
constexpr unsigned long long kPasswordOpsLimit = 2;
constexpr std::size_t kPasswordMemLimit = 19 * 1024 * 1024;

Result<std::string> hash_password(const std::string& password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kPasswordOpsLimit, kPasswordMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status(Code::kUnavailable, "the server is out of memory for password hashing; try again");
  }
  return std::string(out);
}

bool password_matches(const std::string& hash, const std::string& password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string password_version_of(const std::string& password_hash) {
  return hash_secret("hifi password version\n" + password_hash).substr(0, 16);
}

// Decodes one UTF-8 code point at text[i], advancing i. Input is valid UTF-8.
std::uint32_t next_code_point(const std::string& text, std::size_t& i) {
  auto c = static_cast<unsigned char>(text[i++]);
  if (c < 0x80) return c;
  int extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
  std::uint32_t cp = c & (0x3F >> extra);
  while (extra-- > 0) cp = (cp << 6) | (static_cast<unsigned char>(text[i++]) & 0x3F);
  return cp;
}

bool allowed_in_username(std::uint32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '_' || cp == '-' || cp == '.';
  }
  // Outside ASCII, letters and digits of every script are welcome; exclude
  // the blocks that hold spaces, invisible formatting, punctuation that
  // would make two names look alike, and symbols such as emoji (which are
  // neither letters nor digits).
  if (cp < 0xC0) return false;  // Latin-1 controls, spaces, symbols
  if (cp == 0xD7 || cp == 0xF7) return false;
  if (cp == 0x034F || cp == 0x061C) return false;  // grapheme joiner, Arabic letter mark
  if (cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0) return false;  // Hangul fillers
  if (cp == 0x1680) return false;                  // Ogham space mark
  if (cp == 0x17B4 || cp == 0x17B5) return false;  // Khmer invisible vowels
  if (cp >= 0x180B && cp <= 0x180F) return false;  // Mongolian selectors, vowel separator
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;  // punctuation, symbols, arrows
  if (cp >= 0x2E00 && cp <= 0x2E7F) return false;  // supplemental punctuation
  if (cp >= 0x3000 && cp <= 0x303F) return false;  // CJK punctuation, ideographic space
  if (cp >= 0xD800 && cp <= 0xF8FF) return false;  // surrogates, private use
  if (cp >= 0xFE00 && cp <= 0xFE0F) return false;  // variation selectors
  if (cp >= 0xFE10 && cp <= 0xFE6F) return false;  // vertical, compatibility, small forms
  // Fullwidth punctuation and symbols (fullwidth letters and digits stay).
  if ((cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
      (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) ||
      (cp >= 0xFFE0 && cp <= 0xFFEF)) {
    return false;
  }
  if (cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF)) return false;
  if (cp >= 0x1D173 && cp <= 0x1D17A) return false;  // musical formatting controls
  if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;  // emoji, pictographs, other symbols
  if (cp >= 0xE0000) return false;  // tags, private use planes
  return true;
}

}  // namespace

const char* registration_mode_name(RegistrationMode mode) {
  switch (mode) {
    case RegistrationMode::kOpen: return "open";
    case RegistrationMode::kInvite: return "invite";
    case RegistrationMode::kClosed: return "closed";
  }
  return "open";
}

Result<RegistrationMode> parse_registration_mode(std::string_view text) {
  if (text == "open") return RegistrationMode::kOpen;
  if (text == "invite") return RegistrationMode::kInvite;
  if (text == "closed") return RegistrationMode::kClosed;
  return invalid_argument("registration must be open, invite or closed");
}

Status validate_username(const std::string& username) {
  if (!is_valid_utf8(username)) return invalid_argument("username must be valid UTF-8");
  auto normalized = nfc(username);
  std::size_t count = 0;
  for (std::size_t i = 0; i < normalized.size();) {
    auto cp = next_code_point(normalized, i);
    if (!allowed_in_username(cp)) {
      return invalid_argument(
          "username may contain only letters, digits, '_', '-' and '.' (no spaces)");
    }
    ++count;
  }
  if (count < 3 || count > 32) return invalid_argument("username must be 3 to 32 characters long");
  return Status::ok();
}

Status validate_password(const std::string& password) {
  if (password.size() < 8) return invalid_argument("password must be at least 8 characters long");
  if (password.size() > 1024) return invalid_argument("password must be at most 1024 bytes long");
  if (!is_valid_utf8(password)) return invalid_argument("password must be valid UTF-8");
  return Status::ok();
}

AccountService::AccountService(MetaStore& store, const Clock& clock, AccountOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      account_failures_(clock, options.max_failures_per_account, options.rate_window_ms),
      address_attempts_(clock, options.max_attempts_per_address, options.rate_window_ms),
      registrations_(clock, options.registrations_per_address_per_hour, 3600LL * 1000),
      registration_(options.registration) {}

AccountService::~AccountService() { stop(); }

Status AccountService::admit_registration(const std::string& client_address, std::int64_t* retry_after_ms) {
  if (options_.registrations_per_address_per_hour <= 0) return Status::ok();
  if (auto wait = registrations_.blocked_for_ms(client_address); wait > 0) {
    if (retry_after_ms) *retry_after_ms = wait;
    return resource_exhausted("too many registrations from this address; try again later");
  }
  registrations_.record(client_address);
  return Status::ok();
}

Result<RegistrationMode> AccountService::registration_mode_now() {
  auto kv = store_.get(kRegistrationKey);
  if (!kv) {
    if (kv.status().code() != Code::kNotFound) return kv.status();
    registration_.store(options_.registration);
    return options_.registration;
  }
  auto mode = parse_registration_mode(kv->value);
  if (!mode) return internal_error("corrupt " + std::string(kRegistrationKey) + ": " + kv->value);
  registration_.store(*mode);
  return *mode;
}

Result<RegistrationMode> AccountService::set_registration_mode(const User& actor, RegistrationMode mode) {
  if (!actor.is_admin()) return permission_denied("only an admin may do this");
  auto r = store_.put(kRegistrationKey, registration_mode_name(mode));
  if (!r) return r.status();
  registration_.store(mode);
  return mode;
}

Result<User> AccountService::register_user(const std::string& username_in,
                                           const std::string& password,
                                           const std::string& invite_code) {
  if (auto s = validate_username(username_in); !s) return s;
  if (auto s = validate_password(password); !s) return s;
  // The very first account (the admin) may always register: without it an
  // invite-only or closed server could never get anyone in.
  auto existing_admin = store_.get(kAdminKey);
  const bool bootstrap = !existing_admin && existing_admin.status().code() == Code::kNotFound;
  if (!existing_admin && !bootstrap) return existing_admin.status();
  auto current_mode = registration_mode_now();
  if (!current_mode) return current_mode.status();
  const RegistrationMode mode = *current_mode;
  if (!bootstrap && mode == RegistrationMode::kClosed) {
    return permission_denied("registration is closed on this server; ask an admin for an account");
  }

  std::string invite_key;
  if (!bootstrap && mode == RegistrationMode::kInvite) {
    if (invite_code.empty()) return permission_denied("this server requires an invite code");
    invite_key = kInvitesPrefix + hash_secret(invite_code);
    auto invite = store_.get(invite_key);
    if (!invite) {
      if (invite.status().code() == Code::kNotFound) {
        return permission_denied("the invite code is not valid or was already used");
      }
      return invite.status();
    }
    auto v = json::parse(invite->value);
    if (v.as_object().at("expires_at").to_number<std::int64_t>() <= clock_.now_ms()) {
      return permission_denied("the invite code has expired");
    }
  }

  auto password_hash = hash_password(password);
  if (!password_hash) return password_hash.status();

  User user;
  user.id = random_hex(12);
  user.username = nfc(username_in);
  user.created_at = clock_.now_ms();
  const auto name_key = kUsernamesPrefix + fold_for_search(user.username);

  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    // The first account to be created becomes admin; accounts/admin decides
    // races between concurrent first registrations.
    auto admin = store_.get(kAdminKey);
    bool first = !admin && admin.status().code() == Code::kNotFound;
    if (!admin && !first) return admin.status();
    if (!first && bootstrap && mode != RegistrationMode::kOpen) {
      // Another account won the bootstrap while the password was hashed.
      return mode == RegistrationMode::kClosed
                 ? permission_denied("registration is closed on this server; ask an admin for an account")
                 : permission_denied("this server requires an invite code");
    }
    user.role = first ? "admin" : "user";

    std::vector<Compare> compares{Compare::absent(name_key)};
    std::vector<Op> ops{Op::put(kUsersPrefix + user.id, user_to_json(user, *password_hash)),
                        Op::put(name_key, user.id)};
    if (first) {
      compares.push_back(Compare::absent(kAdminKey));
      ops.push_back(Op::put(kAdminKey, user.id));
    }
    if (!invite_key.empty()) {
      // An invite is good for one account: consuming it is part of the txn.
      compares.push_back(Compare::exists(invite_key));
      ops.push_back(Op::del(invite_key));
    }
    auto r = store_.txn(compares, ops);
    if (!r) return r.status();
    if (r->succeeded) return user;

    if (store_.get(name_key)) return already_exists("username '" + user.username + "' is taken");
    if (!invite_key.empty() && !store_.get(invite_key)) {
      return permission_denied("the invite code is not valid or was already used");
    }
    // Lost the race for admin: try again as a regular user.
  }
  return Status(Code::kUnavailable, "too much contention registering; try again");
}

Result<User> AccountService::load_user(const std::string& user_id, std::string* password_hash,
                                       Revision* mod_revision) {
  auto kv = store_.get(kUsersPrefix + user_id);
  if (!kv) return kv.status();
  User user;
  std::string hash;
  if (!user_from_json(kv->value, user, hash)) return internal_error("corrupt user record");
  if (password_hash) *password_hash = std::move(hash);
  if (mod_revision) *mod_revision = kv->mod_revision;
  return user;
}

Result<AccountState> AccountService::verify_password(const std::string& username, const std::string& password,
                                                    const std::string& client_address,
                                                    std::int64_t* retry_after_ms) {
  const auto folded = fold_for_search(nfc(username));
  const auto account_key = "u:" + folded;
  const auto address_key = "a:" + client_address;
  auto wait = std::max(account_failures_.blocked_for_ms(account_key),
                       address_attempts_.blocked_for_ms(address_key));
  if (wait > 0) {
    if (retry_after_ms) *retry_after_ms = wait;
    return resource_exhausted("too many login attempts; try again later");
  }
  address_attempts_.record(address_key);

  auto fail = [&]() -> Status {
    account_failures_.record(account_key);
    return unauthenticated(kBadCredentials);
  };

  auto id = store_.get(kUsernamesPrefix + folded);
  if (!id) {
    if (id.status().code() != Code::kNotFound) return id.status();
    // Spend the same time as a real check so that timing does not reveal
    // which usernames exist.
    static const std::string dummy = *hash_password("timing-equaliser");
    password_matches(dummy, password);
    return fail();
  }
  std::string hash;
  Revision revision = 0;
  auto user = load_user(id->value, &hash, &revision);
  if (!user) return user.status();
  if (!password_matches(hash, password) || user->disabled) return fail();
  account_failures_.reset(account_key);
  return AccountState{*user, password_version_of(hash), revision};
}

Result<AccountState> AccountService::account_state(const std::string& user_id) {
  std::string hash;
  Revision revision = 0;
  auto user = load_user(user_id, &hash, &revision);
  if (!user) return user.status();
  return AccountState{*user, password_version_of(hash), revision};
}

Result<AccountState> AccountService::account_state_by_name(const std::string& username) {
  auto id = store_.get(kUsernamesPrefix + fold_for_search(nfc(username)));
  if (!id) {
    if (id.status().code() == Code::kNotFound) return not_found("no user named '" + username + "'");
    return id.status();
  }
  return account_state(id->value);
}

Result<Session> AccountService::login(const std::string& username, const std::string& password,
                                      const std::string& client_address,
                                      std::int64_t* retry_after_ms, const std::string& device) {
  auto state = verify_password(username, password, client_address, retry_after_ms);
  if (!state) return state.status();
  const auto& user = state->user;

  Session session;
  session.token = random_hex(32);
  session.expires_at = clock_.now_ms() + options_.token_ttl_ms;
  session.user = user;
  json::object o;
  o["user_id"] = user.id;
  o["created_at"] = clock_.now_ms();
  o["expires_at"] = session.expires_at;
  o["device"] = truncate_utf8(without_control_chars(device), kMaxDeviceChars * 4);
  o["address"] = client_address;
  o["last_used_at"] = clock_.now_ms();
  if (options_.before_session_write) options_.before_session_write();
  // Only if the account is as it was checked: a password change (or a
  // disable) that lands meanwhile revoked every session, and must revoke
  // this one too.
  const auto hash = hash_secret(session.token);
  auto r = store_.txn({Compare::mod_revision_equals(kUsersPrefix + user.id, state->revision)},
                      {Op::put(kTokensPrefix + hash, json::serialize(o)), Op::put(user_token_key(user.id, hash), "")});
  if (!r) return r.status();
  if (!r->succeeded) return unauthenticated("the account changed while signing in; sign in again");
  return session;
}

Result<User> AccountService::authenticate(const std::string& token) {
  if (token.empty() || token.size() > 256) return unauthenticated("missing or malformed token");
  const auto hash = hash_secret(token);
  if (auto user = authenticate_cached(hash)) return std::move(*user);
  auto kv = store_.get(kTokensPrefix + hash);
  if (!kv) {
    if (kv.status().code() == Code::kNotFound) {
      return unauthenticated("the token is not valid; log in again");
    }
    return kv.status();
  }
  boost::system::error_code ec;
  auto v = json::parse(kv->value, ec);
  if (ec || !v.is_object()) return internal_error("corrupt token record");
  auto& o = v.as_object();
  const auto user_id = json::value_to<std::string>(o.at("user_id"));
  const auto now = clock_.now_ms();
  const auto expires_at = o.at("expires_at").to_number<std::int64_t>();
  if (expires_at <= now) {
    (void)store_.txn({}, {Op::del(kv->key), Op::del(user_token_key(user_id, hash))});
    return unauthenticated("the token has expired; log in again");
  }
  Revision user_revision = 0;
  auto user = load_user(user_id, nullptr, &user_revision);
  if (!user) {
    if (user.status().code() == Code::kNotFound) return unauthenticated("the account is gone");
    return user.status();
  }
  if (user->disabled) return unauthenticated("the account is disabled");
  const auto* last = o.if_contains("last_used_at");
  std::int64_t last_used_at = last != nullptr && last->is_number() ? last->to_number<std::int64_t>() : 0;
  if (now - last_used_at >= kLastUseResolutionMs) {
    // Only if nothing (a revocation) changed it meanwhile; a lost race
    // just leaves the older time.
    o["last_used_at"] = now;
    auto noted = store_.txn({Compare::mod_revision_equals(kv->key, kv->mod_revision)},
                            {Op::put(kv->key, json::serialize(o))});
    if (noted && noted->succeeded) last_used_at = now;
  }
  remember_session(hash, *user, user_revision, expires_at, last_used_at);
  return user;
}

std::optional<User> AccountService::authenticate_cached(const std::string& token_hash) {
  if (!watch_ || watch_->stale()) return std::nullopt;
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(token_hash);
  if (it == sessions_.end()) return std::nullopt;
  const auto& s = it->second;
  const auto now = clock_.now_ms();
  // Expired (the store path deletes it) or due for a last-use note.
  const bool due = s.expires_at <= now || now - s.last_used_at >= kLastUseResolutionMs;
  const auto grant = watch_->grant(s.user.id);
  if (due || !grant || grant->disabled || grant->revision != s.user_revision ||
      !watch_->session_live(s.user.id, token_hash)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return s.user;
}

void AccountService::forget_session(const std::string& token_hash) {
  std::lock_guard lock(sessions_mu_);
  sessions_.erase(token_hash);
}

void AccountService::remember_session(const std::string& token_hash, const User& user, Revision user_revision,
                                      std::int64_t expires_at, std::int64_t last_used_at) {
  if (!watch_) return;
  std::lock_guard lock(sessions_mu_);
  if (sessions_.size() >= kMaxCachedSessions && !sessions_.contains(token_hash)) sessions_.clear();
  sessions_[token_hash] = {user, user_revision, expires_at, last_used_at};
}

Status AccountService::change_password(const std::string& user_id,
                                       const std::string& old_password,
                                       const std::string& new_password,
                                       const std::string& keep_token) {
  if (auto s = validate_password(new_password); !s) return s;
  auto user = update_user(user_id, [&](User& u, std::string& hash) -> Status {
    if (!password_matches(hash, old_password)) return permission_denied("the current password is wrong");
    auto new_hash = hash_password(new_password);
    if (!new_hash) return new_hash.status();
    hash = std::move(*new_hash);
    ++u.sessions_epoch;
    return Status::ok();
  });
  if (!user) return user.status();
  // Whoever knew the old password may hold a session: end them all but
  // the one that made the change.
  return revoke_tokens_of(user_id, keep_token);
}

Result<User> AccountService::get_user(const std::string& user_id) {
  return load_user(user_id, nullptr, nullptr);
}

namespace {

Status require_admin(const User& actor) {
  if (!actor.is_admin()) return permission_denied("only an admin may do this");
  return Status::ok();
}

}  // namespace

Result<std::vector<User>> AccountService::list_users(const User& actor) {
  if (auto s = require_admin(actor); !s) return s;
  auto r = store_.range(kUsersPrefix);
  if (!r) return r.status();
  std::vector<User> users;
  for (auto& kv : r->kvs) {
    User u;
    std::string hash;
    if (user_from_json(kv.value, u, hash)) users.push_back(std::move(u));
  }
  std::sort(users.begin(), users.end(),
            [](const User& a, const User& b) {
              return std::tie(a.created_at, a.username) < std::tie(b.created_at, b.username);
            });
  return users;
}

Result<User> AccountService::set_disabled(const User& actor, const std::string& user_id, bool disabled) {
  if (auto s = require_admin(actor); !s) return s;
  if (disabled && actor.id == user_id) return failed_precondition("an admin cannot disable their own account");
  auto user = update_user(user_id, [&](User& u, std::string&) {
    if (disabled && !u.disabled) ++u.sessions_epoch;
    u.disabled = disabled;
    return Status::ok();
  });
  if (!user) return user.status();
  // Tokens issued before the disable might be checked by a node that has
  // not seen it yet; deleting them closes that window too.
  if (disabled) {
    if (auto s = revoke_tokens_of(user_id); !s) return s;
  }
  return user;
}

namespace {

Status validate_role(const std::string& role) {
  if (role != "admin" && role != "user") return invalid_argument("role must be 'admin' or 'user'");
  return Status::ok();
}

}  // namespace

Result<User> AccountService::create_user(const User& actor, const std::string& username,
                                         const std::string& password, const std::string& role) {
  if (auto s = require_admin(actor); !s) return s;
  if (auto s = validate_username(username); !s) return s;
  if (auto s = validate_password(password); !s) return s;
  if (auto s = validate_role(role); !s) return s;
  auto password_hash = hash_password(password);
  if (!password_hash) return password_hash.status();
  User user;
  user.id = random_hex(12);
  user.username = nfc(username);
  user.role = role;
  user.created_at = clock_.now_ms();
  const auto name_key = kUsernamesPrefix + fold_for_search(user.username);
  auto r = store_.txn({Compare::absent(name_key)},
                      {Op::put(kUsersPrefix + user.id, user_to_json(user, *password_hash)), Op::put(name_key, user.id)});
  if (!r) return r.status();
  if (!r->succeeded) return already_exists("username '" + user.username + "' is taken");
  return user;
}

Status AccountService::set_password(const User& actor, const std::string& user_id, const std::string& new_password) {
  if (!actor.is_admin() && actor.id != user_id) return permission_denied("only an admin may set another user's password");
  if (auto s = validate_password(new_password); !s) return s;
  auto new_hash = hash_password(new_password);
  if (!new_hash) return new_hash.status();
  auto updated = update_user(user_id, [&](User& u, std::string& hash) {
    hash = *new_hash;
    ++u.sessions_epoch;
    return Status::ok();
  });
  if (!updated) return updated.status();
  return revoke_tokens_of(user_id);
}

Result<User> AccountService::set_role(const User& actor, const std::string& user_id, const std::string& role) {
  if (auto s = require_admin(actor); !s) return s;
  if (auto s = validate_role(role); !s) return s;
  if (actor.id == user_id && role != "admin") return failed_precondition("an admin cannot demote their own account");
  return update_user(user_id, [&](User& user, std::string&) {
    user.role = role;
    return Status::ok();
  });
}

Result<User> AccountService::set_quota(const User& actor, const std::string& user_id,
                                       std::optional<std::uint64_t> quota_bytes) {
  if (auto s = require_admin(actor); !s) return s;
  return update_user(user_id, [&](User& user, std::string&) {
    user.quota_bytes = quota_bytes;
    return Status::ok();
  });
}

Status AccountService::delete_user(const User& actor, const std::string& user_id) {
  if (auto s = require_admin(actor); !s) return s;
  if (actor.id == user_id) return failed_precondition("an admin cannot delete their own account");
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    Revision rev = 0;
    auto user = load_user(user_id, nullptr, &rev);
    if (!user) return user.status();
    const auto key = kUsersPrefix + user_id;
    const auto name_key = kUsernamesPrefix + fold_for_search(user->username);
    auto r = store_.txn({Compare::mod_revision_equals(key, rev)}, {Op::del(key), Op::del(name_key)});
    if (!r) return r.status();
    if (r->succeeded) {
      catch_up(r->revision);
      return revoke_tokens_of(user_id);
    }
  }
  return Status(Code::kUnavailable, "too much contention; try again");
}

Result<User> AccountService::update_user(const std::string& user_id,
                                         const std::function<Status(User&, std::string&)>& change) {
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    std::string hash;
    Revision rev = 0;
    auto user = load_user(user_id, &hash, &rev);
    if (!user) return user.status();
    if (auto s = change(*user, hash); !s) return s;
    auto key = kUsersPrefix + user_id;
    auto r = store_.txn({Compare::mod_revision_equals(key, rev)}, {Op::put(key, user_to_json(*user, hash))});
    if (!r) return r.status();
    if (r->succeeded) {
      catch_up(r->revision);
      return *user;
    }
  }
  return Status(Code::kUnavailable, "too much contention; try again");
}

Result<Invite> AccountService::create_invite(const User& admin) {
  if (auto s = require_admin(admin); !s) return s;
  Invite invite;
  invite.code = random_hex(16);
  invite.expires_at = clock_.now_ms() + options_.invite_ttl_ms;
  json::object o;
  o["created_by"] = admin.id;
  o["created_at"] = clock_.now_ms();
  o["expires_at"] = invite.expires_at;
  auto r = store_.put(kInvitesPrefix + hash_secret(invite.code), json::serialize(o));
  if (!r) return r.status();
  return invite;
}

}  // namespace hifi
