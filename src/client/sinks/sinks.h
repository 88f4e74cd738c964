// The AudioSink backends behind make_audio_sink() (private to the client
// library; tests include it for the pacing constants).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "client/audio_sink.h"
#include "common/status.h"

namespace hifi::client::sinks {

// A software sink's timeline starts this far in the future, so its first
// frame is "heard" slightly after the write that starts it (like a device).
constexpr double kLeadMs = 50;
// write() returns once at most this much audio is queued but not yet
// "heard", so callers run at real-time pace with this much ahead.
constexpr double kLatencyTargetMs = 100;
// rewind() can replace queued audio from this far after now on (a device
// has a little of its queue in hardware already).
constexpr double kRewindLatencyMs = 10;

// A sink without a device: frames are "heard" by its own clock. The
// timeline is kept in wall-clock ms (what next_play_time_ms() reports), and
// mirrored once at its start onto steady_clock, which write() sleeps on, so
// wall-clock jumps do not disturb the pacing.
//
// The timeline starts at kLeadMs from now on the first use, and again
// after an underrun (everything written has been "heard" and the writer was
// late: like a device, the next frame is heard from now on). rewind() moves
// the end of what is written back, not the start.
class PacedSink : public AudioSink {
 public:
  explicit PacedSink(AudioFormat format) : format_(format) {}

  const AudioFormat& format() const override { return format_; }
  Status write(const std::int16_t* samples, std::size_t frames) final;
  double next_play_time_ms() override;
  void rewind(double wall_ms) override;
  double rewind_latency_ms() override { return kRewindLatencyMs; }

 protected:
  // Where the frames go besides the clock (nothing for the null sink);
  // called by write() before it paces.
  virtual Status consume(const std::int16_t* samples, std::size_t frames) { return Status::ok(); }

 private:
  using Clock = std::chrono::steady_clock;
  // When (steady clock) frame `frames` of the timeline is heard.
  Clock::time_point steady_time(std::uint64_t frames) const;
  void restart(Clock::time_point now);
  void ensure_timeline(Clock::time_point now);

  AudioFormat format_;
  bool started_ = false;
  double start_wall_ms_ = 0;
  Clock::time_point start_steady_;
  std::uint64_t frames_ = 0;  // written since the timeline started
};

std::unique_ptr<AudioSink> make_null_sink(const AudioFormat& format);
// kInvalidArgument for an empty path, kIoError when the file cannot be created.
Result<std::unique_ptr<AudioSink>> make_wav_sink(const std::string& path, const AudioFormat& format);
// kUnavailable when no PulseAudio (or PipeWire) server accepts the stream.
Result<std::unique_ptr<AudioSink>> make_pulse_sink(const AudioFormat& format);

}  // namespace hifi::client::sinks
