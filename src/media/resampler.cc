#include "media/resampler.h"

extern "C" {
#include <libswresample/swresample.h>
}

#include <string>
#include <utility>

#include "media/ffmpeg_input.h"

namespace hifi::media {

int ChannelLayout::copy_from(const AVChannelLayout& other) {
  av_channel_layout_uninit(&layout_);
  return av_channel_layout_copy(&layout_, &other);
}

void ChannelLayout::set_default(int channels) {
  av_channel_layout_uninit(&layout_);
  av_channel_layout_default(&layout_, channels);
}

void Resampler::SwrFreer::operator()(SwrContext* s) const { swr_free(&s); }

Resampler::Resampler(const AudioFormat& out) : out_(out) { out_layout_.set_default(out.channels); }

Resampler::~Resampler() = default;

Status Resampler::convert(const AVFrame* frame, std::vector<std::int16_t>& out, int first) {
  if (first < 0 || frame->nb_samples <= first) return Status::ok();
  if (!swr_ || !matches(frame)) {
    if (Status s = drain(out); !s) return s;
    if (Status s = configure(frame); !s) return s;
  }
  if (first == 0) {
    return run(const_cast<const std::uint8_t**>(frame->extended_data), frame->nb_samples, out);
  }
  const auto format = static_cast<AVSampleFormat>(frame->format);
  const int channels = frame->ch_layout.nb_channels;
  const int planes = av_sample_fmt_is_planar(format) ? channels : 1;
  const int step = av_get_bytes_per_sample(format) * (planes == 1 ? channels : 1);
  std::vector<const std::uint8_t*> in(static_cast<std::size_t>(planes));
  for (int p = 0; p < planes; ++p) {
    in[static_cast<std::size_t>(p)] = frame->extended_data[p] + static_cast<std::ptrdiff_t>(first) * step;
  }
  return run(in.data(), frame->nb_samples - first, out);
}

void Resampler::reset() {
  swr_.reset();
  in_format_ = -1;
  in_rate_ = 0;
}

Status Resampler::drain(std::vector<std::int16_t>& out) {
  if (!swr_) return Status::ok();
  for (int i = 0; i < 64; ++i) {
    std::size_t before = out.size();
    if (Status s = run(nullptr, 0, out); !s) return s;
    if (out.size() == before) break;
  }
  return Status::ok();
}

bool Resampler::matches(const AVFrame* frame) const {
  return frame->format == in_format_ && frame->sample_rate == in_rate_ &&
         av_channel_layout_compare(&frame->ch_layout, frame_layout_.get()) == 0;
}

Status Resampler::configure(const AVFrame* frame) {
  swr_.reset();
  const int channels = frame->ch_layout.nb_channels;
  if (channels <= 0 || channels > 64) {
    return unsupported("unsupported channel count " + std::to_string(channels));
  }
  if (frame->sample_rate <= 0) return unsupported("decoded audio has no sample rate");
  if (frame->format < 0) return unsupported("decoded audio has no sample format");
  if (frame_layout_.copy_from(frame->ch_layout) < 0) return internal_error("out of memory");
  // A layout without known speaker positions (e.g. WAV without a channel
  // mask) gets the usual layout for its channel count.
  ChannelLayout in_layout;
  if (frame->ch_layout.order == AV_CHANNEL_ORDER_NATIVE) {
    if (in_layout.copy_from(frame->ch_layout) < 0) return internal_error("out of memory");
  } else {
    in_layout.set_default(channels);
  }

  SwrContext* raw = nullptr;
  int rc = swr_alloc_set_opts2(&raw, out_layout_.get(), AV_SAMPLE_FMT_S16, out_.sample_rate,
                               in_layout.get(), static_cast<AVSampleFormat>(frame->format),
                               frame->sample_rate, 0, nullptr);
  std::unique_ptr<SwrContext, SwrFreer> swr(raw);
  if (rc < 0 || !swr) return unsupported("cannot convert the audio: " + av_error_text(rc));
  if (channels == 1 && out_.channels <= 2) {
    // Mono plays at full level on every output channel (swr's default
    // would put it at -3 dB on each side of a stereo output).
    double matrix[2] = {1.0, 1.0};
    rc = swr_set_matrix(swr.get(), matrix, 1);
    if (rc < 0) return unsupported("cannot convert the audio: " + av_error_text(rc));
  }
  rc = swr_init(swr.get());
  if (rc < 0) return unsupported("cannot convert the audio: " + av_error_text(rc));
  swr_ = std::move(swr);
  in_format_ = frame->format;
  in_rate_ = frame->sample_rate;
  return Status::ok();
}

Status Resampler::run(const std::uint8_t** in, int in_frames, std::vector<std::int16_t>& out) {
  int room = swr_get_out_samples(swr_.get(), in_frames);
  if (room < 0) return unsupported("cannot convert the audio: " + av_error_text(room));
  if (room == 0) return Status::ok();
  const std::size_t channels = static_cast<std::size_t>(out_.channels);
  const std::size_t old = out.size();
  out.resize(old + static_cast<std::size_t>(room) * channels);
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data() + old);
  int n = swr_convert(swr_.get(), &dst, room, in, in_frames);
  if (n < 0) {
    out.resize(old);
    return unsupported("cannot convert the audio: " + av_error_text(n));
  }
  out.resize(old + static_cast<std::size_t>(n) * channels);
  return Status::ok();
}

}  // namespace hifi::media
