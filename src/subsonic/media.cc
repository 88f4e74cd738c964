// stream, download and getCoverArt: bytes through the server's blob and
// transcode responses (local copy, redirect or proxy to a holder, ranges,
// the transcode cache), so Subsonic apps get what HiFi's own clients get.
//
//   stream       the stored file, or a transcode when asked for by format
//                (mp3, opus, aac; raw: the file), by a maxBitRate below the
//                song's, or by timeOffset (seconds; OpenSubsonic
//                transcodeOffset). A transcode to the song's own format and
//                within maxBitRate is skipped. estimateContentLength is
//                accepted and ignored: live transcodes are chunked, cached
//                ones carry their exact length.
//   download     the stored file, as an attachment
//   getCoverArt  the embedded cover of a song, or of an album's or an
//                artist's first song with one; with `size`, scaled down to
//                that many pixels on its longer side as JPEG (never up:
//                smaller covers are sent as they are). Signed URLs
//                (getArtistInfo's image URLs) need no credentials.
//
// Errors of the server's responses (problem+json) are turned into Subsonic
// errors in the request's format.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "media/transcoder.h"
#include "subsonic/http_adapter.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

using http_internal::BlobKind;

}  // namespace

Reply subsonic_errors(const Request& req, Reply reply) {
  if (!reply || reply->result_int() < 400) return reply;
  boost::system::error_code ec;
  auto problem = boost::json::parse(reply->body(), ec);
  std::string detail = "the server could not send this";
  if (!ec && problem.is_object() && problem.as_object().contains("detail") &&
      problem.as_object().at("detail").is_string()) {
    detail = problem.as_object().at("detail").as_string();
  }
  auto res = error_answer(req, reply->result() == http::status::not_found ? not_found_error(detail)
                                                                          : generic_error(detail));
  if (auto retry = (*reply)[http::field::retry_after]; !retry.empty()) res.set(http::field::retry_after, retry);
  return res;
}

namespace {

// The formats apps ask for, by the names they use.
std::optional<media::TranscodeFormat> format_named(const std::string& name) {
  if (name == "ogg" || name == "oga") return media::TranscodeFormat::kOpus;
  if (name == "m4a") return media::TranscodeFormat::kAac;
  return media::parse_transcode_format(name);
}

// Whether the stored file already is what a transcode to `format` makes.
bool already_in(const Song& song, media::TranscodeFormat format) {
  switch (format) {
    case media::TranscodeFormat::kMp3: return song.format == "mp3";
    case media::TranscodeFormat::kOpus: return song.format == "ogg" && song.codec == "opus";
    case media::TranscodeFormat::kAac: return song.format == "aac";
    case media::TranscodeFormat::kFlac: return song.format == "flac";
  }
  return false;
}

awaitable<Reply> stream(RequestContext& ctx, const Request& req, const Song& song) {
  auto max_kbps = req.params.integer("maxBitRate", 0, 100'000, 0);
  if (!max_kbps) co_return error_answer(req, max_kbps.error());
  auto offset_s = req.params.integer("timeOffset", 0, std::max<std::int64_t>(song.duration_ms / 1000, 0), 0);
  if (!offset_s) co_return error_answer(req, offset_s.error());
  if (auto estimate = req.params.boolean("estimateContentLength", false); !estimate) {
    co_return error_answer(req, estimate.error());
  }
  const auto format_name = req.params.get("format");
  std::optional<media::TranscodeFormat> target;
  if (format_name && *format_name != "raw" && !format_name->empty()) {
    target = format_named(*format_name);
    if (!target) {
      co_return error_answer(req, generic_error(fmt::format("format '{}' is not supported; use mp3, opus, aac, flac or raw",
                                                            format_name->substr(0, 32))));
    }
  } else if (!format_name && ((*max_kbps > 0 && song.bitrate / 1000 > *max_kbps) || *offset_s > 0)) {
    target = media::TranscodeFormat::kMp3;
  }
  const bool within_rate = *max_kbps == 0 || song.bitrate / 1000 <= *max_kbps;
  if (target && *offset_s == 0 && within_rate && already_in(song, *target)) target.reset();
  if (!target) {
    if (*offset_s > 0) {
      co_return error_answer(req, generic_error("timeOffset needs a transcoded format: mp3, opus or aac"));
    }
    co_return subsonic_errors(req, co_await http_internal::serve_song_blob(ctx, song, BlobKind::kSong, ""));
  }
  const int kbps = *max_kbps > 0 ? static_cast<int>(std::clamp<std::int64_t>(*max_kbps, media::kMinTranscodeBitrate,
                                                                             media::kMaxTranscodeBitrate))
                                 : 0;
  media::TranscodeRequest request{*target, kbps, *offset_s * 1000};
  co_return subsonic_errors(req, co_await http_internal::serve_transcode(ctx, song, request));
}

// The song whose cover an id names, if any.
std::optional<std::string> cover_song(const Catalog& catalog, const ParsedId& id) {
  if (id.kind == IdKind::kSong) return id.id;
  if (id.kind == IdKind::kAlbum) {
    auto album = catalog.album(id.id);
    if (album && !album->cover_song_id.empty()) return album->cover_song_id;
    return std::nullopt;
  }
  for (const auto& album : catalog.albums_by_artist(id.id)) {
    if (!album.cover_song_id.empty()) return album.cover_song_id;
  }
  return std::nullopt;
}

}  // namespace

bool is_media_endpoint(std::string_view name) {
  return name == "stream" || name == "download" || name == "getCoverArt" || is_lyrics_endpoint(name);
}

// The signed subject never looks like a song id, so a cover URL cannot be
// turned into a stream URL (UrlSigner signs stream URLs by song id).
std::string cover_subject(std::string_view cover_id, std::int64_t size) {
  return fmt::format("subsonic-cover:{}:{}", cover_id, size);
}

std::string signed_cover_url(const RequestContext& ctx, const std::string& cover_id, int size) {
  // Whole days, so that the URLs of one day are the same and apps cache them.
  constexpr std::int64_t kDay = 86'400;
  const auto expires = (ctx.services.clock.now_ms() / 1000 / kDay + 1) * kDay + kCoverUrlTtlS;
  const auto base = http_internal::public_base_url(ctx);
  return fmt::format("{}/rest/getCoverArt?id={}&size={}&expires={}&signature={}", base, cover_id, size, expires,
                     ctx.services.signer.sign(cover_subject(cover_id, size), expires));
}

bool signed_cover_request(const RequestContext& ctx, std::string_view name, const Params& params) {
  if (name != "getCoverArt") return false;
  auto id = params.get("id"), size = params.get("size"), expires = params.get("expires"),
       signature = params.get("signature");
  if (!id || !size || !expires || !signature || id->size() > 64 || size->size() > 4 || expires->size() > 12) {
    return false;
  }
  auto n = params.integer("size", 1, kMaxCoverSize, 0);
  auto e = params.integer("expires", 0, INT64_MAX / 1000, 0);
  if (!n || !e) return false;
  return ctx.services.signer.verify(cover_subject(*id, *n), *e, *signature, ctx.services.clock.now_ms() / 1000);
}

awaitable<Reply> serve_media(RequestContext& ctx, std::string_view name, const Request& req) {
  if (is_lyrics_endpoint(name)) co_return co_await serve_lyrics(ctx, name, req);
  auto id = id_param(req.params);
  if (!id) co_return error_answer(req, id.error());
  if (name == "getCoverArt") {
    auto size = req.params.integer("size", 1, kMaxCoverSize, 0);
    if (!size) co_return error_answer(req, size.error());
    auto song_id = cover_song(ctx.services.catalog, *id);
    if (!song_id) co_return error_answer(req, not_found_error("no cover art for '" + id->id + "'"));
    auto song = co_await http_internal::find_song(ctx, *song_id);
    if (!song) co_return error_answer(req, error_from_status(song.status()));
    if (!song->cover_sha256) co_return error_answer(req, not_found_error("this song has no cover art"));
    if (*size > 0) {
      co_return subsonic_errors(req, co_await http_internal::serve_resized_cover(ctx, *song, static_cast<int>(*size)));
    }
    co_return subsonic_errors(req, co_await http_internal::serve_song_blob(ctx, *song, BlobKind::kCover, ""));
  }
  if (id->kind != IdKind::kSong) co_return error_answer(req, not_found_error("only songs can be streamed"));
  auto song = co_await http_internal::find_song(ctx, id->id);
  if (!song) co_return error_answer(req, error_from_status(song.status()));
  if (name == "download") {
    const auto download_name = song->filename.empty() ? song->title : song->filename;
    co_return subsonic_errors(req, co_await http_internal::serve_song_blob(ctx, *song, BlobKind::kSong, download_name));
  }
  co_return co_await stream(ctx, req, *song);
}

}  // namespace hifi::subsonic
