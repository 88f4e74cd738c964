// The Transcoder of transcoder.h on FFmpeg: AudioDecoder (decode and
// resample to interleaved s16 at the encoder's rate) -> the encoder's sample
// format -> libavcodec encoder -> libavformat muxer writing into memory.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" {
#include <libavformat/avio.h>
#include <libavutil/opt.h>
}

#include "media/decoder.h"
#include "media/ffmpeg_input.h"
#include "media/transcoder.h"

namespace hifi::media {
namespace {

struct Codec {
  const char* encoder;  // FFmpeg encoder name
  const char* muxer;    // FFmpeg muxer name
  int sample_rate;
};

Codec codec_for(TranscodeFormat format) {
  switch (format) {
    case TranscodeFormat::kOpus: return {"libopus", "ogg", 48000};
    case TranscodeFormat::kMp3: return {"libmp3lame", "mp3", 44100};
    case TranscodeFormat::kAac: return {"aac", "adts", 44100};
    case TranscodeFormat::kFlac: return {"flac", "flac", 48000};
  }
  return {"libopus", "ogg", 48000};
}

// The sample formats HiFi can feed an encoder from interleaved s16, in the
// order it prefers them (no conversion first).
bool feedable(AVSampleFormat f) {
  return f == AV_SAMPLE_FMT_S16 || f == AV_SAMPLE_FMT_S16P || f == AV_SAMPLE_FMT_FLT ||
         f == AV_SAMPLE_FMT_FLTP || f == AV_SAMPLE_FMT_S32P || f == AV_SAMPLE_FMT_S32;
}

AVSampleFormat choose_sample_format(const AVCodec* codec) {
  if (codec->sample_fmts == nullptr) return AV_SAMPLE_FMT_S16;
  for (auto want : {AV_SAMPLE_FMT_S16, AV_SAMPLE_FMT_S16P, AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_FLTP,
                    AV_SAMPLE_FMT_S32P, AV_SAMPLE_FMT_S32}) {
    for (const AVSampleFormat* f = codec->sample_fmts; *f != AV_SAMPLE_FMT_NONE; ++f) {
      if (*f == want) return want;
    }
  }
  return AV_SAMPLE_FMT_NONE;
}

// Copies `frames` interleaved s16 frames into an encoder frame of format f
// (one of feedable()), zero-filling the frame's remaining samples. One loop
// per format, so that the compiler can vectorize each.
template <typename T, typename Convert>
void fill_planes(AVFrame* frame, const std::int16_t* in, int frames, int channels, bool planar, Convert convert) {
  const int total = frame->nb_samples;
  if (planar) {
    for (int c = 0; c < channels; ++c) {
      T* out = reinterpret_cast<T*>(frame->data[c]);
      for (int i = 0; i < frames; ++i) out[i] = convert(in[i * channels + c]);
      for (int i = frames; i < total; ++i) out[i] = T{};
    }
  } else {
    T* out = reinterpret_cast<T*>(frame->data[0]);
    for (int i = 0; i < frames * channels; ++i) out[i] = convert(in[i]);
    for (int i = frames * channels; i < total * channels; ++i) out[i] = T{};
  }
}

void fill_frame(AVFrame* frame, const std::int16_t* in, int frames, int channels) {
  const auto as_s16 = [](std::int16_t s) { return s; };
  const auto as_flt = [](std::int16_t s) { return s * (1.0f / 32768.0f); };
  const auto as_s32 = [](std::int16_t s) { return static_cast<std::int32_t>(s) * 65536; };
  switch (static_cast<AVSampleFormat>(frame->format)) {
    case AV_SAMPLE_FMT_S16: return fill_planes<std::int16_t>(frame, in, frames, channels, false, as_s16);
    case AV_SAMPLE_FMT_S16P: return fill_planes<std::int16_t>(frame, in, frames, channels, true, as_s16);
    case AV_SAMPLE_FMT_FLT: return fill_planes<float>(frame, in, frames, channels, false, as_flt);
    case AV_SAMPLE_FMT_FLTP: return fill_planes<float>(frame, in, frames, channels, true, as_flt);
    case AV_SAMPLE_FMT_S32: return fill_planes<std::int32_t>(frame, in, frames, channels, false, as_s32);
    case AV_SAMPLE_FMT_S32P: return fill_planes<std::int32_t>(frame, in, frames, channels, true, as_s32);
    default: return;
  }
}

// An output context writing into a std::string through a custom AVIOContext.
struct MuxerCloser {
  void operator()(AVFormatContext* c) const {
    if (c == nullptr) return;
    if (c->pb != nullptr) {
      av_freep(&c->pb->buffer);
      avio_context_free(&c->pb);
    }
    avformat_free_context(c);
  }
};
using MuxerPtr = std::unique_ptr<AVFormatContext, MuxerCloser>;

class FfmpegTranscoder final : public Transcoder {
 public:
  FfmpegTranscoder(const TranscodeRequest& request, const Codec& codec)
      : request_(request), codec_(codec), decoder_(AudioFormat{codec.sample_rate, kChannels}) {}

  Status open(const std::string& path);
  std::string content_type() const override { return transcode_content_type(request_.format); }
  Result<std::size_t> read(char* out, std::size_t max) override;

 private:
  static constexpr int kChannels = 2;
  // FFmpeg 6.1 made the buffer const; both signatures convert to this one.
#if LIBAVFORMAT_VERSION_MAJOR >= 61
  static int write_packet(void* opaque, const std::uint8_t* buf, int size) {
#else
  static int write_packet(void* opaque, std::uint8_t* buf, int size) {
#endif
    static_cast<FfmpegTranscoder*>(opaque)->pending_.append(reinterpret_cast<const char*>(buf),
                                                           static_cast<std::size_t>(size));
    return size;
  }

  Status open_encoder();
  Status open_muxer();
  // Starts at output frame `frames` (the request's offset).
  Status skip(std::uint64_t frames);
  // Encodes one more frame (or flushes at the end) and muxes what comes out.
  Status step();
  Status send_frame(int frames);
  Status drain_packets();
  std::size_t buffered_frames() const { return (pcm_.size() - pcm_pos_) / kChannels; }
  Status fail(Status s) {
    failed_ = s;
    return s;
  }

  const TranscodeRequest request_;
  const Codec codec_;
  AudioDecoder decoder_;
  CodecContextPtr enc_;
  MuxerPtr mux_;
  FramePtr frame_;
  PacketPtr packet_;
  int frame_size_ = 0;
  std::vector<std::int16_t> pcm_;  // decoded, not yet encoded; from pcm_pos_
  std::size_t pcm_pos_ = 0;
  std::int64_t next_pts_ = 0;
  // Frames still to encode (request.duration_ms); all of them when 0.
  std::uint64_t remaining_ = UINT64_MAX;
  bool input_ended_ = false;
  bool flushing_ = false;
  bool done_ = false;
  std::string pending_;  // muxed, not yet read; from pending_pos_
  std::size_t pending_pos_ = 0;
  Status failed_ = Status::ok();
};

Status FfmpegTranscoder::open(const std::string& path) {
  if (Status s = decoder_.open(path, nullptr, nullptr); !s) return s;
  if (Status s = open_encoder(); !s) return s;
  if (Status s = open_muxer(); !s) return s;
  if (request_.duration_ms > 0) {
    remaining_ = static_cast<std::uint64_t>(request_.duration_ms) * static_cast<std::uint64_t>(codec_.sample_rate) / 1000;
  }
  if (request_.offset_ms > 0) {
    const auto frames = static_cast<std::uint64_t>(request_.offset_ms) *
                        static_cast<std::uint64_t>(codec_.sample_rate) / 1000;
    if (Status s = skip(frames); !s) return s;
  }
  return Status::ok();
}

Status FfmpegTranscoder::open_encoder() {
  const AVCodec* codec = avcodec_find_encoder_by_name(codec_.encoder);
  if (codec == nullptr) return unsupported(std::string("this build has no ") + codec_.encoder + " encoder");
  const AVSampleFormat sample_format = choose_sample_format(codec);
  if (!feedable(sample_format)) return internal_error(std::string("no usable sample format for ") + codec_.encoder);
  enc_.reset(avcodec_alloc_context3(codec));
  frame_.reset(av_frame_alloc());
  packet_.reset(av_packet_alloc());
  if (!enc_ || !frame_ || !packet_) return internal_error("out of memory");
  enc_->sample_rate = codec_.sample_rate;
  enc_->sample_fmt = sample_format;
  av_channel_layout_default(&enc_->ch_layout, kChannels);
  const int kbps = request_.bitrate_kbps > 0 ? request_.bitrate_kbps : default_transcode_bitrate(request_.format);
  if (kbps > 0) enc_->bit_rate = static_cast<std::int64_t>(kbps) * 1000;
  enc_->time_base = AVRational{1, codec_.sample_rate};
  enc_->thread_count = 1;
  const AVOutputFormat* muxer = av_guess_format(codec_.muxer, nullptr, nullptr);
  if (muxer == nullptr) return unsupported(std::string("this build has no ") + codec_.muxer + " muxer");
  if (muxer->flags & AVFMT_GLOBALHEADER) enc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int rc = avcodec_open2(enc_.get(), codec, nullptr);
  if (rc < 0) {
    return invalid_argument(std::string("the ") + codec_.encoder + " encoder refused " +
                            std::to_string(kbps) + " kbit/s: " + av_error_text(rc));
  }
  frame_size_ = enc_->frame_size > 0 ? enc_->frame_size : 1024;
  return Status::ok();
}

Status FfmpegTranscoder::open_muxer() {
  AVFormatContext* raw = nullptr;
  int rc = avformat_alloc_output_context2(&raw, nullptr, codec_.muxer, nullptr);
  if (rc < 0 || raw == nullptr) return internal_error("cannot make the " + std::string(codec_.muxer) + " muxer");
  mux_.reset(raw);
  constexpr int kIoBuffer = 16 * 1024;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBuffer));
  if (buffer == nullptr) return internal_error("out of memory");
  mux_->pb = avio_alloc_context(buffer, kIoBuffer, 1, this, nullptr, &FfmpegTranscoder::write_packet, nullptr);
  if (mux_->pb == nullptr) {
    av_free(buffer);
    return internal_error("out of memory");
  }
  mux_->pb->seekable = 0;
  mux_->flags |= AVFMT_FLAG_CUSTOM_IO;
  AVStream* stream = avformat_new_stream(mux_.get(), nullptr);
  if (stream == nullptr) return internal_error("out of memory");
  rc = avcodec_parameters_from_context(stream->codecpar, enc_.get());
  if (rc < 0) return internal_error("cannot describe the encoded stream: " + av_error_text(rc));
  stream->time_base = enc_->time_base;
  AVDictionary* options = nullptr;
  // A streamed MP3 cannot have its Xing header filled in at the end.
  if (request_.format == TranscodeFormat::kMp3) {
    av_dict_set(&options, "write_xing", "0", 0);
    av_dict_set(&options, "id3v2_version", "0", 0);
  }
  rc = avformat_write_header(mux_.get(), &options);
  av_dict_free(&options);
  if (rc < 0) return internal_error("cannot start the " + std::string(codec_.muxer) + " stream: " + av_error_text(rc));
  avio_flush(mux_->pb);
  return Status::ok();
}

Status FfmpegTranscoder::skip(std::uint64_t frames) {
  // The container seeks near the frame; the decoder runs its pre-roll and
  // drops what precedes the frame, so the output from here is what a
  // transcode from the start has at this frame.
  return decoder_.seek(frames);
}

Result<std::size_t> FfmpegTranscoder::read(char* out, std::size_t max) {
  if (!failed_) return failed_;
  if (pending_pos_ == pending_.size()) {
    pending_.clear();
    pending_pos_ = 0;
  }
  while (pending_.size() - pending_pos_ < max && !done_) {
    if (Status s = step(); !s) return fail(s);
  }
  const std::size_t n = std::min(max, pending_.size() - pending_pos_);
  std::memcpy(out, pending_.data() + pending_pos_, n);
  pending_pos_ += n;
  return n;
}

Status FfmpegTranscoder::step() {
  if (!flushing_) {
    const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(frame_size_, remaining_));
    while (buffered_frames() < wanted && !input_ended_) {
      if (pcm_pos_ > 0) {
        pcm_.erase(pcm_.begin(), pcm_.begin() + static_cast<std::ptrdiff_t>(pcm_pos_));
        pcm_pos_ = 0;
      }
      bool ended = false;
      if (Status s = decoder_.decode(pcm_, static_cast<std::size_t>(frame_size_) * 8, &ended); !s) return s;
      input_ended_ = ended;
    }
    const int frames = static_cast<int>(std::min<std::size_t>(buffered_frames(), wanted));
    if (frames > 0) {
      if (Status s = send_frame(frames); !s) return s;
      remaining_ -= static_cast<std::uint64_t>(frames);
    }
    if (remaining_ == 0 || (input_ended_ && buffered_frames() == 0)) {
      flushing_ = true;
      int rc = avcodec_send_frame(enc_.get(), nullptr);
      if (rc < 0 && rc != AVERROR_EOF) return internal_error("flushing the encoder: " + av_error_text(rc));
    }
  }
  if (Status s = drain_packets(); !s) return s;
  avio_flush(mux_->pb);
  return Status::ok();
}

Status FfmpegTranscoder::send_frame(int frames) {
  // The last frame may be short when the encoder allows it; otherwise it
  // is padded with silence (less than one codec frame).
  const bool small_last = (enc_->codec->capabilities & AV_CODEC_CAP_SMALL_LAST_FRAME) != 0;
  av_frame_unref(frame_.get());
  frame_->format = enc_->sample_fmt;
  frame_->sample_rate = enc_->sample_rate;
  frame_->nb_samples = (frames < frame_size_ && small_last) ? frames : frame_size_;
  int rc = av_channel_layout_copy(&frame_->ch_layout, &enc_->ch_layout);
  if (rc >= 0) rc = av_frame_get_buffer(frame_.get(), 0);
  if (rc < 0) return internal_error("out of memory");
  fill_frame(frame_.get(), pcm_.data() + pcm_pos_, frames, kChannels);
  pcm_pos_ += static_cast<std::size_t>(frames) * kChannels;
  frame_->pts = next_pts_;
  next_pts_ += frame_->nb_samples;
  rc = avcodec_send_frame(enc_.get(), frame_.get());
  if (rc < 0) return internal_error("encoding: " + av_error_text(rc));
  return Status::ok();
}

Status FfmpegTranscoder::drain_packets() {
  AVStream* stream = mux_->streams[0];
  for (;;) {
    int rc = avcodec_receive_packet(enc_.get(), packet_.get());
    if (rc == AVERROR(EAGAIN)) return Status::ok();
    if (rc == AVERROR_EOF) {
      rc = av_write_trailer(mux_.get());
      if (rc < 0) return internal_error("finishing the stream: " + av_error_text(rc));
      done_ = true;
      return Status::ok();
    }
    if (rc < 0) return internal_error("encoding: " + av_error_text(rc));
    packet_->stream_index = 0;
    av_packet_rescale_ts(packet_.get(), enc_->time_base, stream->time_base);
    rc = av_write_frame(mux_.get(), packet_.get());
    av_packet_unref(packet_.get());
    if (rc < 0) return internal_error("muxing: " + av_error_text(rc));
  }
}

}  // namespace

std::optional<TranscodeFormat> parse_transcode_format(std::string_view name) {
  if (name == "opus") return TranscodeFormat::kOpus;
  if (name == "mp3") return TranscodeFormat::kMp3;
  if (name == "aac") return TranscodeFormat::kAac;
  if (name == "flac") return TranscodeFormat::kFlac;
  return std::nullopt;
}

const char* transcode_format_name(TranscodeFormat format) {
  switch (format) {
    case TranscodeFormat::kOpus: return "opus";
    case TranscodeFormat::kMp3: return "mp3";
    case TranscodeFormat::kAac: return "aac";
    case TranscodeFormat::kFlac: return "flac";
  }
  return "opus";
}

const char* transcode_content_type(TranscodeFormat format) {
  switch (format) {
    case TranscodeFormat::kOpus: return "audio/ogg";
    case TranscodeFormat::kMp3: return "audio/mpeg";
    case TranscodeFormat::kAac: return "audio/aac";
    case TranscodeFormat::kFlac: return "audio/flac";
  }
  return "application/octet-stream";
}

const char* transcode_extension(TranscodeFormat format) {
  switch (format) {
    case TranscodeFormat::kOpus: return "opus";
    case TranscodeFormat::kMp3: return "mp3";
    case TranscodeFormat::kAac: return "aac";
    case TranscodeFormat::kFlac: return "flac";
  }
  return "bin";
}

int default_transcode_bitrate(TranscodeFormat format) {
  switch (format) {
    case TranscodeFormat::kOpus: return 128;
    case TranscodeFormat::kMp3: return 192;
    case TranscodeFormat::kAac: return 160;
    case TranscodeFormat::kFlac: return 0;
  }
  return 128;
}

Result<std::unique_ptr<Transcoder>> open_transcoder(const std::string& path, const TranscodeRequest& request) {
  silence_ffmpeg_logs();
  if (request.offset_ms < 0) return invalid_argument("the offset must not be negative");
  if (request.duration_ms < 0) return invalid_argument("the duration must not be negative");
  if (request.bitrate_kbps != 0 &&
      (request.bitrate_kbps < kMinTranscodeBitrate || request.bitrate_kbps > kMaxTranscodeBitrate)) {
    return invalid_argument("the bitrate must be between " + std::to_string(kMinTranscodeBitrate) + " and " +
                            std::to_string(kMaxTranscodeBitrate) + " kbit/s");
  }
  auto transcoder = std::make_unique<FfmpegTranscoder>(request, codec_for(request.format));
  if (Status s = transcoder->open(path); !s) return s;
  return std::unique_ptr<Transcoder>(std::move(transcoder));
}

}  // namespace hifi::media
