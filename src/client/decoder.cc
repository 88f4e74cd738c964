#include "client/decoder.h"

#include "media/ffmpeg_input.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/mathematics.h>
#include <libswresample/swresample.h>
}

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <mutex>
#include <new>
#include <utility>

namespace hifi::client {
namespace {

using namespace media;


// The buffer is reserved from the container's duration estimate, but a
// header may lie: never reserve more than this up front (it still grows).
constexpr std::int64_t kMaxReserveSeconds = 6 * 3600;
// Decoded samples are handed over (under the song's mutex) in batches of
// about this many frames, so readers see progress without lock churn.
constexpr std::size_t kBatchFrames = 8192;

struct SwrFreer {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using SwrPtr = std::unique_ptr<SwrContext, SwrFreer>;

// An AVChannelLayout that releases what it owns (custom layouts allocate).
class ChannelLayout {
 public:
  ChannelLayout() = default;
  ~ChannelLayout() { av_channel_layout_uninit(&layout_); }
  ChannelLayout(const ChannelLayout&) = delete;
  ChannelLayout& operator=(const ChannelLayout&) = delete;

  int copy_from(const AVChannelLayout& other) {
    av_channel_layout_uninit(&layout_);
    return av_channel_layout_copy(&layout_, &other);
  }
  void set_default(int channels) {
    av_channel_layout_uninit(&layout_);
    av_channel_layout_default(&layout_, channels);
  }
  AVChannelLayout* get() { return &layout_; }
  const AVChannelLayout* get() const { return &layout_; }

 private:
  AVChannelLayout layout_{};
};

// A blocking demuxer call returns (AVERROR_EXIT) once the song is dropped.
int interrupt_if_stopped(void* opaque) {
  return static_cast<const std::atomic<bool>*>(opaque)->load(std::memory_order_relaxed) ? 1 : 0;
}

// Converts decoded frames of any sample format, rate and channel layout to
// interleaved s16 in the output format. Reconfigures itself (after draining)
// if the input parameters change mid-stream.
class Resampler {
 public:
  explicit Resampler(const AudioFormat& out) : out_(out) { out_layout_.set_default(out.channels); }

  // Appends the converted samples of frame to out.
  Status convert(const AVFrame* frame, std::vector<std::int16_t>& out) {
    if (frame->nb_samples <= 0) return Status::ok();
    if (!swr_ || !matches(frame)) {
      if (Status s = drain(out); !s) return s;
      if (Status s = configure(frame); !s) return s;
    }
    return run(const_cast<const std::uint8_t**>(frame->extended_data), frame->nb_samples, out);
  }

  // Appends whatever the resampler still holds (its filter delay).
  Status drain(std::vector<std::int16_t>& out) {
    if (!swr_) return Status::ok();
    for (int i = 0; i < 64; ++i) {
      std::size_t before = out.size();
      if (Status s = run(nullptr, 0, out); !s) return s;
      if (out.size() == before) break;
    }
    return Status::ok();
  }

 private:
  bool matches(const AVFrame* frame) const {
    return frame->format == in_format_ && frame->sample_rate == in_rate_ &&
           av_channel_layout_compare(&frame->ch_layout, frame_layout_.get()) == 0;
  }

  Status configure(const AVFrame* frame) {
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
    SwrPtr swr(raw);
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

  Status run(const std::uint8_t** in, int in_frames, std::vector<std::int16_t>& out) {
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

  AudioFormat out_;
  ChannelLayout out_layout_;
  ChannelLayout frame_layout_;
  int in_format_ = -1;
  int in_rate_ = 0;
  SwrPtr swr_;
};

// One decoding run over a file: open, then decode everything, handing
// converted samples to `deliver` in batches.
class FileDecoder {
 public:
  using Deliver = std::function<Status(std::vector<std::int16_t>&)>;

  FileDecoder(const AudioFormat& format, const std::atomic<bool>& stop, Deliver deliver)
      : format_(format), stop_(stop), deliver_(std::move(deliver)), resampler_(format) {}

  // Opens the file and its best audio stream; sets the estimated length in
  // output frames (0 when the container does not say).
  Status open(const std::string& path, std::uint64_t& estimated_frames) {
    int rc = open_audio_input(path, &interrupt_if_stopped, const_cast<std::atomic<bool>*>(&stop_), fmt_);
    if (rc == AVERROR(ENOMEM)) return internal_error("out of memory");
    if (rc < 0) {
      if (is_read_error(rc)) return io_error("cannot read " + path + ": " + av_error_text(rc));
      return unsupported("not an audio file: " + av_error_text(rc));
    }
    rc = avformat_find_stream_info(fmt_.get(), nullptr);
    if (rc < 0) return unsupported("not an audio file: " + av_error_text(rc));

    const AVCodec* codec = nullptr;
    stream_ = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (stream_ == AVERROR_STREAM_NOT_FOUND) return unsupported("no audio stream");
    if (stream_ < 0 || codec == nullptr) return unsupported("no decoder for the audio stream");
    AVStream* stream = fmt_->streams[stream_];
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      if (static_cast<int>(i) != stream_) fmt_->streams[i]->discard = AVDISCARD_ALL;
    }

    ctx_.reset(avcodec_alloc_context3(codec));
    packet_.reset(av_packet_alloc());
    frame_.reset(av_frame_alloc());
    if (!ctx_ || !packet_ || !frame_) return internal_error("out of memory");
    rc = avcodec_parameters_to_context(ctx_.get(), stream->codecpar);
    if (rc < 0) return unsupported("cannot decode the audio: " + av_error_text(rc));
    ctx_->pkt_timebase = stream->time_base;
    // Deterministic output: one thread, no CPU-specific shortcuts.
    ctx_->thread_count = 1;
    ctx_->flags |= AV_CODEC_FLAG_BITEXACT;
    rc = avcodec_open2(ctx_.get(), codec, nullptr);
    if (rc < 0) {
      return unsupported(std::string("cannot open the ") + codec->name +
                         " decoder: " + av_error_text(rc));
    }

    std::int64_t duration_us = 0;
    if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0) {
      duration_us = fmt_->duration;
    } else if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0 &&
               stream->time_base.num > 0 && stream->time_base.den > 0) {
      duration_us = av_rescale_q(stream->duration, stream->time_base, AV_TIME_BASE_Q);
    }
    estimated_frames =
        duration_us > 0
            ? static_cast<std::uint64_t>(av_rescale(duration_us, format_.sample_rate, AV_TIME_BASE))
            : 0;
    return Status::ok();
  }

  // Decodes every packet of the stream; stops early (returning OK) when
  // stop_ is set.
  Status decode() {
    while (!stop_.load(std::memory_order_relaxed)) {
      int rc = av_read_frame(fmt_.get(), packet_.get());
      if (rc == AVERROR(EAGAIN)) continue;
      if (rc == AVERROR_EOF) break;
      if (rc < 0) {
        if (stop_.load()) return Status::ok();
        return failed("reading the file", rc);
      }
      if (packet_->stream_index != stream_) {
        av_packet_unref(packet_.get());
        continue;
      }
      Status s = send(packet_.get());
      av_packet_unref(packet_.get());
      if (!s) return s;
      if (pending_.size() >= kBatchFrames * static_cast<std::size_t>(format_.channels)) {
        if (Status d = hand_over(); !d) return d;
      }
    }
    if (stop_.load()) return Status::ok();
    // Frames the decoder holds back (delay), then the resampler's tail.
    if (Status s = send(nullptr); !s) return s;
    if (Status s = resampler_.drain(pending_); !s) return s;
    if (Status s = hand_over(); !s) return s;
    if (frames_ == 0) {
      std::string reason = "could not decode any audio";
      if (last_error_ != 0) reason += ": " + av_error_text(last_error_);
      return unsupported(reason);
    }
    return Status::ok();
  }

 private:
  // Sends one packet (nullptr: end of stream) and converts what comes out.
  // Corrupt packets are skipped, as players do.
  Status send(const AVPacket* packet) {
    for (;;) {
      int rc = avcodec_send_packet(ctx_.get(), packet);
      bool again = rc == AVERROR(EAGAIN);
      if (rc < 0 && !again) {
        if (rc == AVERROR_INVALIDDATA) {
          last_error_ = rc;
          return Status::ok();
        }
        if (rc == AVERROR_EOF) return Status::ok();
        return failed("decoding", rc);
      }
      if (Status s = receive(); !s) return s;
      if (!again) return Status::ok();
    }
  }

  Status receive() {
    for (;;) {
      int rc = avcodec_receive_frame(ctx_.get(), frame_.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::ok();
      if (rc == AVERROR_INVALIDDATA) {
        last_error_ = rc;
        continue;
      }
      if (rc < 0) return failed("decoding", rc);
      Status s = resampler_.convert(frame_.get(), pending_);
      av_frame_unref(frame_.get());
      if (!s) return s;
    }
  }

  Status hand_over() {
    if (pending_.empty()) return Status::ok();
    frames_ += pending_.size() / static_cast<std::size_t>(format_.channels);
    Status s = deliver_(pending_);
    pending_.clear();
    return s;
  }

  Status failed(const char* what, int err) const {
    double seconds = static_cast<double>(frames_) / format_.sample_rate;
    char at[32];
    std::snprintf(at, sizeof at, "%.1f", seconds);
    return unsupported(std::string("error ") + what + " at " + at + " s: " + av_error_text(err));
  }

  AudioFormat format_;
  const std::atomic<bool>& stop_;
  Deliver deliver_;
  FormatPtr fmt_;
  CodecContextPtr ctx_;
  PacketPtr packet_;
  FramePtr frame_;
  int stream_ = -1;
  Resampler resampler_;
  std::vector<std::int16_t> pending_;
  std::uint64_t frames_ = 0;
  int last_error_ = 0;
};

}  // namespace

std::shared_ptr<DecodedSong> DecodedSong::start(const std::string& path,
                                                const AudioFormat& format) {
  silence_ffmpeg_logs();
  std::shared_ptr<DecodedSong> song(new DecodedSong(format));
  if (format.sample_rate <= 0 || format.channels <= 0 || format.channels > 8) {
    song->status_ = invalid_argument("unsupported output format");
    song->finished_ = true;
    return song;
  }
  song->thread_ = std::thread(&DecodedSong::run, song.get(), path);
  return song;
}

DecodedSong::~DecodedSong() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void DecodedSong::run(std::string path) {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  FileDecoder decoder(format_, stop_, [&](std::vector<std::int16_t>& batch) -> Status {
    try {
      std::lock_guard lock(mu_);
      samples_.insert(samples_.end(), batch.begin(), batch.end());
    } catch (const std::bad_alloc&) {
      return resource_exhausted("out of memory holding the decoded song");
    }
    return Status::ok();
  });

  Status status;
  try {
    std::uint64_t estimate = 0;
    status = decoder.open(path, estimate);
    if (status) {
      std::uint64_t reserve = std::min<std::uint64_t>(
          estimate + static_cast<std::uint64_t>(format_.sample_rate),  // + 1 s for padding
          static_cast<std::uint64_t>(kMaxReserveSeconds) * format_.sample_rate);
      {
        std::lock_guard lock(mu_);
        estimated_frames_ = estimate;
      }
      if (estimate > 0) {
        try {
          std::lock_guard lock(mu_);
          samples_.reserve(reserve * channels);
        } catch (const std::bad_alloc&) {
          // Grown as needed instead.
        }
      }
      status = decoder.decode();
    }
  } catch (const std::bad_alloc&) {
    status = resource_exhausted("out of memory while decoding");
  }

  std::lock_guard lock(mu_);
  status_ = std::move(status);
  finished_ = true;
}

std::uint64_t DecodedSong::decoded_frames() const {
  std::lock_guard lock(mu_);
  return samples_.size() / static_cast<std::size_t>(format_.channels);
}

std::uint64_t DecodedSong::total_frames() const {
  std::lock_guard lock(mu_);
  std::uint64_t decoded = samples_.size() / static_cast<std::size_t>(format_.channels);
  if (finished_) return decoded;
  return estimated_frames_ == 0 ? 0 : std::max(estimated_frames_, decoded);
}

bool DecodedSong::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

Status DecodedSong::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

std::size_t DecodedSong::read_frames(std::uint64_t first, std::int16_t* out,
                                     std::size_t frames) const {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  std::lock_guard lock(mu_);
  const std::uint64_t available = samples_.size() / channels;
  if (first >= available || frames == 0) return 0;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(frames, available - first));
  std::copy_n(samples_.data() + first * channels, n * channels, out);
  return n;
}

}  // namespace hifi::client
