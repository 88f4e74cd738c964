// Player: plays a room's audio in sync with every other listener.
//
// Two threads of its own, neither of them the network thread:
//  - the fetcher keeps a source open for the current and the next song (a
//    PcmSource: in `hifi listen` a media::StreamingSource that decodes the
//    server's stream as it arrives, a few seconds ahead of where playback
//    is, and seeks within it by fetching only around the new position), and
//    replaces a source that failed;
//  - the audio thread writes fixed-size buffers to the AudioSink. For each
//    buffer it asks the sink when its first frame will be heard (local wall
//    clock), converts that to server time with the RoomClient's clock
//    offset, and takes the song's samples from exactly
//        position_ms + (server_time - position_at)
//    When that position lies past the current item's end, it is the next
//    item's (the server advances exactly there, so the player runs on
//    without waiting for the news), and a buffer that straddles the end
//    holds the last frames of one song and the first of the next: gapless.
//    Small differences between where it is and where it should be (the
//    clock estimate moving, the sound card's clock drifting from the
//    system's) are corrected by playing a buffer one frame faster or slower,
//    resampled linearly across it (at most ±1 frame in 480: inaudible);
//    larger ones (a clock correction, a change heard of too late) by
//    jumping straight there, rewinding what the sink still holds.
//    Timed commands (a state whose position_at is still to come) take
//    effect at their exact sample: the view before them stays in effect
//    until then, the buffer that would straddle the change is cut short at
//    it, and the next buffer starts with the new state. A change heard of
//    after its instant was written to the sink (the command lead is shorter
//    than the sink's queue) rewinds the sink to that instant
//    (AudioSink::rewind), keeping the audio before it: it lands on its
//    sample all the same. When the new audio is not ready yet (a seek's
//    source still fetching), the old view plays on until it is, or until
//    the instant is too close to wait longer.
//
// --sync-log writes one line per buffer of song audio:
//    WALL_MS SONG_ID SAMPLE_INDEX SAMPLE_RATE FRAMES
// (the local wall clock at which the buffer's first frame is heard, the
// song, the index of that frame in the song at SAMPLE_RATE, and how many
// frames the buffer holds: fewer than usual when cut at a timed change).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "client/api_client.h"
#include "client/audio_sink.h"
#include "client/room_client.h"
#include "common/status.h"
#include "media/pcm_source.h"

namespace hifi::client {

// Which bytes of a song the player streams: the stored file, or the
// server's Opus transcode of it at 160 or 96 kbit/s (less to fetch, and
// decoded through the same path).
enum class StreamQuality { kOriginal, kHigh, kLow };

// The key of the source the player prepares for a timed jump within a song
// (to `song_id`'s position at server time `change_at`).
std::string pending_key(const std::string& song_id, std::int64_t change_at);

// "original", "high", "low" (what --quality takes); nullopt for others.
std::optional<StreamQuality> parse_stream_quality(const std::string& text);
// The stream request's query for a quality (after the signed URL's own):
// empty for the original, else "format=opus&bitrate=N".
std::string stream_query(StreamQuality quality);

struct PlayerOptions {
  AudioFormat format;
  std::string sink = "default";
  std::string sync_log;           // path; empty: no log
  StreamQuality quality = StreamQuality::kOriginal;
  std::size_t buffer_frames = 480;  // 10 ms at 48 kHz
  double resync_threshold_ms = 20;  // larger errors jump, smaller ones are nudged
};

// What the player follows and where its songs come from: in `hifi listen`
// a RoomClient and the server's stream URLs; fakes in tests.
struct PlayerInputs {
  std::function<RoomView()> view;
  // server time ≈ local wall clock + offset; nullopt until measured well
  // enough to place audio by (RoomClient::settled_clock_offset_ms()).
  std::function<std::optional<double>()> clock_offset_ms;
  // A song, ready to read as it decodes, starting at frame `from` (where
  // the room is in the current item; 0 for the next); called on the fetcher
  // thread for the current and the next item until it succeeds, and again
  // (at most once per kRetrySeconds) when its source ended with a failure.
  std::function<Result<std::shared_ptr<media::PcmSource>>(const std::string& song_id, std::uint64_t from)>
      open_song;
  // Told (on the audio thread, when it moves by 1 ms and once a second) how
  // soon after the player hears of a change it can be heard, in ms: the
  // sink's rewind latency and one buffer; optional. In `hifi listen` the
  // RoomClient, which reports the lead it needs to the server.
  std::function<void(double latency_ms)> change_latency_ms;
};

// What the room has current (playing or paused) and where it is.
struct PlayerStatus {
  std::string song_id;     // empty: nothing current
  double position_ms = 0;
  double duration_ms = 0;
  bool playing = false;    // false: paused (or nothing current)
  bool buffering = false;  // playing, but the song is not fetched/decoded far enough yet
  std::string error;       // last fetching/decoding problem, if any
};

class Player {
 public:
  // A failed song is opened again after this long.
  static constexpr double kRetrySeconds = 1.0;

  // Follows `room`, streaming songs through `api` (options.quality).
  Player(ApiClient& api, RoomClient& room, PlayerOptions options);
  Player(PlayerInputs inputs, PlayerOptions options);
  ~Player();

  // Opens the sink (options.sink); kUnavailable when there is no audio device.
  Status start();
  // Plays to `sink` instead (options.sink is not used).
  Status start(std::unique_ptr<AudioSink> sink);
  void stop();
  PlayerStatus status() const;
  std::string sink_description() const;

 private:
  struct Cursor {
    std::string item_id;
    std::string song_id;
    std::int64_t frame = 0;
    bool valid = false;
  };

  void fetch_loop();
  void audio_loop();
  std::shared_ptr<media::PcmSource> song(const std::string& song_id) const;
  // The source prepared for a timed jump within `song_id` (pending_key()), if any.
  std::shared_ptr<media::PcmSource> prepared(const std::string& song_id, std::int64_t change_at) const;

  PlayerInputs inputs_;
  PlayerOptions options_;
  std::unique_ptr<AudioSink> sink_;
  std::FILE* sync_log_ = nullptr;
  std::atomic<bool> stopping_{false};
  // The server time up to which the audio thread has written.
  std::atomic<double> entered_{-std::numeric_limits<double>::infinity()};
  std::thread fetcher_;
  std::thread audio_;

  mutable std::mutex mu_;
  // A timed jump within a song this far from where the song would be gets
  // a source of its own, prepared ahead (closer ones decode on).
  static constexpr double kNearJumpMs = 1000;

  // Read (seek/read) by the audio thread only. By song id, and by
  // pending_key() for a timed jump within a song still to come.
  std::map<std::string, std::shared_ptr<media::PcmSource>> songs_;
  // Prepared keys the audio thread has taken over (not to be opened again).
  std::set<std::string> taken_;
  // Fetcher thread only: when a song that failed may be opened again.
  std::map<std::string, std::chrono::steady_clock::time_point> retry_at_;
  PlayerStatus status_;
};

}  // namespace hifi::client
