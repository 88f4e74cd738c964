// The web UI's files, for GET/HEAD of any path no API route matches.
#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <map>

#include "server/http_internal.h"

namespace hifi::http_internal {
namespace {

const char* static_content_type(const std::string& ext) {
  static const std::map<std::string, const char*> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".ico", "image/x-icon"}, {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"}, {".woff2", "font/woff2"}};
  auto it = kTypes.find(ext);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

}  // namespace

// The web app's Content-Security-Policy: its own scripts and styles only
// (no inline code, no eval), images from itself and the blob: URLs it makes
// of covers, and connections to any node of the cluster (other origins:
// the app fails over between nodes, over HTTP(S) and WebSockets).
const char* const kAppPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "font-src 'self'; media-src 'self' blob:; connect-src 'self' http: https: ws: wss:; "
    "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

awaitable<Reply> serve_static(RequestContext& ctx) {
  // Build the path from decoded segments; anything that could climb out of
  // the web root, or hidden files, is simply not found.
  std::string relative;
  for (const auto& seg : ctx.segments) {
    if (seg.empty()) continue;
    if (seg == "." || seg == ".." || seg.front() == '.' || seg.find('/') != std::string::npos ||
        seg.find('\\') != std::string::npos || seg.find('\0') != std::string::npos) {
      co_return not_found_problem(ctx, "no such file");
    }
    relative += "/" + seg;
  }
  // Client-side routes (no file extension) get the app's index.html.
  const bool has_extension = relative.rfind('.') != std::string::npos &&
                             relative.rfind('.') > relative.rfind('/');
  if (relative.empty() || !has_extension) relative = "/index.html";
  const auto path = ctx.config.web_root + relative;
  FileCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  const int fd = file.fd;
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    co_return not_found_problem(ctx, "there is nothing at " + std::string(ctx.url.path()));
  }
  const auto etag = fmt::format("\"{}-{}\"", st.st_mtim.tv_sec, st.st_size);
  // A 304's fields replace the cached response's: it carries the policy too.
  const bool html = relative.ends_with(".html");
  if (ctx.header()[http::field::if_none_match] == etag) {
    StringResponse res{http::status::not_modified, 11};
    res.set(http::field::etag, etag);
    if (html) res.set("Content-Security-Policy", kAppPolicy);
    co_return res;
  }
  HeaderResponse header{http::status::ok, 11};
  auto dot = relative.rfind('.');
  header.set(http::field::content_type, static_content_type(relative.substr(dot)));
  header.set(http::field::content_length, std::to_string(st.st_size));
  header.set(http::field::etag, etag);
  // Revalidate every time: the UI must never run stale code against a newer API.
  header.set(http::field::cache_control, "no-cache");
  if (html) header.set("Content-Security-Policy", kAppPolicy);
  co_await send_file(ctx, header, fd, 0, static_cast<std::uint64_t>(st.st_size));
  co_return std::nullopt;
}

}  // namespace hifi::http_internal
