// Player: plays a room's audio in sync with every other listener.
//
// Two threads of its own, neither of them the network thread:
//  - the fetcher keeps the current and the next song downloaded (through
//    signed stream URLs, resuming with Range) and decoding (a PcmSource,
//    today media::DecodedSong);
//  - the audio thread writes fixed-size buffers to the AudioSink. For each
//    buffer it asks the sink when its first frame will be heard (local wall
//    clock), converts that to server time with the RoomClient's clock
//    offset, and takes the song's samples from exactly
//        position_ms + (server_time - position_at)
//    Small differences between where it is and where it should be are
//    corrected by repeating or dropping one frame per buffer; larger ones
//    (seek, skip, a clock correction) by jumping straight there, after
//    flushing what the sink still holds so the change is heard at once.
//
// --sync-log writes one line per buffer of song audio:
//    WALL_MS SONG_ID SAMPLE_INDEX SAMPLE_RATE
// (the local wall clock at which the buffer's first frame is heard, the
// song, and the index of that frame in the song at SAMPLE_RATE).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "client/api_client.h"
#include "client/audio_sink.h"
#include "client/room_client.h"
#include "common/status.h"
#include "media/pcm_source.h"

namespace hifi::client {

struct PlayerOptions {
  AudioFormat format;
  std::string sink = "default";
  std::string sync_log;           // path; empty: no log
  std::string cache_dir;          // where songs are downloaded; empty: a temp dir
  std::size_t buffer_frames = 480;  // 10 ms at 48 kHz
  double resync_threshold_ms = 20;  // larger errors jump, smaller ones are nudged
};

// What the player follows and where its songs come from: in `hifi listen`
// a RoomClient and the server's stream URLs; fakes in tests.
struct PlayerInputs {
  std::function<RoomView()> view;
  // server time ≈ local wall clock + offset; nullopt until measured.
  std::function<std::optional<double>()> clock_offset_ms;
  // A song, ready to read as it decodes; called on the fetcher thread for
  // the current and the next item until it succeeds.
  std::function<Result<std::shared_ptr<media::PcmSource>>(const std::string& song_id)> open_song;
};

struct PlayerStatus {
  std::string song_id;
  double position_ms = 0;
  double duration_ms = 0;
  bool playing = false;
  bool buffering = false;  // the song is not downloaded/decoded far enough yet
  std::string error;       // last download/decoding problem, if any
};

class Player {
 public:
  // Follows `room`, downloading songs through `api` into options.cache_dir.
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

  PlayerInputs inputs_;
  PlayerOptions options_;
  std::unique_ptr<AudioSink> sink_;
  std::FILE* sync_log_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread fetcher_;
  std::thread audio_;

  mutable std::mutex mu_;
  // Read (seek/read) by the audio thread only.
  std::map<std::string, std::shared_ptr<media::PcmSource>> songs_;
  PlayerStatus status_;
};

}  // namespace hifi::client
