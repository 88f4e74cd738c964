// Decoding with FFmpeg, in two layers:
//  - StreamDecoder turns the packets of one audio stream of an opened
//    container into decoded frames. The upload probe uses it to find the
//    first frame; AudioDecoder uses it for everything.
//  - AudioDecoder opens a file or a ByteSource (the audio demuxers of
//    ffmpeg_input.h), decodes its best audio stream and resamples it to one
//    AudioFormat, handing out PCM in batches from the start or from any
//    frame (seek). DecodedSong and StreamingSource run it.
//
// Corrupt packets are skipped, as players do. Output is deterministic: the
// same file and format always give the same samples (one decoder thread,
// bit-exact decoding), and a seek gives the frames a decode from the start
// gives at that position (see seek() for how exactly).
//
// Thread-safety: none; each decoder belongs to one thread at a time.
// Decoding blocks on file reads and burns CPU: never call it on a network
// thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "media/audio_format.h"
#include "media/byte_source.h"
#include "media/ffmpeg_input.h"
#include "media/resampler.h"

namespace hifi::media {

struct StreamDecoderOptions {
  // AV_CODEC_FLAG_BITEXACT: no CPU-specific shortcuts.
  bool bitexact = true;
  // Reading stops (as at the end of the input) after this many packet reads
  // or once more than this many bytes of the stream were read; 0: no limit.
  int max_packets = 0;
  std::int64_t max_audio_bytes = 0;
};

class StreamDecoder {
 public:
  enum class Step {
    kFrame,        // frame() holds samples
    kEnd,          // the input is over and the codec drained
    kReadError,    // the demuxer failed with error(); next() reads on
    kDecodeError,  // the codec failed with error(); next() goes on with the next packet
  };

  StreamDecoder() = default;
  StreamDecoder(const StreamDecoder&) = delete;
  StreamDecoder& operator=(const StreamDecoder&) = delete;

  // Opens the codec for stream `index` of fmt, which must outlive this
  // decoder and be read by nothing else meanwhile. kUnsupported when the
  // codec cannot be opened, kInternal when memory runs out.
  Status open(AVFormatContext* fmt, int index, const AVCodec* codec,
              const StreamDecoderOptions& options);

  // Decodes on until the next frame with samples or the end.
  Step next();
  // After kFrame: the frame, valid until the next call to next().
  const AVFrame* frame() const { return frame_.get(); }
  // After kReadError/kDecodeError: FFmpeg's code.
  int error() const { return error_; }
  // The latest FFmpeg error seen, including skipped corrupt packets; 0 if none.
  int last_error() const { return last_error_; }
  // Stops reading packets: next() returns what the codec still holds, then kEnd.
  void end_input() { input_ended_ = true; }
  // Drops what the codec holds and reads on from wherever the container now
  // is (after a seek).
  void reset();

 private:
  bool limits_reached() const;
  Step fail(Step step, int err);

  AVFormatContext* fmt_ = nullptr;
  int index_ = -1;
  StreamDecoderOptions options_;
  CodecContextPtr ctx_;
  PacketPtr packet_;
  FramePtr frame_;
  bool have_packet_ = false;  // packet_ holds one the codec has not taken yet
  bool receiving_ = false;    // the codec may hold frames
  bool input_ended_ = false;
  bool flushed_ = false;
  int empty_frames_ = 0;
  int packets_ = 0;
  std::int64_t audio_bytes_ = 0;
  int error_ = 0;
  int last_error_ = 0;
};

class AudioDecoder {
 public:
  explicit AudioDecoder(const AudioFormat& format) : format_(format), resampler_(format) {}

  // Opens the file and its best audio stream. `interrupt` (may be null) is
  // polled during blocking reads; non-zero aborts them. kIoError when the
  // file cannot be read, kUnsupported when it is not decodable audio.
  Status open(const std::string& path, int (*interrupt)(void*), void* opaque);
  // The same for a song read through `input`, which must outlive the
  // decoder. Failures of the input come back as its own Status (e.g.
  // kUnavailable when the server cannot be reached).
  Status open(ByteSource& input, int (*interrupt)(void*), void* opaque);
  // The length in output frames from the container's header; 0 when it
  // does not say. Only an estimate: headers may lie.
  std::uint64_t estimated_frames() const { return estimated_frames_; }

  // Appends at least min_frames frames of output to out unless the song
  // ends first, when it sets *ended (everything has then been handed out).
  // kUnsupported when decoding breaks off or nothing at all decodes.
  Status decode(std::vector<std::int16_t>& out, std::size_t min_frames, bool* ended);
  // Output frames handed out so far (or, after seek(), the frame sought).
  std::uint64_t frames() const { return frames_; }

  // After open(): positions the decoder so that the next decode() output
  // starts exactly at output frame `frame` (beyond the end: the next
  // decode() ends at once); frames() is `frame` afterwards.
  //
  // The container is asked for a position at or before the frame, the
  // codec and the resampler start afresh there, and what comes before the
  // frame (by the decoded frames' timestamps) is decoded and dropped: the
  // codec's pre-roll and the resampler's filter length, so that the frames
  // after it are those of a decode from the start. Exact (sample for
  // sample) for lossless codecs; for lossy ones the frames are at the
  // exact position, and their samples as close as the codec's state after
  // its pre-roll allows (tests/media/decoder_seek_test.cc measures it per
  // format). Without timestamps the container cannot seek by, or on an
  // input that cannot seek, the song is decoded from the start (forward
  // from where the decoder is, when it can) up to the frame.
  //
  // Failure: as decode(); kUnsupported also when a non-seekable input
  // would have to go back. The decoder must not be used after a failure.
  Status seek(std::uint64_t frame);

 private:
  Status open_input();
  Status failed(const char* what, int err) const;
  // Decodes and drops frames up to output frame `frame` (>= frames()).
  Status skip_to(std::uint64_t frame);
  // Reopens the input and skips to `frame`: a decode from the start.
  Status restart(std::uint64_t frame);
  // After a container seek that should have landed before input sample
  // `from_in` (output frame `from_out`): decodes from there and keeps the
  // output from `frame` on. False when the container landed after from_in.
  Result<bool> resume(std::int64_t from_in, std::uint64_t from_out, std::uint64_t frame);
  AVFormatContext* fmt() const;

  AudioFormat format_;
  std::string path_;             // when opened by path
  ByteSource* source_ = nullptr;  // when opened on a ByteSource
  int (*interrupt_)(void*) = nullptr;
  void* interrupt_opaque_ = nullptr;
  FormatPtr file_fmt_;  // opened by path
  AudioInput input_;    // opened on a ByteSource
  int index_ = -1;
  StreamDecoder stream_;
  Resampler resampler_;
  std::int64_t first_pts_ = 0;  // timestamp of output frame 0, in the stream's time base
  std::uint64_t estimated_frames_ = 0;
  std::uint64_t frames_ = 0;
  bool at_end_ = false;  // the demuxer has met the end of the input
  // Output from frames_ on, decoded by seek() and not handed out yet.
  std::vector<std::int16_t> pending_;
};

}  // namespace hifi::media
