// AudioSink: where the player's samples go. One implementation per backend
// (null, WAV file, PulseAudio) behind this base, chosen by make_audio_sink().
//
// Contract: write() blocks until the sink has room, pacing the caller at the
// sink's real-time rate, so the player thread never runs ahead of what is
// heard; a device that takes nothing for seconds makes it fail (kUnavailable)
// rather than block for good. next_play_time_ms() is when (local wall clock, Unix ms) the first
// frame of the next write() will be heard; the player uses it to decide
// which sample of the song belongs there.
//
// Thread-safety: one thread (the player's) uses a sink.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "common/status.h"
#include "media/audio_format.h"

namespace hifi::client {

using media::AudioFormat;

// Unix time in ms with a fraction, from the system clock.
double wall_clock_ms();

class AudioSink {
 public:
  virtual ~AudioSink() = default;
  virtual const AudioFormat& format() const = 0;
  // frames * channels interleaved samples.
  virtual Status write(const std::int16_t* samples, std::size_t frames) = 0;
  virtual double next_play_time_ms() = 0;
  // How long a frame written now takes to be heard (ms): the queued audio
  // plus the device's own latency.
  virtual double latency_ms() { return next_play_time_ms() - wall_clock_ms(); }
  // Replaces the queued audio from `wall_ms` (local wall clock) on: what is
  // queued before it is still heard, untouched, and the next write() is
  // heard at wall_ms. A time sooner than the sink can still change
  // (rewind_latency_ms() from now; -infinity: as soon as possible) counts
  // as that soonest time; a time at or past the end of what is queued
  // changes nothing. (A change that lands inside audio already queued is
  // heard at its sample, with no gap before it.)
  virtual void rewind(double wall_ms) = 0;
  // How soon (ms from now) queued audio can still be replaced by rewind().
  virtual double rewind_latency_ms() = 0;
  // Drops everything queued that can still be dropped (e.g. on a jump), so
  // the next write is heard as soon as possible.
  void flush() { rewind(-std::numeric_limits<double>::infinity()); }
  virtual std::string describe() const = 0;
};

// spec: "null" (no sound, paced by its own clock), "wav:PATH" (the same,
// also recording to a 16-bit WAV file), "pulse" or "default" (the real
// device, through PulseAudio).
// kUnavailable with a clear message when the device cannot be opened
// (e.g. no sound server or card), kInvalidArgument for an unknown spec.
Result<std::unique_ptr<AudioSink>> make_audio_sink(const std::string& spec, const AudioFormat& format);


}  // namespace hifi::client
