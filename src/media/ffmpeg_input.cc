#include "media/ffmpeg_input.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <mutex>

#include "media/byte_source.h"

namespace hifi::media {
namespace {

constexpr const char* kAudioDemuxers =
    "mp3,flac,ogg,wav,w64,mov,aac,aiff,wv,ape,asf,matroska,caf,dsf,tta,mpc,mpc8,au,amr,ac3,"
    "eac3,dts,truehd,mlp";

// Opens `raw` (allocated by the caller, with its pb set or not) on `url`
// with audio demuxers only. On failure avformat_open_input frees `raw`.
int open_with_whitelist(AVFormatContext* raw, const char* url, int (*interrupt)(void*), void* opaque,
                        FormatPtr& out) {
  raw->interrupt_callback.callback = interrupt;
  raw->interrupt_callback.opaque = opaque;
  AVDictionary* options = nullptr;
  av_dict_set(&options, "format_whitelist", kAudioDemuxers, 0);
  av_dict_set(&options, "protocol_whitelist", "file", 0);
  // A stream whose codec the demuxer leaves to be guessed from its data
  // (PCM in WAV, which might carry DTS) is probed on at most 8 packets
  // (32 KiB of a WAV, where a DTS stream's sync words show many times).
  // FFmpeg's 32 packets for WAV ran every demuxer's probe over growing
  // buffers up to 200 KiB: 5.5 ms per open of a 5 MB WAV, a third of its
  // upload's CPU, and as much on every stream or transcode start; 8 take
  // about 2 ms.
  av_dict_set(&options, "max_probe_packets", "8", 0);
  int rc = avformat_open_input(&raw, url, nullptr, &options);
  av_dict_free(&options);
  if (rc >= 0) out.reset(raw);
  return rc;
}

}  // namespace

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(err, buf, sizeof buf) < 0) return "error " + std::to_string(err);
  return buf;
}

void silence_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

int open_audio_input(const std::string& path, int (*interrupt)(void*), void* opaque,
                     FormatPtr& out) {
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return AVERROR(ENOMEM);
  return open_with_whitelist(raw, ("file:" + path).c_str(), interrupt, opaque, out);
}

// What the AVIOContext's callbacks work on: the source and the offset of
// the next read.
struct AudioInput::State {
  ByteSource* source = nullptr;
  std::uint64_t position = 0;
  Status error;

  static int read(void* opaque, std::uint8_t* buf, int size) {
    auto* self = static_cast<State*>(opaque);
    auto n = self->source->read(self->position, reinterpret_cast<char*>(buf),
                                static_cast<std::size_t>(size));
    if (!n) {
      self->error = n.status();
      return AVERROR(EIO);
    }
    if (*n == 0) return AVERROR_EOF;
    self->position += *n;
    return static_cast<int>(*n);
  }

  static std::int64_t seek(void* opaque, std::int64_t offset, int whence) {
    auto* self = static_cast<State*>(opaque);
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) {
      auto size = self->source->size();
      return size && *size <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                 ? static_cast<std::int64_t>(*size)
                 : AVERROR(ENOSYS);
    }
    std::int64_t base = 0;
    if (whence == SEEK_CUR) {
      base = static_cast<std::int64_t>(self->position);
    } else if (whence == SEEK_END) {
      auto size = self->source->size();
      if (!size) return AVERROR(ENOSYS);
      base = static_cast<std::int64_t>(*size);
    } else if (whence != SEEK_SET) {
      return AVERROR(EINVAL);
    }
    const std::int64_t target = base + offset;
    if (target < 0) return AVERROR(EINVAL);
    if (!self->source->seekable() && static_cast<std::uint64_t>(target) != self->position) {
      return AVERROR(ESPIPE);
    }
    self->position = static_cast<std::uint64_t>(target);
    return target;
  }
};

void AudioInput::AvioFreer::operator()(AVIOContext* c) const {
  av_freep(&c->buffer);
  avio_context_free(&c);
}

AudioInput::AudioInput() = default;
AudioInput::~AudioInput() { close(); }

void AudioInput::close() {
  fmt_.reset();
  avio_.reset();
  state_.reset();
}

const Status& AudioInput::read_error() const {
  static const Status kOk;
  return state_ ? state_->error : kOk;
}

int AudioInput::open(ByteSource& source, int (*interrupt)(void*), void* opaque) {
  close();
  state_ = std::make_unique<State>();
  state_->source = &source;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kBufferBytes));
  if (buffer == nullptr) return AVERROR(ENOMEM);
  avio_.reset(avio_alloc_context(buffer, kBufferBytes, 0, state_.get(), &State::read, nullptr,
                                 &State::seek));
  if (!avio_) {
    av_free(buffer);
    return AVERROR(ENOMEM);
  }
  avio_->seekable = source.seekable() ? AVIO_SEEKABLE_NORMAL : 0;
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return AVERROR(ENOMEM);
  raw->pb = avio_.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  // The URL only names the input in FFmpeg's messages; no protocol opens it.
  return open_with_whitelist(raw, "", interrupt, opaque, fmt_);
}

int interrupt_when_set(void* opaque) {
  return static_cast<const std::atomic<bool>*>(opaque)->load(std::memory_order_relaxed) ? 1 : 0;
}

bool is_read_error(int err) {
  return err == AVERROR(ENOENT) || err == AVERROR(EACCES) || err == AVERROR(EPERM);
}

}  // namespace hifi::media
