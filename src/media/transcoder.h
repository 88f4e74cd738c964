// Transcoder: re-encodes a stored song into another format, for clients
// that cannot or should not take the stored file as it is (a phone on a
// mobile network, a browser without a FLAC decoder, a Subsonic app asking
// for MP3). In-process, with the FFmpeg libraries: decode (AudioDecoder),
// resample, encode, mux into memory.
//
// Contract:
//  - The output is a complete stream in the request's format (container
//    headers first) that starts at request.offset_ms into the song and ends
//    where the song ends; its duration matches the source's within one
//    frame of the codec. Opus in Ogg tells decoders to drop the encoder's
//    priming (pre-skip); a streamed MP3 (no LAME header: it would have to
//    be written after the end) and ADTS cannot, so their decoders play
//    about 1100 (MP3) or 1024 (AAC) samples of priming first.
//  - read() is pull-based: it encodes only as much as it is asked for, so a
//    slow client throttles the encoder and a client that goes away stops it
//    (destroy the transcoder). It returns 0 bytes only at the end.
//  - Failure: open_transcoder() gives kInvalidArgument for a request the
//    encoder cannot honour, kIoError when the file cannot be read and
//    kUnsupported when it is not decodable audio; read() gives kUnsupported
//    when decoding breaks off and kInternal when the encoder or muxer
//    breaks. A transcoder that failed is unusable afterwards.
//  - CPU-bound and blocking on file reads: run it on a worker thread, never
//    on a network thread. One encoder thread per transcode.
//
// Thread-safety: one thread at a time uses a transcoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi::media {

enum class TranscodeFormat {
  kOpus,  // Opus in Ogg, 48 kHz, "audio/ogg"
  kMp3,   // MPEG-1 Layer III (LAME), 44.1 kHz, "audio/mpeg"
  kAac,   // AAC-LC in ADTS, 44.1 kHz, "audio/aac"
  kFlac,  // FLAC, 48 kHz, 16 bits, "audio/flac": lossless pieces for players
};

// "opus", "mp3", "aac", "flac"; nullopt for any other name.
std::optional<TranscodeFormat> parse_transcode_format(std::string_view name);
const char* transcode_format_name(TranscodeFormat format);
// The MIME type of a format's output, and the file extension that goes with it.
const char* transcode_content_type(TranscodeFormat format);
const char* transcode_extension(TranscodeFormat format);

// The bitrates the lossy encoders are asked for, in kbit/s (FLAC has none).
inline constexpr int kMinTranscodeBitrate = 32;
inline constexpr int kMaxTranscodeBitrate = 320;
// What a request without a bitrate gets.
int default_transcode_bitrate(TranscodeFormat format);

struct TranscodeRequest {
  TranscodeFormat format = TranscodeFormat::kOpus;
  int bitrate_kbps = 0;        // 0: default_transcode_bitrate(format)
  std::int64_t offset_ms = 0;  // where in the song the output starts (>= 0)
  // How much of the song from the offset the output holds; 0: all of it.
  // Pieces cut this way from one song follow each other sample for sample:
  // decoding and resampling run on from before the offset, so a piece
  // starts exactly where the previous one ended (for FLAC, bit-exactly).
  std::int64_t duration_ms = 0;
};

class Transcoder {
 public:
  virtual ~Transcoder() = default;

  // The MIME type of the output (see TranscodeFormat).
  virtual std::string content_type() const = 0;
  // Encodes on until `max` bytes of output are ready (or the end), copies
  // them into `out` and returns how many (0: the output is complete). A
  // small first read gets the container headers and the first packets at
  // once; larger reads later keep the per-call overhead low.
  virtual Result<std::size_t> read(char* out, std::size_t max) = 0;
};

// Opens the audio file at `path` (a stored song: any format the server
// accepts) for transcoding. Positioning at request.offset_ms happens here.
Result<std::unique_ptr<Transcoder>> open_transcoder(const std::string& path,
                                                    const TranscodeRequest& request);

}  // namespace hifi::media
