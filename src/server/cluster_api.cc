// The cluster's HTTP face: GET /api/v1/cluster for clients, the node-to-node
// API under /internal/v1 (authenticated with the cluster secret), and serving
// a song this node lacks from the node that holds it.
#include <spdlog/spdlog.h>

#include "cluster/member.h"
#include "common/sha256.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

constexpr std::size_t kTransferChunk = 256 * 1024;

// nullopt when the request carries a valid peer header; else the refusal.
std::optional<StringResponse> check_peer(RequestContext& ctx) {
  const auto& auth = ctx.services.cluster.auth();
  if (!auth.enabled()) {
    return problem(ctx, http::status::forbidden, "forbidden", "Forbidden",
                   "this node has no cluster secret, so it accepts no peers");
  }
  auto peer = auth.verify(std::string(ctx.header()[cluster::kPeerHeader]), ctx.method,
                          std::string(ctx.url.path()), ctx.services.cluster.clock().now_ms() / 1000);
  if (!peer) {
    spdlog::warn("refused a node-to-node request from {}: bad or missing {} header",
                 ctx.client_address, cluster::kPeerHeader);
    return problem(ctx, http::status::forbidden, "forbidden", "Forbidden",
                   "node-to-node requests need a valid X-HiFi-Peer header made with the cluster "
                   "secret (check that every node has the same secret and a correct clock)");
  }
  return std::nullopt;
}

#define HIFI_CHECK_PEER()                                  \
  if (auto refused = check_peer(ctx)) co_return std::move(*refused)

json::object load_json(const cluster::Member& m, bool leader, bool self) {
  auto o = cluster::member_to_json(m);
  o["leader"] = leader;
  o["self"] = self;
  return o;
}

awaitable<Reply> cluster_info(RequestContext& ctx) {
  const auto& membership = ctx.services.cluster.membership();
  const auto leader = membership.leader();
  json::array members;
  for (const auto& m : membership.members()) {
    members.push_back(load_json(m, leader == m.id, m.id == membership.self_id()));
  }
  co_return json_response(ctx, http::status::ok,
                          {{"self", membership.self_id()},
                           {"leader", leader ? json::value(*leader) : json::value(nullptr)},
                           {"replication_factor", ctx.services.cluster.replicator().replication_factor()},
                           {"members", std::move(members)}});
}

// A copy this node already holds is wanted again: garbage collection must
// spare it (it spares recent files) and the index must name it. Blocks.
Status keep_local_copy(RequestContext& ctx, const std::string& sha) {
  if (auto s = ctx.services.blobs.touch(sha); !s) return s;
  return ctx.services.cluster.replicator().note_local_copy(sha);
}

// PUT /internal/v1/blobs/{sha256}: a copy from another node.
awaitable<Reply> receive_blob(RequestContext& ctx) {
  HIFI_CHECK_PEER();
  const auto& sha = ctx.params[0];
  if (!is_sha256_hex(sha)) co_return bad_request(ctx, "expected 64 lowercase hex digits");
  auto length = ctx.parser.content_length();
  if (!length) {
    co_return problem(ctx, http::status::length_required, "length-required", "Length required",
                      "send the blob with a Content-Length");
  }
  if (*length > ctx.config.max_upload_bytes) {
    co_return problem(ctx, http::status::payload_too_large, "payload-too-large", "Payload too large",
                      "blobs may be at most " + std::to_string(ctx.config.max_upload_bytes) + " bytes");
  }
  if (ctx.services.blobs.exists(sha)) {
    // Already durable here; the body is not needed (the connection closes).
    auto noted = co_await offload(ctx, [&] { return keep_local_copy(ctx, sha); });
    if (!noted) co_return problem_from_status(ctx, noted);
    co_return json_response(ctx, http::status::ok, {{"sha256", sha}, {"stored", false}});
  }
  auto writer_or = ctx.services.blobs.begin_write(*length);
  if (!writer_or) co_return problem_from_status(ctx, writer_or.status());
  auto writer = std::move(*writer_or);
  co_await send_continue_if_expected(ctx);
  ctx.parser.body_limit(*length);
  ctx.buffer.reserve(kTransferChunk);
  std::vector<char> buf(kTransferChunk);
  Status status;
  while (!ctx.parser.is_done() && status) {
    ctx.parser.get().body().data = buf.data();
    ctx.parser.get().body().size = buf.size();
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(ctx.stream, ctx.buffer, ctx.parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw boost::system::system_error(ec);  // the sender went away; nothing is kept
    status = writer->write(std::string_view(buf.data(), buf.size() - ctx.parser.get().body().size));
  }
  if (!status) co_return problem_from_status(ctx, status);
  if (to_hex(writer->digest()) != sha) {
    co_return problem(ctx, http::status::bad_request, "digest-mismatch", "Digest mismatch",
                      "the bytes do not hash to " + sha + "; nothing was stored");
  }
  auto stored = co_await offload(ctx, [&]() -> Status {
    auto blob = writer->commit();
    if (!blob) return blob.status();
    return ctx.services.cluster.replicator().note_local_copy(sha);
  });
  if (!stored) co_return problem_from_status(ctx, stored);
  ctx.services.metrics.add_bytes_in(*length);
  spdlog::info("stored a copy of blob {} ({} bytes) from another node", sha.substr(0, 12), *length);
  co_return json_response(ctx, http::status::created, {{"sha256", sha}, {"stored", true}});
}

// POST /internal/v1/blobs/{sha256}/keep: asked before a copy is sent. When
// this node already holds the blob it marks it wanted again (garbage
// collection spares it) and answers 200, and the bytes need not travel; 404
// asks for them.
awaitable<Reply> keep_blob(RequestContext& ctx) {
  HIFI_CHECK_PEER();
  const auto& sha = ctx.params[0];
  if (!is_sha256_hex(sha)) co_return bad_request(ctx, "expected 64 lowercase hex digits");
  auto kept = co_await offload(ctx, [&] { return keep_local_copy(ctx, sha); });
  if (!kept) co_return problem_from_status(ctx, kept);
  co_return json_response(ctx, http::status::ok, {{"sha256", sha}, {"stored", false}});
}

// GET /internal/v1/blobs/{sha256}: the bytes, for a node proxying a read.
awaitable<Reply> send_blob(RequestContext& ctx) {
  HIFI_CHECK_PEER();
  const auto& sha = ctx.params[0];
  if (!ctx.services.blobs.exists(sha)) {
    co_return problem(ctx, http::status::not_found, "not-found", "Not found", "this node has no copy");
  }
  co_return co_await serve_blob(ctx, sha, "application/octet-stream", "");
}

// POST /internal/v1/blobs/{sha256}/push {"target": node-id}: the repair
// leader asks this holder to copy the blob to another node.
awaitable<Reply> push_blob(RequestContext& ctx) {
  HIFI_CHECK_PEER();
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(target, fields.required_string("target"));
  const auto& sha = ctx.params[0];
  if (!is_sha256_hex(sha)) co_return bad_request(ctx, "expected 64 lowercase hex digits");
  auto pushed = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().push_to(sha, target); });
  if (!pushed) {
    if (pushed.code() == Code::kNotFound) co_return problem_from_status(ctx, pushed);
    co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Copy failed", pushed.message());
  }
  co_return json_response(ctx, http::status::ok, {{"sha256", sha}, {"target", target}});
}

// Streams the blob from `holder` to the client as if it were local.
awaitable<Reply> proxy_blob(RequestContext& ctx, const cluster::Member& holder, const std::string& sha,
                            const std::string& content_type, const std::string& download_name) {
  auto base = boost::urls::parse_uri(holder.advertise);
  if (!base) co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Bad gateway",
                               "node " + holder.id + " advertises an invalid URL");
  const std::string host(base->host_address());
  const std::string port = base->has_port() ? std::string(base->port()) : "80";
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(host, port, as_tuple(use_awaitable));
  beast::tcp_stream upstream(executor);
  upstream.expires_after(std::chrono::seconds(2));
  auto [cec, endpoint] = co_await upstream.async_connect(results, as_tuple(use_awaitable));
  if (rec || cec) {
    co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Bad gateway",
                      "node " + holder.id + " holds the song but does not answer");
  }
  const std::string path = "/internal/v1/blobs/" + sha;
  http::request<http::empty_body> req{ctx.method == "HEAD" ? http::verb::head : http::verb::get,
                                      std::string(base->path()) + path, 11};
  req.set(http::field::host, host + ":" + port);
  req.set(cluster::kPeerHeader, ctx.services.cluster.auth().header_value(
                                    ctx.method == "HEAD" ? "HEAD" : "GET", path, ctx.services.cluster.clock().now_ms() / 1000));
  for (auto field : {http::field::range, http::field::if_range, http::field::if_none_match}) {
    if (auto v = ctx.header()[field]; !v.empty()) req.set(field, v);
  }
  upstream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  co_await http::async_write(upstream, req, use_awaitable);
  beast::flat_buffer upstream_buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (ctx.method == "HEAD") parser.skip(true);
  co_await http::async_read_header(upstream, upstream_buffer, parser, use_awaitable);
  const auto& answer = parser.get();
  const auto status = answer.result();
  if (status != http::status::ok && status != http::status::partial_content &&
      status != http::status::not_modified && status != http::status::range_not_satisfiable) {
    co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Bad gateway",
                      "node " + holder.id + " answered " + std::to_string(answer.result_int()));
  }
  HeaderResponse header{status, 11};
  for (auto field : {http::field::content_length, http::field::content_range, http::field::etag,
                     http::field::accept_ranges}) {
    if (auto v = answer[field]; !v.empty()) header.set(field, v);
  }
  if (auto v = answer["Repr-Digest"]; !v.empty()) header.set("Repr-Digest", v);
  if (status == http::status::ok || status == http::status::partial_content) {
    header.set(http::field::content_type, content_type.empty() ? "application/octet-stream" : content_type);
    header.set(http::field::cache_control, "private, max-age=31536000, immutable");
    if (!download_name.empty()) {
      header.set(http::field::content_disposition,
                 "attachment; filename*=UTF-8''" + boost::urls::encode(download_name, boost::urls::unreserved_chars));
    }
  }
  co_await write_header(ctx, header);
  if (ctx.method == "HEAD") co_return std::nullopt;
  std::vector<char> buf(kTransferChunk);
  ctx.services.metrics.stream_started();
  struct StreamGauge {
    Metrics& m;
    ~StreamGauge() { m.stream_finished(); }
  } gauge{ctx.services.metrics};
  while (!parser.is_done()) {
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    upstream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(upstream, upstream_buffer, parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw boost::system::system_error(ec);  // cannot finish the response; drop the connection
    const auto got = buf.size() - parser.get().body().size;
    if (got == 0) continue;
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    co_await asio::async_write(ctx.stream, asio::buffer(buf.data(), got), use_awaitable);
    ctx.bytes_out += got;
    ctx.services.metrics.add_bytes_out(got);
  }
  co_return std::nullopt;
}

}  // namespace

awaitable<Reply> serve_remote_blob(RequestContext& ctx, const Song& song, BlobKind kind,
                                   const std::string& download_name) {
  const auto& sha = kind == BlobKind::kSong ? song.sha256 : song.cover_sha256;
  auto holder = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().best_holder(sha); });
  if (!holder) {
    spdlog::warn("{} of song {} requested, but no live node holds blob {}",
                 kind == BlobKind::kSong ? "bytes" : "cover", song.id, sha.substr(0, 12));
    auto res = problem(ctx, http::status::service_unavailable, "no-replica", "Song unavailable",
                       "no live node holds this song right now; try again when its nodes are back");
    res.set(http::field::retry_after, "5");
    co_return res;
  }
  if (kind == BlobKind::kSong && ctx.config.read_mode == ReadMode::kRedirect) {
    auto expires = (ctx.services.clock.now_ms() + ctx.config.signed_url_ttl_ms) / 1000;
    std::string location = holder->advertise + ctx.services.signer.stream_path(song.id, expires);
    if (!download_name.empty()) location += "&download=1";
    StringResponse res{http::status::temporary_redirect, 11};
    res.set(http::field::location, location);
    res.set(http::field::cache_control, "no-store");
    co_return res;
  }
  co_return co_await proxy_blob(ctx, *holder, sha,
                                kind == BlobKind::kSong ? song.content_type : song.cover_mime, download_name);
}

std::vector<Route> cluster_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/cluster", false, cluster_info},
      {V::put, "/internal/v1/blobs/{}", false, receive_blob},
      {V::get, "/internal/v1/blobs/{}", false, send_blob},
      {V::post, "/internal/v1/blobs/{}/push", false, push_blob},
      {V::post, "/internal/v1/blobs/{}/keep", false, keep_blob},
  };
}

}  // namespace hifi::http_internal
