#include "server/credentials.h"

#include <cctype>

namespace hifi {
namespace {

bool is_token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' ||
         c == '+' || c == '/';
}

Status check_token(std::string_view token) {
  if (token.empty()) return unauthenticated("the bearer token is empty");
  if (token.size() > kMaxTokenBytes) return unauthenticated("the bearer token is too long");
  auto end = token.find_last_not_of('=');
  if (end == std::string_view::npos) return unauthenticated("the bearer token is not valid");
  for (std::size_t i = 0; i <= end; ++i) {
    if (!is_token68_char(token[i])) return unauthenticated("the bearer token is not valid");
  }
  return Status::ok();
}

}  // namespace

Result<std::string> parse_bearer(std::string_view authorization) {
  if (authorization.empty()) {
    return unauthenticated("send 'Authorization: Bearer <token>'; get a token from POST /api/v1/auth/login");
  }
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) {
    return unauthenticated("the Authorization header must use the Bearer scheme");
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) {
      return unauthenticated("the Authorization header must use the Bearer scheme");
    }
  }
  auto token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (auto s = check_token(token); !s) return s;
  return std::string(token);
}

Result<std::string> extract_token(const CredentialSources& sources) {
  if (!sources.authorization.empty() || !sources.query_token) return parse_bearer(sources.authorization);
  if (sources.query_token->empty()) {
    return unauthenticated("send 'Authorization: Bearer <token>' or ?access_token=<token>");
  }
  if (auto s = check_token(*sources.query_token); !s) return s;
  return std::string(*sources.query_token);
}

}  // namespace hifi
