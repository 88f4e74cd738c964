// Seek reads (media/seek_reads.h): GET /api/v1/songs/{id}/stream with
// seek_frame and seek_rate answers, in one multipart/byteranges response,
// the bytes of the song that a player's decoder reads to seek to that
// output frame and decode two seconds past it (with seek_open=1, and to open
// the song first: a player starting a song from a position). The node runs the same seek on
// its own copy to find them; a player streaming the song over a slow path
// then seeks in one round trip instead of one per step of the search.
//
// Only the node holding the song can plan: another redirects (a signed URL
// on the holder, the query kept), or in --read-mode proxy answers 409
// no-local-copy (the player then reads with plain Range requests). Planning
// takes a transcode slot (503 transcoder-busy when none is free) and reads
// at most twice the plan's 2 MiB.
#include <spdlog/spdlog.h>

#include "common/byteranges.h"
#include "common/random.h"
#include "media/seek_reads.h"
#include "server/http_internal.h"

namespace hifi::http_internal {
awaitable<Reply> serve_seek_reads(RequestContext& ctx, const Song& song, std::uint64_t frame, int rate,
                                  bool with_open) {
  const auto etag = "\"" + song.sha256.hex() + "\"";
  auto opened = ctx.services.blobs.open(song.sha256);
  if (!opened) {
    if (opened.status().code() != Code::kNotFound) co_return problem_from_status(ctx, opened.status());
    if (ctx.config.read_mode == ReadMode::kRedirect) {
      co_return co_await redirect_to_holder(ctx, song,
                                            "&seek_frame=" + std::to_string(frame) + "&seek_rate=" +
                                                std::to_string(rate) + (with_open ? "&seek_open=1" : ""));
    }
    co_return problem(ctx, http::status::conflict, "no-local-copy", "No local copy",
                      "this node holds no copy of the song to plan a seek on; read it with Range requests");
  }
  const auto path = ctx.services.blobs.path_for(song.sha256);
  // Planning decodes (at most about 4 MiB of the song): it shares the
  // transcoders' bound on such work.
  std::optional<Result<media::PlannedSeek>> planned;
  {
    auto slot = ctx.services.transcode_slots.try_acquire();
    if (!slot) {
      co_return transcoder_busy(ctx, "this node is busy transcoding; read the song with Range requests");
    }
    planned = co_await offload(ctx, [&] { return media::plan_seek_bytes(path, frame, rate, with_open); });
  }
  if (!*planned) {
    if (planned->status().code() == Code::kUnsupported) {
      co_return problem(ctx, http::status::unprocessable_entity, "undecodable", "Cannot seek",
                        "the song does not decode on this node: " + planned->status().message());
    }
    co_return problem_from_status(ctx, planned->status());
  }
  const std::string boundary = "hifi-" + random_hex(12);
  StringResponse res{http::status::partial_content, 11};
  res.set(http::field::content_type, byteranges_content_type(boundary));
  res.set(http::field::cache_control, "private, max-age=31536000, immutable");
  res.set(http::field::accept_ranges, "bytes");
  res.set(http::field::etag, etag);
  res.body() = format_byteranges((*planned)->parts, boundary,
                                 song.content_type.empty() ? "application/octet-stream" : song.content_type,
                                 (*planned)->size);
  co_return res;
}

}  // namespace hifi::http_internal
