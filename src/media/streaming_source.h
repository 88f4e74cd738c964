// StreamingSource: a PcmSource that decodes a song incrementally from a
// ByteSource (a local file, or the server's stream as it arrives), keeping
// a bounded window of PCM around the read position instead of the whole
// song: at most `ahead` of it (decoding pauses there, and so does reading
// the input) and `behind` of it (so that small backward seeks, like the
// player's one-frame nudges, are free).
//
// Seeks are sample-exact (AudioDecoder::seek), at a cost that depends on
// where they land: within the window, free; up to kForwardDecodeSeconds
// ahead of what is decoded, decoding goes on and drops the frames skipped;
// further ahead or behind the window, the decoder seeks (a few small reads
// of the input, the codec's pre-roll), so nothing before the new position
// is read. Frames are the same as DecodedSong's for the same bytes and
// format, whatever seeks happened (within the bounds AudioDecoder::seek
// states for lossy codecs).
//
// ready(position, frames) can only become true for frames that fit in the
// window ahead of the read position.
//
// Memory: (ahead + behind) * rate * channels * 2 bytes (about 2 MB for the
// defaults at 48 kHz stereo), plus the decoder's input buffer.
//
// Failures (the input cannot be opened or read, the bytes do not decode)
// end decoding with status() saying why; the frames decoded until then stay
// readable, and a later seek outside the window tries again from a freshly
// opened input.
//
// Thread-safety: as PcmSource. Decoding runs on a thread of its own, which
// destruction stops (between batches, or by interrupting a blocked read of
// the input) and joins.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "media/byte_source.h"
#include "media/decode_progress.h"
#include "media/pcm_source.h"

namespace hifi::media {

class AudioDecoder;

class StreamingSource : public PcmSource {
 public:
  struct Window {
    double ahead_seconds = 10;
    double behind_seconds = 1;
  };

  // What a decoding pass reads: the bytes, and the song frame that the
  // first frame they decode to is (0 for the song's own file; a stream
  // transcoded from an offset starts later).
  struct Input {
    std::unique_ptr<ByteSource> bytes;
    std::uint64_t first_frame = 0;
  };
  // Opens the input for reading from song frame `frame` on (an input may
  // start there or anywhere before). Called on the decoding thread, so it
  // may block (on the network); again after a failure, or when the input
  // cannot seek back to where reading must go.
  using Opener = std::function<Result<Input>(std::uint64_t frame)>;

  // A forward seek up to this far beyond the decoded frames decodes on.
  static constexpr double kForwardDecodeSeconds = 1.0;

  // The frames a window keeps behind the position, at `sample_rate`; a
  // source started at `from` (or sought there, far) opens and decodes from
  // that many before it (decoding_start).
  static std::uint64_t frames_behind(const Window& window, int sample_rate);
  static std::uint64_t decoding_start(const Window& window, int sample_rate, std::uint64_t from);

  // Starts decoding what `open` gives into `format`, from frame `from`
  // (the read position's start: where playback will most likely begin).
  static std::shared_ptr<StreamingSource> start(Opener open, const AudioFormat& format,
                                                const Window& window, std::uint64_t from = 0);
  // Starts decoding the local file at path; the file must stay while the
  // source lives.
  static std::shared_ptr<StreamingSource> start(const std::string& path, const AudioFormat& format,
                                                const Window& window);
  static std::shared_ptr<StreamingSource> start(const std::string& path, const AudioFormat& format) {
    return start(path, format, Window{});
  }
  ~StreamingSource() override;

  const AudioFormat& format() const override { return format_; }
  std::size_t read(std::int16_t* out, std::size_t frames) override;
  void seek(std::uint64_t frame) override;
  std::uint64_t position() const override;
  bool ready(std::uint64_t position, std::size_t frames) const override;
  std::uint64_t length_frames() const override;
  bool ended() const override;
  Status status() const override;

 private:
  StreamingSource(Opener open, AudioFormat format, const Window& window);
  void run();
  // Opens the input when needed and seeks the decoder to song frame `frame`.
  Status position_at(AudioDecoder& decoder, Input& input, std::uint64_t frame);
  Status open_input(AudioDecoder& decoder, Input& input, std::uint64_t frame);
  bool current(std::uint64_t generation) const { return !stop_ && generation_ == generation; }
  std::uint64_t window_end() const { return base_ + window_.size() / channels_; }
  // Drops frames more than behind_frames_ before the read position.
  void trim();

  const Opener open_;
  const AudioFormat format_;
  const std::size_t channels_;
  const std::uint64_t ahead_frames_;
  const std::uint64_t behind_frames_;
  const std::uint64_t forward_decode_frames_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Frames [base_, window_end()). When base_ > next_frame_ (a short forward
  // seek beyond what is decoded) the window is empty and decoding drops
  // frames until base_.
  std::deque<std::int16_t> window_;
  std::uint64_t base_ = 0;
  std::uint64_t position_ = 0;
  std::uint64_t next_frame_ = 0;  // the next frame decoding produces
  // Bumped by a seek the decoder must make (to seek_to_); the decoding
  // thread has made the one numbered positioned_.
  std::uint64_t generation_ = 0;
  std::optional<std::uint64_t> positioned_;
  std::uint64_t seek_to_ = 0;
  // The frame that seek was for (seek_to_ is up to behind_frames_ before it).
  std::uint64_t seek_frame_ = 0;
  std::optional<std::uint64_t> end_;  // the song's length, once decoded to its end
  DecodeProgress progress_;
  ByteSource* reading_ = nullptr;  // the input the decoding thread reads, to interrupt
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hifi::media
