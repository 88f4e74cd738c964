// PacedSink (shared by the null and WAV sinks) and the null sink.
#include <algorithm>
#include <cmath>
#include <string>
#include <thread>

#include "client/sinks/sinks.h"

namespace hifi::client::sinks {

PacedSink::Clock::time_point PacedSink::steady_time(std::uint64_t frames) const {
  std::chrono::duration<double> offset(static_cast<double>(frames) / format_.sample_rate);
  return start_steady_ + std::chrono::duration_cast<Clock::duration>(offset);
}

void PacedSink::restart(Clock::time_point now) {
  const auto lead = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(kLeadMs));
  start_steady_ = now + lead;
  start_wall_ms_ = wall_clock_ms() + kLeadMs;
  frames_ = 0;
  started_ = true;
}

void PacedSink::ensure_timeline(Clock::time_point now) {
  if (!started_ || steady_time(frames_) < now) restart(now);
}

Status PacedSink::write(const std::int16_t* samples, std::size_t frames) {
  if (frames == 0) return Status::ok();
  if (samples == nullptr) return invalid_argument("no samples");
  ensure_timeline(Clock::now());
  if (Status s = consume(samples, frames); !s) return s;
  frames_ += frames;
  const auto target = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(kLatencyTargetMs));
  std::this_thread::sleep_until(steady_time(frames_) - target);
  return Status::ok();
}

double PacedSink::next_play_time_ms() {
  ensure_timeline(Clock::now());
  return start_wall_ms_ + static_cast<double>(frames_) * 1000.0 / format_.sample_rate;
}

void PacedSink::rewind(double wall_ms) {
  const auto now = Clock::now();
  if (!started_ || steady_time(frames_) < now) return;  // nothing queued
  const double from = std::max(wall_ms, wall_clock_ms() + kRewindLatencyMs);
  const double frame = std::ceil((from - start_wall_ms_) * format_.sample_rate / 1000.0 - 1e-6);
  if (frame >= static_cast<double>(frames_)) return;
  frames_ = frame <= 0 ? 0 : static_cast<std::uint64_t>(frame);
}

namespace {

class NullSink final : public PacedSink {
 public:
  using PacedSink::PacedSink;
  std::string describe() const override {
    return "null (no sound, " + std::to_string(format().sample_rate) + " Hz, " +
           std::to_string(format().channels) + " ch)";
  }
};

}  // namespace

std::unique_ptr<AudioSink> make_null_sink(const AudioFormat& format) {
  return std::make_unique<NullSink>(format);
}

}  // namespace hifi::client::sinks
