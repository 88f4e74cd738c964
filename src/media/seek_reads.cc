#include "media/seek_reads.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "media/decoder.h"

namespace hifi::media {
namespace {

// Reads weighed at most (each costs a sort of those before it).
constexpr std::size_t kMaxReads = 1024;

// Passes reads through, remembering them while recording; once the reads
// recorded add up to `budget` bytes, fails the rest (the decoder then stops:
// what a plan can hold has been read).
class RecordingSource final : public ByteSource {
 public:
  RecordingSource(ByteSource& inner, std::uint64_t budget) : inner_(inner), budget_(budget) {}
  Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) override {
    if (recording && read_ >= budget_) {
      exhausted = true;
      return unavailable("the seek plan's budget is spent");
    }
    auto n = inner_.read(offset, out, max);
    if (recording && n && *n > 0) {
      reads.push_back({offset, *n});
      read_ += *n;
    }
    return n;
  }
  std::optional<std::uint64_t> size() override { return inner_.size(); }
  bool seekable() const override { return inner_.seekable(); }
  std::string describe() const override { return inner_.describe(); }

  bool recording = false;
  bool exhausted = false;
  std::vector<ByteRange> reads;

 private:
  ByteSource& inner_;
  const std::uint64_t budget_;
  std::uint64_t read_ = 0;
};

// Sorted, disjoint, and gaps of at most merge_gap closed.
std::vector<ByteRange> merged(std::vector<ByteRange> ranges, std::uint64_t merge_gap) {
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  std::vector<ByteRange> out;
  for (const auto& r : ranges) {
    if (!out.empty() && r.offset <= out.back().end() + merge_gap) {
      out.back().length = std::max(out.back().end(), r.end()) - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::uint64_t total_length(const std::vector<ByteRange>& ranges) {
  std::uint64_t n = 0;
  for (const auto& r : ranges) n += r.length;
  return n;
}

}  // namespace

Result<std::vector<ByteRange>> plan_seek_reads(ByteSource& song, const AudioFormat& format, std::uint64_t frame,
                                               std::uint64_t follow_frames, bool with_open,
                                               const SeekReadsLimits& limits) {
  if (format.sample_rate <= 0 || format.channels <= 0) return invalid_argument("not an audio format");
  // Reads may overlap (a search reads some places twice): twice the bytes a
  // plan may hold are read at most, which bounds the decoding too (an MP3
  // is decoded from its start to the frame).
  RecordingSource recorder(song, 2 * limits.max_bytes);
  AudioDecoder decoder(format);
  std::atomic<bool> never{false};
  recorder.recording = with_open;
  if (Status opened = decoder.open(recorder, &interrupt_when_set, &never); !opened) {
    if (!recorder.exhausted) return opened;
  } else {
    recorder.recording = true;
    Status s = decoder.seek(frame);
    std::vector<std::int16_t> pcm;
    bool ended = false;
    while (s && !ended && pcm.size() / static_cast<std::size_t>(format.channels) < follow_frames) {
      s = decoder.decode(pcm, static_cast<std::size_t>(follow_frames), &ended);
    }
    if (!s && !recorder.exhausted) return s;
  }
  // In the order read, while the ranges they make (gaps closed) stay within
  // the limits: the first reads are the search's.
  std::vector<ByteRange> kept;
  std::vector<ByteRange> out;
  for (const auto& r : recorder.reads) {
    if (kept.size() >= kMaxReads) break;
    kept.push_back(r);
    auto next = merged(kept, limits.merge_gap);
    if (total_length(next) > limits.max_bytes || next.size() > limits.max_ranges) break;
    out = std::move(next);
  }
  return out;
}

Result<PlannedSeek> plan_seek_bytes(const std::string& path, std::uint64_t frame, int rate, bool with_open) {
  auto file = FileByteSource::open(path);
  if (!file) return file.status();
  const AudioFormat format{rate, 2};
  auto ranges = plan_seek_reads(**file, format, frame, static_cast<std::uint64_t>(rate * kSeekFollowSeconds), with_open);
  if (!ranges) return ranges.status();
  PlannedSeek out;
  out.size = (*file)->size().value_or(0);
  for (const auto& r : *ranges) {
    BytePart part{r.offset, std::string(static_cast<std::size_t>(r.length), '\0'), out.size};
    std::size_t have = 0;
    while (have < part.bytes.size()) {
      auto n = (*file)->read(r.offset + have, part.bytes.data() + have, part.bytes.size() - have);
      if (!n) return n.status();
      if (*n == 0) break;  // the file is shorter than its reads said: keep what there is
      have += *n;
    }
    part.bytes.resize(have);
    if (!part.bytes.empty()) out.parts.push_back(std::move(part));
  }
  return out;
}

}  // namespace hifi::media
