// Writing responses: errors (problem+json), JSON bodies, headers with the
// connection's fields, and files with sendfile(2).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "server/http_internal.h"
#include "server/metrics.h"

namespace hifi::http_internal {

using asio::use_awaitable;

std::optional<std::string> RequestContext::query(std::string_view name) const {
  auto value = query_view(name);
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::optional<std::string_view> RequestContext::query_view(std::string_view name) const {
  if (!query_params_) query_params_ = url.param_views();
  for (const auto& [key, value] : query_params_->items) {
    if (key == name) return value;
  }
  return std::nullopt;
}

StringResponse problem_response(const HttpError& error) {
  StringResponse res{error.status, 11};
  res.set(http::field::content_type, "application/problem+json");
  boost::json::object body = error.extensions;
  body["type"] = "urn:hifi:problem:" + error.type;
  body["title"] = error.title;
  body["status"] = static_cast<int>(error.status);
  body["detail"] = error.detail;
  res.body() = boost::json::serialize(body);
  if (error.status == http::status::unauthorized) {
    res.set(http::field::www_authenticate, "Bearer realm=\"hifi\"");
  }
  return res;
}

StringResponse problem(const RequestContext&, http::status status, std::string_view type,
                       std::string_view title, std::string_view detail,
                       const boost::json::object& extensions) {
  return problem_response(
      {status, std::string(type), std::string(title), std::string(detail), extensions});
}

const std::vector<ApiFamily>& api_families() {
  static const std::vector<ApiFamily> kFamilies = {
      {"/rest/", subsonic_router_error},
      {"", [](const RequestContext&, const HttpError& e) { return problem_response(e); }},
  };
  return kFamilies;
}

HttpError error_from_status(const Status& s) {
  using S = http::status;
  switch (s.code()) {
    case Code::kOk:
    case Code::kInternal:
    case Code::kCompacted:
      break;
    case Code::kInvalidArgument:
      return {S::bad_request, "invalid-request", "Invalid request", s.message()};
    case Code::kNotFound:
      return {S::not_found, "not-found", "Not found", s.message()};
    case Code::kAlreadyExists:
      return {S::conflict, "already-exists", "Already exists", s.message()};
    case Code::kFailedPrecondition:
      return {S::conflict, "precondition-failed", "Precondition failed", s.message()};
    case Code::kUnauthenticated:
      return {S::unauthorized, "unauthenticated", "Authentication required", s.message()};
    case Code::kPermissionDenied:
      return {S::forbidden, "forbidden", "Forbidden", s.message()};
    case Code::kResourceExhausted:
      return {S::too_many_requests, "too-many-requests", "Too many requests", s.message()};
    case Code::kUnsupported:
      return {S::unsupported_media_type, "unsupported-media-type", "Unsupported media type", s.message()};
    case Code::kUnavailable:
      return {S::service_unavailable, "unavailable", "Service unavailable", s.message()};
    case Code::kIoError:
      spdlog::error("storage error: {}", s.message());
      return {S::internal_server_error, "storage-error", "Storage error",
              "the server could not read or write its disk; try again later"};
  }
  spdlog::error("internal error: {}", s.to_string());
  return {S::internal_server_error, "internal", "Internal server error",
          "something went wrong on the server; the error was logged"};
}

StringResponse problem_from_status(const RequestContext&, const Status& s) {
  return problem_response(error_from_status(s));
}

StringResponse json_response(const RequestContext&, http::status status, const boost::json::value& body) {
  StringResponse res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  return res;
}

StringResponse bad_request(const RequestContext& ctx, std::string_view detail) {
  return problem(ctx, http::status::bad_request, "invalid-request", "Invalid request", detail);
}

StringResponse not_found_problem(const RequestContext& ctx, std::string_view detail) {
  return problem(ctx, http::status::not_found, "not-found", "Not found", detail);
}

StringResponse invalid_parameter(const RequestContext& ctx, std::string_view name, std::string_view detail) {
  return problem(ctx, http::status::bad_request, "invalid-parameter", "Invalid parameter", detail,
                 {{"parameter", name}});
}

namespace {

// Browsers may call any node of a cluster from a page served by another, so
// the API answers cross-origin requests. Credentials are bearer tokens or
// signed URLs, never cookies, so allowing every origin exposes nothing a
// page could not already send.
// Every response, songs and covers included: no type sniffing, no framing,
// and no Referer carrying a signed URL's query to other sites.
constexpr std::pair<std::string_view, std::string_view> kEveryResponse[] = {
    {"Server", "hifi"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
};
constexpr std::string_view kPolicyHeader = "Content-Security-Policy";
constexpr std::string_view kDefaultPolicy = "default-src 'none'; frame-ancestors 'none'";
constexpr std::string_view kExposedHeaders = "ETag, Repr-Digest, Content-Range, Content-Length, Location, Retry-After";

bool cross_origin(const RequestContext& ctx) { return !ctx.header()[http::field::origin].empty(); }

template <typename Message>
void add_connection_fields(const RequestContext& ctx, Message& res) {
  res.version(11);
  res.keep_alive(ctx.keep_alive);
  for (const auto& [name, value] : kEveryResponse) res.set(name, value);
  if (!res.count(kPolicyHeader)) res.set(kPolicyHeader, kDefaultPolicy);
  if (!cross_origin(ctx)) return;
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_expose_headers, kExposedHeaders);
}

void add_connection_fields(const RequestContext& ctx, FileHeader& header) {
  if (!ctx.keep_alive) header.set(http::field::connection, "close");
  for (const auto& [name, value] : kEveryResponse) header.set(name, value);
  if (!header.has_policy()) header.set(kPolicyHeader, kDefaultPolicy);
  if (!cross_origin(ctx)) return;
  header.set(http::field::access_control_allow_origin, "*");
  header.set(http::field::access_control_expose_headers, kExposedHeaders);
}

}  // namespace

StringResponse password_busy(const RequestContext& ctx) {
  auto res = problem(ctx, http::status::service_unavailable, "password-checks-busy", "Busy",
                     "this node is checking too many passwords at once; try again in a moment");
  res.set(http::field::retry_after, "1");
  return res;
}

StringResponse transcoder_busy(const RequestContext& ctx, const std::string& detail) {
  auto res = problem(ctx, http::status::service_unavailable, "transcoder-busy", "Transcoder busy", detail);
  res.set(http::field::retry_after, "2");
  return res;
}

awaitable<void> write_response(RequestContext& ctx, StringResponse res) {
  if (!ctx.parser.is_done()) ctx.keep_alive = false;  // unread body: cannot reuse the connection
  add_connection_fields(ctx, res);
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
  add_connection_fields(ctx, header);
  ctx.status = header.result_int();
  ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  http::response_serializer<http::empty_body> sr{header};
  co_await http::async_write_header(ctx.stream, sr, use_awaitable);
}

FileCloser::~FileCloser() {
  if (fd >= 0) ::close(fd);
}

StreamGauge::StreamGauge(Metrics& metrics) : metrics_(metrics) { metrics_.stream_started(); }
StreamGauge::~StreamGauge() { metrics_.stream_finished(); }

FileHeader::FileHeader(http::status status) : status_(status) {
  text_.reserve(640);
  text_ += "HTTP/1.1 ";
  text_ += std::to_string(static_cast<unsigned>(status));
  text_ += ' ';
  text_.append(http::obsolete_reason(status));
  text_ += "\r\n";
}

namespace {

// Whether `text` has a byte below 0x20 (CR, LF and NUL are), eight bytes
// at a time: a word has one exactly when (w - 0x20 per byte) & ~w has a
// byte's top bit set (valid for bounds up to 0x80).
bool has_control_byte(std::string_view text) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kTops = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    if (((w - kOnes * 0x20) & ~w & kTops) != 0) return true;
  }
  for (; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) < 0x20) return true;
  }
  return false;
}

}  // namespace

void FileHeader::set(std::string_view name, std::string_view value) {
  if (name.size() == kPolicyHeader.size() && beast::iequals(name, kPolicyHeader)) has_policy_ = true;
  const auto at = text_.size();
  text_.resize(at + name.size() + value.size() + 4);
  char* out = text_.data() + at;
  std::memcpy(out, name.data(), name.size());
  out += name.size();
  *out++ = ':';
  *out++ = ' ';
  std::memcpy(out, value.data(), value.size());
  if (has_control_byte(value)) {
    std::replace_if(out, out + value.size(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
  }
  out += value.size();
  *out++ = '\r';
  *out = '\n';
}

void FileHeader::set_number(std::string_view name, std::uint64_t value) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  set(name, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

namespace {

// send_file through TLS: the bytes must be encrypted in user space, so they
// are read and written piece by piece (pread, then one write in flight).
awaitable<void> send_file_through_tls(RequestContext& ctx, const std::string& header, int fd, std::uint64_t offset,
                                      std::uint64_t length) {
  ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  co_await asio::async_write(ctx.stream, asio::buffer(header), use_awaitable);
  if (ctx.method == "HEAD" || length == 0) co_return;
  constexpr std::size_t kPiece = 256 * 1024;
  std::vector<char> buf(static_cast<std::size_t>(std::min<std::uint64_t>(length, kPiece)));
  StreamGauge gauge(ctx.services.metrics);
  std::uint64_t remaining = length;
  auto off = static_cast<off_t>(offset);
  while (remaining > 0) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buf.size()));
    const auto n = ::pread(fd, buf.data(), want, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()));
    if (n == 0) throw boost::system::system_error(asio::error::eof, "the song file is shorter than expected");
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    co_await asio::async_write(ctx.stream, asio::buffer(buf.data(), static_cast<std::size_t>(n)), use_awaitable);
    off += n;
    remaining -= static_cast<std::uint64_t>(n);
    ctx.bytes_out += static_cast<std::uint64_t>(n);
    ctx.services.metrics.add_bytes_out(static_cast<std::uint64_t>(n));
  }
}

}  // namespace

awaitable<void> send_file(RequestContext& ctx, FileHeader& header, int file_fd,
                          std::uint64_t offset, std::uint64_t length) {
  using namespace asio::experimental::awaitable_operators;
  if (!ctx.parser.is_done()) ctx.keep_alive = false;  // unread body: cannot reuse the connection
  add_connection_fields(ctx, header);
  ctx.status = static_cast<int>(header.status());
  ctx.file_bytes = header.status() == http::status::ok || header.status() == http::status::partial_content;
  const std::string& text = header.finish();
  if (ctx.stream.is_tls()) {
    co_await send_file_through_tls(ctx, text, file_fd, offset, length);
    co_return;
  }
  auto& socket = ctx.stream.socket();
  const int fd = socket.native_handle();  // non-blocking: set once per connection
  const bool send_body = ctx.method != "HEAD" && length > 0;
  asio::steady_timer timer(ctx.stream.get_executor());
  // Until the socket can take more bytes, within the idle timeout.
  auto wait_writable = [&]() -> awaitable<void> {
    timer.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto result = co_await (socket.async_wait(tcp::socket::wait_write, use_awaitable) ||
                            timer.async_wait(use_awaitable));
    if (result.index() == 1) throw boost::system::system_error(beast::error::timeout);
  };

  // The header goes out as one buffer, sent at once: the socket almost
  // always has room, so there is no asynchronous write to set up. For a
  // body that starts on a page, MSG_MORE holds the header back until the
  // file's bytes follow (sendfile's last piece pushes them all), so header
  // and body leave in the same packets. For one that starts inside a page
  // (most ranges) the header goes at once: corked in front of it, the
  // kernel's send path cost this server about 25 us more per 16-64 KiB
  // range on loopback (docs/benchmarks.md, "Ranges sent without the cork").
  constexpr std::uint64_t kPage = 4096;
  const int flags = MSG_NOSIGNAL | (send_body && offset % kPage == 0 ? MSG_MORE : 0);
  std::size_t header_sent = 0;
  while (header_sent < text.size()) {
    const auto n = ::send(fd, text.data() + header_sent, text.size() - header_sent, flags);
    if (n > 0) {
      header_sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      co_await wait_writable();
      continue;
    }
    throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()));
  }
  if (!send_body) co_return;

  auto off = static_cast<off_t>(offset);
  std::uint64_t remaining = length;
  StreamGauge gauge(ctx.services.metrics);
  while (remaining > 0) {
    auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 1 << 20));
    auto n = ::sendfile(fd, file_fd, &off, chunk);
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
    co_await wait_writable();
  }
}

std::string public_base_url(const RequestContext& ctx) {
  std::string host(ctx.header()[http::field::host]);
  const bool usable = !host.empty() && host.size() <= 255 &&
                      std::all_of(host.begin(), host.end(), [](unsigned char c) {
                        return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
                      });
  if (!usable) {
    // No usable Host (HTTP/1.0, or garbage): the address this node gives.
    if (!ctx.config.advertise.empty()) return ctx.config.advertise;
    host = ctx.config.listen_host + ":" + std::to_string(ctx.config.listen_port);
  }
  const bool tls = ctx.stream.is_tls() || ctx.header()["X-Forwarded-Proto"] == "https";
  return (tls ? "https://" : "http://") + host;
}

}  // namespace hifi::http_internal
