// Seek reads: the byte ranges of a song that AudioDecoder::seek(frame), and
// decoding a little past the frame, read from its input, found by running
// both on a copy of the song. The server runs them on its own copy (a fast
// disk) so that a player streaming the song over HTTP can fetch those bytes
// in one request: a seek's search through a container without an index
// (FLAC without a seek table, Ogg) otherwise costs a round trip per step.
//
// The ranges are what this build's decoder reads. A player built otherwise,
// or whose decoder's buffer happens to hold a step already, reads a little
// elsewhere; those reads fetch as before, so a plan can only save round
// trips, never change a sample.
//
// Thread-safety: reentrant. It decodes: never on a network thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/byteranges.h"
#include "common/status.h"
#include "media/audio_format.h"
#include "media/byte_source.h"

namespace hifi::media {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};

struct SeekReadsLimits {
  // Bytes planned at most, gaps closed included: reads past this are left
  // out (the first reads, the search's, matter most; the rest is fetched
  // as usual). The planning stops reading after twice this.
  std::uint64_t max_bytes = 2 * 1024 * 1024;
  // Reads closer than this are fetched as one range (the gap with them).
  std::uint64_t merge_gap = 4 * 1024;
  // Ranges at most.
  std::size_t max_ranges = 64;
};

// The ranges, sorted by offset and disjoint, that seek(frame) and decoding
// `follow_frames` frames after it read from `song`, decoded into `format`;
// with `with_open`, opening the song's reads too (for a player that opens
// the song to play from that frame), else not (a player that has the song
// open already). kUnsupported when the song does not decode;
// kInvalidArgument for a format that is not one.
Result<std::vector<ByteRange>> plan_seek_reads(ByteSource& song, const AudioFormat& format, std::uint64_t frame,
                                               std::uint64_t follow_frames, bool with_open = false,
                                               const SeekReadsLimits& limits = {});

// What the server sends for a seek: output decoded past the frame. A player
// starts decoding a second before the position it plays from (to keep a
// second behind it, as StreamingSource does), so two seconds leave it one to
// play before it needs more.
inline constexpr double kSeekFollowSeconds = 2.0;

// A seek's plan with its bytes, read from the song file at `path`: the
// ranges plan_seek_reads finds for `frame` at `rate` Hz (stereo), followed
// by kSeekFollowSeconds, each with the file's bytes there. `size` is the
// file's. Errors as plan_seek_reads, and the file's read errors.
struct PlannedSeek {
  std::vector<BytePart> parts;
  std::uint64_t size = 0;
};
Result<PlannedSeek> plan_seek_bytes(const std::string& path, std::uint64_t frame, int rate, bool with_open);

}  // namespace hifi::media
