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
// Server URLs are http:// or https://host[:port][/prefix]. Through https the
// server's certificate must chain to net::default_client_context()'s
// authorities (the system's, or `hifi --ca-file`) and name the host; a
// failed check counts as unreachable, with a message saying why. A redirect
// from https to http is not followed.
//
// Redirects: 307 and 308 are followed for every method (with the same body
// and headers, Range included), 301/302/303 for GET and HEAD, at most
// kMaxRedirects hops; Location may be absolute or relative. A hop to
// another host:port gets no Authorization header: a cluster node redirects
// to a signed URL on the node that holds a song. More hops than that is an
// ApiError of type "too-many-redirects".
//
// Cluster members: discover_members() asks GET /api/v1/cluster and appends
// every member's advertised URL to the failover list. A node that drains
// answers 503 "draining" naming another member: that member joins the list
// and the request goes on as if the draining node were down.
#pragma once

#include <boost/json/value.hpp>

#include <atomic>
#include <cstddef>
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

// Redirects followed per request (a further one is an error).
inline constexpr int kMaxRedirects = 5;

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

// One member of a cluster, from GET /api/v1/cluster.
struct ClusterMember {
  std::string id;
  std::string advertise;   // base URL clients use to reach it
  std::string health;      // "ok", "degraded"; empty when not said
  bool leader = false;
  // 0 for the least loaded member, equals sharing one (every signed-in
  // user gets it; the figures below are for admins only)
  std::optional<int> rank;
  bool has_load = false;   // whether the server reported load figures
  std::int64_t active_streams = 0;
  std::int64_t connections = 0;
  std::int64_t websockets = 0;
  std::int64_t bytes_per_second = 0;
  std::optional<std::uint64_t> disk_free_bytes;
  std::optional<std::uint64_t> disk_total_bytes;
  std::string version;
};

struct ClusterInfo {
  bool available = false;  // false: the server has no /api/v1/cluster (404: an older server)
  std::string self;        // id of the node that answered
  std::string leader;      // id of the leader; empty when none
  int replication_factor = 0;
  std::vector<ClusterMember> members;
  boost::json::value document;  // as received
};

// Makes https:// connections of this process trust the certificate
// authorities in ca_file (PEM) instead of the system's. Returns why the
// file cannot be used, or "" when it is in use.
std::string trust_ca_file(const std::string& ca_file);

// Reads a /api/v1/cluster document (docs/api.yaml). Older shapes are
// accepted too: "members", "items" or "nodes" holding URL strings or
// objects with "url", "public_url" or "address" (a bare host:port gets
// http://). Members without a usable URL are left out.
ClusterInfo parse_cluster(const boost::json::value& document);

// The order in which to try servers for a long-lived connection: the
// cluster's members least loaded first (by rank, else fewest
// active_streams, then fewest connections; equals in an order drawn from
// `seed`), then those of `known` that are not members. Members with neither
// a rank nor load figures come after those with.
std::vector<std::string> spread_order(const ClusterInfo& cluster,
                                      const std::vector<std::string>& known, std::uint64_t seed);

// "host:8080/" -> "http://host:8080": adds http:// when there is no scheme
// and drops trailing slashes.
std::string normalize_server_url(std::string url);
// Whether two server URLs name the same server (scheme, host, port, path;
// host case and an explicit default port do not matter).
bool same_server(const std::string& a, const std::string& b);

// What open_stream() asks for: the bytes from `from` on, to `to`
// (inclusive) when set, of the representation whose ETag is `if_range`
// when set (another one comes whole, with 200). `stop`, when set, is polled
// while waiting for the server: once true, waits fail at once.
struct StreamRequest {
  std::uint64_t from = 0;
  std::optional<std::uint64_t> to;
  std::string if_range;
  const std::atomic<bool>* stop = nullptr;
};

// A GET response whose body is read as it arrives (open_stream()).
// Thread-safety: one thread reads it; it owns its connection.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // 200 or 206, and the response's headers (lowercase names).
  virtual int status() const = 0;
  virtual const std::map<std::string, std::string>& headers() const = 0;
  // Reads up to `max` bytes of the body into `out`, blocking until at
  // least one arrives; 0 at the end of the body. A connection lost or idle
  // for the request timeout is an ApiError with status 0.
  virtual ApiResult<std::size_t> read(char* out, std::size_t max) = 0;

  // From the headers: the offset of the body's first byte (Content-Range;
  // 0 for a 200), the representation's size when known (Content-Range's
  // total, or a 200's Content-Length), its strong ETag (empty if none).
  std::uint64_t first_byte() const;
  std::optional<std::uint64_t> total_size() const;
  std::string etag() const;
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
  // The failover list: the configured servers, then the ones added.
  std::vector<std::string> servers() const;
  // Appends a server to the failover list unless it is there already (see
  // same_server) or unusable (not http). Returns whether it was added.
  bool add_server(const std::string& url);

  // GET /api/v1/cluster (no login needed), parsed. A 404 (a server from
  // before clusters) is not an error: `available` is false.
  ApiResult<ClusterInfo> cluster();
  // cluster(), then every member's advertised URL joins the failover list
  // (after the configured servers, without duplicates).
  ApiResult<ClusterInfo> discover_members();

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
  // "bytes */N" equals the file's size means it is complete. Redirects are
  // followed with the same Range (and, once the ETag is known, If-Range).
  // The file is fsynced before returning.
  ApiResult<std::uint64_t> download(const std::string& target, const std::string& path,
                                    const ProgressFn& progress);

  // GET target with the range asked, following redirects like download()
  // (Range and If-Range kept across hops) and failing over to the next
  // server on network failures before the body starts. Returns the open
  // response (200 or 206) with its body still to read; other answers are
  // ApiErrors (416 included).
  ApiResult<std::unique_ptr<BodyStream>> open_stream(const std::string& target,
                                                     const StreamRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lowercase hex SHA-256 of a file; empty on read failure.
std::string sha256_file(const std::string& path);

// Percent-encodes a query value.
std::string url_encode(const std::string& text);

}  // namespace hifi::client
