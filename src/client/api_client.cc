// ApiClient: synchronous HTTP/1.1 with Boost.Beast, one connection per call.
//
// Every operation runs Beast's asynchronous operations on a private
// io_context until they complete: that gives synchronous calls which still
// honour beast::tcp_stream's timeouts (its synchronous operations ignore
// them), and keeps concurrent calls on different threads independent.
#include "client/api_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <tuple>
#include <string_view>
#include <utility>

#include "common/base64.h"
#include "common/endpoint.h"
#include "common/sha256.h"
#include "common/tcp_connect.h"
#include "net/tls.h"

namespace hifi::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Millis = std::chrono::milliseconds;

namespace {

constexpr std::string_view kProblemPrefix = "urn:hifi:problem:";
constexpr std::string_view kLocalError = "local-error";
constexpr std::uint64_t kMaxResponseBody = 256ULL << 20;  // request(): JSON, covers
constexpr std::size_t kMaxErrorBody = 1 << 20;
constexpr std::size_t kChunk = 256 * 1024;
// How long an upload waits for "100 Continue" (or an early refusal) before
// sending the body anyway, as RFC 9110 asks of clients.
constexpr Millis kContinueWait{1000};
// How often a connection with a stop flag looks at it while waiting.
constexpr Millis kStopPoll{20};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string errno_text(int err) { return std::strerror(err); }

std::string describe(const error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return "the server closed the connection";
  }
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again) {
    return "unknown host";
  }
  if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated) {
    return net::describe_error(ec);
  }
  auto m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

ApiError local_error(std::string detail) {
  ApiError e;
  e.status = 0;
  e.type = std::string(kLocalError);
  e.detail = std::move(detail);
  return e;
}

std::map<std::string, std::string> headers_of(const http::fields& fields) {
  std::map<std::string, std::string> out;
  for (const auto& f : fields) {
    auto name = lowercase(f.name_string());
    auto& slot = out[name];
    if (!slot.empty()) slot += ", ";
    slot += std::string(f.value());
  }
  return out;
}

// A problem document (RFC 9457) when there is one, else whatever the body
// and status say.
ApiError error_from_response(int status, std::string_view reason,
                             const std::map<std::string, std::string>& headers,
                             const std::string& body) {
  ApiError e;
  e.status = status;
  boost::system::error_code ec;
  auto parsed = body.empty() ? json::value() : json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    const auto& o = parsed.as_object();
    auto str = [&](const char* key) -> std::string {
      auto* v = o.if_contains(key);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto type = str("type");
    if (type.rfind(kProblemPrefix, 0) == 0) type.erase(0, kProblemPrefix.size());
    if (type == "about:blank") type.clear();
    e.type = type;
    e.title = str("title");
    e.detail = str("detail");
    e.body = std::move(parsed);
  }
  if (e.detail.empty()) e.detail = e.title;
  if (e.detail.empty()) {
    // A short plain-text body (a proxy's error page, say) is worth showing.
    std::string text = body;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    auto ct = lowercase(headers.count("content-type") ? headers.at("content-type") : "");
    const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
      return c == '\n' || c == '\t' || static_cast<unsigned char>(c) >= 0x20;
    });
    if (!text.empty() && text.size() <= 200 && printable && ct.find("html") == std::string::npos) {
      e.detail = text;
    } else if (!reason.empty()) {
      e.detail = std::string(reason);
    } else {
      e.detail = "the server answered " + std::to_string(status);
    }
  }
  return e;
}

struct ServerUrl {
  std::string text;   // as configured, for messages
  Endpoint endpoint;  // where it points, when it can be used
  std::string error;  // why it cannot be used, if it cannot

  std::string target(const std::string& path) const { return endpoint.target(path); }
};

ServerUrl parse_server(const std::string& text) {
  ServerUrl s;
  s.text = text;
  auto endpoint = Endpoint::parse(text);
  if (!endpoint) {
    s.error = endpoint.status().message();
  } else {
    s.endpoint = std::move(*endpoint);
  }
  return s;
}

// Same scheme, host (case-insensitively) and port.
bool same_authority(const ServerUrl& a, const ServerUrl& b) {
  return a.endpoint.scheme == b.endpoint.scheme && a.endpoint.host == b.endpoint.host &&
         a.endpoint.port == b.endpoint.port;
}

// One request of a chain of redirects: where it goes and whether it may
// carry the bearer token.
struct Hop {
  ServerUrl server;    // host and port of this hop
  std::string target;  // request-target: path and query
  bool send_token = true;
  int redirects = 0;   // hops before this one

  // For messages: the URL without its query (which may hold a signature).
  std::string where() const {
    return server.endpoint.scheme + "://" + server.endpoint.host_header() + target.substr(0, target.find('?'));
  }
};

// Whether a response to `verb` with `status` is a redirect to follow.
bool follows(http::verb verb, int status) {
  if (status == 307 || status == 308) return true;
  const bool safe = verb == http::verb::get || verb == http::verb::head;
  return safe && (status == 301 || status == 302 || status == 303);
}

// The hop a Location (absolute or relative to `from`) leads to; nullopt
// with `error` when it cannot be followed. `origin` is the configured
// server the chain started at: only hops to its host:port get the token.
std::optional<Hop> next_hop(const Hop& from, const ServerUrl& origin, std::string_view location,
                            std::string& error) {
  const std::string base_text =
      from.server.endpoint.scheme + "://" + from.server.endpoint.host_header() + from.target;  // outlives the view
  auto base = urls::parse_uri(base_text);
  auto ref = urls::parse_uri_reference(location);
  if (!base || !ref) {
    error = "the server redirected to '" + std::string(location) + "', which is not a URL";
    return std::nullopt;
  }
  urls::url dest;
  if (auto r = urls::resolve(*base, *ref, dest); !r) {
    error = "the server redirected to '" + std::string(location) + "', which cannot be resolved";
    return std::nullopt;
  }
  dest.remove_fragment();
  const auto scheme = lowercase(dest.scheme());
  if (scheme != "http" && scheme != "https") {
    error = "the server redirected to " + std::string(dest.scheme()) + "://" +
            std::string(dest.encoded_host_and_port()) + std::string(dest.encoded_path()) +
            ", which this client cannot follow";
    return std::nullopt;
  }
  if (scheme == "http" && from.server.endpoint.is_https()) {
    error = "the server redirected from https to http://" + std::string(dest.encoded_host_and_port()) +
            ", which would send the request in the clear; not followed";
    return std::nullopt;
  }
  Hop hop;
  hop.server = parse_server(scheme + "://" + std::string(dest.encoded_host_and_port()));
  if (!hop.server.error.empty()) {
    error = "the server redirected to '" + std::string(location) + "': " + hop.server.error;
    return std::nullopt;
  }
  hop.target = dest.encoded_path().empty() ? "/" : std::string(dest.encoded_path());
  if (dest.has_query()) hop.target += "?" + std::string(dest.encoded_query());
  hop.server.text = hop.where();
  // Once the chain has left the server the token belongs to, it stays
  // without it.
  hop.send_token = from.send_token && same_authority(hop.server, origin);
  hop.redirects = from.redirects + 1;
  return hop;
}

ApiError redirect_error(int status, const std::string& type, std::string detail) {
  ApiError e;
  e.status = status;
  e.type = type;
  e.title = "Redirect not followed";
  e.detail = std::move(detail);
  return e;
}

// One HTTP connection driven synchronously on its own io_context.
class Connection {
 public:
  // `stop`, when set, is polled while an operation waits: once true, the
  // operation is cancelled (it fails with operation_aborted).
  explicit Connection(const ServerUrl& server, const std::atomic<bool>* stop = nullptr)
      : server_(server), stop_(stop), stream_(net::client_stream(ioc_.get_executor(), server.endpoint)) {}
  ~Connection() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  net::Stream& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }

  // Connects, and through TLS shakes hands (the server's certificate
  // checked) within the same timeout.
  error_code connect(Millis timeout) {
    error_code ec;
    async_connect_endpoint(stream_.tcp(), server_.endpoint, timeout, [&](error_code e) { ec = e; });
    run();
    if (ec || !stream_.is_tls()) return ec;
    stream_.expires_after(timeout);
    stream_.async_handshake(asio::ssl::stream_base::client, [&](error_code e) { ec = e; });
    run();
    return ec;
  }

  template <typename Message>
  error_code write(Message& message, Millis timeout) {
    error_code ec;
    stream_.expires_after(timeout);
    http::async_write(stream_, message, [&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  template <typename Serializer>
  error_code write_header(Serializer& sr, Millis timeout) {
    error_code ec;
    stream_.expires_after(timeout);
    http::async_write_header(stream_, sr, [&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  error_code write_raw(const void* data, std::size_t size, Millis timeout) {
    error_code ec;
    stream_.expires_after(timeout);
    asio::async_write(stream_, asio::buffer(data, size),
                      [&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  template <typename Parser>
  error_code read_header(Parser& parser, Millis timeout) {
    error_code ec;
    stream_.expires_after(timeout);
    http::async_read_header(stream_, buffer_, parser, [&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  // How far a read goes: until the parser is done, or (buffer_body) its
  // buffer is full; or only through what has arrived (waiting for some).
  enum class Until { kDone, kSome };

  template <typename Parser>
  error_code read(Parser& parser, Millis timeout, Until until = Until::kDone) {
    error_code ec;
    stream_.expires_after(timeout);
    auto done = [&](error_code e, std::size_t) { ec = e; };
    if (until == Until::kSome) {
      http::async_read_some(stream_, buffer_, parser, done);
    } else {
      http::async_read(stream_, buffer_, parser, done);
    }
    run();
    if (ec == http::error::need_buffer) ec = {};
    return ec;
  }

  // Whether the server has said something (or closed) within `timeout`.
  bool wait_readable(Millis timeout) {
    if (buffer_.size() > 0) return true;
    bool readable = false;
    asio::steady_timer timer(ioc_, timeout);
    stream_.socket().async_wait(tcp::socket::wait_read, [&](error_code e) {
      if (!e) readable = true;
      timer.cancel();
    });
    timer.async_wait([&](error_code e) {
      if (!e) {
        error_code ignored;
        stream_.socket().cancel(ignored);
      }
    });
    run();
    return readable;
  }

 private:
  void run() {
    ioc_.restart();
    if (stop_ == nullptr) {
      ioc_.run();
      return;
    }
    bool cancelled = false;
    while (!ioc_.stopped()) {
      if (!cancelled && stop_->load()) {
        stream_.cancel();
        cancelled = true;
      }
      ioc_.run_for(kStopPoll);
    }
  }

  const ServerUrl& server_;
  const std::atomic<bool>* stop_;
  asio::io_context ioc_;
  net::Stream stream_;  // TLS for https://
  beast::flat_buffer buffer_;
};

// The outcome of one try against one server.
template <typename T>
struct Attempt {
  bool network_failure = false;
  std::string network_error;
  ApiResult<T> result;

  static Attempt fail(std::string why) {
    Attempt a;
    a.network_failure = true;
    a.network_error = std::move(why);
    return a;
  }
  static Attempt fail(const error_code& ec) { return fail(describe(ec)); }
  static Attempt error(ApiError e) {
    Attempt a;
    a.result.error = std::move(e);
    return a;
  }
  static Attempt ok(T value) {
    Attempt a;
    a.result.value = std::move(value);
    return a;
  }
};

ApiResult<json::value> json_result(HttpResponse&& res) {
  ApiResult<json::value> out;
  if (res.body.empty()) {
    out.value = json::value(nullptr);
    return out;
  }
  boost::system::error_code ec;
  auto parsed = json::parse(res.body, ec);
  if (ec) {
    out.error.status = res.status;
    out.error.detail = "the server sent invalid JSON: " + ec.message();
    return out;
  }
  out.value = std::move(parsed);
  return out;
}

template <typename Body>
HttpResponse to_response(http::response<Body>& res) {
  HttpResponse out;
  out.status = res.result_int();
  out.headers = headers_of(res.base());
  out.body = std::move(res.body());
  return out;
}

// Reads the rest of a buffer_body response as a string (error documents).
error_code read_small_body(Connection& c, http::response_parser<http::buffer_body>& parser,
                           std::string& out, Millis timeout) {
  char buf[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    auto ec = c.read(parser, timeout);
    if (ec) return ec;
    out.append(buf, sizeof buf - parser.get().body().size);
    if (out.size() > kMaxErrorBody) break;
  }
  return {};
}

bool pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    auto n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset(int f = -1) {
    if (fd >= 0) ::close(fd);
    fd = f;
  }
};

// "bytes a-b/N" or "bytes */N" -> (a or -1, N or -1).
std::pair<std::int64_t, std::int64_t> parse_content_range(std::string_view v) {
  std::pair<std::int64_t, std::int64_t> out{-1, -1};
  if (v.rfind("bytes ", 0) != 0) return out;
  v.remove_prefix(6);
  auto slash = v.find('/');
  if (slash == std::string_view::npos) return out;
  auto range = v.substr(0, slash);
  auto total = v.substr(slash + 1);
  auto to_int = [](std::string_view s) -> std::int64_t {
    if (s.empty() || s.size() > 18) return -1;
    std::int64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  out.second = to_int(total);
  if (range != "*") out.first = to_int(range.substr(0, range.find('-')));
  return out;
}

void report(const ProgressFn& progress, std::uint64_t done, std::uint64_t total) {
  if (progress) progress(done, total);
}

}  // namespace

// --- ApiError / HttpResponse -----------------------------------------------

int ApiError::exit_code() const {
  if (status == 0) return type == kLocalError ? kExitFailure : kExitNetwork;
  if (status == 401 || status == 403) return kExitAuth;
  if (status == 404 || status == 410) return kExitNotFound;
  if (status >= 500) return kExitServer;
  if (status >= 400) return kExitFailure;  // 400, 409, 413, 415, 416, 422, 429...
  return kExitServer;                      // a 2xx/3xx we could not use
}

std::string ApiError::message() const {
  std::string text = detail.empty() ? title : detail;
  if (status == 0) return text.empty() ? "network error" : text;
  if (text.empty()) text = "request failed";
  text += " (HTTP " + std::to_string(status);
  if (!type.empty()) text += " " + type;
  text += ")";
  return text;
}

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(lowercase(name));
  return it == headers.end() ? std::string() : it->second;
}

// --- BodyStream -------------------------------------------------------------

std::uint64_t BodyStream::first_byte() const {
  auto it = headers().find("content-range");
  if (status() != 206 || it == headers().end()) return 0;
  const auto first = parse_content_range(it->second).first;
  return first > 0 ? static_cast<std::uint64_t>(first) : 0;
}

std::optional<std::uint64_t> BodyStream::total_size() const {
  if (status() == 206) {
    auto it = headers().find("content-range");
    const auto total = it == headers().end() ? -1 : parse_content_range(it->second).second;
    if (total >= 0) return static_cast<std::uint64_t>(total);
    return std::nullopt;
  }
  auto it = headers().find("content-length");
  if (it == headers().end()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9' || n > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return it->second.empty() ? std::nullopt : std::optional<std::uint64_t>(n);
}

std::string BodyStream::etag() const {
  auto it = headers().find("etag");
  if (it == headers().end() || it->second.rfind("W/", 0) == 0) return {};
  return it->second;
}

namespace {

// A response whose body is read as the caller asks: the connection and the
// parser that stopped after the header.
class HttpBodyStream final : public BodyStream {
 public:
  HttpBodyStream(ServerUrl server, const std::atomic<bool>* stop, Millis timeout)
      : server_(std::move(server)), connection_(server_, stop), timeout_(timeout) {}

  Connection& connection() { return connection_; }
  std::optional<http::response_parser<http::buffer_body>>& parser() { return parser_; }
  void take_headers() {
    status_ = parser_->get().result_int();
    headers_ = headers_of(parser_->get().base());
  }

  int status() const override { return status_; }
  const std::map<std::string, std::string>& headers() const override { return headers_; }

  ApiResult<std::size_t> read(char* out, std::size_t max) override {
    ApiResult<std::size_t> result;
    auto& parser = *parser_;
    auto& body = parser.get().body();
    body.data = out;
    body.size = max;
    while (max > 0 && body.size == max && !parser.is_done()) {
      if (auto ec = connection_.read(parser, timeout_, Connection::Until::kSome)) {
        result.error.detail = describe(ec);
        return result;
      }
    }
    result.value = max - body.size;
    return result;
  }

 private:
  ServerUrl server_;  // the connection refers to it
  Connection connection_;
  Millis timeout_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
};

}  // namespace

// --- ApiClient --------------------------------------------------------------

namespace {

// What one hop of a request came to: an outcome, or a redirect to follow.
template <typename T>
struct HopOutcome {
  Attempt<T> attempt;
  int status = 0;                       // the redirect's status
  std::optional<std::string> location;  // set: follow it

  HopOutcome(Attempt<T> a) : attempt(std::move(a)) {}  // NOLINT: implicit on purpose
  static HopOutcome redirect(int status, std::string location) {
    HopOutcome out{Attempt<T>{}};
    out.status = status;
    out.location = std::move(location);
    return out;
  }
};

}  // namespace

struct ApiClient::Impl {
  ClientOptions options;
  std::vector<ServerUrl> servers;  // parallel to options.servers
  std::atomic<std::size_t> current{0};
  mutable std::mutex mu;          // guards options.token
  mutable std::mutex servers_mu;  // guards options.servers and servers (add_server appends)

  explicit Impl(ClientOptions o) : options(std::move(o)) {
    for (const auto& s : options.servers) servers.push_back(parse_server(s));
  }

  Millis connect_timeout() const { return Millis(std::max(1, options.connect_timeout_ms)); }
  Millis request_timeout() const { return Millis(std::max(1, options.request_timeout_ms)); }

  std::string token_copy() const {
    std::lock_guard lock(mu);
    return options.token;
  }

  std::vector<ServerUrl> server_list() const {
    std::lock_guard lock(servers_mu);
    return servers;
  }

  bool add_server(const std::string& url) {
    const auto text = normalize_server_url(url);
    auto parsed = parse_server(text);
    if (!parsed.error.empty()) return false;
    std::lock_guard lock(servers_mu);
    for (const auto& s : options.servers) {
      if (same_server(s, text)) return false;
    }
    options.servers.push_back(text);
    servers.push_back(std::move(parsed));
    return true;
  }

  template <typename Fields>
  void common_headers(Fields& req, const Hop& hop) const {
    req.set(http::field::host, hop.server.endpoint.host_header());
    req.set(http::field::user_agent, "hifi-cli");
    if (!hop.send_token) return;
    const auto token = token_copy();
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  }

  // Runs `attempt(server, progressed)` on the servers in turn, from the one
  // that answered last, until one gives an answer that is not a network
  // failure. An attempt that made progress (a resumable download) earns
  // every server another try.
  template <typename T, typename Fn>
  ApiResult<T> failover(Fn&& attempt) {
    ApiResult<T> out;
    // Servers added meanwhile (add_server) wait for the next request, but
    // for the one a draining node names.
    auto list = server_list();
    auto n = list.size();
    if (n == 0) {
      out.error.detail = "no server is configured";
      return out;
    }
    std::vector<std::pair<std::string, std::string>> failures;  // server, last error
    std::size_t index = current.load() % n;
    std::size_t misses = 0;
    while (misses < n) {
      const ServerUrl server = list[index];  // a copy: the list may grow below
      bool progressed = false;
      Attempt<T> a =
          server.error.empty() ? attempt(server, progressed) : Attempt<T>::fail(server.error);
      if (!a.network_failure && a.result.error.status == 503 && a.result.error.type == "draining") {
        // A node that leaves the cluster: go where it says, as if it were down.
        const auto* member = a.result.error.body.is_object() ? a.result.error.body.as_object().if_contains("member")
                                                              : nullptr;
        if (member && member->is_string() && add_server(std::string(member->as_string()))) {
          list = server_list();
          n = list.size();
        }
        a = Attempt<T>::fail("the node is leaving the cluster (draining)");
      }
      if (!a.network_failure) {
        current = index;
        return std::move(a.result);
      }
      auto it = std::find_if(failures.begin(), failures.end(),
                             [&](const auto& f) { return f.first == server.text; });
      if (it == failures.end()) {
        failures.emplace_back(server.text, a.network_error);
      } else {
        it->second = a.network_error;
      }
      misses = progressed ? 0 : misses + 1;
      index = (index + 1) % n;
    }
    bool same = std::all_of(failures.begin(), failures.end(),
                            [&](const auto& f) { return f.second == failures.front().second; });
    std::string detail = "could not reach ";
    for (std::size_t i = 0; i < failures.size(); ++i) {
      if (i) detail += ", ";
      detail += failures[i].first;
      if (!same) detail += " (" + failures[i].second + ")";
    }
    if (same) detail += ": " + failures.front().second;
    out.error.detail = std::move(detail);
    return out;
  }

  // Makes the request `target` on `server` with `one_hop(hop)`, following
  // the redirects it reports, at most kMaxRedirects of them.
  template <typename T, typename Fn>
  Attempt<T> follow(const ServerUrl& server, const std::string& target, Fn&& one_hop) {
    Hop hop{server, server.target(target), true, 0};
    for (;;) {
      HopOutcome<T> out = one_hop(hop);
      if (!out.location) {
        if (out.attempt.network_failure && hop.redirects > 0) {
          out.attempt.network_error += " at " + hop.where() + " (redirected there)";
        }
        return std::move(out.attempt);
      }
      if (hop.redirects >= kMaxRedirects) {
        return Attempt<T>::error(redirect_error(
            out.status, "too-many-redirects",
            "too many redirects: " + server.text + target.substr(0, target.find('?')) +
                " was redirected more than " + std::to_string(kMaxRedirects) +
                " times (the last time from " + hop.where() + " to " + *out.location + ")"));
      }
      std::string error;
      auto next = next_hop(hop, server, *out.location, error);
      if (!next) return Attempt<T>::error(redirect_error(out.status, "bad-redirect", error));
      hop = std::move(*next);
    }
  }

  HopOutcome<HttpResponse> request_hop(const Hop& hop, const std::string& method,
                                       const std::string& body,
                                       const std::map<std::string, std::string>& headers) {
    using A = Attempt<HttpResponse>;
    Connection c(hop.server);
    if (auto ec = c.connect(connect_timeout())) return A::fail(ec);

    http::request<http::string_body> req;
    req.version(11);
    auto verb = http::string_to_verb(method);
    if (verb != http::verb::unknown) {
      req.method(verb);
    } else {
      req.method_string(method);
    }
    req.target(hop.target);
    common_headers(req, hop);
    req.keep_alive(false);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) {
      // Credentials of the caller's own stay with the server they are for.
      if (!hop.send_token && beast::iequals(name, "authorization")) continue;
      req.set(name, value);
    }
    req.body() = body;
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      req.prepare_payload();
    }
    if (auto ec = c.write(req, request_timeout())) return A::fail(ec);

    std::optional<http::response_parser<http::string_body>> parser;
    do {  // skip interim (1xx) responses
      parser.emplace();
      parser->body_limit(kMaxResponseBody);
      if (verb == http::verb::head) parser->skip(true);
      if (auto ec = c.read(*parser, request_timeout())) return A::fail(ec);
    } while (parser->get().result_int() / 100 == 1);

    auto& res = parser->get();
    if (follows(verb, res.result_int())) {
      auto location = res[http::field::location];
      if (!location.empty()) {
        return HopOutcome<HttpResponse>::redirect(res.result_int(), std::string(location));
      }
    }
    auto reason = std::string(res.reason());
    HttpResponse out = to_response(res);
    if (out.status >= 400) {
      return A::error(error_from_response(out.status, reason, out.headers, out.body));
    }
    return A::ok(std::move(out));
  }

  HopOutcome<json::value> upload_hop(const Hop& hop, int fd, std::uint64_t size,
                                     const std::string& filename, const std::string& digest,
                                     const ProgressFn& progress) {
    using A = Attempt<json::value>;
    using H = HopOutcome<json::value>;
    Connection c(hop.server);
    if (auto ec = c.connect(connect_timeout())) return A::fail(ec);

    http::request<http::empty_body> req{http::verb::post, hop.target, 11};
    common_headers(req, hop);
    req.keep_alive(false);
    req.set(http::field::accept, "application/json");
    req.set(http::field::content_type, "application/octet-stream");
    req.content_length(size);
    req.set("X-Filename", url_encode(filename));
    if (!digest.empty()) req.set("Repr-Digest", digest);
    // The server may refuse (bad token, too large) before we send megabytes.
    req.set(http::field::expect, "100-continue");
    http::request_serializer<http::empty_body> sr{req};
    if (auto ec = c.write_header(sr, request_timeout())) return A::fail(ec);

    auto finish = [&](http::response_parser<http::string_body>& parser) -> H {
      auto& res = parser.get();
      if (follows(http::verb::post, res.result_int())) {
        auto location = res[http::field::location];
        if (!location.empty()) return H::redirect(res.result_int(), std::string(location));
      }
      auto reason = std::string(res.reason());
      HttpResponse out = to_response(res);
      if (out.status >= 300) {
        return A::error(error_from_response(out.status, reason, out.headers, out.body));
      }
      A a;
      a.result = json_result(std::move(out));
      return a;
    };
    // Reads a final response, skipping interim ones.
    auto read_final = [&](std::optional<http::response_parser<http::string_body>>& parser,
                          Millis timeout) -> error_code {
      do {
        parser.emplace();
        parser->body_limit(kMaxErrorBody * 16);
        if (auto ec = c.read(*parser, timeout)) return ec;
      } while (parser->get().result_int() / 100 == 1);
      return {};
    };

    if (c.wait_readable(kContinueWait)) {
      http::response_parser<http::string_body> first;
      first.body_limit(kMaxErrorBody * 16);
      if (auto ec = c.read_header(first, request_timeout())) return A::fail(ec);
      if (first.get().result() != http::status::continue_) {
        // An early final answer: the body is not wanted.
        if (first.get().result_int() / 100 == 1) {
          // Some other interim response; carry on waiting after the body.
        } else {
          if (auto ec = c.read(first, request_timeout())) return A::fail(ec);
          return finish(first);
        }
      }
    }

    report(progress, 0, size);
    std::vector<char> buf(kChunk);
    std::uint64_t sent = 0;
    while (sent < size) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - sent));
      auto n = ::pread(fd, buf.data(), want, static_cast<off_t>(sent));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return A::error(local_error("cannot read " + filename + ": " + errno_text(errno)));
      if (n == 0) return A::error(local_error(filename + " shrank while it was being uploaded"));
      if (auto ec = c.write_raw(buf.data(), static_cast<std::size_t>(n), request_timeout())) {
        // The server may have answered and closed before taking it all.
        std::optional<http::response_parser<http::string_body>> parser;
        if (!read_final(parser, Millis(2000))) return finish(*parser);
        return A::fail(ec);
      }
      sent += static_cast<std::uint64_t>(n);
      report(progress, sent, size);
    }

    std::optional<http::response_parser<http::string_body>> parser;
    if (auto ec = read_final(parser, request_timeout())) return A::fail(ec);
    return finish(*parser);
  }

  // Connects, sends GET hop.target with the range asked (a Range header
  // only when it starts after 0 or ends somewhere) and reads the header of
  // the final response into `parser`, its body still to read.
  error_code send_get(Connection& c, const Hop& hop, const StreamRequest& range,
                      std::optional<http::response_parser<http::buffer_body>>& parser) {
    if (auto ec = c.connect(connect_timeout())) return ec;
    http::request<http::empty_body> req{http::verb::get, hop.target, 11};
    common_headers(req, hop);
    req.keep_alive(false);
    req.set(http::field::accept_encoding, "identity");
    if (range.from > 0 || range.to) {
      req.set(http::field::range, "bytes=" + std::to_string(range.from) + "-" +
                                      (range.to ? std::to_string(*range.to) : std::string()));
      if (!range.if_range.empty()) req.set(http::field::if_range, range.if_range);
    }
    if (auto ec = c.write(req, request_timeout())) return ec;
    do {
      parser.emplace();
      parser->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (auto ec = c.read_header(*parser, request_timeout())) return ec;
    } while (parser->get().result_int() / 100 == 1);
    return {};
  }

  HopOutcome<std::unique_ptr<BodyStream>> stream_hop(const Hop& hop, const StreamRequest& request) {
    using A = Attempt<std::unique_ptr<BodyStream>>;
    using H = HopOutcome<std::unique_ptr<BodyStream>>;
    auto body = std::make_unique<HttpBodyStream>(hop.server, request.stop, request_timeout());
    auto& parser = body->parser();
    if (auto ec = send_get(body->connection(), hop, request, parser)) return A::fail(ec);
    auto& res = parser->get();
    const int status = res.result_int();
    if (follows(http::verb::get, status)) {
      auto location = res[http::field::location];
      if (!location.empty()) return H::redirect(status, std::string(location));
    }
    if (status != 200 && status != 206) {
      std::string text;
      if (auto ec = read_small_body(body->connection(), *parser, text, request_timeout())) return A::fail(ec);
      return A::error(error_from_response(status, res.reason(), headers_of(res.base()), text));
    }
    body->take_headers();
    return A::ok(std::move(body));
  }

  // What a download has learned so far, across hops and servers.
  struct DownloadState {
    std::string etag;        // strong ETag of the representation, once seen
    bool restart = false;    // what is on disk cannot be resumed: start from zero
    bool progressed = false;
  };

  // One GET of `hop` into `path`, resuming from `have` bytes.
  HopOutcome<std::uint64_t> download_hop(const Hop& hop, const std::string& path, std::uint64_t have,
                                         bool last_round, const ProgressFn& progress,
                                         DownloadState& state) {
    using A = Attempt<std::uint64_t>;
    using H = HopOutcome<std::uint64_t>;
    Connection c(hop.server);
    std::optional<http::response_parser<http::buffer_body>> parser;
    // Resume only the representation we started with.
    if (auto ec = send_get(c, hop, StreamRequest{have, std::nullopt, state.etag, nullptr}, parser)) {
      return A::fail(ec);
    }
    auto& res = parser->get();
    const int status = res.result_int();
    if (follows(http::verb::get, status)) {
      auto location = res[http::field::location];
      // The redirect's body is not wanted: the connection is dropped.
      if (!location.empty()) return H::redirect(status, std::string(location));
    }
    auto error_answer = [&]() -> A {
      std::string body;
      if (auto ec = read_small_body(c, *parser, body, request_timeout())) return A::fail(ec);
      return A::error(error_from_response(status, res.reason(), headers_of(res.base()), body));
    };

    if (status == 416) {
      auto [first, total] = parse_content_range(res[http::field::content_range]);
      if (total >= 0 && have == static_cast<std::uint64_t>(total)) {
        // Everything is already here.
        Fd file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (file.fd >= 0) ::fsync(file.fd);
        report(progress, have, have);
        return A::ok(have);
      }
      if (total >= 0 && have > static_cast<std::uint64_t>(total) && !last_round) {
        state.restart = true;
        return A::error({});
      }
      return error_answer();
    }
    if (status >= 300) return error_answer();

    if (auto etag = res[http::field::etag]; !etag.empty() && etag.rfind("W/", 0) != 0) {
      state.etag = std::string(etag);
    }
    std::uint64_t offset = 0, total = 0;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (status == 206) {
      auto [first, size] = parse_content_range(res[http::field::content_range]);
      if (first < 0 || static_cast<std::uint64_t>(first) != have) {
        if (!last_round) {
          state.restart = true;
          return A::error({});
        }
        return A::error(local_error("the server resumed " + hop.where() + " at the wrong offset"));
      }
      offset = have;
      total = size >= 0 ? static_cast<std::uint64_t>(size) : 0;
    } else {
      flags |= O_TRUNC;  // 200: the whole representation, from the start
      if (auto len = parser->content_length()) total = *len;
    }
    Fd file(::open(path.c_str(), flags, 0644));
    if (file.fd < 0) return A::error(local_error("cannot open " + path + ": " + errno_text(errno)));

    const auto start = offset;
    report(progress, offset, total);
    std::vector<char> buf(kChunk);
    while (!parser->is_done()) {
      parser->get().body().data = buf.data();
      parser->get().body().size = buf.size();
      auto ec = c.read(*parser, request_timeout());  // an idle timeout per chunk
      const auto n = buf.size() - parser->get().body().size;
      if (n > 0) {
        if (!pwrite_all(file.fd, buf.data(), n, offset)) {
          return A::error(local_error("cannot write " + path + ": " + errno_text(errno)));
        }
        offset += n;
        report(progress, offset, total);
      }
      if (ec) {
        state.progressed = offset > start;
        return A::fail(ec);
      }
    }
    if (::fsync(file.fd) != 0) {
      return A::error(local_error("cannot sync " + path + ": " + errno_text(errno)));
    }
    return A::ok(offset);
  }

  Attempt<std::uint64_t> download_once(const ServerUrl& server, const std::string& target,
                                       const std::string& path, const ProgressFn& progress,
                                       DownloadState& state) {
    using A = Attempt<std::uint64_t>;
    // A second round when what we have cannot be resumed (the file is longer
    // than the song, or the server resumed elsewhere): start from zero.
    bool from_scratch = false;
    for (int round = 0; round < 2; ++round) {
      std::uint64_t have = 0;
      struct stat st {};
      if (from_scratch) {
        if (::truncate(path.c_str(), 0) != 0 && errno != ENOENT) {
          return A::error(local_error("cannot truncate " + path + ": " + errno_text(errno)));
        }
      } else if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) return A::error(local_error(path + " is not a regular file"));
        have = static_cast<std::uint64_t>(st.st_size);
      } else if (errno != ENOENT) {
        return A::error(local_error("cannot access " + path + ": " + errno_text(errno)));
      }
      state.restart = false;
      state.progressed = false;
      auto a = follow<std::uint64_t>(server, target, [&](const Hop& hop) {
        return download_hop(hop, path, have, round == 1, progress, state);
      });
      if (state.restart) {
        from_scratch = true;
        continue;
      }
      return a;
    }
    return A::error(local_error("cannot resume " + path));
  }
};

ApiClient::ApiClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
ApiClient::~ApiClient() = default;

void ApiClient::set_token(std::string token) {
  std::lock_guard lock(impl_->mu);
  impl_->options.token = std::move(token);
}

const std::string& ApiClient::token() const { return impl_->options.token; }

std::string ApiClient::current_server() const {
  std::lock_guard lock(impl_->servers_mu);
  const auto& list = impl_->options.servers;
  if (list.empty()) return {};
  return list[impl_->current.load() % list.size()];
}

std::vector<std::string> ApiClient::servers() const {
  std::lock_guard lock(impl_->servers_mu);
  return impl_->options.servers;
}

bool ApiClient::add_server(const std::string& url) { return impl_->add_server(url); }

ApiResult<HttpResponse> ApiClient::request(const std::string& method, const std::string& target,
                                           const std::string& body,
                                           const std::map<std::string, std::string>& headers) {
  return impl_->failover<HttpResponse>([&](const ServerUrl& server, bool&) {
    return impl_->follow<HttpResponse>(server, target, [&](const Hop& hop) {
      return impl_->request_hop(hop, method, body, headers);
    });
  });
}

ApiResult<boost::json::value> ApiClient::json(const std::string& method, const std::string& target,
                                              const boost::json::value* body) {
  std::string text = body ? boost::json::serialize(*body) : std::string();
  std::map<std::string, std::string> headers{{"Accept", "application/json"}};
  if (body) headers["Content-Type"] = "application/json";
  auto res = request(method, target, text, headers);
  if (!res) {
    ApiResult<boost::json::value> out;
    out.error = std::move(res.error);
    return out;
  }
  return json_result(std::move(*res));
}

ApiResult<ClusterInfo> ApiClient::cluster() {
  ApiResult<ClusterInfo> out;
  auto res = json("GET", "/api/v1/cluster");
  if (!res) {
    if (res.error.status == 404) {
      out.value = ClusterInfo{};  // a server from before clusters
    } else {
      out.error = std::move(res.error);
    }
    return out;
  }
  if (!res->is_object()) {
    out.error.status = 200;
    out.error.detail = "the server's /api/v1/cluster answer is not a JSON object";
    return out;
  }
  out.value = parse_cluster(*res);
  return out;
}

ApiResult<ClusterInfo> ApiClient::discover_members() {
  auto res = cluster();
  if (res) {
    for (const auto& m : res->members) add_server(m.advertise);
  }
  return res;
}

ApiResult<boost::json::value> ApiClient::upload_song(const std::string& path,
                                                     const std::string& sha256_hex,
                                                     const ProgressFn& progress) {
  ApiResult<boost::json::value> out;
  std::string digest;
  if (!sha256_hex.empty()) {
    if (!is_sha256_hex(sha256_hex)) {
      out.error = local_error("not a SHA-256 digest: '" + sha256_hex + "'");
      return out;
    }
    std::string raw(32, '\0');
    for (std::size_t i = 0; i < raw.size(); ++i) {
      raw[i] = static_cast<char>(std::stoi(sha256_hex.substr(2 * i, 2), nullptr, 16));
    }
    digest = "sha-256=:" + base64_encode(raw) + ":";
  }
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
    out.error = local_error("cannot open " + path + ": " + errno_text(errno));
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.error = local_error(path + " is not a regular file");
    return out;
  }
  auto slash = path.find_last_of('/');
  const std::string filename = slash == std::string::npos ? path : path.substr(slash + 1);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  return impl_->failover<boost::json::value>([&](const ServerUrl& server, bool&) {
    return impl_->follow<boost::json::value>(server, "/api/v1/songs", [&](const Hop& hop) {
      return impl_->upload_hop(hop, file.fd, size, filename, digest, progress);
    });
  });
}

ApiResult<std::uint64_t> ApiClient::download(const std::string& target, const std::string& path,
                                             const ProgressFn& progress) {
  Impl::DownloadState state;
  return impl_->failover<std::uint64_t>([&](const ServerUrl& server, bool& progressed) {
    auto a = impl_->download_once(server, target, path, progress, state);
    progressed = state.progressed;
    return a;
  });
}

ApiResult<std::unique_ptr<BodyStream>> ApiClient::open_stream(const std::string& target,
                                                               const StreamRequest& request) {
  return impl_->failover<std::unique_ptr<BodyStream>>([&](const ServerUrl& server, bool&) {
    return impl_->follow<std::unique_ptr<BodyStream>>(
        server, target, [&](const Hop& hop) { return impl_->stream_hop(hop, request); });
  });
}

// --- cluster ----------------------------------------------------------------

namespace {

std::string string_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<std::int64_t> int_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(v->as_uint64(), std::numeric_limits<std::int64_t>::max()));
  }
  if (v->is_double() && v->as_double() >= 0 && v->as_double() < 9.2e18) {
    return static_cast<std::int64_t>(v->as_double());
  }
  return std::nullopt;
}

}  // namespace

std::string normalize_server_url(std::string url) {
  while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back()))) url.pop_back();
  std::size_t lead = 0;
  while (lead < url.size() && std::isspace(static_cast<unsigned char>(url[lead]))) ++lead;
  url.erase(0, lead);
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.empty() && url.find("://") == std::string::npos) url = "http://" + url;
  return url;
}

bool same_server(const std::string& a, const std::string& b) {
  const auto na = normalize_server_url(a);
  const auto nb = normalize_server_url(b);
  auto pa = parse_server(na);
  auto pb = parse_server(nb);
  if (!pa.error.empty() || !pb.error.empty()) return lowercase(na) == lowercase(nb);
  return same_authority(pa, pb) && pa.endpoint.base_path == pb.endpoint.base_path;
}

std::string trust_ca_file(const std::string& ca_file) {
  auto context = net::make_client_context({ca_file, "", ""});
  if (!context) return context.status().message();
  net::set_default_client_context(std::move(*context));
  return "";
}

ClusterInfo parse_cluster(const boost::json::value& document) {
  ClusterInfo info;
  info.available = true;
  info.document = document;
  const json::array* list = nullptr;
  if (document.is_array()) {
    list = &document.as_array();
  } else if (document.is_object()) {
    const auto& o = document.as_object();
    info.self = string_at(o, "self");
    info.leader = string_at(o, "leader");
    info.replication_factor = static_cast<int>(int_at(o, "replication_factor").value_or(0));
    for (const char* key : {"members", "items", "nodes"}) {
      if (auto* v = o.if_contains(key); v && v->is_array()) {
        list = &v->as_array();
        break;
      }
    }
  }
  if (!list) return info;
  for (const auto& item : *list) {
    ClusterMember m;
    std::string url;
    if (item.is_string()) {
      url = std::string(item.as_string());
    } else if (item.is_object()) {
      const auto& o = item.as_object();
      m.id = string_at(o, "id");
      for (const char* key : {"advertise", "url", "public_url", "address"}) {
        url = string_at(o, key);
        if (!url.empty()) break;
      }
      m.health = string_at(o, "health");
      if (auto* v = o.if_contains("leader"); v && v->is_bool()) m.leader = v->as_bool();
      if (auto rank = int_at(o, "rank"); rank && *rank >= 0) m.rank = static_cast<int>(*rank);
      if (auto* load = o.if_contains("load"); load && load->is_object()) {
        const auto& l = load->as_object();
        m.has_load = true;
        m.active_streams = int_at(l, "active_streams").value_or(0);
        m.connections = int_at(l, "connections").value_or(0);
        m.websockets = int_at(l, "websockets").value_or(0);
        m.bytes_per_second = int_at(l, "bytes_per_second").value_or(0);
      }
      if (auto v = int_at(o, "disk_free_bytes")) m.disk_free_bytes = static_cast<std::uint64_t>(*v);
      if (auto v = int_at(o, "disk_total_bytes")) m.disk_total_bytes = static_cast<std::uint64_t>(*v);
      m.version = string_at(o, "version");
    }
    url = normalize_server_url(url);
    if (url.empty()) continue;
    m.advertise = std::move(url);
    if (!info.leader.empty() && m.id == info.leader) m.leader = true;
    info.members.push_back(std::move(m));
  }
  return info;
}

std::vector<std::string> spread_order(const ClusterInfo& cluster,
                                      const std::vector<std::string>& known, std::uint64_t seed) {
  std::vector<const ClusterMember*> members;
  for (const auto& m : cluster.members) {
    if (parse_server(m.advertise).error.empty()) members.push_back(&m);
  }
  // Shuffled first, so that the stable sort leaves equals in a random order.
  std::mt19937_64 rng(seed);
  std::shuffle(members.begin(), members.end(), rng);
  std::stable_sort(members.begin(), members.end(), [](const ClusterMember* a, const ClusterMember* b) {
    auto key = [](const ClusterMember* m) {
      return std::tuple(!m->rank && !m->has_load, m->rank.value_or(0), m->active_streams, m->connections);
    };
    return key(a) < key(b);
  });
  std::vector<std::string> out;
  auto add = [&](const std::string& url) {
    for (const auto& o : out) {
      if (same_server(o, url)) return;
    }
    out.push_back(url);
  };
  for (const auto* m : members) add(m->advertise);
  for (const auto& k : known) add(k);
  return out;
}

// --- helpers ----------------------------------------------------------------

std::string sha256_file(const std::string& path) {
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.fd < 0) return {};
  Sha256 hash;
  std::vector<char> buf(kChunk);
  for (;;) {
    auto n = ::read(file.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {};
    if (n == 0) break;
    hash.update(buf.data(), static_cast<std::size_t>(n));
  }
  return to_hex(hash.finish());
}

std::string url_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

}  // namespace hifi::client
