// Transcoded streams: GET /api/v1/songs/{id}/stream?format=opus|mp3|aac|flac.
//
// A whole song, or a piece of one with a length, is first looked up in the
// transcode cache and, when there, served like an original (Content-Length, Range,
// ETag and Repr-Digest of the transcoded bytes). Otherwise the song is
// transcoded as the client reads: chunked transfer encoding, each piece
// encoded on the worker pool (never on the network thread) only once the
// previous one was written, so a slow client throttles the encoder and one
// that goes away stops it. Such a transcode that completes is added to the
// cache. At most `--max-transcodes` run at once; beyond that,
// 503 with Retry-After rather than a queue. A node that lacks the song's
// bytes redirects to one that holds them, the query kept.
#include <spdlog/spdlog.h>

#include <chrono>

#include "media/transcoder.h"
#include "server/http_internal.h"
#include "server/metrics.h"

namespace hifi::http_internal {

using asio::use_awaitable;

namespace {

// The first piece is small so that the container headers and the first
// packets leave at once; later pieces are larger to keep per-piece costs low.
constexpr std::size_t kFirstPiece = 4 * 1024;
constexpr std::size_t kPiece = 64 * 1024;

std::string query_of(const media::TranscodeRequest& request) {
  std::string q = std::string("&format=") + media::transcode_format_name(request.format);
  if (request.bitrate_kbps > 0) q += "&bitrate=" + std::to_string(request.bitrate_kbps);
  if (request.offset_ms > 0) q += "&offset_ms=" + std::to_string(request.offset_ms);
  if (request.duration_ms > 0) q += "&duration_ms=" + std::to_string(request.duration_ms);
  return q;
}

// Counts a running transcode in the metrics for as long as it lives.
class TranscodeGauge {
 public:
  explicit TranscodeGauge(Metrics& metrics) : metrics_(metrics) { metrics_.transcode_started(); }
  ~TranscodeGauge() { metrics_.transcode_finished(); }
  TranscodeGauge(const TranscodeGauge&) = delete;
  TranscodeGauge& operator=(const TranscodeGauge&) = delete;

 private:
  Metrics& metrics_;
};

}  // namespace

awaitable<Reply> serve_transcode(RequestContext& ctx, const Song& song, const media::TranscodeRequest& request) {
  auto& services = ctx.services;
  if (!services.blobs.exists(song.sha256)) co_return co_await redirect_to_holder(ctx, song, query_of(request));

  // FLAC is lossless: a bitrate means nothing to it.
  const int kbps = request.format == media::TranscodeFormat::kFlac ? 0
                   : request.bitrate_kbps > 0                      ? request.bitrate_kbps
                                                                   : media::default_transcode_bitrate(request.format);
  const std::string content_type = media::transcode_content_type(request.format);
  std::string what = media::transcode_format_name(request.format);
  if (kbps > 0) what += " " + std::to_string(kbps) + " kbit/s";
  if (request.offset_ms > 0) what += " from " + std::to_string(request.offset_ms) + " ms";
  if (request.duration_ms > 0) what += " for " + std::to_string(request.duration_ms) + " ms";
  // Whole songs and pieces with a length are kept (players ask for the same
  // pieces, on a grid, as the others in their room); "the rest from here" is
  // a one-off.
  const bool cacheable = request.offset_ms == 0 || request.duration_ms > 0;
  std::string key = song.sha256.hex() + "-" + media::transcode_format_name(request.format);
  if (kbps > 0) key += "-" + std::to_string(kbps);
  if (request.offset_ms > 0) key += "-o" + std::to_string(request.offset_ms);
  if (request.duration_ms > 0) key += "-d" + std::to_string(request.duration_ms);
  if (cacheable) {
    if (auto entry = services.transcodes.find(key)) {
      services.metrics.count_transcode("cached");
      co_return co_await serve_file(ctx, entry->path, entry->digest, content_type, "");
    }
  }

  auto slot = services.transcode_slots.try_acquire();
  if (!slot) {
    services.metrics.count_transcode("busy");
    spdlog::warn("transcode of song {} to {} refused: all {} transcode slots are busy", song.id, what,
                 services.transcode_slots.limit());
    co_return transcoder_busy(ctx, "this node is already transcoding " +
                                       std::to_string(services.transcode_slots.limit()) +
                                       " streams; try again shortly, or ask for format=raw");
  }

  const auto started = std::chrono::steady_clock::now();
  auto transcoder = co_await offload(
      ctx, [&] { return media::open_transcoder(services.blobs.path_for(song.sha256), request); });
  if (!transcoder) {
    services.metrics.count_transcode("failed");
    spdlog::warn("transcode of song {} to {} failed to start: {}", song.id, what, transcoder.status().to_string());
    co_return problem_from_status(ctx, transcoder.status());
  }

  HeaderResponse header{http::status::ok, 11};
  header.set(http::field::content_type, content_type);
  header.set(http::field::cache_control, "no-store");
  header.set(http::field::accept_ranges, "none");
  header.set("X-HiFi-Transcode", what);
  header.chunked(true);
  if (ctx.method == "HEAD") {
    co_await write_header(ctx, header);
    co_return std::nullopt;
  }

  std::unique_ptr<TranscodeCache::Writer> cache_writer;
  if (cacheable && services.transcodes.capacity_bytes() > 0) {
    auto w = services.transcodes.begin(key);
    if (w) {
      cache_writer = std::move(*w);
    } else {
      spdlog::warn("transcode of song {} will not be cached: {}", song.id, w.status().to_string());
    }
  }

  StreamGauge stream_gauge(services.metrics);
  TranscodeGauge transcode_gauge(services.metrics);
  co_await write_header(ctx, header);
  std::vector<char> buf(kPiece);
  std::size_t piece = kFirstPiece;
  std::uint64_t sent = 0;
  bool cached = false;
  try {
    for (;;) {
      auto n = co_await offload(ctx, [&]() -> Result<std::size_t> {
        auto r = (*transcoder)->read(buf.data(), piece);
        if (r && *r > 0 && cache_writer) {
          if (auto s = cache_writer->write(std::string_view(buf.data(), *r)); !s) {
            spdlog::warn("transcode of song {}: {}; it will not be cached", song.id, s.to_string());
            cache_writer.reset();
          }
        }
        return r;
      });
      if (!n) {
        // The header is out: all that can be said is to end the connection
        // without the last chunk, which clients see as a truncated body.
        services.metrics.count_transcode("failed");
        spdlog::error("transcode of song {} to {} broke off after {} bytes: {}", song.id, what, sent,
                      n.status().to_string());
        ctx.keep_alive = false;
        co_return std::nullopt;
      }
      if (*n == 0) break;
      ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
      co_await asio::async_write(ctx.stream, http::make_chunk(asio::buffer(buf.data(), *n)), use_awaitable);
      sent += *n;
      ctx.bytes_out += *n;
      services.metrics.add_bytes_out(*n);
      piece = kPiece;
    }
    // Cached before the last chunk goes out, so that a client that asks
    // again as soon as it has read this one finds it.
    if (cache_writer) {
      auto entry = co_await offload(ctx, [&] { return cache_writer->commit(); });
      cached = entry.is_ok();
      if (!entry) spdlog::warn("transcode of song {} not cached: {}", song.id, entry.status().to_string());
    }
    co_await asio::async_write(ctx.stream, http::make_chunk_last(), use_awaitable);
  } catch (const boost::system::system_error& e) {
    services.metrics.count_transcode("aborted");
    spdlog::info("transcode of song {} to {} stopped after {} bytes: the client went away ({})", song.id, what, sent,
                 e.code().message());
    throw;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  services.metrics.count_transcode("completed");
  spdlog::info("transcoded song {} to {}: {} bytes in {} ms{}", song.id, what, sent, ms.count(),
               cached ? ", cached" : "");
  co_return std::nullopt;
}

}  // namespace hifi::http_internal
