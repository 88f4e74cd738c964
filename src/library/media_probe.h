// Media probing: proves that a file is decodable audio and reads what HiFi
// shows about it. Uses FFmpeg (open, find the audio stream, decode frames)
// for technical data and TagLib for tags and embedded cover art.
//
// Thread-safety: probe_media() is reentrant; call it from worker threads,
// never from a network thread (it reads the whole header and decodes audio).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace hifi {

struct MediaInfo {
  // Technical data (FFmpeg).
  std::string format;        // container short name, e.g. "mp3", "flac", "ogg", "wav", "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;         // e.g. "mp3", "flac", "vorbis", "opus", "pcm_s16le", "aac"
  std::string content_type;  // e.g. "audio/mpeg", "audio/flac", "audio/ogg", "audio/wav", "audio/mp4"
  std::int64_t duration_ms = 0;
  std::int64_t bitrate = 0;  // bits per second, 0 if unknown
  int sample_rate = 0;
  int channels = 0;

  // Tags (TagLib); empty / 0 when absent.
  std::string title;
  std::string artist;
  std::string album;
  std::string album_artist;
  std::string genre;
  int track = 0;
  int disc = 0;
  int year = 0;

  // Embedded front cover, if any.
  std::string cover_bytes;
  std::string cover_mime;
};

// kUnsupported with a message that says why (e.g. "no audio stream",
// "could not decode any audio frame: Invalid data found") when the file is
// not decodable audio; kIoError when it cannot be read.
Result<MediaInfo> probe_media(const std::string& path);

}  // namespace hifi
