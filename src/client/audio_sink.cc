#include "client/audio_sink.h"

#include <chrono>

#include "client/sinks/sinks.h"

namespace hifi::client {

Result<std::unique_ptr<AudioSink>> make_audio_sink(const std::string& spec, const AudioFormat& format) {
  if (format.sample_rate < 8000 || format.sample_rate > 384000 || format.channels < 1 ||
      format.channels > 8) {
    return invalid_argument("unsupported audio format: " + std::to_string(format.sample_rate) +
                            " Hz, " + std::to_string(format.channels) + " channels");
  }
  if (spec == "null") return sinks::make_null_sink(format);
  if (spec.starts_with("wav:")) return sinks::make_wav_sink(spec.substr(4), format);
  if (spec == "pulse" || spec == "default") return sinks::make_pulse_sink(format);
  return invalid_argument("unknown audio sink \"" + spec +
                          "\": use default, pulse, null or wav:FILE");
}

double wall_clock_ms() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double, std::milli>(since_epoch).count();
}

}  // namespace hifi::client
