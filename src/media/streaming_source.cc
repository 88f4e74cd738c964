#include "media/streaming_source.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <utility>
#include <vector>

#include "media/decoder.h"

namespace hifi::media {
namespace {

// Frames decoded per step, between checks for a seek or the window's limit.
constexpr std::size_t kBatchFrames = 4096;

std::uint64_t seconds_to_frames(double seconds, int rate) {
  return seconds > 0 ? static_cast<std::uint64_t>(std::llround(seconds * rate)) : 0;
}

}  // namespace

StreamingSource::StreamingSource(std::string path, AudioFormat format, const Window& window)
    : path_(std::move(path)),
      format_(format),
      channels_(static_cast<std::size_t>(std::max(format.channels, 1))),
      // At least one batch ahead, or decoding could never start.
      ahead_frames_(std::max<std::uint64_t>(seconds_to_frames(window.ahead_seconds, format.sample_rate),
                                            kBatchFrames)),
      behind_frames_(seconds_to_frames(window.behind_seconds, format.sample_rate)) {}

std::shared_ptr<StreamingSource> StreamingSource::start(const std::string& path,
                                                        const AudioFormat& format,
                                                        const Window& window) {
  silence_ffmpeg_logs();
  std::shared_ptr<StreamingSource> source(new StreamingSource(path, format, window));
  if (Status s = check_output_format(format); !s) {
    source->progress_.status = std::move(s);
    source->progress_.finished = true;
    return source;
  }
  source->thread_ = std::thread(&StreamingSource::run, source.get());
  return source;
}

StreamingSource::~StreamingSource() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StreamingSource::run() {
  for (;;) {
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      generation = generation_;
      next_frame_ = 0;
      progress_.finished = false;
      progress_.status = Status::ok();
    }
    Status status;
    try {
      status = decode_pass(generation);
    } catch (const std::bad_alloc&) {
      status = resource_exhausted("out of memory while decoding");
    }
    std::unique_lock lock(mu_);
    if (!current(generation)) continue;
    progress_.finished = true;
    progress_.status = std::move(status);
    cv_.notify_all();
    // Only a backward seek past the window (or the end) wakes the thread.
    cv_.wait(lock, [&] { return !current(generation); });
  }
}

Status StreamingSource::decode_pass(std::uint64_t generation) {
  AudioDecoder decoder(format_);
  if (Status s = decoder.open(path_, &interrupt_when_set, &stop_); !s) return s;
  {
    std::lock_guard lock(mu_);
    progress_.estimated_frames = decoder.estimated_frames();
  }
  std::vector<std::int16_t> batch;
  bool ended = false;
  while (!ended) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !current(generation) || next_frame_ < position_ + ahead_frames_; });
      if (!current(generation)) return Status::ok();
    }
    batch.clear();
    if (Status s = decoder.decode(batch, kBatchFrames, &ended); !s) return s;
    std::lock_guard lock(mu_);
    if (!current(generation)) return Status::ok();
    const std::uint64_t frames = batch.size() / channels_;
    const std::uint64_t first = next_frame_;
    next_frame_ += frames;
    // Frames before base_ were skipped by a forward seek.
    const std::uint64_t skip = base_ > first ? std::min(base_ - first, frames) : 0;
    window_.insert(window_.end(), batch.begin() + static_cast<std::ptrdiff_t>(skip * channels_),
                   batch.end());
    trim();
    cv_.notify_all();
  }
  return Status::ok();
}

void StreamingSource::trim() {
  const std::uint64_t keep_from = position_ > behind_frames_ ? position_ - behind_frames_ : 0;
  if (base_ >= keep_from) return;
  const std::uint64_t drop = std::min<std::uint64_t>(keep_from - base_, window_.size() / channels_);
  window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(drop * channels_));
  base_ += drop;
}

std::size_t StreamingSource::read(std::int16_t* out, std::size_t frames) {
  std::lock_guard lock(mu_);
  if (position_ < base_ || position_ >= window_end()) return 0;
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(frames, window_end() - position_));
  auto from = window_.begin() + static_cast<std::ptrdiff_t>((position_ - base_) * channels_);
  std::copy_n(from, n * channels_, out);
  position_ += n;
  trim();
  cv_.notify_all();
  return n;
}

void StreamingSource::seek(std::uint64_t frame) {
  std::lock_guard lock(mu_);
  position_ = frame;
  if (frame >= base_ && frame <= window_end()) {
    trim();
  } else if (frame >= next_frame_) {
    // Not decoded yet: the pass drops the frames up to there.
    window_.clear();
    base_ = frame;
  } else {
    // Behind the window: a new pass from the start.
    window_.clear();
    base_ = frame;
    ++generation_;
    progress_.finished = false;
    progress_.status = Status::ok();
  }
  cv_.notify_all();
}

std::uint64_t StreamingSource::position() const {
  std::lock_guard lock(mu_);
  return position_;
}

bool StreamingSource::ready(std::uint64_t position, std::size_t frames) const {
  std::lock_guard lock(mu_);
  if (position < base_) return false;
  return progress_.finished || position + frames <= window_end();
}

std::uint64_t StreamingSource::length_frames() const {
  std::lock_guard lock(mu_);
  return progress_.length(next_frame_);
}

bool StreamingSource::ended() const {
  std::lock_guard lock(mu_);
  return progress_.finished;
}

Status StreamingSource::status() const {
  std::lock_guard lock(mu_);
  return progress_.status;
}

}  // namespace hifi::media
