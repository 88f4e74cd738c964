// Lyrics kept in a song file's tags, as FFmpeg exposes them: "lyrics"
// (ID3 TXXX, Vorbis comments, MP4), "lyrics-<lang>" and
// "lyrics-<description>-<lang>" (ID3 USLT frames), "UNSYNCEDLYRICS"
// (Picard's Vorbis and APE tag). Keys match whatever their case.
//
// Text in LRC form ("[01:02.50] a line") is synced: each line with its
// start; anything else is a list of unsynced lines.
//
// Thread-safety: every function is reentrant. read_lyrics reads a file:
// call it from a worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hifi::media {

// Bounds on untrusted tag text: longer lyrics are cut, more lines dropped.
inline constexpr std::size_t kMaxLyricsBytes = 256 * 1024;
inline constexpr std::size_t kMaxLyricsLines = 5000;

struct LyricsLine {
  std::int64_t start_ms = -1;  // -1 for unsynced lines
  std::string text;
};

struct Lyrics {
  std::string lang;  // ISO 639-2 as the tag has it ("eng"), or "xxx" when not known
  bool synced = false;
  std::int64_t offset_ms = 0;  // LRC's [offset:+/-ms]
  std::vector<LyricsLine> lines;
};

// Splits lyrics text into lines; LRC text (every timed line starting with
// one or more [mm:ss], [mm:ss.xx] or [mm:ss.xxx] stamps) becomes synced
// lines in time order, its [ar:]/[ti:]-style header tags dropped.
Lyrics parse_lyrics(std::string_view text, std::string lang = "xxx");

// The lyrics tags of a local audio file, each parsed; empty when it has
// none. kInvalidArgument when the file is not audio FFmpeg can open.
Result<std::vector<Lyrics>> read_lyrics(const std::string& path);

}  // namespace hifi::media
