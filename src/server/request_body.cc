// Reading request bodies: the one loop over Beast's buffer_body parser that
// small JSON bodies, song uploads and copies from other nodes all use.
#include "common/sha256.h"
#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/request_json.h"

namespace hifi::http_internal {

using asio::as_tuple;
using asio::use_awaitable;

awaitable<void> send_continue_if_expected(RequestContext& ctx) {
  auto expect = ctx.header()[http::field::expect];
  if (!beast::iequals(expect, "100-continue")) co_return;
  http::response<http::empty_body> cont{http::status::continue_, 11};
  ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  co_await http::async_write(ctx.stream, cont, use_awaitable);
}

namespace {

Status too_large(std::size_t limit) {
  return resource_exhausted("the request body is larger than " + std::to_string(limit) + " bytes");
}

}  // namespace

awaitable<Status> read_body_chunks(RequestContext& ctx, std::size_t limit, std::size_t chunk,
                                   const std::function<Status(std::string_view)>& sink) {
  const std::function<awaitable<Status>(std::string_view)> waiting_sink =
      [&](std::string_view piece) -> awaitable<Status> { co_return sink(piece); };
  co_return co_await read_body_chunks_async(ctx, limit, chunk, waiting_sink);
}

awaitable<Status> read_body_chunks_async(RequestContext& ctx, std::size_t limit, std::size_t chunk,
                                         const std::function<awaitable<Status>(std::string_view)>& sink) {
  auto& parser = ctx.parser;
  if (auto len = parser.content_length(); len && *len > limit) co_return too_large(limit);
  co_await send_continue_if_expected(ctx);
  parser.body_limit(limit);
  ctx.buffer.reserve(chunk);  // read in large pieces, not 512 bytes at a time
  std::vector<char> buf(chunk);
  std::uint64_t received = 0;
  Status status;
  // A node-to-node body must hash to the digest its sender signed.
  std::optional<Sha256> signed_body;
  if (ctx.peer_body_sha256) signed_body.emplace();
  while (!parser.is_done() && status) {
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(ctx.stream, ctx.buffer, parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      status = too_large(limit);
      break;
    }
    if (ec) {
      ctx.keep_alive = false;
      ctx.services.metrics.add_bytes_in(received);
      throw boost::system::system_error(ec);
    }
    const auto got = buf.size() - parser.get().body().size;
    received += got;
    if (got > 0 && signed_body) signed_body->update(buf.data(), got);
    if (got > 0) status = co_await sink(std::string_view(buf.data(), got));
  }
  ctx.services.metrics.add_bytes_in(received);
  if (status && signed_body && to_hex(signed_body->finish()) != *ctx.peer_body_sha256) {
    status = permission_denied("the body does not hash to the digest its sending node signed");
  }
  co_return status;
}

awaitable<Result<std::string>> read_body(RequestContext& ctx, std::size_t limit) {
  std::string out;
  try {
    auto s = co_await read_body_chunks(ctx, limit, 16 * 1024, [&](std::string_view piece) {
      out.append(piece);
      return Status::ok();
    });
    if (!s) co_return s;
  } catch (const boost::system::system_error& e) {
    co_return invalid_argument(std::string("the request body could not be read: ") + e.code().message());
  }
  co_return out;
}

awaitable<std::variant<boost::json::object, StringResponse>> read_json(RequestContext& ctx) {
  // The body is parsed as JSON whatever its Content-Type says: clients such
  // as `curl -d` send a form type by default, and a clear parse error helps
  // more than a 415.
  auto body = co_await read_body(ctx, ctx.config.max_json_bytes);
  if (!body) {
    if (body.status().code() == Code::kResourceExhausted) {
      co_return problem(ctx, http::status::payload_too_large, "payload-too-large",
                        "Payload too large", body.status().message());
    }
    co_return bad_request(ctx, body.status().message());
  }
  JsonLimits limits;
  limits.max_bytes = ctx.config.max_json_bytes;
  auto object = parse_json_object(*body, limits);
  if (!object) co_return bad_request(ctx, object.status().message());
  co_return std::move(*object);
}

}  // namespace hifi::http_internal
