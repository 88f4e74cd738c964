// ApiClient: HiFi's HTTP API from the client side (the `hifi` CLI and the
// player), with failover across the servers a user knows.
//
// Requests go to the server that answered last; on a network failure
// (refused, reset, timeout) the next server is tried, so a cluster member
// going down is invisible to the caller. HTTP errors are not network
// failures: they come back as ApiError with the server's problem details.
//
// Thread-safety: one ApiClient may be used from several threads at once
// (each request opens its own connection); set_token() must not race with
// token(), which returns a reference.
//
// Server URLs are http://host[:port][/prefix]; https is refused (the server
// counts as unreachable, with a message saying why).
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hifi::client {

// Process exit codes of `hifi`, by kind of failure.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // some of the work failed (e.g. a file was rejected)
  kExitUsage = 2,        // bad command line
  kExitAuth = 3,         // not logged in, bad credentials, forbidden
  kExitNotFound = 4,     // no such song, room or item
  kExitServer = 5,       // the server answered with an error of its own (5xx)
  kExitNetwork = 6,      // no server could be reached
};

// exit_code(): 401/403 -> kExitAuth, 404/410 -> kExitNotFound, other 4xx
// (400, 409, 413, 415, 416, 422...) -> kExitFailure, 5xx -> kExitServer,
// status 0 -> kExitNetwork, except type "local-error" -> kExitFailure.
struct ApiError {
  int status = 0;         // HTTP status; 0 for network failures and local errors
  std::string type;       // problem "type" slug (after "urn:hifi:problem:"), if any;
                          // "local-error" (status 0) for a local file or argument problem
  std::string title;
  std::string detail;     // human-readable, from the server or the network layer
  boost::json::value body;  // the whole problem document, if JSON
  int exit_code() const;
  std::string message() const;  // "detail (HTTP 404 not-found)"; just the detail for status 0
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string header(const std::string& name) const;
};

// Called with (bytes done, bytes total or 0 if unknown).
using ProgressFn = std::function<void(std::uint64_t, std::uint64_t)>;

template <typename T>
struct ApiResult {
  std::optional<T> value;
  ApiError error;
  explicit operator bool() const { return value.has_value(); }
  T& operator*() { return *value; }
  T* operator->() { return &*value; }
};

struct ClientOptions {
  std::vector<std::string> servers;  // "http://host:port", tried in order
  std::string token;                 // bearer token; may be empty
  int connect_timeout_ms = 3000;
  int request_timeout_ms = 30000;    // for ordinary requests; transfers use an idle timeout
};

class ApiClient {
 public:
  explicit ApiClient(ClientOptions options);
  ~ApiClient();

  void set_token(std::string token);
  const std::string& token() const;
  // The server that answered last (or the first one).
  std::string current_server() const;
  const std::vector<std::string>& servers() const;

  // One request with a JSON or empty body; a 2xx/3xx response or an ApiError.
  ApiResult<HttpResponse> request(const std::string& method, const std::string& target,
                                  const std::string& body = {},
                                  const std::map<std::string, std::string>& headers = {});
  // request() whose 2xx body is parsed as JSON.
  ApiResult<boost::json::value> json(const std::string& method, const std::string& target,
                                     const boost::json::value* body = nullptr);

  // Streams a file as the raw body of POST /api/v1/songs with its
  // Repr-Digest (computed by the caller: sha256_hex; empty: no digest),
  // reporting progress. Sends "Expect: 100-continue", so an early refusal
  // (401, 413...) costs no body. On failover the upload restarts from 0.
  ApiResult<boost::json::value> upload_song(const std::string& path, const std::string& sha256_hex,
                                            const ProgressFn& progress);

  // Downloads GET target into `path` (resuming from what is already there
  // with Range), reporting progress. Returns the final size. The caller
  // verifies the content. A connection lost mid-body resumes from the next
  // server; a 200 to a ranged request restarts the file from 0; a 416 whose
  // "bytes */N" equals the file's size means it is complete. The file is
  // fsynced before returning.
  ApiResult<std::uint64_t> download(const std::string& target, const std::string& path,
                                    const ProgressFn& progress);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lowercase hex SHA-256 of a file; empty on read failure.
std::string sha256_file(const std::string& path);

// Percent-encodes a query value.
std::string url_encode(const std::string& text);

}  // namespace hifi::client
