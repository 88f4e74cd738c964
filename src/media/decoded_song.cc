#include "media/decoded_song.h"

#include <algorithm>
#include <new>
#include <utility>

#include "media/decoder.h"

namespace hifi::media {
namespace {

// The buffer is reserved from the container's duration estimate, but a
// header may lie: never reserve more than this up front (it still grows).
constexpr std::int64_t kMaxReserveSeconds = 6 * 3600;
// Decoded samples are handed over (under the song's mutex) in batches of
// about this many frames, so readers see progress without lock churn.
constexpr std::size_t kBatchFrames = 8192;

}  // namespace

std::shared_ptr<DecodedSong> DecodedSong::start(const std::string& path,
                                                const AudioFormat& format) {
  silence_ffmpeg_logs();
  std::shared_ptr<DecodedSong> song(new DecodedSong(format));
  if (Status s = check_output_format(format); !s) {
    song->progress_.status = std::move(s);
    song->progress_.finished = true;
    return song;
  }
  song->thread_ = std::thread(&DecodedSong::run, song.get(), path);
  return song;
}

DecodedSong::~DecodedSong() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void DecodedSong::run(std::string path) {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  Status status;
  try {
    AudioDecoder decoder(format_);
    status = decoder.open(path, &interrupt_when_set, &stop_);
    if (status) {
      const std::uint64_t estimate = decoder.estimated_frames();
      std::uint64_t reserve = std::min<std::uint64_t>(
          estimate + static_cast<std::uint64_t>(format_.sample_rate),  // + 1 s for padding
          static_cast<std::uint64_t>(kMaxReserveSeconds) * format_.sample_rate);
      std::lock_guard lock(mu_);
      progress_.estimated_frames = estimate;
      if (estimate > 0) {
        try {
          samples_.reserve(reserve * channels);
        } catch (const std::bad_alloc&) {
          // Grown as needed instead.
        }
      }
    }
    std::vector<std::int16_t> batch;
    bool ended = false;
    while (status && !ended && !stop_.load(std::memory_order_relaxed)) {
      batch.clear();
      status = decoder.decode(batch, kBatchFrames, &ended);
      if (!status) break;
      try {
        std::lock_guard lock(mu_);
        samples_.insert(samples_.end(), batch.begin(), batch.end());
      } catch (const std::bad_alloc&) {
        status = resource_exhausted("out of memory holding the decoded song");
      }
    }
    // A read interrupted because the song was dropped is no failure.
    if (stop_.load()) status = Status::ok();
  } catch (const std::bad_alloc&) {
    status = resource_exhausted("out of memory while decoding");
  }

  std::lock_guard lock(mu_);
  progress_.status = std::move(status);
  progress_.finished = true;
}

std::uint64_t DecodedSong::decoded_frames() const {
  std::lock_guard lock(mu_);
  return samples_.size() / static_cast<std::size_t>(format_.channels);
}

std::uint64_t DecodedSong::total_frames() const {
  std::lock_guard lock(mu_);
  std::uint64_t decoded = samples_.size() / static_cast<std::size_t>(format_.channels);
  return progress_.length(decoded);
}

bool DecodedSong::finished() const {
  std::lock_guard lock(mu_);
  return progress_.finished;
}

Status DecodedSong::status() const {
  std::lock_guard lock(mu_);
  return progress_.status;
}

std::size_t DecodedSong::read_frames(std::uint64_t first, std::int16_t* out,
                                     std::size_t frames) const {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  std::lock_guard lock(mu_);
  const std::uint64_t available = samples_.size() / channels;
  if (first >= available || frames == 0) return 0;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(frames, available - first));
  std::copy_n(samples_.data() + first * channels, n * channels, out);
  return n;
}

std::size_t DecodedSong::read(std::int16_t* out, std::size_t frames) {
  const std::size_t n = read_frames(position_, out, frames);
  position_ += n;
  return n;
}

bool DecodedSong::ready(std::uint64_t position, std::size_t frames) const {
  std::lock_guard lock(mu_);
  return progress_.finished || samples_.size() / static_cast<std::size_t>(format_.channels) >= position + frames;
}

}  // namespace hifi::media
