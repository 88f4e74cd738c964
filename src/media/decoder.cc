#include "media/decoder.h"

extern "C" {
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
}

#include <cerrno>
#include <cstdio>
#include <string>

namespace hifi::media {
namespace {

// A codec that keeps returning frames without samples (or errors) for one
// packet is left for the next packet after this many.
constexpr int kMaxEmptyFramesPerPacket = 64;

}  // namespace

Status StreamDecoder::open(AVFormatContext* fmt, int index, const AVCodec* codec,
                           const StreamDecoderOptions& options) {
  fmt_ = fmt;
  index_ = index;
  options_ = options;
  const AVStream* stream = fmt->streams[index];
  ctx_.reset(avcodec_alloc_context3(codec));
  packet_.reset(av_packet_alloc());
  frame_.reset(av_frame_alloc());
  if (!ctx_ || !packet_ || !frame_) return internal_error("out of memory");
  int rc = avcodec_parameters_to_context(ctx_.get(), stream->codecpar);
  if (rc < 0) return unsupported("could not decode any audio: " + av_error_text(rc));
  ctx_->pkt_timebase = stream->time_base;
  // Decoder threads would only make the output order-dependent and add
  // start-up cost; songs decode far faster than real time on one.
  ctx_->thread_count = 1;
  if (options.bitexact) ctx_->flags |= AV_CODEC_FLAG_BITEXACT;
  rc = avcodec_open2(ctx_.get(), codec, nullptr);
  if (rc < 0) {
    return unsupported(std::string("could not open the ") + codec->name +
                       " decoder: " + av_error_text(rc));
  }
  return Status::ok();
}

bool StreamDecoder::limits_reached() const {
  return (options_.max_packets > 0 && packets_ >= options_.max_packets) ||
         (options_.max_audio_bytes > 0 && audio_bytes_ > options_.max_audio_bytes);
}

StreamDecoder::Step StreamDecoder::fail(Step step, int err) {
  error_ = err;
  last_error_ = err;
  return step;
}

StreamDecoder::Step StreamDecoder::next() {
  av_frame_unref(frame_.get());
  for (;;) {
    if (receiving_) {
      int rc = avcodec_receive_frame(ctx_.get(), frame_.get());
      if (rc == 0 && frame_->nb_samples > 0) return Step::kFrame;
      if (rc == 0 || rc == AVERROR_INVALIDDATA) {
        if (rc != 0) last_error_ = rc;
        av_frame_unref(frame_.get());
        if (++empty_frames_ >= kMaxEmptyFramesPerPacket) receiving_ = false;
        continue;
      }
      receiving_ = false;
      if (rc == AVERROR_EOF) return Step::kEnd;
      if (rc != AVERROR(EAGAIN)) return fail(Step::kDecodeError, rc);
    }
    if (flushed_) return Step::kEnd;

    if (!have_packet_) {
      if (input_ended_ || limits_reached()) {
        // Frames the codec holds back (its delay) come out after a flush.
        flushed_ = true;
        receiving_ = true;
        empty_frames_ = 0;
        int rc = avcodec_send_packet(ctx_.get(), nullptr);
        if (rc < 0 && rc != AVERROR_EOF) return fail(Step::kDecodeError, rc);
        continue;
      }
      int rc = av_read_frame(fmt_, packet_.get());
      ++packets_;
      if (rc == AVERROR(EAGAIN)) continue;
      if (rc == AVERROR_EOF) {
        input_ended_ = true;
        continue;
      }
      if (rc < 0) return fail(Step::kReadError, rc);
      if (packet_->stream_index != index_) {
        av_packet_unref(packet_.get());
        continue;
      }
      audio_bytes_ += packet_->size;
      have_packet_ = true;
    }

    int rc = avcodec_send_packet(ctx_.get(), packet_.get());
    receiving_ = true;
    empty_frames_ = 0;
    // EAGAIN: the codec wants its frames taken first; the packet is sent again.
    if (rc == AVERROR(EAGAIN)) continue;
    av_packet_unref(packet_.get());
    have_packet_ = false;
    if (rc == AVERROR_INVALIDDATA) {
      last_error_ = rc;
    } else if (rc < 0 && rc != AVERROR_EOF) {
      return fail(Step::kDecodeError, rc);
    }
  }
}

Status AudioDecoder::open(const std::string& path, int (*interrupt)(void*), void* opaque) {
  int rc = open_audio_input(path, interrupt, opaque, fmt_);
  if (rc == AVERROR(ENOMEM)) return internal_error("out of memory");
  if (rc < 0) {
    if (is_read_error(rc)) return io_error("cannot read " + path + ": " + av_error_text(rc));
    return unsupported("not an audio file: " + av_error_text(rc));
  }
  rc = avformat_find_stream_info(fmt_.get(), nullptr);
  if (rc < 0) return unsupported("not an audio file: " + av_error_text(rc));

  const AVCodec* codec = nullptr;
  const int index = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
  if (index == AVERROR_STREAM_NOT_FOUND) return unsupported("no audio stream");
  if (index < 0 || codec == nullptr) return unsupported("no decoder for the audio stream");
  const AVStream* stream = fmt_->streams[index];
  for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
    if (static_cast<int>(i) != index) fmt_->streams[i]->discard = AVDISCARD_ALL;
  }
  if (Status s = stream_.open(fmt_.get(), index, codec, StreamDecoderOptions{}); !s) return s;

  std::int64_t duration_us = 0;
  if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0) {
    duration_us = fmt_->duration;
  } else if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0 &&
             stream->time_base.num > 0 && stream->time_base.den > 0) {
    duration_us = av_rescale_q(stream->duration, stream->time_base, AV_TIME_BASE_Q);
  }
  estimated_frames_ =
      duration_us > 0
          ? static_cast<std::uint64_t>(av_rescale(duration_us, format_.sample_rate, AV_TIME_BASE))
          : 0;
  return Status::ok();
}

Status AudioDecoder::decode(std::vector<std::int16_t>& out, std::size_t min_frames, bool* ended) {
  *ended = false;
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  const std::size_t first = out.size();
  while ((out.size() - first) / channels < min_frames) {
    switch (stream_.next()) {
      case StreamDecoder::Step::kFrame:
        if (Status s = resampler_.convert(stream_.frame(), out); !s) return s;
        break;
      case StreamDecoder::Step::kReadError:
        return failed("reading the file", stream_.error());
      case StreamDecoder::Step::kDecodeError:
        return failed("decoding", stream_.error());
      case StreamDecoder::Step::kEnd: {
        if (Status s = resampler_.drain(out); !s) return s;
        frames_ += (out.size() - first) / channels;
        if (frames_ == 0) {
          std::string reason = "could not decode any audio";
          if (stream_.last_error() != 0) reason += ": " + av_error_text(stream_.last_error());
          return unsupported(reason);
        }
        *ended = true;
        return Status::ok();
      }
    }
  }
  frames_ += (out.size() - first) / channels;
  return Status::ok();
}

Status AudioDecoder::failed(const char* what, int err) const {
  double seconds = static_cast<double>(frames_) / format_.sample_rate;
  char at[32];
  std::snprintf(at, sizeof at, "%.1f", seconds);
  return unsupported(std::string("error ") + what + " at " + at + " s: " + av_error_text(err));
}

}  // namespace hifi::media
