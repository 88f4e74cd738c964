// DecodeProgress: what a PcmSource's decoding thread publishes to readers
// (under the source's own mutex), and the rules PcmSource gives them.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/status.h"
#include "media/audio_format.h"

namespace hifi::media {

struct DecodeProgress {
  std::uint64_t estimated_frames = 0;  // from the container's header; 0: unknown
  bool finished = false;
  Status status;  // meaningful once finished

  // PcmSource::length_frames(), given the frames decoded so far.
  std::uint64_t length(std::uint64_t decoded) const {
    if (finished) return decoded;
    return estimated_frames == 0 ? 0 : std::max(estimated_frames, decoded);
  }
};

// The output formats the sources decode to: kInvalidArgument for others.
inline Status check_output_format(const AudioFormat& format) {
  if (format.sample_rate <= 0 || format.channels <= 0 || format.channels > 8) {
    return invalid_argument("unsupported output format");
  }
  return Status::ok();
}

}  // namespace hifi::media
