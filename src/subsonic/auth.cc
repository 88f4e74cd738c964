#include "subsonic/auth.h"

#include <algorithm>

namespace hifi::subsonic {
namespace {

constexpr std::size_t kMaxUsernameBytes = 256;
constexpr std::size_t kMaxSecretBytes = 1024;
constexpr std::size_t kMaxSaltBytes = 256;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool md5_hex(const std::string& t) {
  return t.size() == 32 && std::all_of(t.begin(), t.end(), [](char c) { return hex_value(c) >= 0; });
}

Error from_check(const Status& s, ErrorCode wrong) {
  switch (s.code()) {
    case Code::kUnauthenticated: return {wrong, s.message()};
    case Code::kFailedPrecondition: return {ErrorCode::kTokenAuthNotSupported, s.message()};
    case Code::kResourceExhausted: return generic_error(s.message());
    default: return error_from_status(s);
  }
}

}  // namespace

Expected<std::string> decode_password(const std::string& p, ErrorCode bad_hex) {
  if (!p.starts_with("enc:")) return p;
  const auto hex = std::string_view(p).substr(4);
  if (hex.size() % 2 != 0) return Error{bad_hex, "the enc: password is not hex"};
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return Error{bad_hex, "the enc: password is not hex"};
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}


Expected<Caller> authenticate(const Params& params, ClientCredentials& credentials,
                              const std::string& client_address, bool* needs_hashing) {
  const auto u = params.get("u"), p = params.get("p"), t = params.get("t"), s = params.get("s");
  const auto api_key = params.get("apiKey");
  std::int64_t retry_after_ms = 0;
  if (api_key) {
    if (u || p || t || s) {
      return Error{ErrorCode::kConflictingAuth, "send either apiKey alone, or u with p or t and s, not both"};
    }
    if (api_key->empty() || api_key->size() > kMaxSecretBytes) {
      return Error{ErrorCode::kInvalidApiKey, "the API key is not valid"};
    }
    auto user = credentials.check_api_key(*api_key, client_address, &retry_after_ms);
    if (!user) return from_check(user.status(), ErrorCode::kInvalidApiKey);
    return Caller{*user, AuthMechanism::kApiKey};
  }
  if (!u) {
    return Error{ErrorCode::kMissingParameter,
                 "missing credentials: send u with t and s (token, made with an app password), u with p, or apiKey"};
  }
  if (u->size() > kMaxUsernameBytes) return Error{ErrorCode::kWrongCredentials, "wrong username or password"};
  if (p && t) return Error{ErrorCode::kConflictingAuth, "send either p, or t and s, not both"};
  if (t) {
    if (!s || s->empty()) return missing_parameter("s");
    if (s->size() > kMaxSaltBytes) return generic_error("the salt s may be at most 256 bytes");
    if (!md5_hex(*t)) {
      return Error{ErrorCode::kAuthMechanismNotSupported,
                   "the token t must be md5(password + salt) as 32 hex digits; no other token is supported"};
    }
    std::string token;
    for (char c : *t) token += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto user = credentials.check_token(*u, token, *s, client_address, &retry_after_ms);
    if (!user) return from_check(user.status(), ErrorCode::kWrongCredentials);
    return Caller{*user, AuthMechanism::kToken};
  }
  if (!p) return Error{ErrorCode::kMissingParameter, "missing credentials: send p, or t and s, with u"};
  auto password = decode_password(*p);
  if (!password) return password.error();
  if (password->empty() || password->size() > kMaxSecretBytes) {
    return Error{ErrorCode::kWrongCredentials, "wrong username or password"};
  }
  auto user = credentials.check_password(*u, *password, client_address, &retry_after_ms, needs_hashing);
  if (!user) return from_check(user.status(), ErrorCode::kWrongCredentials);
  return Caller{*user, AuthMechanism::kPassword};
}

}  // namespace hifi::subsonic
