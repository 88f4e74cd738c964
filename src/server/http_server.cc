#include "server/http_server.h"

#include <spdlog/spdlog.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>

#include <atomic>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "server/http_internal.h"
#include "server/room_hub.h"

namespace hifi {
namespace http_internal {
namespace {

using namespace std::chrono_literals;
using asio::as_tuple;
using asio::use_awaitable;

constexpr std::size_t kMaxReadBuffer = 1 << 20;  // bounds pipelined requests waiting

std::string verb_name(http::verb v) { return std::string(http::to_string(v)); }

// Splits "/api/v1/songs/{}" into literal segments and placeholders.
std::vector<std::string> split_pattern(const std::string& pattern) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= pattern.size()) {
    auto end = pattern.find('/', start);
    if (end == std::string::npos) end = pattern.size();
    out.push_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::optional<std::string> RequestContext::query(std::string_view name) const {
  auto params = url.params();
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return std::string((*it).value);
}

// The problem response itself; it needs no request, so connections that
// fail before one exists (reject() below) build theirs here too.
StringResponse problem_response(http::status status, std::string_view type, std::string_view title,
                                std::string_view detail, const boost::json::object& extensions = {}) {
  StringResponse res{status, 11};
  res.set(http::field::content_type, "application/problem+json");
  boost::json::object body = extensions;
  body["type"] = "urn:hifi:problem:" + std::string(type);
  body["title"] = title;
  body["status"] = static_cast<int>(status);
  body["detail"] = detail;
  res.body() = boost::json::serialize(body);
  if (status == http::status::unauthorized) {
    res.set(http::field::www_authenticate, "Bearer realm=\"hifi\"");
  }
  return res;
}

StringResponse problem(const RequestContext& ctx, http::status status, std::string_view type,
                       std::string_view title, std::string_view detail,
                       const boost::json::object& extensions) {
  return problem_response(status, type, title, detail, extensions);
}

StringResponse problem_from_status(const RequestContext& ctx, const Status& s) {
  switch (s.code()) {
    case Code::kOk:
    case Code::kInternal:
    case Code::kCompacted:
      break;
    case Code::kInvalidArgument:
      return problem(ctx, http::status::bad_request, "invalid-request", "Invalid request", s.message());
    case Code::kNotFound:
      return problem(ctx, http::status::not_found, "not-found", "Not found", s.message());
    case Code::kAlreadyExists:
      return problem(ctx, http::status::conflict, "already-exists", "Already exists", s.message());
    case Code::kFailedPrecondition:
      return problem(ctx, http::status::conflict, "precondition-failed", "Precondition failed", s.message());
    case Code::kUnauthenticated:
      return problem(ctx, http::status::unauthorized, "unauthenticated", "Authentication required", s.message());
    case Code::kPermissionDenied:
      return problem(ctx, http::status::forbidden, "forbidden", "Forbidden", s.message());
    case Code::kResourceExhausted:
      return problem(ctx, http::status::too_many_requests, "too-many-requests", "Too many requests", s.message());
    case Code::kUnsupported:
      return problem(ctx, http::status::unsupported_media_type, "unsupported-media-type", "Unsupported media type", s.message());
    case Code::kUnavailable:
      return problem(ctx, http::status::service_unavailable, "unavailable", "Service unavailable", s.message());
    case Code::kIoError:
      spdlog::error("storage error: {}", s.message());
      return problem(ctx, http::status::internal_server_error, "storage-error", "Storage error",
                     "the server could not read or write its disk; try again later");
  }
  spdlog::error("internal error: {}", s.to_string());
  return problem(ctx, http::status::internal_server_error, "internal", "Internal server error",
                 "something went wrong on the server; the error was logged");
}

StringResponse json_response(const RequestContext& ctx, http::status status,
                             const boost::json::value& body) {
  StringResponse res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  return res;
}

awaitable<void> send_continue_if_expected(RequestContext& ctx) {
  auto expect = ctx.header()[http::field::expect];
  if (!beast::iequals(expect, "100-continue")) co_return;
  http::response<http::empty_body> cont{http::status::continue_, 11};
  ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  co_await http::async_write(ctx.stream, cont, use_awaitable);
}

awaitable<Result<std::string>> read_body(RequestContext& ctx, std::size_t limit) {
  std::string out;
  auto& parser = ctx.parser;
  if (auto len = parser.content_length(); len && *len > limit) {
    co_return resource_exhausted("the request body is larger than " + std::to_string(limit) + " bytes");
  }
  co_await send_continue_if_expected(ctx);
  ctx.buffer.reserve(16 * 1024);  // read in large pieces, not 512 bytes at a time
  char buf[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(ctx.stream, ctx.buffer, parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      ctx.keep_alive = false;
      co_return invalid_argument("the request body could not be read: " + ec.message());
    }
    out.append(buf, sizeof buf - parser.get().body().size);
    if (out.size() > limit) {
      co_return resource_exhausted("the request body is larger than " + std::to_string(limit) + " bytes");
    }
  }
  ctx.services.metrics.add_bytes_in(out.size());
  co_return out;
}

// Browsers may call any node of a cluster from a page served by another, so
// the API answers cross-origin requests. Credentials are bearer tokens or
// signed URLs, never cookies, so allowing every origin exposes nothing a
// page could not already send.
template <typename Message>
void add_cors_headers(const RequestContext& ctx, Message& res) {
  if (ctx.header()[http::field::origin].empty()) return;
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_expose_headers,
          "ETag, Repr-Digest, Content-Range, Content-Length, Location, Retry-After");
}

awaitable<void> write_response(RequestContext& ctx, StringResponse res) {
  if (!ctx.parser.is_done()) ctx.keep_alive = false;  // unread body: cannot reuse the connection
  res.version(11);
  res.keep_alive(ctx.keep_alive);
  res.set(http::field::server, "hifi");
  add_cors_headers(ctx, res);
  res.prepare_payload();
  ctx.status = res.result_int();
  ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  if (ctx.method == "HEAD") {
    http::response_serializer<http::string_body> sr{res};
    co_await http::async_write_header(ctx.stream, sr, use_awaitable);
  } else {
    ctx.bytes_out = res.body().size();
    co_await http::async_write(ctx.stream, res, use_awaitable);
    ctx.services.metrics.add_bytes_out(ctx.bytes_out);
  }
}

awaitable<void> write_header(RequestContext& ctx, HeaderResponse& header) {
  if (!ctx.parser.is_done()) ctx.keep_alive = false;
  header.version(11);
  header.keep_alive(ctx.keep_alive);
  header.set(http::field::server, "hifi");
  add_cors_headers(ctx, header);
  ctx.status = header.result_int();
  ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  http::response_serializer<http::empty_body> sr{header};
  co_await http::async_write_header(ctx.stream, sr, use_awaitable);
}

awaitable<void> send_file(RequestContext& ctx, HeaderResponse& header, int fd,
                          std::uint64_t offset, std::uint64_t length) {
  using namespace asio::experimental::awaitable_operators;
  auto& socket = ctx.stream.socket();
  const bool send_body = ctx.method != "HEAD" && length > 0;
  // Cork so the header and the start of the file leave in the same packets.
  auto set_cork = [&](int on) {
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  };
  if (send_body) set_cork(1);
  struct Uncork {
    std::function<void()> f;
    ~Uncork() { f(); }
  } uncork{[&] { if (send_body) set_cork(0); }};
  co_await write_header(ctx, header);
  if (!send_body) co_return;

  asio::steady_timer timer(ctx.stream.get_executor());
  auto off = static_cast<off_t>(offset);
  std::uint64_t remaining = length;
  ctx.services.metrics.stream_started();
  struct StreamGauge {
    Metrics& m;
    ~StreamGauge() { m.stream_finished(); }
  } gauge{ctx.services.metrics};
  while (remaining > 0) {
    auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 1 << 20));
    auto n = ::sendfile(socket.native_handle(), fd, &off, chunk);
    if (n > 0) {
      remaining -= static_cast<std::uint64_t>(n);
      ctx.bytes_out += static_cast<std::uint64_t>(n);
      ctx.services.metrics.add_bytes_out(static_cast<std::uint64_t>(n));
      continue;
    }
    if (n == 0) throw boost::system::system_error(asio::error::eof, "the song file is shorter than expected");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()));
    }
    timer.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto result = co_await (socket.async_wait(tcp::socket::wait_write, use_awaitable) ||
                            timer.async_wait(use_awaitable));
    if (result.index() == 1) throw boost::system::system_error(beast::error::timeout);
  }
}

}  // namespace http_internal

using namespace http_internal;
using asio::as_tuple;
using asio::use_awaitable;

struct HttpServer::Impl {
  struct CompiledRoute {
    Route route;
    std::vector<std::string> segments;
  };
  struct Connection {
    beast::tcp_stream* stream;
    bool busy;
  };

  ServerConfig config;
  Services services;
  asio::io_context ioc;
  asio::thread_pool workers;
  tcp::acceptor acceptor{ioc};
  std::vector<CompiledRoute> routes;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint32_t> connections{0};
  std::mutex conn_mu;
  std::map<std::uint64_t, Connection> open;
  std::uint64_t next_conn_id = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  Impl(const ServerConfig& c, Services s)
      : config(c), services(s), ioc(static_cast<int>(c.threads)),
        workers(std::max<std::size_t>(4, c.threads * 2)) {
    for (auto& r : api_routes()) routes.push_back({r, split_pattern(r.pattern)});
    for (auto& r : room_routes()) routes.push_back({r, split_pattern(r.pattern)});
    for (auto& r : cluster_routes()) routes.push_back({r, split_pattern(r.pattern)});
  }

  std::uint64_t track(beast::tcp_stream* stream) {
    std::lock_guard lock(conn_mu);
    open[++next_conn_id] = {stream, false};
    return next_conn_id;
  }
  void untrack(std::uint64_t id) {
    std::lock_guard lock(conn_mu);
    open.erase(id);
  }
  // Returns false when the server is stopping and the connection should go.
  bool set_busy(std::uint64_t id, bool busy) {
    std::lock_guard lock(conn_mu);
    open[id].busy = busy;
    return !stopping;
  }

  awaitable<void> accept_loop() {
    asio::steady_timer backoff(ioc);
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), as_tuple(use_awaitable));
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
      asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
  }

  awaitable<void> session(tcp::socket socket) {
    ++connections;
    services.metrics.connection_opened();
    {
      // Responses go out whole (header and body in one write, or header
      // corked in front of sendfile), so Nagle would only add delay.
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      socket.native_non_blocking(true, ignored);
    }
    beast::tcp_stream stream(std::move(socket));
    const auto id = track(&stream);
    std::string client_address;
    {
      boost::system::error_code ec;
      auto ep = stream.socket().remote_endpoint(ec);
      client_address = ec ? "unknown" : ep.address().to_string();
    }
    beast::flat_buffer buffer(kMaxReadBuffer);
    bool first = true;
    bool upgraded = false;
    try {
      for (;;) {
        if (!set_busy(id, false)) break;
        RequestParser parser;
        parser.header_limit(config.max_header_bytes);
        parser.body_limit(config.max_upload_bytes);
        stream.expires_after(std::chrono::milliseconds(first ? config.header_timeout_ms
                                                             : config.idle_timeout_ms));
        auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
        if (ec) {
          if (ec == http::error::body_limit) {
            co_await reject(stream, http::status::payload_too_large, "payload-too-large",
                            "Payload too large",
                            "the request body may be at most " + std::to_string(config.max_upload_bytes) + " bytes");
          } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            co_await reject(stream, http::status::request_header_fields_too_large,
                            "header-too-large", "Request header too large",
                            "the request header is larger than " + std::to_string(config.max_header_bytes) + " bytes");
          } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                     ec != http::error::end_of_stream && ec != http::error::partial_message) {
            co_await reject(stream, http::status::bad_request, "malformed-request",
                            "Malformed request", "the request is not valid HTTP/1.1: " + ec.message());
          }
          break;
        }
        if (!set_busy(id, true)) {
          // Arrived while shutting down: answer, then close.
        }
        first = false;
        RequestContext ctx{stream, buffer, parser, config, services, workers};
        ctx.client_address = client_address;
        ctx.keep_alive = parser.get().keep_alive() && !stopping;
        auto started = std::chrono::steady_clock::now();
        co_await dispatch(ctx);
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        services.metrics.count_request(ctx.method, ctx.route.empty() ? "unmatched" : ctx.route, ctx.status);
        spdlog::info("{} {} {} -> {} {}B {:.1f}ms", ctx.client_address, ctx.method,
                     ctx.url.path(), ctx.status, ctx.bytes_out, ms);
        if (ctx.upgraded) {
          upgraded = true;  // the WebSocket owned the socket and has closed it
          break;
        }
        if (!ctx.keep_alive || stopping) break;
      }
    } catch (const std::exception& e) {
      spdlog::debug("connection from {} ended: {}", client_address, e.what());
    }
    if (!upgraded) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream.socket().close(ignored);
    }
    untrack(id);
    services.metrics.connection_closed();
    --connections;
  }

  awaitable<void> reject(beast::tcp_stream& stream, http::status status, std::string_view type,
                         std::string_view title, std::string detail) {
    auto res = problem_response(status, type, title, detail);
    res.set(http::field::server, "hifi");
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(std::chrono::milliseconds(config.body_idle_timeout_ms));
    co_await http::async_write(stream, res, as_tuple(use_awaitable));
    services.metrics.count_request("-", "malformed", static_cast<int>(status));
  }

  awaitable<void> dispatch(RequestContext& ctx) {
    const auto& header = ctx.header();
    ctx.method = std::string(header.method_string());
    auto target = boost::urls::parse_origin_form(header.target());
    if (!target) {
      ctx.route = "invalid";
      co_await write_response(ctx, problem(ctx, http::status::bad_request, "malformed-request",
                                           "Malformed request target",
                                           "the request target is not a valid path"));
      co_return;
    }
    ctx.url = *target;
    for (auto seg : target->segments()) ctx.segments.push_back(seg);

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
    const CompiledRoute* match = nullptr;
    std::string allowed;
    const auto verb = header.method() == http::verb::head ? http::verb::get : header.method();
    for (const auto& r : routes) {
      if (r.segments.size() != ctx.segments.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < r.segments.size() && same; ++i) {
        same = r.segments[i] == "{}" || r.segments[i] == ctx.segments[i];
      }
      if (!same) continue;
      if (r.route.method == verb) {
        match = &r;
        break;
      }
      if (!allowed.empty()) allowed += ", ";
      allowed += verb_name(r.route.method);
      if (r.route.method == http::verb::get) allowed += ", HEAD";
    }
    const bool api_path = !ctx.segments.empty() && (ctx.segments[0] == "api" || ctx.segments[0] == "healthz" ||
                                                     ctx.segments[0] == "metrics" || ctx.segments[0] == "internal");
    if (!match && allowed.empty() && verb == http::verb::get && !api_path && !config.web_root.empty()) {
      ctx.route = "static";
      auto reply = co_await serve_static(ctx);
      if (reply) co_await write_response(ctx, std::move(*reply));
      co_return;
    }
    if (!match) {
      ctx.route = allowed.empty() ? "unknown" : "method-not-allowed";
      auto res = allowed.empty()
                     ? problem(ctx, http::status::not_found, "not-found", "Not found",
                               "there is nothing at " + std::string(target->path()))
                     : problem(ctx, http::status::method_not_allowed, "method-not-allowed",
                               "Method not allowed",
                               ctx.method + " is not allowed here; allowed: " + allowed);
      if (!allowed.empty()) res.set(http::field::allow, allowed);
      co_await write_response(ctx, std::move(res));
      co_return;
    }
    ctx.route = match->route.pattern;
    for (std::size_t i = 0; i < match->segments.size(); ++i) {
      if (match->segments[i] == "{}") ctx.params.push_back(ctx.segments[i]);
    }

    Reply reply;
    try {
      if (match->route.needs_auth) {
        auto failure = co_await authenticate(ctx);
        if (failure) {
          co_await write_response(ctx, std::move(*failure));
          co_return;
        }
      }
      reply = co_await match->route.handler(ctx);
    } catch (const boost::system::system_error&) {
      throw;  // the connection broke; nothing to answer
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", ctx.method, ctx.route, e.what());
      ctx.keep_alive = false;
      reply = problem(ctx, http::status::internal_server_error, "internal", "Internal server error",
                      "something went wrong on the server; the error was logged");
    }
    if (reply) co_await write_response(ctx, std::move(*reply));
  }

  awaitable<std::optional<StringResponse>> authenticate(RequestContext& ctx) {
    auto auth = ctx.header()[http::field::authorization];
    if (auth.empty()) {
      co_return problem(ctx, http::status::unauthorized, "unauthenticated", "Authentication required",
                        "send 'Authorization: Bearer <token>'; get a token from POST /api/v1/auth/login");
    }
    if (auth.size() < 7 || !beast::iequals(auth.substr(0, 7), "Bearer ")) {
      co_return problem(ctx, http::status::unauthorized, "unauthenticated", "Authentication required",
                        "the Authorization header must use the Bearer scheme");
    }
    std::string token(auth.substr(7));
    auto user = co_await offload(ctx, [&] { return ctx.services.accounts.authenticate(token); });
    if (!user) co_return problem_from_status(ctx, user.status());
    ctx.user = *user;
    co_return std::nullopt;
  }

  void close_idle_connections() {
    std::lock_guard lock(conn_mu);
    for (auto& [id, conn] : open) {
      if (conn.busy) continue;
      // Cancel on the connection's own strand, where the session also ends;
      // the id is looked up again there because it may have ended already.
      asio::post(conn.stream->get_executor(), [this, id = id] {
        std::lock_guard lock(conn_mu);
        auto it = open.find(id);
        if (it != open.end() && !it->second.busy) it->second.stream->cancel();
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
  d.work.emplace(d.ioc.get_executor());
  asio::co_spawn(d.ioc, d.accept_loop(), asio::detached);
  for (unsigned i = 0; i < d.config.threads; ++i) {
    d.threads.emplace_back([&d] { d.ioc.run(); });
  }
}

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::shutdown() {
  auto& d = *impl_;
  if (d.stopping.exchange(true)) return;
  if (d.threads.empty()) return;
  spdlog::info("shutting down: no new connections; {} open", d.connections.load());
  asio::post(d.ioc, [&d] {
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
  d.work.reset();
  d.ioc.stop();
}

void HttpServer::wait() {
  auto& d = *impl_;
  for (auto& t : d.threads) {
    if (t.joinable()) t.join();
  }
  d.threads.clear();
  d.workers.join();
  // Sessions cut off at the grace deadline never left their rooms; drop them
  // while their io_context still exists.
  d.services.hub.clear();
}

}  // namespace hifi
