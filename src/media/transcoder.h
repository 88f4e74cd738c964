// Transcoder: encodes a song's PCM (a PcmSource) into the bytes of another
// format, for clients that cannot take the stored file as it is. This is the
// seam the streaming work fills in; HiFi has no implementation yet.
//
// Contract for implementations:
//  - The output starts at request.offset_ms into the song (0: the start), is
//    a complete stream in the request's format (container headers first) and
//    ends where the song ends.
//  - read() is pull-based: it encodes only as much as it is asked for, so a
//    slow client throttles the encoder. It returns 0 bytes only at the end.
//  - Failure: kInvalidArgument for a request the encoder cannot honour (a
//    bitrate out of range), kUnsupported when the source fails, kInternal
//    when the encoder breaks; the transcoder is unusable afterwards.
//  - CPU-bound: run it on a worker thread, never on a network thread.
//
// Thread-safety: one thread at a time uses a transcoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "media/pcm_source.h"

namespace hifi::media {

enum class TranscodeFormat {
  kOpus,  // Opus in Ogg, "audio/ogg"
  kMp3,   // MPEG-1 Layer III, "audio/mpeg"
  kAac,   // AAC-LC in ADTS, "audio/aac"
  kRaw,   // the source's PCM as it is (s16le interleaved), no container
};

struct TranscodeRequest {
  TranscodeFormat format = TranscodeFormat::kOpus;
  int bitrate_kbps = 0;        // 0: the encoder's default; ignored for kRaw
  std::int64_t offset_ms = 0;  // where in the song the output starts
};

class Transcoder {
 public:
  virtual ~Transcoder() = default;

  // The MIME type of the output (see TranscodeFormat).
  virtual std::string content_type() const = 0;
  // Encodes on and copies up to `max` bytes of output into `out`; returns
  // how many (0: the output is complete).
  virtual Result<std::size_t> read(char* out, std::size_t max) = 0;
};

// How a transcoder is made: from the song's source (shared with nobody
// else while the transcoder reads it) and the request.
using TranscoderFactory = std::function<Result<std::unique_ptr<Transcoder>>(
    std::unique_ptr<PcmSource> source, const TranscodeRequest& request)>;

}  // namespace hifi::media
