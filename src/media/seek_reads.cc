#include "media/seek_reads.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "media/decoder.h"

namespace hifi::media {
namespace {

// Reads weighed at most (each costs a sort of those before it).
constexpr std::size_t kMaxReads = 1024;

// Passes reads through, remembering them while recording.
class RecordingSource final : public ByteSource {
 public:
  explicit RecordingSource(ByteSource& inner) : inner_(inner) {}
  Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) override {
    auto n = inner_.read(offset, out, max);
    if (recording && n && *n > 0) reads.push_back({offset, *n});
    return n;
  }
  std::optional<std::uint64_t> size() override { return inner_.size(); }
  bool seekable() const override { return inner_.seekable(); }
  std::string describe() const override { return inner_.describe(); }

  bool recording = false;
  std::vector<ByteRange> reads;

 private:
  ByteSource& inner_;
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

// The bytes `ranges` cover.
std::uint64_t covered(const std::vector<ByteRange>& ranges) {
  std::uint64_t n = 0;
  for (const auto& r : merged(ranges, 0)) n += r.length;
  return n;
}

}  // namespace

Result<std::vector<ByteRange>> plan_seek_reads(ByteSource& song, const AudioFormat& format, std::uint64_t frame,
                                               std::uint64_t follow_frames, bool with_open,
                                               const SeekReadsLimits& limits) {
  if (format.sample_rate <= 0 || format.channels <= 0) return invalid_argument("not an audio format");
  RecordingSource recorder(song);
  AudioDecoder decoder(format);
  std::atomic<bool> never{false};
  recorder.recording = with_open;
  if (Status s = decoder.open(recorder, &interrupt_when_set, &never); !s) return s;
  recorder.recording = true;
  if (Status s = decoder.seek(frame); !s) return s;
  std::vector<std::int16_t> pcm;
  bool ended = false;
  while (!ended && pcm.size() / static_cast<std::size_t>(format.channels) < follow_frames) {
    if (Status s = decoder.decode(pcm, static_cast<std::size_t>(follow_frames), &ended); !s) return s;
  }
  // In the order read, up to the budget: the first reads are the search's.
  std::vector<ByteRange> kept;
  for (const auto& r : recorder.reads) {
    if (kept.size() >= kMaxReads) break;
    kept.push_back(r);
    if (covered(kept) > limits.max_bytes) {
      kept.pop_back();
      break;
    }
  }
  auto out = merged(std::move(kept), limits.merge_gap);
  if (out.size() > limits.max_ranges) out.resize(limits.max_ranges);
  return out;
}

}  // namespace hifi::media
