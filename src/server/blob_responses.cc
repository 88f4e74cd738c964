// Responses that carry a blob's bytes: from this node's disk (sendfile,
// ranges, conditional requests), as a redirect to a node that holds them,
// or proxied from that node.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "cluster/member.h"
#include "common/endpoint.h"
#include "common/sha256.h"
#include "server/digest_header.h"
#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/range.h"

namespace hifi::http_internal {

using asio::as_tuple;
using asio::use_awaitable;

namespace {

constexpr std::size_t kProxyChunk = 256 * 1024;

// The fields every 200/206 with a blob's bytes carries, wherever they come from.
void set_content_fields(HeaderResponse& header, const std::string& content_type,
                        const std::string& download_name) {
  header.set(http::field::content_type, content_type.empty() ? "application/octet-stream" : content_type);
  header.set(http::field::cache_control, "private, max-age=31536000, immutable");
  if (!download_name.empty()) {
    header.set(http::field::content_disposition,
               "attachment; filename*=UTF-8''" + boost::urls::encode(download_name, boost::urls::unreserved_chars));
  }
}

bool decode_hex_digest(const std::string& hex, Digest& out) {
  if (!is_sha256_hex(hex)) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return true;
}

// Streams the blob from `holder` to the client as if it were local.
awaitable<Reply> proxy_blob(RequestContext& ctx, const cluster::Member& holder, const std::string& sha,
                            const std::string& content_type, const std::string& download_name) {
  auto base = Endpoint::parse(holder.advertise);
  if (!base || base->is_https()) {
    co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Bad gateway",
                      "node " + holder.id + " advertises a URL this node cannot reach: " + holder.advertise);
  }
  // Resolved asynchronously: a name lookup must not hold up a network thread.
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(base->host, base->port_string(), as_tuple(use_awaitable));
  beast::tcp_stream upstream(executor);
  upstream.expires_after(std::chrono::seconds(2));
  auto [cec, endpoint] = co_await upstream.async_connect(results, as_tuple(use_awaitable));
  if (rec || cec) {
    co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Bad gateway",
                      "node " + holder.id + " holds the song but does not answer");
  }
  const std::string path = "/internal/v1/blobs/" + sha;
  const bool head = ctx.method == "HEAD";
  http::request<http::empty_body> req{head ? http::verb::head : http::verb::get, base->target(path), 11};
  req.set(http::field::host, base->host_header());
  req.set(cluster::kPeerHeader, ctx.services.cluster.auth().header_value(
                                    head ? "HEAD" : "GET", path, ctx.services.cluster.clock().now_ms() / 1000));
  for (auto field : {http::field::range, http::field::if_range, http::field::if_none_match}) {
    if (auto v = ctx.header()[field]; !v.empty()) req.set(field, v);
  }
  upstream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  co_await http::async_write(upstream, req, use_awaitable);
  beast::flat_buffer upstream_buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (head) parser.skip(true);
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
    set_content_fields(header, content_type, download_name);
  }
  co_await write_header(ctx, header);
  if (head) co_return std::nullopt;
  std::vector<char> buf(kProxyChunk);
  StreamGauge gauge(ctx.services.metrics);
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

// A song's bytes or cover that this node lacks.
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

}  // namespace

awaitable<Reply> serve_blob(RequestContext& ctx, const std::string& sha256,
                            const std::string& content_type, const std::string& download_name) {
  const auto etag = "\"" + sha256 + "\"";
  auto if_none_match = ctx.header()[http::field::if_none_match];
  if (!if_none_match.empty() &&
      (if_none_match == "*" || if_none_match.find(etag) != std::string_view::npos)) {
    StringResponse res{http::status::not_modified, 11};
    res.set(http::field::etag, etag);
    co_return res;
  }
  FileCloser file{::open(ctx.services.blobs.path_for(sha256).c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
    spdlog::error("blob {} is missing from disk", sha256);
    co_return problem(ctx, http::status::internal_server_error, "storage-error", "Storage error",
                      "the song's bytes are not readable on this node");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  auto range_header = ctx.header()[http::field::range];
  auto if_range = ctx.header()[http::field::if_range];
  if (!if_range.empty() && if_range != etag) range_header = {};  // changed: send it all
  auto range = parse_range(range_header, size);
  if (range.kind == RangeRequest::Kind::kUnsatisfiable) {
    auto res = problem(ctx, http::status::range_not_satisfiable, "range-not-satisfiable",
                       "Range not satisfiable",
                       "the requested range is outside the " + std::to_string(size) + " bytes of the song");
    res.set(http::field::content_range, "bytes */" + std::to_string(size));
    co_return res;
  }
  HeaderResponse header{http::status::ok, 11};
  std::uint64_t offset = 0, length = size;
  if (range.kind == RangeRequest::Kind::kPartial) {
    header.result(http::status::partial_content);
    offset = range.range.first;
    length = range.range.length();
    header.set(http::field::content_range, "bytes " + std::to_string(range.range.first) + "-" +
                                               std::to_string(range.range.last) + "/" +
                                               std::to_string(size));
  }
  set_content_fields(header, content_type, download_name);
  header.set(http::field::content_length, std::to_string(length));
  header.set(http::field::accept_ranges, "bytes");
  header.set(http::field::etag, etag);
  Digest digest{};
  if (decode_hex_digest(sha256, digest)) header.set("Repr-Digest", format_sha256_digest_header(digest));
  co_await send_file(ctx, header, file.fd, offset, length);
  co_return std::nullopt;
}

awaitable<Reply> serve_song_blob(RequestContext& ctx, const Song& song, BlobKind kind,
                                 const std::string& download_name) {
  const auto& sha = kind == BlobKind::kSong ? song.sha256 : song.cover_sha256;
  if (!ctx.services.blobs.exists(sha)) co_return co_await serve_remote_blob(ctx, song, kind, download_name);
  co_return co_await serve_blob(ctx, sha, kind == BlobKind::kSong ? song.content_type : song.cover_mime,
                                download_name);
}

}  // namespace hifi::http_internal
