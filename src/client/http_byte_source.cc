#include "client/http_byte_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace hifi::client {
namespace {

constexpr std::uint64_t kNotStraight = std::numeric_limits<std::uint64_t>::max();

}  // namespace

HttpByteSource::HttpByteSource(ApiClient& api, UrlFn url, std::string description)
    : api_(api), url_fn_(std::move(url)), description_(std::move(description)), straight_from_(kNotStraight) {}

HttpByteSource::~HttpByteSource() = default;

Status HttpByteSource::failure(const ApiError& error) const {
  if (stop_) return unavailable("stopped reading " + description_);
  return unavailable("cannot fetch " + description_ + ": " + error.message());
}

Status HttpByteSource::start() {
  if (body_ || size_) return Status::ok();
  auto opened = request_at(0);
  return opened ? Status::ok() : opened.status();
}

Result<bool> HttpByteSource::request_at(std::uint64_t offset) {
  body_.reset();
  // Reading straight on earns a longer range; a jump starts small again.
  next_range_ = offset == straight_from_ ? std::min(next_range_ * 2, kMaxRange) : kFirstRange;
  straight_from_ = kNotStraight;
  StreamRequest request;
  request.from = offset;
  if (seekable_) {
    std::uint64_t last = offset + next_range_ - 1;
    if (size_) last = std::min(last, *size_ - 1);
    request.to = last;
  }
  request.if_range = etag_;
  request.stop = &stop_;
  refused_with_ = 0;
  for (int refusals = 0;; ++refusals) {
    if (!url_) {
      auto url = url_fn_();
      if (!url) {
        refused_with_ = url.error.status;
        return failure(url.error);
      }
      url_ = std::move(*url);
    }
    ++requests_;
    auto opened = api_.open_stream(*url_, request);
    if (opened) {
      body_ = std::move(*opened);
      break;
    }
    if (opened.error.status == 416) return false;  // nothing there: past the end
    // A signed URL that expired (or a node that stopped honouring it): ask
    // for a fresh one, once.
    if ((opened.error.status == 403 || opened.error.status == 401) && refusals == 0) {
      url_.reset();
      continue;
    }
    refused_with_ = opened.error.status;
    return failure(opened.error);
  }

  if (body_->status() == 206) {
    if (body_->first_byte() != offset) {
      body_.reset();
      return unavailable("cannot fetch " + description_ + ": the server sent another range than asked");
    }
    if (auto total = body_->total_size()) size_ = total;
    body_at_ = offset;
    body_end_ = request.to ? std::optional<std::uint64_t>(*request.to + 1) : std::nullopt;
    if (body_end_ && size_) body_end_ = std::min(*body_end_, *size_);
  } else {
    // 200: the whole representation from its start. Either the server
    // ignores ranges (a live stream), or the song changed under us.
    if (!etag_.empty() && body_->etag() != etag_) {
      body_.reset();
      return unavailable("cannot fetch " + description_ + ": it changed while being read");
    }
    auto ranges = body_->headers().find("accept-ranges");
    if (ranges == body_->headers().end() || ranges->second != "bytes") seekable_ = false;
    size_ = body_->total_size();
    body_at_ = 0;
    body_end_.reset();
  }
  if (etag_.empty()) etag_ = body_->etag();
  return true;
}

bool HttpByteSource::fetch_plan(std::uint64_t frame, int sample_rate, bool with_open) {
  planned_.clear();
  planned_for_.reset();
  if (!url_) {
    auto url = url_fn_();
    if (!url) return false;
    url_ = std::move(*url);
  }
  const std::string target = *url_ + (url_->find('?') == std::string::npos ? "?" : "&") + "seek_frame=" +
                             std::to_string(frame) + "&seek_rate=" + std::to_string(sample_rate) +
                             (with_open ? "&seek_open=1" : "");
  StreamRequest request;
  request.to = 0;  // a server that does not plan sends one byte
  request.if_range = etag_;
  request.stop = &stop_;
  ++requests_;
  auto opened = api_.open_stream(target, request);
  if (!opened) {
    spdlog::debug("no seek plan for {}: {}", description_, opened.error.message());
    // Refused (an older server's 400, a proxying node's 409): ask no more.
    // A network failure may pass, and so may an expired URL (401, 403),
    // which the next read asks for anew.
    const int status = opened.error.status;
    if (status >= 400 && status < 500 && status != 401 && status != 403) plans_ = Plans::kRefused;
    return false;
  }
  auto& body = **opened;
  const auto type = body.headers().find("content-type");
  if (body.status() != 206 || type == body.headers().end() || type->second.rfind("multipart/byteranges", 0) != 0) {
    plans_ = Plans::kRefused;  // a server that does not plan: ask no more
    return false;
  }
  if (const auto length = body.headers().find("content-length"); length != body.headers().end()) {
    std::uint64_t n = 0;
    const auto& text = length->second;
    if (std::from_chars(text.data(), text.data() + text.size(), n).ec != std::errc() || n > kMaxPlanBody) return false;
  }
  std::string bytes;
  for (;;) {
    const std::size_t at = bytes.size();
    if (at > kMaxPlanBody) return false;
    bytes.resize(at + 64 * 1024);
    auto n = body.read(bytes.data() + at, bytes.size() - at);
    if (!n) return false;
    bytes.resize(at + *n);
    if (*n == 0) break;
  }
  fetched_ += bytes.size();
  return adopt_plan(type->second, bytes, body.etag(), frame, sample_rate);
}

bool HttpByteSource::adopt_plan(std::string_view content_type, std::string_view body, const std::string& etag,
                                std::uint64_t frame, int sample_rate) {
  if (etag.empty() || (!etag_.empty() && etag != etag_)) return false;
  auto parts = parse_byteranges(content_type, body);
  if (!parts || parts->empty()) {
    if (!parts) spdlog::warn("the seek plan for {} is unusable: {}", description_, parts.status().message());
    return false;
  }
  if (etag_.empty()) etag_ = etag;
  if (!size_ && parts->front().total > 0) size_ = parts->front().total;
  planned_ = std::move(*parts);
  planned_for_ = std::make_pair(frame, sample_rate);
  ++seek_plans_;
  return true;
}

Status HttpByteSource::start_with_plan(std::uint64_t frame, int sample_rate, const std::string& etag,
                                       std::string_view content_type, std::string_view body) {
  if (body_ || size_) return Status::ok();
  plans_ = Plans::kAsk;
  if (adopt_plan(content_type, body, etag, frame, sample_rate) && size_) return Status::ok();
  return start_at(frame, sample_rate);
}

Status HttpByteSource::start_at(std::uint64_t frame, int sample_rate) {
  if (body_ || size_) return Status::ok();
  plans_ = Plans::kAsk;
  if (fetch_plan(frame, sample_rate, /*with_open=*/true) && size_) return Status::ok();
  return start();
}

void HttpByteSource::expect_seek(std::uint64_t frame, int sample_rate) {
  // The plan the source started with may be this seek's.
  if (planned_for_ == std::make_pair(frame, sample_rate)) return;
  if (plans_ != Plans::kAsk || !seekable_ || etag_.empty() || stop_) return;
  fetch_plan(frame, sample_rate, /*with_open=*/false);
}

std::size_t HttpByteSource::read_planned(std::uint64_t offset, char* out, std::size_t max) {
  for (const auto& part : planned_) {
    if (offset < part.first || offset - part.first >= part.bytes.size()) continue;
    const auto from = static_cast<std::size_t>(offset - part.first);
    const std::size_t n = std::min(max, part.bytes.size() - from);
    std::memcpy(out, part.bytes.data() + from, n);
    ++planned_reads_;
    return n;
  }
  return 0;
}

Result<std::size_t> HttpByteSource::read(std::uint64_t offset, char* out, std::size_t max) {
  int failures = 0;
  std::vector<char> scratch;
  for (;;) {
    if (stop_) return unavailable("stopped reading " + description_);
    if (max == 0 || (size_ && offset >= *size_)) return std::size_t{0};
    if (const std::size_t n = read_planned(offset, out, max); n > 0) return n;
    if (body_ && offset != body_at_) {
      const bool ahead = offset > body_at_ && (!body_end_ || offset < *body_end_);
      if (ahead && (!seekable_ || offset - body_at_ <= kSkipThrough)) {
        // Cheaper to read through than to ask again (or the only way).
        scratch.resize(static_cast<std::size_t>(std::min<std::uint64_t>(offset - body_at_, 64 * 1024)));
        auto n = body_->read(scratch.data(), scratch.size());
        if (n && *n > 0) {
          body_at_ += *n;
          fetched_ += *n;
          continue;
        }
        body_.reset();
        if (!n && ++failures > kRetries) return failure(n.error);
        continue;
      }
      if (!seekable_ && offset < body_at_) {
        return unsupported("cannot go back in " + description_ + ": the server streams it only straight through");
      }
      body_.reset();
    }
    if (!body_) {
      auto opened = request_at(seekable_ ? offset : 0);
      if (!opened) {
        // Only network failures are worth another try; the server's answers stand.
        if (refused_with_ != 0 || ++failures > kRetries || stop_) return opened.status();
        continue;
      }
      if (!*opened) return std::size_t{0};
      continue;  // the body may start before the offset (a 200): read through
    }
    auto n = body_->read(out, max);
    if (!n) {
      body_.reset();
      if (++failures > kRetries || stop_) return failure(n.error);
      continue;
    }
    if (*n == 0) {
      body_.reset();
      // An unbounded body that ends is the end of the input; a range that
      // ends is followed by the next.
      if (!body_end_) {
        size_ = body_at_;
        return std::size_t{0};
      }
      straight_from_ = body_at_;
      continue;
    }
    body_at_ += *n;
    fetched_ += *n;
    return *n;
  }
}

std::optional<std::uint64_t> HttpByteSource::size() {
  if (!size_ && !body_ && seekable_) {
    // The first response says; a failure here shows again at the next read.
    (void)start();
  }
  return size_;
}

}  // namespace hifi::client
