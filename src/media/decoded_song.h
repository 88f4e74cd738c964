// DecodedSong: a song decoded with FFmpeg and resampled to the player's
// output format, held in memory so that any sample can be reached at once
// (sample-exact seeks are what keeps listeners in sync).
//
// Decoding runs on its own thread and fills the buffer progressively; the
// decoded prefix is readable while the rest is still coming.
// Memory: 4 bytes per frame at 16-bit stereo (about 50 MB for 5 minutes at
// 44.1 kHz).
//
// Thread-safety: as PcmSource; besides, read_frames()/decoded_frames()/
// total_frames()/finished() may be called from any thread while decoding
// proceeds.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "media/decode_progress.h"
#include "media/pcm_source.h"

namespace hifi::media {

class DecodedSong : public PcmSource {
 public:
  // Starts decoding the file at path into `format`. The file must stay until
  // finished() (the decoder reads it as it goes). Destroying the song stops
  // decoding (between packets) and joins the thread.
  static std::shared_ptr<DecodedSong> start(const std::string& path, const AudioFormat& format);
  ~DecodedSong() override;

  // Frames decoded so far.
  std::uint64_t decoded_frames() const;
  // Total frames when known (after finishing, or estimated from the
  // container's duration before that, never below decoded_frames()); 0 when
  // unknown.
  std::uint64_t total_frames() const;
  bool finished() const;
  // Copies up to `frames` frames starting at frame `first` into out;
  // returns how many were available (may be fewer than asked, near the
  // decoded end). Leaves the read position alone.
  std::size_t read_frames(std::uint64_t first, std::int16_t* out, std::size_t frames) const;

  // PcmSource.
  const AudioFormat& format() const override { return format_; }
  std::size_t read(std::int16_t* out, std::size_t frames) override;
  void seek(std::uint64_t frame) override { position_ = frame; }
  std::uint64_t position() const override { return position_; }
  bool ready(std::uint64_t position, std::size_t frames) const override;
  std::uint64_t length_frames() const override { return total_frames(); }
  bool ended() const override { return finished(); }
  Status status() const override;

 private:
  explicit DecodedSong(AudioFormat format) : format_(format) {}
  void run(std::string path);

  AudioFormat format_;
  std::uint64_t position_ = 0;  // the consumer's
  mutable std::mutex mu_;
  std::vector<std::int16_t> samples_;
  DecodeProgress progress_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hifi::media
