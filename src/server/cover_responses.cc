// Covers at the size an app asks for (Subsonic getCoverArt?size=): the
// embedded image scaled down and encoded as JPEG once per (cover, size),
// then kept in the transcode cache under "<cover-sha256>-cover-<size>" and
// served from there like a cached transcode (Content-Length, Range, ETag).
// Resizing is CPU work: it runs on the worker pool and holds a transcode
// slot while it does, so covers and transcodes share one bound.
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "media/image_resize.h"
#include "server/http_internal.h"

namespace hifi::http_internal {
namespace {

// A cover never needs more: uploads keep smaller ones.
constexpr std::size_t kMaxCoverBytes = 32 * 1024 * 1024;

struct Resized {
  std::optional<std::string> jpeg;           // nullopt: send the original
  std::optional<TranscodeCache::Entry> entry;  // where the JPEG was cached, if it was
};

Result<std::string> read_cover(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("the cover is not readable on this node");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (bytes.view().size() > kMaxCoverBytes) return resource_exhausted("the cover is too large to resize");
  return bytes.str();
}

// Resizes and caches (when the cache is on): on a worker.
Result<Resized> resize(Services& services, const ContentHash& cover, const std::string& key, int size) {
  auto bytes = read_cover(services.blobs.path_for(cover));
  if (!bytes) return bytes.status();
  auto jpeg = media::resize_to_jpeg(*bytes, size);
  if (!jpeg) return jpeg.status();
  Resized out{std::move(*jpeg), std::nullopt};
  if (!out.jpeg || services.transcodes.capacity_bytes() == 0) return out;
  auto writer = services.transcodes.begin(key);
  Status s = writer ? (*writer)->write(*out.jpeg) : writer.status();
  if (s) {
    auto entry = (*writer)->commit();
    if (entry) out.entry = std::move(*entry);
    s = entry.status();
  }
  if (!s) spdlog::warn("resized cover {} not cached: {}", key, s.to_string());
  return out;
}

}  // namespace

awaitable<Reply> serve_resized_cover(RequestContext& ctx, const Song& song, int size) {
  auto& services = ctx.services;
  const auto& cover = *song.cover_sha256;
  if (!services.blobs.exists(cover)) co_return co_await redirect_request_to_holder(ctx, song, BlobKind::kCover);
  const std::string key = cover.hex() + "-cover-" + std::to_string(size);
  if (auto entry = services.transcodes.find(key)) {
    co_return co_await serve_file(ctx, entry->path, entry->digest, "image/jpeg", "");
  }
  std::optional<Result<Resized>> resized;
  {
    auto slot = services.transcode_slots.try_acquire();
    if (!slot) {
      spdlog::warn("resizing the cover of song {} refused: all {} transcode slots are busy", song.id,
                   services.transcode_slots.limit());
      co_return transcoder_busy(ctx, "this node is busy transcoding; try again shortly, or ask for the cover without a size");
    }
    resized = co_await offload(ctx, [&] { return resize(services, cover, key, size); });
  }
  if (!*resized) {
    // Apps still show a cover they cannot have smaller.
    spdlog::warn("cover of song {} sent unresized: {}", song.id, resized->status().to_string());
    co_return co_await serve_song_blob(ctx, song, BlobKind::kCover, "");
  }
  auto& result = **resized;
  if (!result.jpeg) co_return co_await serve_song_blob(ctx, song, BlobKind::kCover, "");
  if (result.entry) co_return co_await serve_file(ctx, result.entry->path, result.entry->digest, "image/jpeg", "");
  StringResponse res{http::status::ok, 11};
  res.set(http::field::content_type, "image/jpeg");
  res.set(http::field::cache_control, "private, max-age=86400");
  res.body() = std::move(*result.jpeg);
  co_return res;
}

}  // namespace hifi::http_internal
