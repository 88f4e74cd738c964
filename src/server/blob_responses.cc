// Responses that carry a blob's bytes: from this node's disk (sendfile,
// ranges, conditional requests), as a redirect to a node that holds them,
// or proxied from that node.
#include <fcntl.h>
#include <cinttypes>
#include <cstring>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "cluster/member.h"
#include "common/check.h"
#include "common/content_hash.h"
#include "common/endpoint.h"
#include "common/sha256.h"
#include "net/tls.h"
#include "server/digest_header.h"
#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/range.h"

namespace hifi::http_internal {

using asio::as_tuple;
using asio::use_awaitable;

namespace {

constexpr std::size_t kProxyChunk = 256 * 1024;

// The fields every 200/206 with a blob's bytes carries, wherever they come
// from (this node's disk: FileHeader; another node's: HeaderResponse).
template <typename Header>
void set_content_fields(Header& header, const std::string& content_type, const std::string& download_name) {
  header.set(http::field::content_type, content_type.empty() ? "application/octet-stream" : content_type);
  header.set(http::field::cache_control, "private, max-age=31536000, immutable");
  if (!download_name.empty()) {
    header.set(http::field::content_disposition,
               "attachment; filename*=UTF-8''" + boost::urls::encode(download_name, boost::urls::unreserved_chars));
  }
}

// The blob of `song` that `kind` names; a kCover request has a cover.
const ContentHash& blob_of(const Song& song, BlobKind kind) {
  if (kind == BlobKind::kSong) return song.sha256;
  HIFI_CHECK(song.cover_sha256.has_value(), "a cover request for a song without a cover");
  return *song.cover_sha256;
}

// One request for a blob's bytes to a node that holds them, its answer's
// header read; the body is read from `parser`.
struct Upstream {
  Upstream(const asio::any_io_executor& executor, const Endpoint& holder) : stream(net::client_stream(executor, holder)) {}
  net::Stream stream;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
};

// Asks `holder` for the blob with the given request fields (Range,
// If-Range, If-None-Match). The error names what went wrong for the log
// and the 502; a holder that answers something other than the bytes, 304 or
// 416 counts as failed.
awaitable<Result<std::unique_ptr<Upstream>>> open_upstream(
    RequestContext& ctx, const cluster::Member& holder, const ContentHash& sha,
    const std::vector<std::pair<http::field, std::string>>& fields) {
  auto base = Endpoint::parse(holder.advertise);
  if (!base) {
    co_return unavailable("node " + holder.id + " advertises a URL this node cannot reach: " + holder.advertise);
  }
  // Resolved asynchronously: a name lookup must not hold up a network thread.
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(base->host, base->port_string(), as_tuple(use_awaitable));
  auto up = std::make_unique<Upstream>(executor, *base);
  up->stream.expires_after(std::chrono::seconds(2));
  if (rec) co_return unavailable("node " + holder.id + " cannot be found: " + rec.message());
  auto [cec, endpoint] = co_await up->stream.tcp().async_connect(results, as_tuple(use_awaitable));
  if (cec) co_return unavailable("node " + holder.id + " holds the song but does not answer");
  auto [hec] = co_await up->stream.async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
  if (hec) co_return unavailable("node " + holder.id + ": " + net::describe_error(hec));
  const std::string path = "/internal/v1/blobs/" + sha.hex();
  const bool head = ctx.method == "HEAD";
  http::request<http::empty_body> req{head ? http::verb::head : http::verb::get, base->target(path), 11};
  req.set(http::field::host, base->host_header());
  req.set(cluster::kPeerHeader,
          ctx.services.cluster.auth().header_value(cluster::PeerRequest{head ? "HEAD" : "GET", path, holder.id},
                                                   ctx.services.cluster.clock().now_ms() / 1000));
  for (const auto& [field, value] : fields) req.set(field, value);
  up->stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
  auto [wec, written] = co_await http::async_write(up->stream, req, as_tuple(use_awaitable));
  up->parser.body_limit(boost::none);
  if (head) up->parser.skip(true);
  if (!wec) std::tie(wec, written) = co_await http::async_read_header(up->stream, up->buffer, up->parser, as_tuple(use_awaitable));
  if (wec) co_return unavailable("node " + holder.id + " failed while answering: " + wec.message());
  const auto status = up->parser.get().result();
  if (status != http::status::ok && status != http::status::partial_content &&
      status != http::status::not_modified && status != http::status::range_not_satisfiable) {
    co_return unavailable("node " + holder.id + " answered " + std::to_string(up->parser.get().result_int()));
  }
  co_return up;
}

// The byte range of the blob an answer carries: [first, last] from its
// Content-Range (206) or the whole Content-Length (200).
std::optional<std::pair<std::uint64_t, std::uint64_t>> carried_range(const http::response_header<>& answer) {
  if (answer.result() == http::status::partial_content) {
    std::uint64_t first = 0, last = 0;
    if (std::sscanf(std::string(answer[http::field::content_range]).c_str(), "bytes %" SCNu64 "-%" SCNu64 "/", &first, &last) != 2) {
      return std::nullopt;
    }
    return std::make_pair(first, last);
  }
  auto length = std::strtoull(std::string(answer[http::field::content_length]).c_str(), nullptr, 10);
  if (length == 0) return std::nullopt;
  return std::make_pair(std::uint64_t{0}, length - 1);
}

// Streams the blob to the client as if it were local, from the first of
// `holders` (least loaded first) that answers. When a holder fails in the
// middle of the body, the rest of the bytes come from the next holder (a
// Range request for what is still missing: every copy is the same bytes);
// only when none can continue is the client's connection dropped.
awaitable<Reply> proxy_blob(RequestContext& ctx, const std::vector<cluster::Member>& holders, const ContentHash& sha,
                            const std::string& content_type, const std::string& download_name) {
  std::vector<std::pair<http::field, std::string>> fields;
  for (auto field : {http::field::range, http::field::if_range, http::field::if_none_match}) {
    if (auto v = ctx.header()[field]; !v.empty()) fields.emplace_back(field, std::string(v));
  }
  std::unique_ptr<Upstream> up;
  std::size_t next = 0;
  std::string last_error = "no node holds the song";
  while (!up && next < holders.size()) {
    auto opened = co_await open_upstream(ctx, holders[next++], sha, fields);
    if (opened) {
      up = std::move(*opened);
    } else {
      last_error = opened.status().message();
      spdlog::warn("proxying blob {}: {}", sha.short_hex(), last_error);
    }
  }
  if (!up) co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Bad gateway", last_error);

  const auto& answer = up->parser.get();
  const auto status = answer.result();
  HeaderResponse header{status, 11};
  for (auto field : {http::field::content_length, http::field::content_range, http::field::etag,
                     http::field::accept_ranges}) {
    if (auto v = answer[field]; !v.empty()) header.set(field, v);
  }
  if (auto v = answer["Repr-Digest"]; !v.empty()) header.set("Repr-Digest", v);
  const bool bytes = status == http::status::ok || status == http::status::partial_content;
  if (bytes) set_content_fields(header, content_type, download_name);
  const auto range = bytes ? carried_range(answer.base()) : std::nullopt;
  co_await write_header(ctx, header);
  if (ctx.method == "HEAD") co_return std::nullopt;
  std::vector<char> buf(kProxyChunk);
  StreamGauge gauge(ctx.services.metrics);
  std::uint64_t sent = 0;
  while (!up->parser.is_done()) {
    up->parser.get().body().data = buf.data();
    up->parser.get().body().size = buf.size();
    up->stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(up->stream, up->buffer, up->parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // Carry on from another holder, or drop the connection: a response
      // cannot be finished with an error once its header went out.
      if (!range) throw boost::system::system_error(ec);
      const auto first = range->first + sent;
      spdlog::warn("proxying blob {}: the holder failed after {} bytes ({}); asking the next one",
                   sha.short_hex(), sent, ec.message());
      std::unique_ptr<Upstream> rest;
      while (!rest && next < holders.size()) {
        std::vector<std::pair<http::field, std::string>> rest_fields;
        rest_fields.emplace_back(http::field::range,
                                 "bytes=" + std::to_string(first) + "-" + std::to_string(range->second));
        auto opened = co_await open_upstream(ctx, holders[next++], sha, rest_fields);
        const std::optional<std::pair<std::uint64_t, std::uint64_t>> wanted{{first, range->second}};
        const bool continues = opened && carried_range((*opened)->parser.get().base()) == wanted;
        if (continues) rest = std::move(*opened);
      }
      if (!rest) throw boost::system::system_error(ec);
      up = std::move(rest);
      continue;
    }
    const auto got = buf.size() - up->parser.get().body().size;
    if (got == 0) continue;
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    co_await asio::async_write(ctx.stream, asio::buffer(buf.data(), got), use_awaitable);
    sent += got;
    ctx.bytes_out += got;
    ctx.services.metrics.add_bytes_out(got);
  }
  co_return std::nullopt;
}

StringResponse no_live_holder(const RequestContext& ctx, const Song& song, BlobKind kind) {
  spdlog::warn("{} of song {} requested, but no live node holds blob {}",
               kind == BlobKind::kSong ? "bytes" : "cover", song.id, blob_of(song, kind).short_hex());
  auto res = problem(ctx, http::status::service_unavailable, "no-replica", "Song unavailable",
                     "no live node holds this song right now; try again when its nodes are back");
  res.set(http::field::retry_after, "5");
  return res;
}

StringResponse temporary_redirect(const std::string& location) {
  StringResponse res{http::status::temporary_redirect, 11};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store");
  return res;
}

// 307 to a signed stream URL of the song on `holder`, with extra_query
// ("&name=value...") appended. The URL is the caller's (the bearer's, or
// the signed URL's user, expiring no later than that URL did), so the
// holder checks the same grant.
StringResponse redirect_to(const RequestContext& ctx, const cluster::Member& holder, const Song& song,
                           std::string_view extra_query) {
  SignedStream signed_stream;
  signed_stream.expires_s = (ctx.services.clock.now_ms() + ctx.config.signed_url_ttl_ms) / 1000;
  if (ctx.user) {
    signed_stream.grant = {ctx.user->id, ctx.user->sessions_epoch};
  } else if (ctx.signed_stream) {
    signed_stream.grant = ctx.signed_stream->grant;
    signed_stream.expires_s = std::min(signed_stream.expires_s, ctx.signed_stream->expires_s);
  }
  return temporary_redirect(holder.advertise + ctx.services.signer.stream_path(song.id, signed_stream) +
                            std::string(extra_query));
}

// A song's bytes or cover that this node lacks.
awaitable<Reply> serve_remote_blob(RequestContext& ctx, const Song& song, BlobKind kind,
                                   const std::string& download_name) {
  const auto& sha = blob_of(song, kind);
  auto holders = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().holders(sha); });
  if (holders.empty()) co_return no_live_holder(ctx, song, kind);
  if (kind == BlobKind::kSong && ctx.config.read_mode == ReadMode::kRedirect) {
    co_return redirect_to(ctx, holders.front(), song, download_name.empty() ? "" : "&download=1");
  }
  co_return co_await proxy_blob(ctx, holders, sha,
                                kind == BlobKind::kSong ? song.content_type : song.cover_mime, download_name);
}

// A blob's entity tag: its hash, which names its bytes.
std::string blob_etag(const ContentHash& sha256) {
  std::string out;
  out.reserve(sha256.hex().size() + 2);
  out.append("\"").append(sha256.hex()).append("\"");
  return out;
}

// A 304 when the request's If-None-Match names the blob; nullopt otherwise.
std::optional<StringResponse> not_modified(const RequestContext& ctx, const std::string& etag) {
  auto if_none_match = ctx.header()[http::field::if_none_match];
  if (if_none_match.empty() || (if_none_match != "*" && if_none_match.find(etag) == std::string_view::npos)) {
    return std::nullopt;
  }
  StringResponse res{http::status::not_modified, 11};
  res.set(http::field::etag, etag);
  return res;
}

StringResponse unreadable(const RequestContext& ctx, std::string_view what, std::string_view why) {
  spdlog::error("{} is not readable: {}", what, why);
  return problem(ctx, http::status::internal_server_error, "storage-error", "Storage error",
                 "the song's bytes are not readable on this node");
}

// The bytes of an open file (`size` of them) whose bytes hash to sha256:
// ranges, If-Range, and the header fields of a blob.
awaitable<Reply> serve_open_file(RequestContext& ctx, int fd, std::uint64_t size, const ContentHash& sha256,
                                 const std::string& etag, const std::string& content_type,
                                 const std::string& download_name) {
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
  const bool partial = range.kind == RangeRequest::Kind::kPartial;
  FileHeader header(partial ? http::status::partial_content : http::status::ok);
  std::uint64_t offset = 0, length = size;
  if (partial) {
    offset = range.range.first;
    length = range.range.length();
    char text[80];
    const auto n = std::snprintf(text, sizeof text, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.range.first,
                                 range.range.last, size);
    header.set(http::field::content_range, std::string_view(text, static_cast<std::size_t>(n)));
  }
  set_content_fields(header, content_type, download_name);
  header.set_number("Content-Length", length);
  header.set(http::field::accept_ranges, "bytes");
  header.set(http::field::etag, etag);
  header.set("Repr-Digest", format_sha256_digest_header(sha256.digest()));
  co_await send_file(ctx, header, fd, offset, length);
  co_return std::nullopt;
}

}  // namespace

awaitable<Reply> serve_blob(RequestContext& ctx, const ContentHash& sha256,
                            const std::string& content_type, const std::string& download_name) {
  const auto etag = blob_etag(sha256);
  if (auto res = not_modified(ctx, etag)) co_return std::move(*res);
  auto opened = ctx.services.blobs.open(sha256);
  if (!opened) co_return unreadable(ctx, "blob " + sha256.hex(), opened.status().message());
  co_return co_await serve_open_file(ctx, opened->file->fd(), opened->size, sha256, etag, content_type,
                                     download_name);
}

awaitable<Reply> serve_file(RequestContext& ctx, const std::string& path, const ContentHash& sha256,
                            const std::string& content_type, const std::string& download_name) {
  const auto etag = blob_etag(sha256);
  if (auto res = not_modified(ctx, etag)) co_return std::move(*res);
  FileCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) co_return unreadable(ctx, path, std::strerror(errno));
  co_return co_await serve_open_file(ctx, file.fd, static_cast<std::uint64_t>(st.st_size), sha256, etag,
                                     content_type, download_name);
}

awaitable<Reply> redirect_to_holder(RequestContext& ctx, const Song& song, std::string_view extra_query) {
  auto holders = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().holders(song.sha256); });
  if (holders.empty()) co_return no_live_holder(ctx, song, BlobKind::kSong);
  co_return redirect_to(ctx, holders.front(), song, extra_query);
}

awaitable<Reply> redirect_request_to_holder(RequestContext& ctx, const Song& song, BlobKind kind) {
  const auto& sha = blob_of(song, kind);
  auto holders = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().holders(sha); });
  if (holders.empty()) co_return no_live_holder(ctx, song, kind);
  std::string location = holders.front().advertise + std::string(ctx.url.encoded_path());
  if (ctx.url.has_query()) location += "?" + std::string(ctx.url.encoded_query());
  co_return temporary_redirect(location);
}

awaitable<Reply> serve_song_blob(RequestContext& ctx, const Song& song, BlobKind kind,
                                 const std::string& download_name) {
  const auto& sha = blob_of(song, kind);
  const auto etag = blob_etag(sha);
  // One open (BlobStore::open) tells whether this
  // node holds the bytes and gives them.
  auto opened = ctx.services.blobs.open(sha);
  if (!opened) {
    // Another node's copy serves a blob this node lacks, not one its disk
    // or its descriptors fail to give: that is this node's fault, said so.
    if (opened.status().code() != Code::kNotFound) {
      co_return unreadable(ctx, "blob " + sha.hex(), opened.status().message());
    }
    co_return co_await serve_remote_blob(ctx, song, kind, download_name);
  }
  if (auto res = not_modified(ctx, etag)) co_return std::move(*res);
  co_return co_await serve_open_file(ctx, opened->file->fd(), opened->size, sha, etag,
                                     kind == BlobKind::kSong ? song.content_type : song.cover_mime, download_name);
}

}  // namespace hifi::http_internal
