#include "server/http_server.h"

#include <spdlog/details/os.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "common/check.h"
#include "common/cores.h"
#include "common/per_key_limit.h"
#include "net/tls.h"
#include "server/access_log.h"
#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/room_hub.h"
#include "server/router.h"

namespace hifi {
namespace http_internal {
namespace {

using namespace std::chrono_literals;
using asio::as_tuple;
using asio::use_awaitable;

constexpr std::size_t kMaxReadBuffer = 1 << 20;  // bounds pipelined requests waiting
// Connections over the per-address cap answered with a 503 at once; beyond
// this many being answered, more are closed without a word.
constexpr unsigned kMaxConcurrentRefusals = 64;

}  // namespace

void lower_this_thread_priority() {
  static thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  // Linux: a thread's own nice value, by its thread id.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
}

}  // namespace http_internal

using namespace http_internal;
using asio::as_tuple;
using asio::use_awaitable;

struct HttpServer::Impl {
  struct Connection {
    net::Stream* stream;  // null once a handler took the connection over
    bool busy;
  };
  // One open connection, counted from accept until the last of its owners
  // lets go: the HTTP session, and after an upgrade the WebSocket that took
  // the connection over (RequestContext::connection).
  struct ConnectionRecord {
    ConnectionRecord(Impl& server, net::Stream* stream, PerKeyLimit::Slot slot)
        : server(server), address_slot(std::move(slot)) {
      ++server.connections;
      server.services.metrics.connection_opened();
      id = server.track(stream);
    }
    ~ConnectionRecord() {
      server.untrack(id);
      server.services.metrics.connection_closed();
      --server.connections;
    }
    ConnectionRecord(const ConnectionRecord&) = delete;
    ConnectionRecord& operator=(const ConnectionRecord&) = delete;

    Impl& server;
    PerKeyLimit::Slot address_slot;
    std::uint64_t id = 0;
  };

  ServerConfig config;
  Services services;
  // The line per request, written by a thread of its own (access_log.h).
  AccessLog access_log;
  // Connections per client address, and the refusals of connections over
  // that cap being answered. Declared before the io_context, whose
  // destruction destroys the coroutine frames that hold their slots.
  PerKeyLimit per_address;
  ConcurrencyLimit refusals{kMaxConcurrentRefusals};
  // Open connections, for the limits, the shutdown and the drain. Declared
  // before the io_context too: an upgraded connection's record (below) is
  // released when the last handler holding its WebSocket is destroyed.
  std::atomic<std::uint32_t> connections{0};
  std::mutex conn_mu;
  std::map<std::uint64_t, Connection> open;
  std::uint64_t next_conn_id = 0;
  // One io_context per network thread: a connection lives on the thread
  // whose context accepted it, so its handlers never run concurrently and
  // need no strand, and work for many connections of one thread (a room's
  // fan-out) can be handed over in one post. Connections are dealt out in
  // turn.
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::size_t next_ioc = 0;  // the accept loop's only
  asio::thread_pool workers;
  // Password hashing (Argon2id, 64 MiB each) on threads of its own, with a
  // bounded number waiting: a flood of registrations or logins gets 503s
  // and never holds up the token checks and store work on `workers`.
  asio::thread_pool password_workers;
  ConcurrencyLimit password_slots;
  tcp::acceptor acceptor;
  // Set with --tls-cert: every connection speaks TLS with it.
  std::unique_ptr<net::ServerCertificate> certificate;
  const Router router;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<bool> draining{false};
  std::function<std::string()> drain_alternative;  // set before `draining`
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;

  static AccessLog::Options access_log_options() {
    AccessLog::Options options;
    options.colour = ::isatty(::fileno(stdout)) && spdlog::details::os::is_color_terminal();
    return options;
  }

  // Half the cores this process may run on (at least one): hashing never
  // takes every core.
  static std::size_t password_threads() { return std::max<std::size_t>(1, usable_cores() / 2); }

  static std::vector<std::unique_ptr<asio::io_context>> make_iocs(unsigned threads) {
    std::vector<std::unique_ptr<asio::io_context>> iocs;
    for (unsigned i = 0; i < std::max(1u, threads); ++i) iocs.push_back(std::make_unique<asio::io_context>(1));
    return iocs;
  }

  Impl(const ServerConfig& c, Services s)
      : config(c), services(s), access_log(AccessLog::stdout_writer(), access_log_options()), per_address(c.max_connections_per_address), iocs(make_iocs(c.threads)),
        workers(std::max<std::size_t>(4, c.threads * 2)),
        password_workers(password_threads()),
        password_slots(static_cast<unsigned>(password_threads() * 5)),
        acceptor(*iocs.front()) {}

  std::uint64_t track(net::Stream* stream) {
    std::lock_guard lock(conn_mu);
    open[++next_conn_id] = {stream, false};
    return next_conn_id;
  }
  void untrack(std::uint64_t id) {
    std::lock_guard lock(conn_mu);
    open.erase(id);
  }
  // The session's stream was moved to the handler that took it over.
  void detach(std::uint64_t id) {
    std::lock_guard lock(conn_mu);
    open[id].stream = nullptr;
  }
  // Returns false when the server is stopping and the connection should go.
  bool set_busy(std::uint64_t id, bool busy) {
    std::lock_guard lock(conn_mu);
    open[id].busy = busy;
    return !stopping;
  }

  awaitable<void> accept_loop() {
    asio::steady_timer backoff(*iocs.front());
    for (;;) {
      auto& ioc = *iocs[next_ioc++ % iocs.size()];
      auto [ec, socket] = co_await acceptor.async_accept(ioc, as_tuple(use_awaitable));
      if (stopping) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        // Usually out of file descriptors: back off instead of spinning.
        spdlog::warn("accept failed: {}", ec.message());
        backoff.expires_after(100ms);
        co_await backoff.async_wait(as_tuple(use_awaitable));
        continue;
      }
      if (connections >= config.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      auto executor = socket.get_executor();
      std::string address;
      {
        boost::system::error_code ec;
        auto ep = socket.remote_endpoint(ec);
        address = ec ? "unknown" : ep.address().to_string();
      }
      auto slot = per_address.try_acquire(address);
      if (!slot) {
        if (auto refusal = refusals.try_acquire()) {
          asio::co_spawn(executor, refuse_crowded(std::move(socket), std::move(*refusal), std::move(address)),
                         asio::detached);
        } else {
          boost::system::error_code ignored;
          socket.close(ignored);
        }
        continue;
      }
      asio::co_spawn(executor, session(std::move(socket), std::move(address), std::move(*slot)), asio::detached);
    }
  }

  // The problem a connection ends with, answered before the router could
  // (so without the fields write_response adds).
  static StringResponse last_answer(const HttpError& error) {
    auto res = problem_response(error);
    res.set(http::field::server, "hifi");
    res.keep_alive(false);
    res.prepare_payload();
    return res;
  }

  // A connection over the per-address cap: 503 at once, without reading the
  // request (which the client may not even have sent), then the bounded
  // lingering close, so the answer is not destroyed by a reset.
  awaitable<void> refuse_crowded(tcp::socket socket, ConcurrencyLimit::Slot, std::string address) {
    auto stream = wrap(std::move(socket));
    if (!co_await handshake(stream, address)) co_return;
    auto res = last_answer({http::status::service_unavailable, "too-many-connections", "Too many connections",
                            "this address has " + std::to_string(config.max_connections_per_address) +
                                " connections open, the most one address may have; close some and try again"});
    res.set(http::field::retry_after, "1");
    stream.expires_after(std::chrono::milliseconds(config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
    services.metrics.count_request("-", "too-many-connections", 503);
    spdlog::info("{} refused: {} connections open from this address", address, config.max_connections_per_address);
    if (!ec) co_await close_gracefully(stream, true);
    boost::system::error_code ignored;
    stream.socket().close(ignored);
  }

  // A connection's stream: TLS with the current certificate, or in the clear.
  net::Stream wrap(tcp::socket socket) {
    if (certificate) return net::Stream(beast::tcp_stream(std::move(socket)), certificate->context());
    return net::Stream(beast::tcp_stream(std::move(socket)));
  }

  // The TLS handshake of a new connection, within the header timeout;
  // false (the connection closed) when it fails. Nothing to do in the clear.
  awaitable<bool> handshake(net::Stream& stream, const std::string& address) {
    if (!stream.is_tls()) co_return true;
    stream.expires_after(std::chrono::milliseconds(config.header_timeout_ms));
    // The first bytes tell a TLS client (a handshake record starts with 22)
    // from plain HTTP sent to this port by mistake, which gets an answer
    // that says so rather than a broken connection.
    beast::flat_buffer first;
    auto [rec, n] = co_await stream.tcp().async_read_some(first.prepare(4096), as_tuple(use_awaitable));
    first.commit(n);
    boost::system::error_code ignored;
    if (rec) {
      stream.socket().close(ignored);
      co_return false;
    }
    if (static_cast<const unsigned char*>(first.data().data())[0] != 0x16) {
      co_await refuse_plain_http(stream.tcp(), address);
      stream.socket().close(ignored);
      co_return false;
    }
    auto [ec, used] = co_await stream.tls().async_handshake(asio::ssl::stream_base::server, first.data(),
                                                             as_tuple(use_awaitable));
    if (!ec) co_return true;
    services.metrics.count_request("-", "tls-handshake-failed", 0);
    spdlog::debug("{}: TLS handshake failed: {}", address, net::describe_error(ec));
    stream.socket().close(ignored);
    co_return false;
  }

  // Plain HTTP to the HTTPS port: 400 in the clear, naming the scheme to use.
  awaitable<void> refuse_plain_http(beast::tcp_stream& tcp, const std::string& address) {
    auto res = last_answer({http::status::bad_request, "https-required", "HTTPS required",
                            "this port speaks HTTPS only: use https:// instead of http://"});
    tcp.expires_after(std::chrono::milliseconds(config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_write(tcp, res, as_tuple(use_awaitable));
    services.metrics.count_request("-", "https-required", 400);
    spdlog::info("{} sent plain HTTP to the HTTPS port: answered 400", address);
    if (ec) co_return;
    boost::system::error_code ignored;
    tcp.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_await linger(tcp);
  }

  // Ends the sending side: TLS's close_notify, or a TCP shutdown. With
  // `drain`, what the client still sends is read and dropped first (see
  // linger) so that the answer just sent is not destroyed by a reset.
  awaitable<void> close_gracefully(net::Stream& stream, bool drain) {
    if (stream.is_tls()) {
      // Sends close_notify and reads (discarding) until the client's, its
      // close or the deadline.
      stream.expires_after(std::chrono::seconds(drain ? 2 : 1));
      co_await stream.async_shutdown(as_tuple(use_awaitable));
      co_return;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (drain) co_await linger(stream);
  }

  // `address_slot` counts the connection against its client address.
  awaitable<void> session(tcp::socket socket, std::string client_address, PerKeyLimit::Slot address_slot) {
    {
      // Responses go out whole (header and body in one write, or header
      // sent with MSG_MORE in front of sendfile), so Nagle would only add delay.
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      socket.native_non_blocking(true, ignored);
    }
    auto stream = wrap(std::move(socket));
    auto record = std::make_shared<ConnectionRecord>(*this, &stream, std::move(address_slot));
    ConnectionLog request_log(access_log, client_address, [this] { services.metrics.count_access_log_dropped(); });
    const auto id = record->id;
    beast::flat_buffer buffer(kMaxReadBuffer);
    bool first = true;
    bool upgraded = false;
    bool unread_input = false;  // closing with request bytes the server did not read
    bool handshaken = false;
    try {
      handshaken = co_await handshake(stream, client_address);
      while (handshaken) {
        if (!set_busy(id, false)) break;
        RequestParser parser;
        parser.header_limit(config.max_header_bytes);
        parser.body_limit(config.max_upload_bytes);
        stream.expires_after(std::chrono::milliseconds(first ? config.header_timeout_ms
                                                             : config.idle_timeout_ms));
        auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
        if (ec) {
          if (ec == http::error::body_limit) {
            unread_input = true;
            co_await reject(stream, http::status::payload_too_large, "payload-too-large",
                            "Payload too large",
                            "the request body may be at most " + std::to_string(config.max_upload_bytes) + " bytes");
          } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            unread_input = true;
            co_await reject(stream, http::status::request_header_fields_too_large,
                            "header-too-large", "Request header too large",
                            "the request header is larger than " + std::to_string(config.max_header_bytes) + " bytes");
          } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                     ec != http::error::end_of_stream && ec != http::error::partial_message) {
            unread_input = true;
            co_await reject(stream, http::status::bad_request, "malformed-request",
                            "Malformed request", "the request is not valid HTTP/1.1: " + ec.message());
          }
          break;
        }
        if (!set_busy(id, true)) {
          // Arrived while shutting down: answer, then close.
        }
        first = false;
        RequestContext ctx{stream, buffer, parser, config, services, workers, password_workers, password_slots};
        ctx.connection = record;
        ctx.client_address = client_address;
        ctx.keep_alive = parser.get().keep_alive() && !stopping;
        auto started = std::chrono::steady_clock::now();
        co_await dispatch(ctx);
        const auto finished = std::chrono::steady_clock::now();
        const auto ms = std::chrono::duration<double, std::milli>(finished - started).count();
        services.metrics.count_request(ctx.method, ctx.route.empty() ? "unmatched" : ctx.route, ctx.status);
        if (spdlog::should_log(spdlog::level::info)) {
          request_log.add({ctx.method, std::string_view(ctx.url.encoded_path()), ctx.status, ctx.bytes_out, ms,
                           ctx.file_bytes},
                          finished);
        }
        if (ctx.upgraded) {
          // The WebSocket owns the socket now, and a copy of the record.
          upgraded = true;
          detach(id);
          break;
        }
        if (!ctx.keep_alive || stopping) {
          unread_input = !parser.is_done();
          break;
        }
      }
    } catch (const std::exception& e) {
      spdlog::debug("connection from {} ended: {}", client_address, e.what());
    }
    if (!upgraded && handshaken) {
      try {
        co_await close_gracefully(stream, unread_input);
      } catch (const std::exception&) {
      }
      boost::system::error_code ignored;
      stream.socket().close(ignored);
    }
  }

  // Closing a socket whose receive buffer holds unread bytes sends a reset,
  // which can destroy the answer just sent (a 413 or 431) before the client
  // reads it. So after a refusal, read and discard what the client still
  // sends, bounded in bytes and time, until it closes its side.
  template <typename Stream>
  awaitable<void> linger(Stream& stream) {
    constexpr std::size_t kMaxLingerBytes = 1 << 20;
    std::array<char, 16 * 1024> scratch;
    std::size_t discarded = 0;
    stream.expires_after(std::chrono::seconds(2));
    while (discarded < kMaxLingerBytes) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), as_tuple(use_awaitable));
      if (ec) break;
      discarded += n;
    }
  }

  awaitable<void> reject(net::Stream& stream, http::status status, std::string_view type,
                         std::string_view title, std::string detail) {
    auto res = last_answer({status, std::string(type), std::string(title), std::move(detail)});
    stream.expires_after(std::chrono::milliseconds(config.body_idle_timeout_ms));
    co_await http::async_write(stream, res, as_tuple(use_awaitable));
    services.metrics.count_request("-", "malformed", static_cast<int>(status));
  }

  // The family whose format the router's own errors for this path take.
  static const ApiFamily& family_for(std::string_view path) {
    for (const auto& family : api_families()) {
      if (path.substr(0, family.prefix.size()) == family.prefix) return family;
    }
    HIFI_CHECK(false, "no API family matches " + std::string(path) + "; the catch-all one must");
    std::abort();
  }

  // Answers with a problem+json error. Callers pass a named HttpError:
  // GCC 12 destroys a braced temporary in a co_await expression twice.
  static awaitable<void> answer(RequestContext& ctx, const HttpError& error) {
    auto res = problem_response(error);
    co_await write_response(ctx, std::move(res));
  }

  awaitable<void> dispatch(RequestContext& ctx) {
    const auto& header = ctx.header();
    // Only the methods HiFi serves reach a log line or a metrics label as
    // sent; anything else is one label, "OTHER", and 501.
    switch (header.method()) {
      case http::verb::get:
      case http::verb::head:
      case http::verb::post:
      case http::verb::put:
      case http::verb::patch:
      case http::verb::delete_:
      case http::verb::options:
        ctx.method = std::string(header.method_string());
        break;
      default: {
        ctx.method = "OTHER";
        ctx.route = "unknown-method";
        const HttpError error{http::status::not_implemented, "method-not-implemented", "Method not implemented",
                              "HiFi serves GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS"};
        co_await answer(ctx, error);
        co_return;
      }
    }
    auto target = RequestTarget::parse(std::string_view(header.target()));
    if (!target) {
      ctx.route = "invalid";
      const HttpError error{http::status::bad_request, "malformed-request", "Malformed request target",
                            "the request target is not a valid path"};
      co_await answer(ctx, error);
      co_return;
    }
    ctx.url = *target;
    ctx.segments = target->segment_views();
    // Only an error needs it (and the decoded path it is chosen by).
    const auto family = [&]() -> const ApiFamily& { return family_for(target->path()); };

    if (header.method() == http::verb::options) {
      // CORS preflight: say what a cross-origin page may send.
      ctx.route = "preflight";
      StringResponse res{http::status::no_content, 11};
      res.set(http::field::access_control_allow_methods, "GET, HEAD, POST, PATCH, DELETE, OPTIONS");
      res.set(http::field::access_control_allow_headers,
              "Authorization, Content-Type, X-Filename, Repr-Digest, Range, If-None-Match, If-Range");
      res.set(http::field::access_control_max_age, "600");
      co_await write_response(ctx, std::move(res));
      co_return;
    }
    const auto& segments = ctx.segments.items;
    const auto verb = header.method() == http::verb::head ? http::verb::get : header.method();
    auto [match, allowed] = router.find(header.method(), segments);
    const bool api_path = !segments.empty() && (segments[0] == "api" || segments[0] == "healthz" ||
                                                 segments[0] == "metrics" || segments[0] == "internal" ||
                                                 segments[0] == "rest");
    if (!match && allowed.empty() && verb == http::verb::get && !api_path && !config.web_root.empty()) {
      ctx.route = "static";
      auto reply = co_await serve_static(ctx);
      if (reply) co_await write_response(ctx, std::move(*reply));
      co_return;
    }
    if (!match) {
      ctx.route = allowed.empty() ? "unknown" : "method-not-allowed";
      auto res = family().render_error(
          ctx, allowed.empty() ? HttpError{http::status::not_found, "not-found", "Not found",
                                           "there is nothing at " + std::string(target->path())}
                               : HttpError{http::status::method_not_allowed, "method-not-allowed",
                                           "Method not allowed",
                                           ctx.method + " is not allowed here; allowed: " + allowed});
      if (!allowed.empty()) res.set(http::field::allow, allowed);
      co_await write_response(ctx, std::move(res));
      co_return;
    }
    ctx.route = match->route.pattern;
    for (std::size_t i = 0; i < match->segments.size(); ++i) {
      if (match->placeholder[i]) ctx.params.emplace_back(ctx.segments.items[i]);
    }
    if (draining && refused_while_draining(match->route)) {
      auto res = family().render_error(ctx, draining_error());
      res.set(http::field::retry_after, "1");
      co_await write_response(ctx, std::move(res));
      co_return;
    }

    Reply reply;
    try {
      if (auto refused = co_await authenticate(ctx, match->route.auth)) {
        co_await write_response(ctx, family().render_error(ctx, *refused));
        co_return;
      }
      reply = co_await match->route.handler(ctx);
    } catch (const boost::system::system_error&) {
      throw;  // the connection broke; nothing to answer
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", ctx.method, ctx.route, e.what());
      ctx.keep_alive = false;
      reply = family().render_error(ctx, {http::status::internal_server_error, "internal", "Internal server error",
                                        "something went wrong on the server; the error was logged"});
    }
    if (reply) co_await write_response(ctx, std::move(*reply));
  }

  // What a draining node still answers: the node-to-node API (peers fetch
  // its copies while it hands them over), health, metrics, the cluster view.
  static bool refused_while_draining(const Route& route) {
    if (route.auth == Auth::kPeer) return false;
    return route.pattern != "/healthz" && route.pattern != "/metrics" && route.pattern != "/api/v1/cluster";
  }

  HttpError draining_error() const {
    const auto member = drain_alternative ? drain_alternative() : std::string();
    HttpError error{http::status::service_unavailable, "draining", "This node is leaving",
                    member.empty() ? std::string("this node is draining; use another node of the cluster")
                                   : "this node is draining; use " + member + " instead"};
    if (!member.empty()) error.extensions["member"] = member;
    return error;
  }

  void close_idle_connections() {
    std::lock_guard lock(conn_mu);
    for (auto& [id, conn] : open) {
      if (conn.busy || !conn.stream) continue;
      // Cancel on the connection's own thread, where the session also ends;
      // the id is looked up again there because it may have ended already.
      asio::post(conn.stream->get_executor(), [this, id = id] {
        std::lock_guard lock(conn_mu);
        auto it = open.find(id);
        if (it != open.end() && !it->second.busy && it->second.stream) it->second.stream->cancel();
      });
    }
  }
};

HttpServer::HttpServer(const ServerConfig& config, Services services)
    : impl_(std::make_unique<Impl>(config, services)) {}

HttpServer::~HttpServer() {
  shutdown();
  wait();
}

void HttpServer::start() {
  auto& d = *impl_;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(d.config.listen_host, ec);
  if (ec) throw std::runtime_error("invalid listen address '" + d.config.listen_host + "'");
  tcp::endpoint endpoint{address, d.config.listen_port};
  d.acceptor.open(endpoint.protocol());
  d.acceptor.set_option(asio::socket_base::reuse_address(true));
  d.acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + d.config.listen_host + ":" +
                             std::to_string(d.config.listen_port) + ": " + ec.message());
  }
  d.acceptor.listen(asio::socket_base::max_listen_connections);
  if (!d.config.tls_cert_file.empty()) {
    auto certificate = net::ServerCertificate::load(d.config.tls_cert_file, d.config.tls_key_file);
    if (!certificate) throw std::runtime_error(certificate.status().message());
    d.certificate = std::move(*certificate);
    spdlog::info("TLS with the certificate {}", d.certificate->describe());
  }
  for (auto& ioc : d.iocs) d.work.push_back(asio::make_work_guard(*ioc));
  asio::co_spawn(*d.iocs.front(), d.accept_loop(), asio::detached);
  for (auto& ioc : d.iocs) {
    d.threads.emplace_back([&ioc = *ioc] { ioc.run(); });
  }
}

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

bool HttpServer::tls() const { return impl_->certificate != nullptr; }

void HttpServer::start_draining(std::function<std::string()> alternative) {
  auto& d = *impl_;
  if (d.draining) return;
  d.drain_alternative = std::move(alternative);
  d.draining = true;
}

std::size_t HttpServer::in_flight() const {
  auto& d = *impl_;
  std::lock_guard lock(d.conn_mu);
  return static_cast<std::size_t>(
      std::count_if(d.open.begin(), d.open.end(), [](const auto& entry) { return entry.second.busy; }));
}

Status HttpServer::reload_certificate() {
  auto& d = *impl_;
  if (!d.certificate) return failed_precondition("this node serves HTTP without TLS: there is no certificate to reload");
  if (auto s = d.certificate->reload(); !s) return s;
  spdlog::info("TLS certificate reloaded: {}", d.certificate->describe());
  return Status::ok();
}

void HttpServer::shutdown() {
  auto& d = *impl_;
  if (d.stopping.exchange(true)) return;
  if (d.threads.empty()) return;
  spdlog::info("shutting down: no new connections; {} open", d.connections.load());
  asio::post(*d.iocs.front(), [&d] {
    boost::system::error_code ignored;
    d.acceptor.close(ignored);
  });
  d.services.hub.close_all();
  d.close_idle_connections();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(d.config.shutdown_grace_ms);
  while (d.connections > 0 && std::chrono::steady_clock::now() < deadline) {
    d.close_idle_connections();
    std::this_thread::sleep_for(20ms);
  }
  if (d.connections > 0) {
    spdlog::warn("shutdown grace period over: aborting {} connections", d.connections.load());
  }
  d.work.clear();
  for (auto& ioc : d.iocs) ioc->stop();
}

void HttpServer::wait() {
  auto& d = *impl_;
  for (auto& t : d.threads) {
    if (t.joinable()) t.join();
  }
  d.threads.clear();
  d.workers.join();
  d.password_workers.join();
  d.access_log.stop();  // writes the lines of every request answered
  // Sessions cut off at the grace deadline never left their rooms; drop them
  // while their io_context still exists.
  d.services.hub.clear();
}

}  // namespace hifi
