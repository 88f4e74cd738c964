// Reading the credentials a request carries, from untrusted header and query
// text. The one place that parses "Authorization: Bearer <token>".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

// Session tokens are 64 hex characters; anything far longer is not a token
// of ours and is refused without a store lookup.
inline constexpr std::size_t kMaxTokenBytes = 256;

// The token of an "Authorization: Bearer <token>" header value (the scheme
// is case-insensitive, RFC 9110 11.1). kUnauthenticated, with a message for
// the client, when the value is empty, uses another scheme, or the token is
// empty, too long or not token68 characters (RFC 6750 2.1).
Result<std::string> parse_bearer(std::string_view authorization);

// Where a request may carry its session token.
struct CredentialSources {
  std::string_view authorization;               // the header value, possibly empty
  std::optional<std::string_view> query_token;  // ?access_token=, when the route allows it
};

// The session token from the header, else from the query parameter when
// one was given. kUnauthenticated when neither holds a valid token; the
// message says what to send.
Result<std::string> extract_token(const CredentialSources& sources);

}  // namespace hifi
