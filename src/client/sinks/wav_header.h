// The 44-byte header of a 16-bit PCM WAV file (RIFF/WAVE, one fmt chunk,
// then the data chunk): what the WAV sink and hifi-drift-card write.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace hifi::client::sinks {

inline constexpr std::size_t kWavHeaderBytes = 44;

// The header for `data_bytes` of 16-bit samples, `channels` interleaved at
// `rate` Hz. RIFF sizes are 32-bit: data_bytes must leave room for the 36
// bytes the RIFF size adds.
inline std::array<unsigned char, kWavHeaderBytes> wav_header(std::uint32_t rate, std::uint16_t channels,
                                                              std::uint32_t data_bytes) {
  std::array<unsigned char, kWavHeaderBytes> h{};
  auto put = [&h](std::size_t at, std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) h[at + i] = static_cast<unsigned char>(v >> (8 * i));
  };
  const auto block_align = static_cast<std::uint16_t>(channels * 2);
  std::memcpy(h.data(), "RIFF", 4);
  put(4, 36 + data_bytes, 4);
  std::memcpy(h.data() + 8, "WAVEfmt ", 8);
  put(16, 16, 4);  // fmt chunk size
  put(20, 1, 2);   // PCM
  put(22, channels, 2);
  put(24, rate, 4);
  put(28, rate * block_align, 4);
  put(32, block_align, 2);
  put(34, 16, 2);  // bits per sample
  std::memcpy(h.data() + 36, "data", 4);
  put(40, data_bytes, 4);
  return h;
}

}  // namespace hifi::client::sinks
