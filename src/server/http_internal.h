// Private to the HTTP layer: what a route handler sees of a request, and the
// helpers handlers share. Includes Beast; keep it out of other layers.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "library/accounts.h"
#include "server/config.h"
#include "server/http_server.h"

namespace hifi::http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;
using StringResponse = http::response<http::string_body>;
using RequestParser = http::request_parser<http::buffer_body>;

struct RequestContext {
  beast::tcp_stream& stream;
  beast::flat_buffer& buffer;
  RequestParser& parser;
  const ServerConfig& config;
  Services& services;
  asio::thread_pool& workers;

  std::string method;                 // "GET", ...
  std::string route;                  // the matched pattern, for logs and metrics
  std::vector<std::string> segments;  // decoded path segments
  std::vector<std::string> params;    // values of the pattern's {} segments
  boost::urls::url_view url;          // for the query parameters
  std::string client_address;
  std::optional<User> user;           // set for authenticated routes

  // Filled in by whoever writes the response, for the request log.
  int status = 0;
  std::uint64_t bytes_out = 0;
  bool keep_alive = true;
  bool upgraded = false;  // the connection became a WebSocket and is gone

  const http::request_header<>& header() const { return parser.get().base(); }
  std::optional<std::string> query(std::string_view name) const;
};

// nullopt: the handler wrote its response itself (streams).
using Reply = std::optional<StringResponse>;
using Handler = std::function<awaitable<Reply>(RequestContext&)>;

struct Route {
  http::verb method;
  std::string pattern;  // "/api/v1/songs/{}/stream"
  bool needs_auth;
  Handler handler;
};

std::vector<Route> api_routes();
std::vector<Route> room_routes();
// GET /api/v1/cluster and the node-to-node API under /internal/v1.
std::vector<Route> cluster_routes();
// GET/HEAD of a path that no API route matches: a file of the web UI, or
// index.html for "/" and for client-side routes (paths without a dot).
awaitable<Reply> serve_static(RequestContext& ctx);

// GET/HEAD of a blob this node holds, honouring Range, If-Range and
// If-None-Match; download_name (if any) becomes a Content-Disposition.
awaitable<Reply> serve_blob(RequestContext& ctx, const std::string& sha256,
                            const std::string& content_type, const std::string& download_name);

// A song's bytes or cover that this node lacks: a 307 to a signed URL on
// the least loaded live holder, or (--read-mode proxy, and always for
// covers, which need no signed link) the bytes fetched from that holder.
// 503 when no live node holds them.
enum class BlobKind { kSong, kCover };
awaitable<Reply> serve_remote_blob(RequestContext& ctx, const Song& song, BlobKind kind,
                                   const std::string& download_name);

// Problem details (RFC 9457). `type` is a stable slug; it is sent as
// "urn:hifi:problem:<type>". `extensions` are extra members (RFC 9457 3.2).
StringResponse problem(const RequestContext& ctx, http::status status, std::string_view type,
                       std::string_view title, std::string_view detail,
                       const boost::json::object& extensions = {});
// Maps a service Status to the matching HTTP problem.
StringResponse problem_from_status(const RequestContext& ctx, const Status& status);
StringResponse json_response(const RequestContext& ctx, http::status status,
                             const boost::json::value& body);
StringResponse bad_request(const RequestContext& ctx, std::string_view detail);

// Reads and parses a JSON object body, or produces the problem to answer.
awaitable<std::variant<boost::json::object, StringResponse>> read_json(RequestContext& ctx);

// Reads the rest of a small request body into memory, up to limit bytes;
// kResourceExhausted past the limit.
awaitable<Result<std::string>> read_body(RequestContext& ctx, std::size_t limit);
// Sends "100 Continue" when the client asked for it; call before reading a body.
awaitable<void> send_continue_if_expected(RequestContext& ctx);

// Runs f() on the worker pool and resumes on the connection's strand.
template <typename F>
awaitable<std::invoke_result_t<F>> offload(RequestContext& ctx, F f) {
  using R = std::invoke_result_t<F>;
  std::optional<R> result;
  std::exception_ptr error;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&](auto handler) {
        asio::post(ctx.workers, [&, handler = std::move(handler)]() mutable {
          try {
            result.emplace(f());
          } catch (...) {
            error = std::current_exception();
          }
          auto executor = asio::get_associated_executor(handler);
          asio::post(executor, std::move(handler));
        });
      },
      asio::use_awaitable);
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

}  // namespace hifi::http_internal

namespace hifi::http_internal {

using HeaderResponse = http::response<http::empty_body>;

// Writes a response header (the caller set Content-Length), with the
// connection's keep-alive, server and CORS fields; records the status.
awaitable<void> write_header(RequestContext& ctx, HeaderResponse& header);
// Writes a string response (header only for HEAD), recording status and
// bytes in ctx.
awaitable<void> write_response(RequestContext& ctx, StringResponse response);
// Writes `header` (whose Content-Length the caller set) and then `length`
// bytes of the file fd from `offset`, with sendfile(2) so the bytes never
// pass through user space. For HEAD only the header is sent.
awaitable<void> send_file(RequestContext& ctx, HeaderResponse& header, int fd,
                          std::uint64_t offset, std::uint64_t length);

}  // namespace hifi::http_internal
