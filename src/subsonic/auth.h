// Who a Subsonic request comes from: the credentials among its parameters,
// checked by ClientCredentials, with the protocol's error codes.
//
//   u + p      p is an app password or the account password, plain or
//              "enc:" + hex of its UTF-8 bytes
//   u + t + s  t = md5(app password + s): token authentication, which
//              works only with app passwords (the account password is kept
//              only as an Argon2id hash)
//   apiKey     an OpenSubsonic API key (without u)
//
// Errors: 10 when credentials are missing or incomplete, 43 when several
// mechanisms are mixed, 42 for a token that is not an MD5 digest, 40 for
// wrong ones, 41 when token authentication has no app password to check
// against, 44 for an unknown or revoked API key, 0 while rate limited.
//
// Blocking (store reads, maybe Argon2id): call from worker threads. With
// `needs_hashing` given, an account password that would need an Argon2id
// run is not checked: *needs_hashing is set (and an error returned), and the
// caller authenticates again, without it, on the password pool.
#pragma once

#include <string>

#include "library/client_credentials.h"
#include "subsonic/error.h"
#include "subsonic/params.h"

namespace hifi::subsonic {

enum class AuthMechanism { kPassword, kToken, kApiKey };

struct Caller {
  User user;
  AuthMechanism mechanism = AuthMechanism::kPassword;
};

// A password parameter: "enc:" + hex of its bytes, or the text as it is.
// `bad_hex` is the error code for an "enc:" value that is not hex.
Expected<std::string> decode_password(const std::string& p, ErrorCode bad_hex = ErrorCode::kWrongCredentials);

Expected<Caller> authenticate(const Params& params, ClientCredentials& credentials,
                              const std::string& client_address, bool* needs_hashing = nullptr);

}  // namespace hifi::subsonic
