// AudioFormat: the PCM format HiFi plays and decodes to. Samples are
// interleaved signed 16-bit integers in native byte order; a frame is one
// sample per channel.
#pragma once

namespace hifi::media {

struct AudioFormat {
  int sample_rate = 48000;  // frames per second
  int channels = 2;         // interleaved signed 16-bit samples
};

}  // namespace hifi::media
