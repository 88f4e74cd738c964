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
// transcode; errors in the request's format. The caller is authenticated.
bool is_media_endpoint(std::string_view name);
awaitable<Reply> serve_media(RequestContext& ctx, std::string_view name, const Request& request);

}  // namespace hifi::subsonic
