// DecodedSong: a song decoded with FFmpeg and resampled to the player's
// output format, held in memory so that any sample can be reached at once
// (sample-exact seeks are what keeps listeners in sync).
//
// Decoding runs on its own thread and fills the buffer progressively; the
// player may read the decoded prefix while the rest is still coming.
// Memory: 4 bytes per frame at 16-bit stereo (about 50 MB for 5 minutes at
// 44.1 kHz).
//
// Thread-safety: read_frames()/decoded_frames()/finished() may be called
// from any thread while decoding proceeds.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/audio_sink.h"
#include "common/status.h"

namespace hifi::client {

class DecodedSong {
 public:
  // Starts decoding the file at path into `format`. The file must stay until
  // finished() (the decoder reads it as it goes). Output is deterministic:
  // the same file and format always give the same samples. Destroying the
  // song stops decoding (between packets) and joins the thread.
  static std::shared_ptr<DecodedSong> start(const std::string& path, const AudioFormat& format);
  ~DecodedSong();

  const AudioFormat& format() const { return format_; }
  // Frames decoded so far.
  std::uint64_t decoded_frames() const;
  // Total frames when known (after finishing, or estimated from the
  // container's duration before that, never below decoded_frames()); 0 when
  // unknown.
  std::uint64_t total_frames() const;
  bool finished() const;
  // OK, or why decoding failed (after finished()): kIoError when the file
  // cannot be read, kUnsupported when it is not decodable audio or decoding
  // broke off (the prefix decoded until then stays readable).
  Status status() const;
  // Copies up to `frames` frames starting at frame `first` into out;
  // returns how many were available (may be fewer than asked, near the
  // decoded end).
  std::size_t read_frames(std::uint64_t first, std::int16_t* out, std::size_t frames) const;

 private:
  explicit DecodedSong(AudioFormat format) : format_(format) {}
  void run(std::string path);

  AudioFormat format_;
  mutable std::mutex mu_;
  std::vector<std::int16_t> samples_;
  std::uint64_t estimated_frames_ = 0;
  bool finished_ = false;
  Status status_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hifi::client
