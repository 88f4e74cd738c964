// Resampler: converts decoded FFmpeg frames of any sample format, rate and
// channel layout to interleaved s16 in one AudioFormat (libswresample).
//
// Mono is copied at full level to both channels of a stereo output. The
// converter reconfigures itself (after draining what it holds) when the
// input parameters change mid-stream. Output is deterministic for a given
// input.
//
// Failure: kUnsupported when the input cannot be converted (no sample rate,
// too many channels, ...), kInternal when memory runs out.
//
// Thread-safety: none; one decoding run owns a Resampler.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
struct SwrContext;
}

#include "common/status.h"
#include "media/audio_format.h"

namespace hifi::media {

// An AVChannelLayout that releases what it owns (custom layouts allocate).
class ChannelLayout {
 public:
  ChannelLayout() = default;
  ~ChannelLayout() { av_channel_layout_uninit(&layout_); }
  ChannelLayout(const ChannelLayout&) = delete;
  ChannelLayout& operator=(const ChannelLayout&) = delete;

  int copy_from(const AVChannelLayout& other);
  void set_default(int channels);
  AVChannelLayout* get() { return &layout_; }
  const AVChannelLayout* get() const { return &layout_; }

 private:
  AVChannelLayout layout_{};
};

class Resampler {
 public:
  explicit Resampler(const AudioFormat& out);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  // Appends the converted samples of frame to out, from its sample
  // `first` on (0 <= first < frame->nb_samples; a seek starts mid-frame).
  Status convert(const AVFrame* frame, std::vector<std::int16_t>& out, int first = 0);
  // Appends whatever the converter still holds (its filter delay): at the
  // end of the stream.
  Status drain(std::vector<std::int16_t>& out);
  // Forgets what the converter holds: the next frame starts a new stream,
  // converted exactly as the start of the song was (after a seek).
  void reset();

 private:
  struct SwrFreer {
    void operator()(SwrContext* s) const;
  };

  bool matches(const AVFrame* frame) const;
  Status configure(const AVFrame* frame);
  Status run(const std::uint8_t** in, int in_frames, std::vector<std::int16_t>& out);

  AudioFormat out_;
  ChannelLayout out_layout_;
  ChannelLayout frame_layout_;
  int in_format_ = -1;
  int in_rate_ = 0;
  std::unique_ptr<SwrContext, SwrFreer> swr_;
};

}  // namespace hifi::media
