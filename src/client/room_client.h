// RoomClient: a listener's live view of one room. Keeps a WebSocket to a
// server open (reconnecting with ?since=, and moving to the next known
// server when one dies), applies snapshot/state/presence messages in
// revision order, and keeps a ClockSync estimate of the server clock fresh
// with time requests over the same socket.
//
// It runs its own thread with its own io_context; accessors are
// thread-safe and cheap (they copy a small value under a lock).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/api_client.h"
#include "client/clock_sync.h"

namespace hifi::client {

struct RoomItem {
  std::string id;
  std::string song_id;
  std::int64_t duration_ms = 0;
};

struct RoomView {
  bool valid = false;       // a snapshot has been received
  bool deleted = false;     // the room is gone
  std::int64_t revision = 0;
  std::string name;
  std::vector<RoomItem> queue;
  std::string current;      // item id, empty when none
  bool playing = false;
  std::int64_t position_ms = 0;
  std::int64_t position_at = 0;
  std::string repeat = "off";
  // The first listeners by username (the server lists at most 50) and how
  // many there are in all.
  std::vector<std::string> listeners;  // usernames
  std::size_t listener_count = 0;
  std::string last_command;
  // A state whose position_at is still in the future when it arrives takes
  // effect then (a timed command, docs/protocol.md "Commands that land on
  // the same sample"); until then the view before it holds. Null for a
  // view that was never pending; kept until the next state replaces this one.
  std::shared_ptr<const RoomView> before;

  // The view in effect at server time `server_ms`: this one, or the one
  // before a change still to come.
  const RoomView& at(double server_ms) const;
  // The server time of the next change after `server_ms` this view knows
  // of; nullopt when none is pending.
  std::optional<double> next_change_after(double server_ms) const;

  const RoomItem* current_item() const;
  const RoomItem* next_item() const;
  // The item the room plays after `item` (the same one with repeat "one",
  // the first with repeat "all" after the last); null at the queue's end.
  const RoomItem* item_after(const RoomItem& item) const;
  // Position of the current item at server time `server_ms`.
  double position_at_time(double server_ms) const;
  // The item heard at server time `server_ms` and its position (ms): the
  // current one, or, once it has ended while playing, the one the server
  // will make current then (it advances exactly at the end), so that a
  // player runs on into it without waiting for the news. Null when nothing
  // plays, the queue has ended, or the position would be before the start
  // (a timed start still to come).
  const RoomItem* item_at_time(double server_ms, double* position_ms) const;
};

// Seek data (docs/protocol.md, "Seek data"): the bytes of a song that a
// player reads to open it and play from output frame `frame` at `rate` Hz,
// as the server planned them on its copy and sent with the news of a jump.
struct SeekData {
  std::string song_id;
  std::uint64_t frame = 0;
  int rate = 0;
  std::string etag;          // the song file's strong ETag, quoted
  std::string content_type;  // multipart/byteranges; boundary=...
  std::string body;
};

struct RoomClientOptions {
  // Time requests on each connection: `time_burst` of them
  // `time_burst_interval` apart for a quick first estimate, then one every
  // `time_interval`. (They keep the clock estimate fresh; a dead connection
  // is noticed by the read that fails, not by them.)
  // On a path whose round trips vary by more than `jittery_spread` (their
  // interquartile range), one every `time_interval_jittery`: each sample
  // is off by about that much, and the estimate averages them.
  // (The burst is quick: a player waits for ClockSync::settled() before
  // its first sample, which on a busy machine takes five exchanges.)
  int time_burst = 20;
  std::chrono::milliseconds time_burst_interval{10};
  std::chrono::milliseconds time_interval{500};
  std::chrono::milliseconds time_interval_jittery{100};
  double jittery_spread_ms = 10;
  // Reconnecting. When a connection that had been up for at least
  // `stable_after` ends, the next server in the list is tried at once.
  // Attempts that fail (or connections that end sooner) move on to the next
  // server too, and each time every server has failed in a row the client
  // waits first: `backoff_initial`, doubling up to `backoff_max`.
  std::chrono::milliseconds stable_after{1000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
};

class RoomClient {
 public:
  RoomClient(std::vector<std::string> servers, std::string token, std::string room_id,
             RoomClientOptions options = {});
  ~RoomClient();

  void start();
  void stop();

  // Replaces the servers to try (e.g. the cluster's members, learned anew
  // while listening). A working connection is kept; the next attempt goes
  // to the server after the current one in the new list, or to the first
  // when the current one is not in it. Thread-safe; ignored when empty.
  void set_servers(std::vector<std::string> servers);

  RoomView view() const;
  // server time ≈ local wall clock + offset; nullopt until measured.
  std::optional<double> clock_offset_ms() const;
  // The same, once the estimate is good enough to place audio by
  // (ClockSync::settled()); nullopt before. What the player follows.
  std::optional<double> settled_clock_offset_ms() const;
  bool connected() const { return connected_; }
  std::string server() const;
  // Human-readable status of the connection ("connected to …",
  // "connection lost: …; retrying").
  std::string status() const;
  // How soon after the player hears of a change it can be heard (ms: its
  // sink's rewind latency and a buffer). With it, time requests carry the
  // command leads this listener needs (that, half a slow round trip for the
  // news and a 10 ms margin; for a change whose audio it must fetch first,
  // a slow round trip and 50 ms more), so that the server times commands
  // for it to hear them at the right sample. Thread-safe.
  void set_change_latency_ms(double latency_ms);
  // Asks the server for seek data planned at output rate `rate` Hz (0: no
  // more), and reports the lead this listener needs when the data comes
  // with the news of a jump: its held lead and kSeekDataMs for the server
  // to plan, the bytes to arrive and the player to open them. A server that
  // sends no seek data times jumps by the fetch lead as before.
  // `behind_frames`: how far before the position the player's decoder
  // starts (StreamingSource::decoding_start).
  static constexpr double kSeekDataMs = 40;
  void set_seek_data_rate(int rate, std::uint64_t behind_frames);
  // The seek data last received for that song, frame and rate; null when
  // none came (a server that sends none, a jump it could not plan). The
  // last kKeptSeekData are kept, each for kSeekDataKeep.
  static constexpr std::size_t kKeptSeekData = 4;
  static constexpr std::chrono::seconds kSeekDataKeep{30};
  std::shared_ptr<const SeekData> seek_data(const std::string& song_id, std::uint64_t frame, int rate) const;
  // Messages the server may send, at most (seek data is the largest: a
  // plan's 2 MiB of bytes and its multipart framing).
  static constexpr std::size_t kMaxMessageBytes = 4 * 1024 * 1024;

  // Called (on the client's thread) after each change of view or connection.
  void set_on_change(std::function<void()> callback);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
};

}  // namespace hifi::client
