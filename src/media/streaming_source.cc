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

std::uint64_t StreamingSource::frames_behind(const Window& window, int sample_rate) {
  return seconds_to_frames(window.behind_seconds, sample_rate);
}

std::uint64_t StreamingSource::decoding_start(const Window& window, int sample_rate, std::uint64_t from) {
  const std::uint64_t behind = frames_behind(window, sample_rate);
  return from > behind ? from - behind : 0;
}

StreamingSource::StreamingSource(Opener open, AudioFormat format, const Window& window)
    : open_(std::move(open)),
      format_(format),
      channels_(static_cast<std::size_t>(std::max(format.channels, 1))),
      // At least one batch ahead, or decoding could never start.
      ahead_frames_(std::max<std::uint64_t>(seconds_to_frames(window.ahead_seconds, format.sample_rate),
                                            kBatchFrames)),
      behind_frames_(seconds_to_frames(window.behind_seconds, format.sample_rate)),
      forward_decode_frames_(seconds_to_frames(kForwardDecodeSeconds, format.sample_rate)) {}

std::shared_ptr<StreamingSource> StreamingSource::start(Opener open, const AudioFormat& format,
                                                        const Window& window, std::uint64_t from) {
  silence_ffmpeg_logs();
  std::shared_ptr<StreamingSource> source(new StreamingSource(std::move(open), format, window));
  source->position_ = from;
  source->base_ = source->seek_to_ = decoding_start(window, format.sample_rate, from);
  source->seek_frame_ = from;
  if (Status s = check_output_format(format); !s) {
    source->progress_.status = std::move(s);
    source->progress_.finished = true;
    return source;
  }
  source->thread_ = std::thread(&StreamingSource::run, source.get());
  return source;
}

std::shared_ptr<StreamingSource> StreamingSource::start(const std::string& path, const AudioFormat& format,
                                                        const Window& window) {
  return start(
      [path](std::uint64_t) -> Result<Input> {
        auto file = FileByteSource::open(path);
        if (!file) return file.status();
        return Input{std::move(*file), 0};
      },
      format, window);
}

StreamingSource::~StreamingSource() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
    if (reading_ != nullptr) reading_->interrupt();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status StreamingSource::open_input(AudioDecoder& decoder, Input& input, std::uint64_t frame) {
  auto opened = open_(frame);
  if (!opened) return opened.status();
  {
    std::lock_guard lock(mu_);
    reading_ = opened->bytes.get();
    if (stop_) reading_->interrupt();
  }
  // The old input goes only once nobody can interrupt it any more.
  std::swap(input, *opened);
  if (Status s = decoder.open(*input.bytes, &interrupt_when_set, &stop_); !s) return s;
  std::lock_guard lock(mu_);
  const std::uint64_t estimate = decoder.estimated_frames();
  progress_.estimated_frames = estimate > 0 ? input.first_frame + estimate : 0;
  return Status::ok();
}

Status StreamingSource::position_at(AudioDecoder& decoder, Input& input, std::uint64_t frame) {
  // An input that cannot seek is opened again for going back, and for going
  // further ahead than is worth decoding through.
  const std::uint64_t at = input.first_frame + decoder.frames();
  const bool reopen = !input.bytes || frame < input.first_frame ||
                      (!input.bytes->seekable() && (frame < at || frame - at > forward_decode_frames_));
  if (reopen) {
    if (Status s = open_input(decoder, input, frame); !s) return s;
  }
  Status s = decoder.seek(frame - input.first_frame);
  if (s.code() == Code::kUnsupported && !input.bytes->seekable()) {
    // A stream that cannot go back: open it again from there.
    if (s = open_input(decoder, input, frame); !s) return s;
    s = decoder.seek(frame - input.first_frame);
  }
  return s;
}

void StreamingSource::run() {
  AudioDecoder decoder(format_);
  Input input;
  std::vector<std::int16_t> batch;
  for (;;) {
    std::uint64_t generation = 0;
    std::uint64_t target = 0;
    bool reposition = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || positioned_ != generation_ ||
               (!progress_.finished && next_frame_ < position_ + ahead_frames_);
      });
      if (stop_) break;
      generation = generation_;
      reposition = positioned_ != generation_;
      target = seek_to_;
    }

    Status status;
    bool ended = false;
    batch.clear();
    try {
      status = reposition ? position_at(decoder, input, target) : decoder.decode(batch, kBatchFrames, &ended);
    } catch (const std::bad_alloc&) {
      status = resource_exhausted("out of memory while decoding");
    }
    // A read interrupted because the source is going away is no failure.
    if (stop_) break;
    if (!status) {
      // The decoder is unusable: start afresh next time.
      {
        std::lock_guard lock(mu_);
        reading_ = nullptr;
      }
      input = Input{};
    }

    std::lock_guard lock(mu_);
    if (!current(generation)) continue;  // a seek came meanwhile: this is stale
    if (reposition) {
      positioned_ = generation;
      next_frame_ = target;
    }
    if (!status) {
      progress_.finished = true;
      progress_.status = std::move(status);
      cv_.notify_all();
      continue;
    }
    const std::uint64_t frames = batch.size() / channels_;
    const std::uint64_t first = next_frame_;
    next_frame_ += frames;
    // Frames before base_ were skipped by a forward seek.
    const std::uint64_t skip = base_ > first ? std::min(base_ - first, frames) : 0;
    if (window_.empty() && skip < frames) base_ = first + skip;
    window_.insert(window_.end(), batch.begin() + static_cast<std::ptrdiff_t>(skip * channels_), batch.end());
    trim();
    if (ended) {
      progress_.finished = true;
      progress_.status = Status::ok();
      // Ending right after a seek says only that the song ends before there.
      if (frames > 0 || !reposition) end_ = next_frame_;
    }
    cv_.notify_all();
  }
  std::lock_guard lock(mu_);
  reading_ = nullptr;
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
  // Where decoding goes on from: a seek the decoder has still to make
  // counts as made (the player seeks on every buffer meanwhile).
  const std::uint64_t next = positioned_ == generation_ ? next_frame_ : seek_to_;
  // Frames up to behind_frames_ before the position are kept (or decoded)
  // wherever it lands: a player that moves back a little right after a seek
  // (its clock estimate moved, say) finds them there.
  const std::uint64_t keep_from = frame > behind_frames_ ? frame - behind_frames_ : 0;
  // Until decoding has reached the frame of the last seek (it starts the
  // frames kept behind before it, and over a slow network getting there
  // takes several round trips), the player keeps asking for where the song
  // is by now, a buffer later each time: that is close ahead of that seek,
  // not a new seek that would interrupt it and start over.
  const std::uint64_t lead_in = seek_frame_ > next ? seek_frame_ - next : 0;
  const std::uint64_t reach = forward_decode_frames_ + lead_in;
  if (frame >= base_ && frame <= window_end()) {
    trim();
  } else if (frame >= next && (progress_.finished ? progress_.status.is_ok() : frame - next <= reach)) {
    // Close ahead: decoding goes on and drops the frames up to there. (Past
    // the end of a song decoded to its end: nothing more to decode.)
    if (window_.empty()) base_ = std::max(next, keep_from);
    trim();
  } else {
    // Far ahead, behind the window, or after a failure: the decoder seeks.
    window_.clear();
    base_ = seek_to_ = keep_from;
    seek_frame_ = frame;
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
  if (end_) return *end_;
  if (progress_.estimated_frames == 0) return 0;
  return std::max(progress_.estimated_frames, window_end());
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
