#include "store/etcd/etcd_http.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <utility>
#include <vector>

#include "common/tcp_connect.h"
#include "net/tls.h"

namespace hifi::etcd {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Keeps a streamed watch from hanging forever on a peer that vanished
// without closing the connection (host down, network partition).
constexpr int kKeepIdleSeconds = 10;
constexpr int kKeepIntervalSeconds = 5;
constexpr int kKeepProbes = 3;
// etcd's client port.
constexpr std::uint16_t kDefaultPort = 2379;

}  // namespace

Result<Endpoint> parse_endpoint(const std::string& url) {
  // etcd's own flags accept a bare host:port; a URL with a scheme says "://".
  const bool has_scheme = url.find("://") != std::string::npos;
  auto server = hifi::Endpoint::parse(has_scheme ? url : "http://" + url, kDefaultPort);
  if (!server) return invalid_argument("etcd endpoint " + url + ": " + server.status().message());
  return Endpoint{url, std::move(*server)};
}

Status use_tls(std::vector<Endpoint>& endpoints, const std::string& ca_file, const std::string& cert_file,
               const std::string& key_file) {
  std::shared_ptr<hifi::net::TlsContext> tls;
  for (auto& ep : endpoints) {
    if (!ep.server.is_https()) continue;
    if (!tls) {
      auto context = hifi::net::make_client_context({ca_file, cert_file, key_file});
      if (!context) return invalid_argument("etcd TLS: " + context.status().message());
      tls = std::move(*context);
    }
    ep.tls = tls;
  }
  if (!tls && (!ca_file.empty() || !cert_file.empty() || !key_file.empty())) {
    return invalid_argument("etcd TLS files are given, but no etcd endpoint is https://");
  }
  return Status::ok();
}

struct HttpConnection::Impl {
  explicit Impl(Endpoint ep)
      : endpoint(std::move(ep)), stream(hifi::net::client_stream(ioc.get_executor(), endpoint.server, endpoint.tls)) {}

  // Starts an operation with a completion handler and drives the
  // io_context until that handler has run. Handlers left over from earlier
  // operations (a timer's cancellation, an interrupt) run on the way.
  template <typename Initiate>
  beast::error_code run(Initiate&& initiate) {
    if (interrupted.load()) return net::error::operation_aborted;
    beast::error_code result = net::error::would_block;
    bool done = false;
    initiate([&result, &done](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc.restart();
    while (!done) {
      if (ioc.run_one() == 0) break;
    }
    if (!done) return net::error::operation_aborted;
    return result;
  }

  Status fail(const std::string& what, const beast::error_code& ec) const {
    return Status(Code::kUnavailable, "etcd " + endpoint.url + ": " + what + ": " + hifi::net::describe_error(ec));
  }

  http::request<http::string_body> make_request(const std::string& target,
                                                const std::string& body) const {
    http::request<http::string_body> req{http::verb::post, endpoint.server.target(target), 11};
    req.set(http::field::host, endpoint.server.host_header());
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    return req;
  }

  Status write(const std::string& target, const std::string& body,
               std::chrono::milliseconds timeout) {
    if (!connected) return Status(Code::kUnavailable, "etcd " + endpoint.url + ": not connected");
    auto req = make_request(target, body);
    stream.expires_after(timeout);
    auto ec = run([&](auto handler) { http::async_write(stream, req, std::move(handler)); });
    if (ec) {
      keep_alive = false;
      return fail("cannot send " + target, ec);
    }
    return Status::ok();
  }

  const Endpoint endpoint;
  net::io_context ioc{1};
  hifi::net::Stream stream;  // TLS for an https:// member
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> stream_parser;
  std::atomic<bool> interrupted{false};
  bool connected = false;
  bool keep_alive = false;
};

HttpConnection::HttpConnection(Endpoint endpoint)
    : impl_(std::make_unique<Impl>(std::move(endpoint))) {}

HttpConnection::~HttpConnection() = default;

const Endpoint& HttpConnection::endpoint() const { return impl_->endpoint; }

Status HttpConnection::connect(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  beast::error_code ec = m.run([&](auto handler) {
    async_connect_endpoint(m.stream.tcp(), m.endpoint.server, timeout, std::move(handler));
  });
  if (ec) return m.fail("cannot connect to " + m.endpoint.server.host_header(), ec);
  if (m.stream.is_tls()) {
    m.stream.expires_after(timeout);
    ec = m.run([&](auto handler) { m.stream.async_handshake(net::ssl::stream_base::client, std::move(handler)); });
    if (ec) {
      return Status(Code::kUnavailable, "etcd " + m.endpoint.url + ": no TLS with " +
                                            m.endpoint.server.host_header() + ": " + hifi::net::describe_error(ec));
    }
  }

  auto& socket = m.stream.socket();
  socket.set_option(tcp::no_delay(true), ec);
  socket.set_option(net::socket_base::keep_alive(true), ec);
  const int fd = socket.native_handle();
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdleSeconds, sizeof(int));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepIntervalSeconds, sizeof(int));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepProbes, sizeof(int));
  m.connected = true;
  m.keep_alive = true;
  return Status::ok();
}

bool HttpConnection::reusable() {
  Impl& m = *impl_;
  if (!m.connected || !m.keep_alive || m.interrupted.load() || m.buffer.size() != 0) return false;
  if (!m.stream.socket().is_open()) return false;
  pollfd pfd{};
  pfd.fd = m.stream.socket().native_handle();
  pfd.events = POLLIN;
  // Readable while idle means end of stream, a reset or stray bytes.
  return ::poll(&pfd, 1, 0) == 0;
}

Result<HttpResponse> HttpConnection::post(const std::string& target, const std::string& body,
                                          std::chrono::milliseconds timeout, bool* sent) {
  Impl& m = *impl_;
  *sent = false;
  m.keep_alive = false;
  if (Status s = m.write(target, body, timeout); !s) return s;
  *sent = true;

  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  m.stream.expires_after(timeout);
  auto ec = m.run(
      [&](auto handler) { http::async_read(m.stream, m.buffer, parser, std::move(handler)); });
  if (ec) return m.fail("no answer to " + target, ec);
  auto& res = parser.get();
  m.keep_alive = res.keep_alive();
  return HttpResponse{res.result_int(), std::move(res.body())};
}

Result<unsigned> HttpConnection::post_stream(const std::string& target, const std::string& body,
                                             std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  m.keep_alive = false;  // a streamed connection is never pooled
  if (Status s = m.write(target, body, timeout); !s) return s;
  m.stream_parser.emplace();
  m.stream_parser->body_limit(boost::none);
  m.stream.expires_after(timeout);
  auto ec = m.run([&](auto handler) {
    http::async_read_header(m.stream, m.buffer, *m.stream_parser, std::move(handler));
  });
  if (ec) return m.fail("no answer to " + target, ec);
  return m.stream_parser->get().result_int();
}

Status HttpConnection::read_stream(std::string* out,
                                   std::optional<std::chrono::milliseconds> timeout) {
  Impl& m = *impl_;
  if (!m.stream_parser) return Status(Code::kInternal, "etcd: read_stream without a stream");
  if (m.stream_parser->is_done()) {
    return Status(Code::kUnavailable, "etcd " + m.endpoint.url + ": stream ended");
  }
  char chunk[16 * 1024];
  auto& body = m.stream_parser->get().body();
  body.data = chunk;
  body.size = sizeof(chunk);
  if (timeout) {
    m.stream.expires_after(*timeout);
  } else {
    m.stream.expires_never();
  }
  auto ec = m.run([&](auto handler) {
    http::async_read_some(m.stream, m.buffer, *m.stream_parser, std::move(handler));
  });
  if (ec == http::error::need_buffer) ec = {};
  out->append(chunk, sizeof(chunk) - body.size);
  body.data = nullptr;
  body.size = 0;
  if (ec) return m.fail("watch stream failed", ec);
  if (m.stream_parser->is_done()) {
    return Status(Code::kUnavailable, "etcd " + m.endpoint.url + ": stream ended");
  }
  return Status::ok();
}

void HttpConnection::interrupt() {
  Impl* m = impl_.get();
  if (m->interrupted.exchange(true)) return;
  // Runs on the thread that drives the io_context, the only one that may
  // touch the socket: either at once, aborting the operation in progress,
  // or when the next operation starts (which then fails anyway).
  net::post(m->ioc, [m] {
    beast::error_code ignored;
    m->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    m->stream.close();
  });
}

}  // namespace hifi::etcd
