// Private to the Subsonic adapter's HTTP side (http.cc, media.cc): a
// request as the adapter has parsed it, and how its answers are written.
// Includes Beast through the server's private header; keep it to these two
// files.
#pragma once

#include <string>
#include <string_view>

#include "server/http_internal.h"
#include "subsonic/auth.h"
#include "subsonic/document.h"
#include "subsonic/params.h"

namespace hifi::subsonic {

namespace http = http_internal::http;
using http_internal::awaitable;
using http_internal::Reply;
using http_internal::RequestContext;
using http_internal::StringResponse;

struct Request {
  Params params;
  Format format = Format::kXml;
  std::string callback;  // for kJsonp, validated
  Caller caller;
};

// A rendered document as an HTTP 200 answer.
StringResponse answer(const Rendered& rendered);
// An error in the request's format.
StringResponse error_answer(const Request& request, const Error& error);

// stream, download and getCoverArt: the bytes of a song or a cover, or a
// transcode; and the lyrics endpoints, which read the song's file: errors
// in the request's format. The caller is authenticated.
bool is_media_endpoint(std::string_view name);
awaitable<Reply> serve_media(RequestContext& ctx, std::string_view name, const Request& request);

// A problem+json answer of the server's blob, cover or transcode responses
// as a Subsonic error (HTTP 200); anything else as it is.
Reply subsonic_errors(const Request& request, Reply reply);

// getCoverArt URLs that need no credentials, for the image URLs of
// getArtistInfo and getAlbumInfo (apps load them as they are): signed with
// the server's URL key for one cover at one size, valid for a month, on
// the host (and X-Forwarded-Proto) the request came in on.
inline constexpr std::int64_t kMaxCoverSize = 4096;
inline constexpr std::int64_t kCoverUrlTtlS = 30 * 86'400;
std::string signed_cover_url(const RequestContext& ctx, const std::string& cover_id, int size);
// Whether a getCoverArt request carries a valid signature for its id and size.
bool signed_cover_request(const RequestContext& ctx, std::string_view name, const Params& params);

// getLyrics (by artist and title) and getLyricsBySongId (OpenSubsonic
// songLyrics): lyrics read from the song file's tags (lyrics.cc).
bool is_lyrics_endpoint(std::string_view name);
awaitable<Reply> serve_lyrics(RequestContext& ctx, std::string_view name, const Request& request);

}  // namespace hifi::subsonic
