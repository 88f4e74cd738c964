#include "media/decoder.h"

extern "C" {
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
}

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <numeric>
#include <string>

namespace hifi::media {
namespace {

// A codec that keeps returning frames without samples (or errors) for one
// packet is left for the next packet after this many.
constexpr int kMaxEmptyFramesPerPacket = 64;

// Frames decoded per step when decoding is only to get somewhere.
constexpr std::uint64_t kSkipBatchFrames = 16384;
// A seek asks the container up to this many times, from further back each
// time, for a position before the frame; then it decodes its way there.
constexpr int kSeekAttempts = 3;
// When the container cannot help, a forward seek of up to this long is
// decoded on from where the decoder is, rather than from the start.
constexpr std::uint64_t kForwardDecodeSeconds = 600;

// Output frames the resampler needs before a restart point for its output
// to be that of an unbroken stream: more than half its filter (32 taps at
// the lower of the two rates, swresample's default), with room to spare.
std::uint64_t resampler_margin(int in_rate, int out_rate) {
  if (in_rate == out_rate) return 0;
  const auto ratio = static_cast<std::uint64_t>((out_rate + in_rate - 1) / in_rate);
  return 64 + 64 * ratio;
}

// Input samples a codec decodes after a seek before its output is that of
// an unbroken decode: none for lossless codecs whose frames stand alone
// (PCM, FLAC, ALAC...); for the others, the container's pre-roll (Opus:
// 80 ms) and at least 250 ms (MP3's bit reservoir and overlap, AAC's and
// Vorbis's overlapping windows). FFmpeg calls most lossy audio codecs
// intra-only too (every packet starts a frame): that is not enough.
std::int64_t codec_preroll(const AVCodecParameters& par) {
  const AVCodecDescriptor* desc = avcodec_descriptor_get(par.codec_id);
  constexpr int kStandAlone = AV_CODEC_PROP_INTRA_ONLY | AV_CODEC_PROP_LOSSLESS;
  if (desc != nullptr && (desc->props & (kStandAlone | AV_CODEC_PROP_LOSSY)) == kStandAlone) return 0;
  return std::max<std::int64_t>(par.seek_preroll, par.sample_rate / 4);
}

// The rate a frame's samples are counted at: its own, else the stream's.
int in_rate_of(const AVFrame* frame, const AVStream* stream) {
  return frame->sample_rate > 0 ? frame->sample_rate : stream->codecpar->sample_rate;
}

}  // namespace

Status StreamDecoder::open(AVFormatContext* fmt, int index, const AVCodec* codec,
                           const StreamDecoderOptions& options) {
  fmt_ = fmt;
  index_ = index;
  options_ = options;
  have_packet_ = receiving_ = input_ended_ = flushed_ = false;
  empty_frames_ = packets_ = 0;
  audio_bytes_ = 0;
  error_ = last_error_ = 0;
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

void StreamDecoder::reset() {
  avcodec_flush_buffers(ctx_.get());
  av_packet_unref(packet_.get());
  av_frame_unref(frame_.get());
  have_packet_ = false;
  receiving_ = false;
  input_ended_ = false;
  flushed_ = false;
  empty_frames_ = 0;
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
  path_ = path;
  source_ = nullptr;
  interrupt_ = interrupt;
  interrupt_opaque_ = opaque;
  return open_input();
}

Status AudioDecoder::open(ByteSource& input, int (*interrupt)(void*), void* opaque) {
  path_.clear();
  source_ = &input;
  interrupt_ = interrupt;
  interrupt_opaque_ = opaque;
  return open_input();
}

AVFormatContext* AudioDecoder::fmt() const { return source_ ? input_.get() : file_fmt_.get(); }

Status AudioDecoder::open_input() {
  file_fmt_.reset();
  input_.close();
  resampler_.reset();
  pending_.clear();
  frames_ = 0;
  at_end_ = false;
  int rc = source_ ? input_.open(*source_, interrupt_, interrupt_opaque_)
                   : open_audio_input(path_, interrupt_, interrupt_opaque_, file_fmt_);
  const std::string name = source_ ? source_->describe() : path_;
  if (rc == AVERROR(ENOMEM)) return internal_error("out of memory");
  if (source_ && !input_.read_error().is_ok()) return input_.read_error();
  if (rc < 0) {
    if (is_read_error(rc)) return io_error("cannot read " + name + ": " + av_error_text(rc));
    return unsupported("not an audio file: " + av_error_text(rc));
  }
  AVFormatContext* const fmt = this->fmt();
  rc = avformat_find_stream_info(fmt, nullptr);
  if (source_ && !input_.read_error().is_ok()) return input_.read_error();
  if (rc < 0) return unsupported("not an audio file: " + av_error_text(rc));

  const AVCodec* codec = nullptr;
  const int index = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
  if (index == AVERROR_STREAM_NOT_FOUND) return unsupported("no audio stream");
  if (index < 0 || codec == nullptr) return unsupported("no decoder for the audio stream");
  index_ = index;
  const AVStream* stream = fmt->streams[index];
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != index) fmt->streams[i]->discard = AVDISCARD_ALL;
  }
  if (Status s = stream_.open(fmt, index, codec, StreamDecoderOptions{}); !s) return s;
  // The demuxer's start time includes the samples the codec drops at the
  // start (encoder delay): it is the timestamp of the first sample decoded.
  first_pts_ = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;

  std::int64_t duration_us = 0;
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    duration_us = fmt->duration;
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
  out.insert(out.end(), pending_.begin(), pending_.end());
  pending_.clear();
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
        at_end_ = true;
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

Status AudioDecoder::skip_to(std::uint64_t frame) {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  std::vector<std::int16_t> batch;
  bool ended = false;
  while (frames_ < frame && !ended) {
    batch.clear();
    const std::uint64_t want = std::min<std::uint64_t>(frame - frames_, kSkipBatchFrames);
    if (Status s = decode(batch, static_cast<std::size_t>(want), &ended); !s) return s;
    // decode() may have gone past the frame: that part is the next output.
    const std::uint64_t past = frames_ > frame ? frames_ - frame : 0;
    const std::uint64_t keep = std::min<std::uint64_t>(past, batch.size() / channels);
    pending_.assign(batch.end() - static_cast<std::ptrdiff_t>(keep * channels), batch.end());
  }
  frames_ = frame;
  if (ended) pending_.clear();
  return Status::ok();
}

Status AudioDecoder::restart(std::uint64_t frame) {
  if (source_ && !source_->seekable()) {
    return unsupported("cannot go back in " + source_->describe() + ": the input cannot seek");
  }
  if (Status s = open_input(); !s) return s;
  return skip_to(frame);
}

Status AudioDecoder::seek(std::uint64_t frame) {
  if (fmt() == nullptr) return internal_error("seek before open");
  if (frame == frames_) return Status::ok();
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  // Frames already decoded and not handed out cover short forward seeks.
  if (frame > frames_ && frame - frames_ <= pending_.size() / channels) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>((frame - frames_) * channels));
    frames_ = frame;
    return Status::ok();
  }
  // Once a demuxer has met the end, some (Ogg) no longer trim the last
  // packet after a seek: start from a freshly opened input.
  if (at_end_ && (source_ == nullptr || source_->seekable())) {
    if (Status s = open_input(); !s) return s;
    if (frame == 0) return Status::ok();
  }
  const AVStream* stream = fmt()->streams[index_];
  const int in_rate = stream->codecpar->sample_rate;
  const int out_rate = format_.sample_rate;
  const bool can_seek = (fmt()->pb == nullptr || (fmt()->pb->seekable & AVIO_SEEKABLE_NORMAL)) &&
                        in_rate > 0 && stream->time_base.num > 0 && stream->time_base.den > 0;
  if (!can_seek) return frame > frames_ ? skip_to(frame) : restart(frame);

  // The resampler restarts at an input sample that falls exactly on an
  // output frame (whole multiples of in_step and out_step), far enough
  // before `frame` for its filter to be full again, and the codec a
  // pre-roll before that.
  const std::int64_t g = std::gcd(in_rate, out_rate);
  const std::int64_t in_step = in_rate / g;
  const std::int64_t out_step = out_rate / g;
  const std::uint64_t margin = resampler_margin(in_rate, out_rate);
  const std::uint64_t from_out =
      frame > margin ? (frame - margin) / static_cast<std::uint64_t>(out_step) * static_cast<std::uint64_t>(out_step) : 0;
  const auto from_in = static_cast<std::int64_t>(from_out / static_cast<std::uint64_t>(out_step)) * in_step;
  std::int64_t preroll = codec_preroll(*stream->codecpar);
  bool moved = false;  // the container was asked to go elsewhere
  if (source_ != nullptr && from_in > preroll) source_->expect_seek(frame, out_rate);
  for (int attempt = 0; attempt < kSeekAttempts; ++attempt, preroll = preroll * 4 + in_rate) {
    // Close to the start, a decode from the start is as cheap and exact.
    if (from_in <= preroll) break;
    const std::int64_t ts = first_pts_ + av_rescale_q(from_in - preroll, AVRational{1, in_rate}, stream->time_base);
    moved = true;
    if (avformat_seek_file(fmt(), index_, INT64_MIN, ts, ts, 0) < 0) break;
    stream_.reset();
    resampler_.reset();
    pending_.clear();
    at_end_ = false;
    auto resumed = resume(from_in, from_out, frame);
    if (!resumed) return resumed.status();
    if (*resumed) return Status::ok();
  }
  // Where the container is now after a failed attempt is anybody's guess.
  return !moved && frame > frames_ && frame - frames_ < static_cast<std::uint64_t>(out_rate) * kForwardDecodeSeconds
             ? skip_to(frame)
             : restart(frame);
}

Result<bool> AudioDecoder::resume(std::int64_t from_in, std::uint64_t from_out, std::uint64_t frame) {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  const AVStream* stream = fmt()->streams[index_];
  const std::uint64_t drop = frame - from_out;
  std::vector<std::int16_t> out;
  bool started = false;
  std::int64_t next = -1;  // input sample where the next frame should start; -1: unknown
  for (;;) {
    const auto step = stream_.next();
    if (step == StreamDecoder::Step::kReadError) return failed("reading the file", stream_.error());
    if (step == StreamDecoder::Step::kDecodeError) return failed("decoding", stream_.error());
    if (step == StreamDecoder::Step::kEnd) {
      at_end_ = true;
      // Frames seen, all before from_in: the song ends before the frame.
      if (!started && next < 0) return false;
      if (Status s = resampler_.drain(out); !s) return s;
      break;
    }
    const AVFrame* f = stream_.frame();
    if (!started) {
      std::int64_t pts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
      std::int64_t at = next;
      if (pts != AV_NOPTS_VALUE) {
        at = av_rescale_q(pts - first_pts_, stream->time_base, AVRational{1, in_rate_of(f, stream)});
      }
      if (at < 0 && next < 0) continue;  // cannot place it: codec warm-up only
      next = at + f->nb_samples;
      if (at > from_in) return false;
      if (next <= from_in) continue;  // codec warm-up
      started = true;
      if (Status s = resampler_.convert(f, out, static_cast<int>(from_in - at)); !s) return s;
    } else if (Status s = resampler_.convert(f, out); !s) {
      return s;
    }
    if (out.size() / channels > drop) break;
  }
  const std::uint64_t have = out.size() / channels;
  pending_.assign(out.begin() + static_cast<std::ptrdiff_t>(std::min(drop, have) * channels), out.end());
  frames_ = frame;
  return true;
}

Status AudioDecoder::failed(const char* what, int err) const {
  // The input's own account of a failed read says more than FFmpeg's EIO.
  if (err == AVERROR(EIO) && source_ && !input_.read_error().is_ok()) return input_.read_error();
  double seconds = static_cast<double>(frames_) / format_.sample_rate;
  char at[32];
  std::snprintf(at, sizeof at, "%.1f", seconds);
  return unsupported(std::string("error ") + what + " at " + at + " s: " + av_error_text(err));
}

}  // namespace hifi::media
