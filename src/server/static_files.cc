// The web UI's files, for GET/HEAD of any path no API route matches.
#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>

#include "common/gzip.h"
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

// Text files are sent gzip-compressed to clients that accept it.
bool compressible(const std::string& ext) {
  return ext == ".html" || ext == ".js" || ext == ".mjs" || ext == ".css" || ext == ".json" || ext == ".svg" ||
         ext == ".webmanifest" || ext == ".txt";
}

// Compressed copies of the web root's text files, made at the first request
// and kept while the file is unchanged (same modification time and size).
// Bounded: past kMaxBytes the cache starts over.
class GzipCache {
 public:
  static constexpr std::size_t kMaxBytes = 16 << 20;

  std::shared_ptr<const std::string> find(const std::string& path, const struct stat& st) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end() || !same_file(it->second, st)) return nullptr;
    return it->second.gz;
  }
  void put(const std::string& path, const struct stat& st, std::shared_ptr<const std::string> gz) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(path); it != entries_.end()) {
      bytes_ -= it->second.gz->size();
      entries_.erase(it);
    }
    if (bytes_ + gz->size() > kMaxBytes) {
      entries_.clear();
      bytes_ = 0;
    }
    bytes_ += gz->size();
    entries_[path] = {st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_size, std::move(gz)};
  }

 private:
  struct Entry {
    time_t mtime_sec;
    long mtime_nsec;
    off_t size;
    std::shared_ptr<const std::string> gz;
  };
  static bool same_file(const Entry& e, const struct stat& st) {
    return e.mtime_sec == st.st_mtim.tv_sec && e.mtime_nsec == st.st_mtim.tv_nsec && e.size == st.st_size;
  }
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::size_t bytes_ = 0;
};

GzipCache& gzip_cache() {
  static GzipCache cache;
  return cache;
}

// The whole file, compressed; nullptr when it cannot be read or does not shrink.
std::shared_ptr<const std::string> compress_file(int fd, const struct stat& st) {
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = ::pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return nullptr;
    done += static_cast<std::size_t>(n);
  }
  auto gz = gzip_compress(data);
  if (!gz || gz->size() >= data.size()) return nullptr;
  return std::make_shared<const std::string>(std::move(*gz));
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
  for (const auto seg : ctx.segments.items) {
    if (seg.empty()) continue;
    if (seg == "." || seg == ".." || seg.front() == '.' || seg.find('/') != std::string::npos ||
        seg.find('\\') != std::string::npos || seg.find('\0') != std::string::npos) {
      co_return not_found_problem(ctx, "no such file");
    }
    relative.append("/").append(seg);
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
  const auto dot = relative.rfind('.');
  const auto ext = relative.substr(dot);
  const bool html = ext == ".html";
  const bool text = compressible(ext);
  // The compressed copy is another representation of the file: its own
  // ETag, and caches told that the encoding depends on Accept-Encoding.
  std::shared_ptr<const std::string> gz;
  if (text && st.st_size >= 256 && accepts_gzip(ctx.header()[http::field::accept_encoding])) {
    gz = gzip_cache().find(path, st);
    if (!gz) {
      gz = co_await offload(ctx, [&] { return compress_file(fd, st); });
      if (gz) gzip_cache().put(path, st, gz);
    }
  }
  const auto etag = fmt::format("\"{}-{}{}\"", st.st_mtim.tv_sec, st.st_size, gz ? "-gz" : "");
  // A 304's fields replace the cached response's: it carries the policy too.
  if (ctx.header()[http::field::if_none_match] == etag) {
    StringResponse res{http::status::not_modified, 11};
    res.set(http::field::etag, etag);
    if (text) res.set(http::field::vary, "Accept-Encoding");
    if (html) res.set("Content-Security-Policy", kAppPolicy);
    co_return res;
  }
  if (gz) {
    StringResponse res{http::status::ok, 11};
    res.set(http::field::content_type, static_content_type(ext));
    res.set(http::field::content_encoding, "gzip");
    res.set(http::field::vary, "Accept-Encoding");
    res.set(http::field::etag, etag);
    res.set(http::field::cache_control, "no-cache");
    if (html) res.set("Content-Security-Policy", kAppPolicy);
    res.body() = *gz;
    res.prepare_payload();
    co_return res;
  }
  FileHeader header(http::status::ok);
  header.set(http::field::content_type, static_content_type(ext));
  if (text) header.set(http::field::vary, "Accept-Encoding");
  header.set_number("Content-Length", static_cast<std::uint64_t>(st.st_size));
  header.set(http::field::etag, etag);
  // Revalidate every time: the UI must never run stale code against a newer API.
  header.set(http::field::cache_control, "no-cache");
  if (html) header.set("Content-Security-Policy", kAppPolicy);
  co_await send_file(ctx, header, fd, 0, static_cast<std::uint64_t>(st.st_size));
  co_return std::nullopt;
}

}  // namespace hifi::http_internal
