// HttpByteSource: a song's bytes as the server streams them, read as the
// decoder asks for them: HTTP range requests over a signed stream URL
// (following a cluster's redirect to the node holding the song, failing
// over between servers), so that decoding starts with the first bytes and
// a seek fetches only around its new position.
//
// Reads continue one response while they follow each other; a read
// elsewhere (a seek) ends it and asks for a new range there. Ranges are
// bounded: kFirstRange after a jump, doubling while reading goes on
// straight, up to kMaxRange, so that what the server sends ahead of the
// decoder stays small (the socket buffers, at most kMaxRange) and so does
// what a seek leaves unread. A short skip forward is read through instead.
// Each range asks If-Range with the ETag first seen, so a song can never
// change under the decoder.
//
// For the stored file (enable_seek_plans()), a seek the decoder announces
// (expect_seek) asks the server for the bytes that seek will read, in one
// multipart/byteranges answer planned on the server's copy
// (media/seek_reads.h); reads inside them are served from memory until the
// next seek. A server that does not plan (an older one, a node in proxy
// mode without a copy) costs that request once: the source asks no more.
//
// A server that ignores Range (200 to a ranged request, no Accept-Ranges:
// a transcoded stream still being made) makes the source non-seekable: it
// is then read once, straight through.
//
// Failures: a connection lost mid-body is resumed with a new range from
// where reading is (up to kRetries times in a row); a refused URL (403: a
// signature that expired) is asked for anew once per read. What cannot be
// had is kUnavailable, with the server's or the network's reason.
//
// Thread-safety: as media::ByteSource (one reader; interrupt() from any
// thread). bytes_fetched() and requests() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/api_client.h"
#include "common/byteranges.h"
#include "common/status.h"
#include "media/byte_source.h"

namespace hifi::client {

class HttpByteSource final : public media::ByteSource {
 public:
  static constexpr std::uint64_t kFirstRange = 64 * 1024;
  static constexpr std::uint64_t kMaxRange = 2 * 1024 * 1024;
  static constexpr std::uint64_t kSkipThrough = 64 * 1024;
  static constexpr int kRetries = 3;

  // Gives the request-target to GET (a fresh signed stream URL, say);
  // called before the first request and after a refusal.
  using UrlFn = std::function<ApiResult<std::string>()>;

  // `api` must outlive the source. `description` names it in messages.
  HttpByteSource(ApiClient& api, UrlFn url, std::string description);
  ~HttpByteSource() override;

  // Makes the first request (the start of the input), which tells the
  // size and whether the server honours ranges. Optional: the first read
  // does it otherwise.
  Status start();
  // Starts a source that will be decoded from output frame `frame` at
  // `sample_rate`: the first request asks for the seek plan that includes
  // opening the song (seek_open=1), so that opening and seeking cost one
  // request. Falls back to start() when the server does not plan.
  Status start_at(std::uint64_t frame, int sample_rate);
  // start_at() with the plan in hand (seek data the server sent with the
  // news of a jump, RoomClient::seek_data): no request at all while reads
  // stay inside it. A plan that does not parse, or names no size, is
  // ignored and start_at() asks for one.
  Status start_with_plan(std::uint64_t frame, int sample_rate, const std::string& etag,
                         std::string_view content_type, std::string_view body);
  // Lets announced seeks ask for plans (start_at() does too). Only for the
  // stored file: the server plans no transcode.
  void enable_seek_plans() { plans_ = Plans::kAsk; }

  Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) override;
  std::optional<std::uint64_t> size() override;
  bool seekable() const override { return seekable_; }
  std::string describe() const override { return description_; }
  void interrupt() override { stop_.store(true); }
  void expect_seek(std::uint64_t frame, int sample_rate) override;

  // Body bytes received so far (what reading cost on the wire, less headers).
  std::uint64_t bytes_fetched() const { return fetched_.load(); }
  // Requests made so far (a redirect counts once), seek plans included.
  int requests() const { return requests_.load(); }
  // Seek plans received, and reads served from them.
  int seek_plans() const { return seek_plans_.load(); }
  int planned_reads() const { return planned_reads_.load(); }

  // A seek plan's body is refused beyond this (the server plans at most
  // 2 MiB of bytes).
  static constexpr std::size_t kMaxPlanBody = 2 * 1024 * 1024 + 64 * 1024;

 private:
  // Ends the current response and asks for one from `offset` on (from 0
  // when the server does not honour ranges); false when there is nothing
  // there (past the end).
  Result<bool> request_at(std::uint64_t offset);
  Status failure(const ApiError& error) const;
  // Asks for the plan of a seek to `frame` at `sample_rate` (with the
  // opening's reads: with_open) and keeps it; false when there is none.
  bool fetch_plan(std::uint64_t frame, int sample_rate, bool with_open);
  // Keeps a plan's parts (a multipart/byteranges body of the song whose
  // ETag is `etag`) for a seek to `frame` at `sample_rate`; false when it
  // is unusable or of another version of the song.
  bool adopt_plan(std::string_view content_type, std::string_view body, const std::string& etag,
                  std::uint64_t frame, int sample_rate);
  // Copies what the seek plan holds at `offset`; 0 when it holds nothing there.
  std::size_t read_planned(std::uint64_t offset, char* out, std::size_t max);

  ApiClient& api_;
  UrlFn url_fn_;
  const std::string description_;
  std::optional<std::string> url_;
  std::unique_ptr<BodyStream> body_;
  std::uint64_t body_at_ = 0;                // offset of the body's next byte
  std::optional<std::uint64_t> body_end_;    // one past the range's last byte, when bounded
  std::uint64_t next_range_ = kFirstRange;   // length of the next range asked
  std::uint64_t straight_from_;              // where a range ended, read to its end
  int refused_with_ = 0;                     // HTTP status of the last refusal; 0: none
  std::optional<std::uint64_t> size_;
  std::string etag_;
  bool seekable_ = true;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> fetched_{0};
  std::atomic<int> requests_{0};
  std::vector<BytePart> planned_;  // the last seek plan's bytes
  std::optional<std::pair<std::uint64_t, int>> planned_for_;  // its frame and rate
  enum class Plans { kOff, kAsk, kRefused };
  Plans plans_ = Plans::kOff;
  std::atomic<int> seek_plans_{0};
  std::atomic<int> planned_reads_{0};
};

}  // namespace hifi::client
