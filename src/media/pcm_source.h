// PcmSource: a song as a stream of PCM frames, which is all the player needs
// of it. DecodedSong (decoded_song.h) holds the whole song in memory;
// StreamingSource (streaming_source.h) decodes a bounded window ahead of the
// read position.
//
// Contract:
//  - format() is fixed for the source's life: interleaved signed 16-bit
//    samples at format().sample_rate and format().channels.
//  - Frames are numbered from 0 at the song's start, in the output format.
//    The same input always gives the same frames, whatever seeks happened.
//  - read() copies up to `frames` frames from the read position into `out`
//    (frames * channels samples), advances the position by the count and
//    returns it. It never blocks on decoding: fewer frames than asked (or 0)
//    means they are not decoded yet, or the song ends there (see ended()).
//  - seek() moves the read position to any frame, beyond the end included
//    (reads there return 0). It never fails; a decoding failure shows in
//    status().
//  - ready(position, frames): true when `frames` frames from `position` can
//    be read now, or when the song ends before them (nothing more will come).
//  - length_frames(): the song's length once ended(); before that the
//    container's estimate (never below what is known to exist), 0 if unknown.
//  - ended(): decoding is over, successfully or not; status() says which.
//    After a failure the frames decoded until then stay readable.
//
// Thread-safety: one consumer thread calls read(), seek() and position();
// format(), ready(), length_frames(), ended() and status() may be called from
// any thread. Destroying the source stops its decoding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "media/audio_format.h"

namespace hifi::media {

class PcmSource {
 public:
  virtual ~PcmSource() = default;

  virtual const AudioFormat& format() const = 0;
  virtual std::size_t read(std::int16_t* out, std::size_t frames) = 0;
  virtual void seek(std::uint64_t frame) = 0;
  virtual std::uint64_t position() const = 0;
  virtual bool ready(std::uint64_t position, std::size_t frames) const = 0;
  virtual std::uint64_t length_frames() const = 0;
  virtual bool ended() const = 0;
  // OK, or why decoding failed (after ended()): kIoError when the input
  // cannot be read, kUnsupported when it is not decodable audio or decoding
  // broke off, kResourceExhausted when memory ran out.
  virtual Status status() const = 0;
};

}  // namespace hifi::media
