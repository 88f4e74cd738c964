// The key schema of the accounts (accounts.h), shared by the files that
// implement AccountService. Internal to src/library.
#pragma once

#include <cstddef>
#include <string>

#include "common/sha256.h"

namespace hifi::account_keys {

inline constexpr char kUsersPrefix[] = "users/";
inline constexpr char kUsernamesPrefix[] = "usernames/";
inline constexpr char kTokensPrefix[] = "tokens/";
inline constexpr char kUserTokensPrefix[] = "user-tokens/";
inline constexpr char kInvitesPrefix[] = "invites/";
// A session's id: this many hex digits of its token's hash.
inline constexpr std::size_t kSessionIdChars = 24;

// Tokens and invite codes are stored only as their SHA-256, in hex.
inline std::string hash_secret(const std::string& secret) { return to_hex(sha256(secret)); }

inline std::string user_token_key(const std::string& user_id, const std::string& token_hash) {
  return kUserTokensPrefix + user_id + "/" + token_hash;
}

}  // namespace hifi::account_keys
