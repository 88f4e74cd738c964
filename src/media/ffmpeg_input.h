// What the server's upload probe (library/media_probe.cc) and the player's
// decoder (media/decoder.cc) share of FFmpeg: owning pointers, error text,
// and opening a local file or a ByteSource as an audio container under the
// same rules, so that the player can open every file the server accepted.
//
// Thread-safety: every function is reentrant.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include <memory>
#include <string>

#include "common/status.h"

namespace hifi::media {

class ByteSource;

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextFreer {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;

// FFmpeg's message for an error code.
std::string av_error_text(int err);

// FFmpeg logs malformed input to stderr by default; HiFi reports what
// failed in its own Status instead. Idempotent.
void silence_ffmpeg_logs();

// Opens `path` as a local file with audio demuxers only: besides narrowing
// the attack surface, this keeps playlist-like demuxers (hls, concat, ...)
// from opening other files, and a ':' in the path from selecting a protocol.
// `interrupt` (may be null) is polled during blocking calls; returning
// non-zero aborts them with AVERROR_EXIT. Returns FFmpeg's result code
// (< 0 on failure, with `out` left empty).
int open_audio_input(const std::string& path, int (*interrupt)(void*), void* opaque,
                     FormatPtr& out);

// A container read through a ByteSource: a custom AVIOContext with a
// bounded buffer (kBufferBytes) over the source, and the format context on
// it. The source must outlive the input; reads and seeks go to it on the
// thread that uses the format context.
class AudioInput {
 public:
  // Small: a seek's binary search over the container reads one buffer a step.
  static constexpr int kBufferBytes = 32 * 1024;

  AudioInput();
  AudioInput(const AudioInput&) = delete;
  AudioInput& operator=(const AudioInput&) = delete;
  ~AudioInput();

  // Opens the container under open_audio_input()'s rules; returns FFmpeg's
  // result code (< 0 on failure, the input then empty).
  int open(ByteSource& source, int (*interrupt)(void*), void* opaque);
  AVFormatContext* get() const { return fmt_.get(); }
  // Why the source last failed a read (OK when it has not): FFmpeg only
  // sees AVERROR(EIO).
  const Status& read_error() const;
  void close();

 private:
  struct State;
  struct AvioFreer {
    void operator()(AVIOContext* c) const;
  };
  // Destroyed in reverse order: the format context before the I/O under it.
  std::unique_ptr<State> state_;
  std::unique_ptr<AVIOContext, AvioFreer> avio_;
  FormatPtr fmt_;
};

// An `interrupt` for open_audio_input(): aborts once the std::atomic<bool>
// that `opaque` points to is true (a decoder's stop flag).
int interrupt_when_set(void* opaque);

// True for the failures that say the file itself could not be read. FFmpeg
// also uses EIO for truncated input, which is a property of the bytes.
bool is_read_error(int err);

}  // namespace hifi::media
