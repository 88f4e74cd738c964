// StreamingSource: a PcmSource that decodes a file incrementally, keeping a
// bounded window of PCM around the read position instead of the whole song:
// at most `ahead` of it (decoding pauses there) and `behind` of it (so that
// small backward seeks, like the player's one-frame nudges, are free).
//
// Seeks are sample-exact, at a cost that depends on the direction: within
// the window, free; forward, decoding goes on and drops the frames skipped;
// backward past the window, decoding starts again from the song's start.
// Frames are the same as DecodedSong's for the same file and format.
//
// ready(position, frames) can only become true for frames that fit in the
// window ahead of the read position.
//
// Memory: (ahead + behind) * rate * channels * 2 bytes (about 2 MB for the
// defaults at 48 kHz stereo).
//
// Thread-safety: as PcmSource. Decoding runs on a thread of its own, which
// destruction stops (between batches) and joins.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "media/decode_progress.h"
#include "media/pcm_source.h"

namespace hifi::media {

class StreamingSource : public PcmSource {
 public:
  struct Window {
    double ahead_seconds = 10;
    double behind_seconds = 1;
  };

  // Starts decoding the file at path into `format`; the file must stay
  // while the source lives (it may start over after a backward seek).
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
  StreamingSource(std::string path, AudioFormat format, const Window& window);
  void run();
  // One decoding pass from the song's start; returns early (OK) when the
  // source stops or a seek asks for a new pass.
  Status decode_pass(std::uint64_t generation);
  bool current(std::uint64_t generation) const { return !stop_ && generation_ == generation; }
  std::uint64_t window_end() const { return base_ + window_.size() / channels_; }
  // Drops frames more than behind_frames_ before the read position.
  void trim();

  const std::string path_;
  const AudioFormat format_;
  const std::size_t channels_;
  const std::uint64_t ahead_frames_;
  const std::uint64_t behind_frames_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Frames [base_, window_end()). When base_ > next_frame_ (a forward seek
  // beyond what is decoded) the window is empty and decoding drops frames
  // until base_.
  std::deque<std::int16_t> window_;
  std::uint64_t base_ = 0;
  std::uint64_t position_ = 0;
  std::uint64_t next_frame_ = 0;  // the next frame the decoding pass produces
  std::uint64_t generation_ = 0;  // bumped by a seek that needs a new pass
  DecodeProgress progress_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hifi::media
