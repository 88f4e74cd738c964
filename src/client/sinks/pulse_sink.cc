// The real device, through PulseAudio's simple API (PipeWire serves it too).
#include <pulse/error.h>
#include <pulse/simple.h>

#include <string>

#include "client/sinks/sinks.h"

namespace hifi::client::sinks {
namespace {

// Device-side buffering we ask for: small enough that a flush or a seek is
// heard quickly, large enough not to underrun on a busy machine. It
// dominates the command lead this listener reports. (60 ms measured worse
// at the speaker behind a jittery path: docs/benchmarks.md.)
constexpr pa_usec_t kTargetLatencyUs = 100'000;
// Reported when the server cannot tell its latency (should not happen).
constexpr double kFallbackLatencyMs = 100;

Status device_error(const std::string& what, int error) {
  return Status(Code::kUnavailable, what + ": PulseAudio: " + pa_strerror(error));
}

class PulseSink final : public AudioSink {
 public:
  PulseSink(AudioFormat format, pa_simple* pa) : format_(format), pa_(pa) {}
  ~PulseSink() override { pa_simple_free(pa_); }

  const AudioFormat& format() const override { return format_; }

  // Blocks until the server's buffer has room, i.e. at the device's pace.
  Status write(const std::int16_t* samples, std::size_t frames) override {
    if (frames == 0) return Status::ok();
    int error = 0;
    const std::size_t bytes = frames * static_cast<std::size_t>(format_.channels) * 2;
    if (pa_simple_write(pa_, samples, bytes, &error) < 0) {
      return device_error("audio device error", error);
    }
    return Status::ok();
  }

  // pa_simple_write hands everything to the server before returning, so the
  // stream's latency (our queued audio plus the device's) is all there is.
  double next_play_time_ms() override {
    int error = 0;
    pa_usec_t latency = pa_simple_get_latency(pa_, &error);
    const double now = wall_clock_ms();
    if (latency == static_cast<pa_usec_t>(-1)) return now + kFallbackLatencyMs;
    return now + static_cast<double>(latency) / 1000.0;
  }

  void flush() override {
    int error = 0;
    pa_simple_flush(pa_, &error);
  }

  std::string describe() const override {
    return "PulseAudio default device (" + std::to_string(format_.sample_rate) + " Hz, " +
           std::to_string(format_.channels) + " ch)";
  }

 private:
  AudioFormat format_;
  pa_simple* pa_;
};

}  // namespace

Result<std::unique_ptr<AudioSink>> make_pulse_sink(const AudioFormat& format) {
  pa_sample_spec spec{};
  spec.format = PA_SAMPLE_S16LE;
  spec.rate = static_cast<std::uint32_t>(format.sample_rate);
  spec.channels = static_cast<std::uint8_t>(format.channels);
  if (!pa_sample_spec_valid(&spec)) return invalid_argument("unsupported audio format");

  pa_buffer_attr attr{};
  attr.maxlength = static_cast<std::uint32_t>(-1);
  attr.tlength = static_cast<std::uint32_t>(pa_usec_to_bytes(kTargetLatencyUs, &spec));
  attr.prebuf = static_cast<std::uint32_t>(-1);
  attr.minreq = static_cast<std::uint32_t>(-1);
  attr.fragsize = static_cast<std::uint32_t>(-1);

  // Without a server this fails at once (connection refused / no socket);
  // libpulse only tries local sockets unless PULSE_SERVER says otherwise.
  int error = 0;
  pa_simple* pa = pa_simple_new(nullptr, "hifi", PA_STREAM_PLAYBACK, nullptr, "music", &spec,
                                nullptr, &attr, &error);
  if (pa == nullptr) {
    return Status(Code::kUnavailable,
                  std::string("no audio device: PulseAudio: ") + pa_strerror(error) +
                      ". Use --sink null or --sink wav:FILE to play without a sound card.");
  }
  return std::unique_ptr<AudioSink>(std::make_unique<PulseSink>(format, pa));
}

}  // namespace hifi::client::sinks
