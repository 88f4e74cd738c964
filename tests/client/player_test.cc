// The player's audio loop, driven through its seams: a scripted room (state
// and clock offset), songs whose every frame says which frame of which song
// it is, and a sink with a virtual clock that records what is heard when.
// Nothing here depends on the machine's speed: virtual time advances only
// as the player writes.
#include "client/player.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pulse/error.h>
#include <pulse/simple.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "support/eventually.h"

extern char** environ;

namespace hifi::client {
namespace {

constexpr AudioFormat kFormat{48000, 2};
constexpr double kFramesPerMs = 48.0;
constexpr std::int16_t kWrap = 30000;  // channel 0 of frame f is f % kWrap

// A song of `frames` frames: channel 0 counts frames (modulo kWrap),
// channel 1 is the song's mark.
class CountingSong final : public media::PcmSource {
 public:
  CountingSong(std::uint64_t frames, std::int16_t mark) : frames_(frames), mark_(mark) {}
  const AudioFormat& format() const override { return kFormat; }
  std::size_t read(std::int16_t* out, std::size_t frames) override {
    std::size_t n = 0;
    for (; n < frames && pos_ < frames_; ++n, ++pos_) {
      out[2 * n] = static_cast<std::int16_t>(pos_ % kWrap);
      out[2 * n + 1] = mark_;
    }
    return n;
  }
  void seek(std::uint64_t frame) override { pos_ = frame; }
  std::uint64_t position() const override { return pos_; }
  bool ready(std::uint64_t, std::size_t) const override { return true; }
  std::uint64_t length_frames() const override { return frames_; }
  bool ended() const override { return true; }
  Status status() const override { return Status::ok(); }

 private:
  std::uint64_t frames_;
  std::int16_t mark_;
  std::uint64_t pos_ = 0;
};

struct Heard {
  double at_ms;  // virtual local wall clock
  std::int16_t count;
  std::int16_t mark;
};

// A device with a virtual clock: it holds up to kQueuedMs of audio, and its
// clock ("now") advances only when a write overfills that, as a real device
// would have played the excess by the time write() returns. rewind() drops
// what is queued from kRewindMs after now on. Records every frame with when
// it is heard.
class VirtualSink final : public AudioSink {
 public:
  static constexpr double kQueuedMs = 100;
  static constexpr double kRewindMs = 10;

  explicit VirtualSink(double start_ms) : start_ms_(start_ms), now_ms_(start_ms) {}
  // A device whose sample clock runs `ppm` parts per million fast (or slow,
  // below 0) against the system clock; `first_frames_only` records only the
  // first frame of each write (long runs).
  VirtualSink(double start_ms, double ppm, bool first_frames_only)
      : start_ms_(start_ms), now_ms_(start_ms), frames_per_ms_(kFramesPerMs * (1 + ppm * 1e-6)),
        first_frames_only_(first_frames_only) {}

  const AudioFormat& format() const override { return kFormat; }
  std::string describe() const override { return "virtual"; }

  Status write(const std::int16_t* samples, std::size_t frames) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_ && (!wait_at_limit_ || now_ms_ < limit_ms_); });
    if (now_ms_ >= limit_ms_) {
      done_ = true;
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return Status::ok();
    }
    for (std::size_t i = 0; i < (first_frames_only_ ? std::min<std::size_t>(frames, 1) : frames); ++i) {
      heard_.push_back({end_ms() + i / frames_per_ms_, samples[2 * i], samples[2 * i + 1]});
    }
    end_frames_ += frames;
    now_ms_ = std::max(now_ms_.load(), end_ms() - kQueuedMs);
    return Status::ok();
  }

  double next_play_time_ms() override {
    std::lock_guard lock(mu_);
    return end_ms();
  }

  double latency_ms() override {
    std::lock_guard lock(mu_);
    return end_ms() - now_ms_;
  }

  double rewind_latency_ms() override { return kRewindMs; }

  void rewind(double wall_ms) override {
    std::lock_guard lock(mu_);
    const double from = std::max(wall_ms, now_ms_ + kRewindMs);
    const auto keep = static_cast<std::int64_t>(std::ceil((from - start_ms_) * frames_per_ms_ - 1e-6));
    if (keep >= end_frames_) return;
    const double cut = start_ms_ + static_cast<double>(keep) / frames_per_ms_;
    while (!heard_.empty() && heard_.back().at_ms >= cut - 1e-6) heard_.pop_back();
    end_frames_ = keep;
    ++rewinds_;
  }

  // Lets writes through (they wait until then), up to virtual time `limit`;
  // past it they are dropped, or with `wait_at_limit` wait for the next
  // open().
  void open(double limit_ms, bool wait_at_limit = false) {
    std::lock_guard lock(mu_);
    limit_ms_ = limit_ms;
    open_ = true;
    wait_at_limit_ = wait_at_limit;
    done_ = false;
    cv_.notify_all();
  }
  bool done() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  double now_ms() const { return now_ms_; }
  std::vector<Heard> heard() const {
    std::lock_guard lock(mu_);
    return heard_;
  }
  // Rewinds that dropped queued audio.
  int rewinds() const {
    std::lock_guard lock(mu_);
    return rewinds_;
  }

 private:
  double end_ms() const { return start_ms_ + static_cast<double>(end_frames_) / frames_per_ms_; }

  const double start_ms_;
  std::atomic<double> now_ms_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  bool wait_at_limit_ = false;
  bool done_ = false;
  double limit_ms_ = 0;
  std::int64_t end_frames_ = 0;
  std::vector<Heard> heard_;
  int rewinds_ = 0;
  const double frames_per_ms_ = kFramesPerMs;
  const bool first_frames_only_ = false;
};

// A room's state from one moment of virtual (local) time on.
struct Step {
  double from_ms;  // since the start, local time
  std::string current;
  bool playing;
  std::int64_t position_ms;
};

constexpr double kStart = 1.7e12 + 0.25;  // virtual local wall clock at the start
constexpr double kOffset = 2500.4;        // server time = local time + kOffset
constexpr std::int64_t kSongMs = 60000;

RoomView view_at(const std::vector<Step>& script, double local_ms) {
  RoomView v;
  v.valid = true;
  v.queue = {{"i1", "songA", kSongMs}, {"i2", "songB", kSongMs}};
  const Step* step = &script.front();
  for (const auto& s : script) {
    if (local_ms >= kStart + s.from_ms) step = &s;
  }
  v.current = step->current;
  v.playing = step->playing;
  v.position_ms = step->position_ms;
  // The server's time of the change (whole ms, as the server sends them).
  v.position_at = static_cast<std::int64_t>(std::floor(kStart + step->from_ms + kOffset));
  return v;
}

// open_song for tests that need just some song: every one counts frames
// with mark 1.
Result<std::shared_ptr<media::PcmSource>> any_song(const std::string&, std::uint64_t) {
  return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kSongMs * 48, 1));
}

// A player on the seams, in the tests' format, started on `sink`.
// The server time (whole ms, as the server sends them) of local time
// `local_from_start` after kStart.
std::int64_t server_ms_at(double local_from_start) {
  return static_cast<std::int64_t>(std::floor(kStart + local_from_start + kOffset));
}

// Song A (item i1) alone in the queue, playing or paused at `position_ms`
// from local time `at_local` (after kStart) on.
RoomView song_a_view(bool playing, std::int64_t position_ms, double at_local) {
  RoomView v;
  v.valid = true;
  v.queue = {{"i1", "songA", kSongMs}};
  v.current = "i1";
  v.playing = playing;
  v.position_ms = position_ms;
  v.position_at = server_ms_at(at_local);
  return v;
}

// `v`, still to come: `before` holds until its position_at.
RoomView pending_after(RoomView v, const RoomView& before) {
  v.before = std::make_shared<const RoomView>(before);
  return v;
}

// Song A plays from the start; a pause, a play and a seek to 0:30 follow,
// each heard of at local time news[k] and taking effect at at[k] (ms after
// kStart; news[k] <= at[k] < news[k + 1]). The view at local time t.
std::function<RoomView(double t)> pause_play_seek(std::array<double, 3> news, std::array<double, 3> at) {
  const RoomView played = song_a_view(true, 0, 0);
  const std::int64_t paused_at = server_ms_at(at[0]) - server_ms_at(0);
  const RoomView paused = song_a_view(false, paused_at, at[0]);
  const RoomView resumed = song_a_view(true, paused_at, at[1]);
  const RoomView sought = song_a_view(true, 30000, at[2]);
  return [=](double t) {
    if (t < news[0]) return played;
    if (t < at[0]) return pending_after(paused, played);
    if (t < news[1]) return paused;
    if (t < at[1]) return pending_after(resumed, paused);
    if (t < news[2]) return resumed;
    if (t < at[2]) return pending_after(sought, resumed);
    return sought;
  };
}

std::unique_ptr<Player> start_player(PlayerInputs inputs, std::unique_ptr<AudioSink> sink) {
  PlayerOptions options;
  options.format = kFormat;
  auto player = std::make_unique<Player>(std::move(inputs), options);
  EXPECT_TRUE(player->start(std::move(sink)));
  return player;
}

TEST(PlayerTest, PlaysTheRightSamplesAtTheRightTimesAndFollowsSeekPauseAndSkip) {
  const std::vector<Step> script = {
      {0, "i1", true, 0},          // play A from the start
      {1000, "i1", true, 20000},   // seek to 0:20
      {2000, "i1", false, 21000},  // pause
      {2500, "i1", true, 21000},   // play on
      {3000, "i2", true, 0},       // skip to B
  };
  constexpr double kEnd = 4000;

  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  std::mutex opened_mu;
  std::set<std::string> opened;
  PlayerInputs inputs;
  inputs.view = [&] { return view_at(script, sink->now_ms()); };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  inputs.open_song = [&](const std::string& id, std::uint64_t) -> Result<std::shared_ptr<media::PcmSource>> {
    std::lock_guard lock(opened_mu);
    opened.insert(id);
    return std::shared_ptr<media::PcmSource>(
        std::make_shared<CountingSong>(kSongMs * 48, id == "songA" ? 1 : 2));
  };
  PlayerOptions options;
  options.format = kFormat;
  Player player(inputs, options);
  ASSERT_TRUE(player.start(std::move(sink_owner)));
  // The fetcher opens the current song, then the next: once it asks for the
  // next, the current one is in place. Then virtual time may run.
  if (!testing::eventually([&] {
        std::lock_guard lock(opened_mu);
        return opened.count("songB") == 1;
      })) {
    sink->open(0);  // let the player's thread go
    FAIL() << "the player never asked for the songs";
  }
  sink->open(kStart + kEnd);
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  const int rewinds = sink->rewinds();
  player.stop();

  // What each instant should carry: for times within 20 ms after a change
  // (two buffers: the change is noticed at a buffer's start), either the old
  // or the new state is fine; after that only the new one.
  struct Want {
    bool silent = false;
    std::int16_t mark = 0;
    std::int64_t frame = 0;
  };
  auto want_at = [&](const Step& s, double t) {
    Want w;
    if (!s.playing) {
      w.silent = true;
      return w;
    }
    w.mark = s.current == "i1" ? 1 : 2;
    const double server_t = t + kOffset;
    const double position_at = std::floor(kStart + s.from_ms + kOffset);
    w.frame = std::llround((static_cast<double>(s.position_ms) + server_t - position_at) * kFramesPerMs);
    return w;
  };
  auto matches = [](const Want& w, const Heard& h) {
    if (w.silent) return h.count == 0 && h.mark == 0;
    if (h.mark != w.mark) return false;
    int diff = (h.count - static_cast<int>(w.frame % kWrap)) % kWrap;
    if (diff > kWrap / 2) diff -= kWrap;
    if (diff < -kWrap / 2) diff += kWrap;
    return std::abs(diff) <= 2;  // the player nudges by a frame per buffer
  };

  std::size_t checked = 0, failures = 0, silent = 0, by_step[5] = {0, 0, 0, 0, 0};
  for (const auto& h : heard) {
    const double t = h.at_ms - kStart;
    if (t < 20 || t >= kEnd) continue;  // the first buffer may be silence: the song was not ready
    std::size_t k = 0;
    while (k + 1 < script.size() && t >= script[k + 1].from_ms) ++k;
    const bool settled = t >= script[k].from_ms + 20;
    const bool ok = matches(want_at(script[k], h.at_ms), h) ||
                    (!settled && k > 0 && matches(want_at(script[k - 1], h.at_ms), h));
    if (!ok) {
      const auto w = want_at(script[k], h.at_ms);
      ADD_FAILURE() << "at " << t << " ms heard count " << h.count << " mark " << h.mark << ", want "
                    << (w.silent ? std::string("silence")
                                 : "frame " + std::to_string(w.frame) + " (count " +
                                       std::to_string(w.frame % kWrap) + ") of mark " + std::to_string(w.mark));
      if (++failures > 20) break;  // enough said
      continue;
    }
    ++checked;
    ++by_step[k];
    if (h.count == 0 && h.mark == 0) ++silent;
  }
  // Nearly every frame of the 4 s was heard exactly once and checked.
  EXPECT_GT(checked, static_cast<std::size_t>((kEnd - 200) * kFramesPerMs));
  for (std::size_t k = 0; k < script.size(); ++k) {
    EXPECT_GT(by_step[k], static_cast<std::size_t>(400 * kFramesPerMs)) << "step " << k;
  }
  // The pause was heard as silence, promptly.
  EXPECT_GE(silent, static_cast<std::size_t>(480 * kFramesPerMs));
  // Seek, pause and skip each rewrote what the device still held.
  EXPECT_GE(rewinds, 3);
  // Time never runs backwards in what is heard: no frame is heard twice.
  for (std::size_t i = 1; i < heard.size(); ++i) {
    ASSERT_LT(heard[i - 1].at_ms, heard[i].at_ms) << "frame " << i;
  }
}

// Gapless: a one-second song, then another. The room's news that the
// second one is current arrives 150 ms after the first has ended (as it
// would from the server); the player has not waited for it: the first
// sample of the second song is heard right after the last sample of the
// first, with nothing rewound, nothing repeated and no silence between.
TEST(PlayerTest, TheNextSongFollowsTheLastSampleOfTheOneBefore) {
  constexpr std::int64_t kAMs = 1000, kBMs = 2000;
  constexpr double kNewsLateMs = 150;
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  const auto started_at = static_cast<std::int64_t>(std::floor(kStart + kOffset));  // server time
  std::atomic<bool> asked{false};
  PlayerInputs inputs;
  inputs.view = [&] {
    RoomView v;
    v.valid = true;
    v.queue = {{"i1", "songA", kAMs}, {"i2", "songB", kBMs}};
    v.playing = true;
    const bool moved_on = sink->now_ms() >= kStart + kAMs + kNewsLateMs;
    v.current = moved_on ? "i2" : "i1";
    v.position_ms = 0;
    v.position_at = moved_on ? started_at + kAMs : started_at;
    return v;
  };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  inputs.open_song = [&](const std::string& id, std::uint64_t) -> Result<std::shared_ptr<media::PcmSource>> {
    if (id == "songB") asked = true;
    return std::shared_ptr<media::PcmSource>(
        std::make_shared<CountingSong>((id == "songA" ? kAMs : kBMs) * 48, id == "songA" ? 1 : 2));
  };
  PlayerOptions options;
  options.format = kFormat;
  Player player(inputs, options);
  ASSERT_TRUE(player.start(std::move(sink_owner)));
  const bool fetched = testing::eventually([&] { return asked.load(); });
  sink->open(fetched ? kStart + 1800 : 0);
  ASSERT_TRUE(fetched) << "the player never asked for the songs";
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  const int rewinds = sink->rewinds();
  player.stop();

  std::size_t last_a = heard.size();
  for (std::size_t i = 0; i < heard.size(); ++i) {
    if (heard[i].mark == 1 && heard[i].count == (kAMs * 48 - 1) % kWrap) last_a = i;
  }
  if (last_a + 1 >= heard.size()) {
    for (std::size_t i = 1; i < heard.size(); ++i) {
      if (heard[i].mark != heard[i - 1].mark || heard[i].count != (heard[i - 1].count + 1) % kWrap) {
        std::printf("at %.3f ms: mark %d count %d -> mark %d count %d\n", heard[i].at_ms - kStart, heard[i - 1].mark,
                    heard[i - 1].count, heard[i].mark, heard[i].count);
      }
    }
  }
  ASSERT_LT(last_a + 1, heard.size()) << "the end of the first song was never heard";
  const auto& after = heard[last_a + 1];
  EXPECT_EQ(after.mark, 2);
  EXPECT_EQ(after.count, 0);
  EXPECT_NEAR(after.at_ms - heard[last_a].at_ms, 1 / kFramesPerMs, 1e-3);  // doubles near 1.7e12 ms
  // The boundary is where the room puts it: at the first song's length.
  EXPECT_NEAR(after.at_ms + kOffset - static_cast<double>(started_at), kAMs, 0.05);
  // At most the start rewound; the second song runs on, frame after frame.
  EXPECT_LE(rewinds, 1);
  for (std::size_t i = last_a + 2; i < heard.size(); ++i) {
    ASSERT_EQ(heard[i].mark, 2) << "frame " << i;
    ASSERT_EQ(heard[i].count, (heard[i - 1].count + 1) % kWrap) << "frame " << i;
  }
}

// Timed commands: each change arrives 200 ms before it takes effect (more
// than the 100 ms the device holds), with the view before it still in
// effect until then. Pause, play and seek are each heard at exactly their
// sample, and nothing is rewound for them.
TEST(PlayerTest, TimedChangesLandOnTheirSampleWithoutAFlush) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  // Server times of the changes, whole ms as the server sends them.
  // play from 0 at 0; pause at 700 (news at 500); play at 1200 (news at
  // 1000); seek to 0:30 at 1700 (news at 1500).
  const std::int64_t paused_at = server_ms_at(700) - server_ms_at(0);
  const auto script = pause_play_seek({500, 1000, 1500}, {700, 1200, 1700});
  std::atomic<bool> asked{false};
  PlayerInputs inputs;
  inputs.view = [&] { return script(sink->now_ms() - kStart); };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  inputs.open_song = [&](const std::string&, std::uint64_t) -> Result<std::shared_ptr<media::PcmSource>> {
    asked = true;
    return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kSongMs * 48, 1));
  };
  std::vector<double> latencies;
  std::mutex latencies_mu;
  inputs.change_latency_ms = [&](double ms) {
    std::lock_guard lock(latencies_mu);
    latencies.push_back(ms);
  };
  PlayerOptions options;
  options.format = kFormat;
  Player player(inputs, options);
  ASSERT_TRUE(player.start(std::move(sink_owner)));
  const bool fetched = testing::eventually([&] { return asked.load(); });
  sink->open(fetched ? kStart + 2200 : 0);
  ASSERT_TRUE(fetched) << "the player never asked for the song";
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  const int rewinds = sink->rewinds();
  player.stop();

  // The server time at which each heard frame is heard, relative to the
  // room's start (server_ms_at(0)).
  auto room_ms = [&](const Heard& h) { return h.at_ms + kOffset - static_cast<double>(server_ms_at(0)); };
  const double frame_ms = 1 / kFramesPerMs;
  double last_before_pause = -1, first_after_play = -1, first_after_seek = -1;
  std::int16_t count_at_pause = -1, count_at_play = -1, count_at_seek = -1;
  for (std::size_t i = 1; i < heard.size(); ++i) {
    const auto& a = heard[i - 1];
    const auto& b = heard[i];
    const bool a_sound = a.mark != 0, b_sound = b.mark != 0;
    if (a_sound && !b_sound && last_before_pause < 0) {
      last_before_pause = room_ms(a);
      count_at_pause = a.count;
    } else if (!a_sound && b_sound && last_before_pause >= 0 && first_after_play < 0) {
      first_after_play = room_ms(b);
      count_at_play = b.count;
    } else if (a_sound && b_sound && first_after_play >= 0 && first_after_seek < 0 &&
               b.count != (a.count + 1) % kWrap) {
      first_after_seek = room_ms(b);
      count_at_seek = b.count;
    }
  }
  const double pause_ms = static_cast<double>(server_ms_at(700) - server_ms_at(0));
  const double play_ms = static_cast<double>(server_ms_at(1200) - server_ms_at(0));
  const double seek_ms = static_cast<double>(server_ms_at(1700) - server_ms_at(0));
  // The last frame before the pause is heard one frame before the pause's
  // time, and carries the frame the room pauses at (less one).
  EXPECT_NEAR(last_before_pause, pause_ms - frame_ms, frame_ms) << "pause";
  EXPECT_NEAR(count_at_pause, static_cast<double>((paused_at * 48 - 1) % kWrap), 2);
  EXPECT_NEAR(first_after_play, play_ms, frame_ms) << "play";
  EXPECT_NEAR(count_at_play, static_cast<double>(paused_at * 48 % kWrap), 2);
  EXPECT_NEAR(first_after_seek, seek_ms, frame_ms) << "seek";
  EXPECT_NEAR(count_at_seek, static_cast<double>(30000 * 48 % kWrap), 2);
  EXPECT_LE(rewinds, 1) << "at most the silence written before the song was ready";

  std::lock_guard lock(latencies_mu);
  ASSERT_FALSE(latencies.empty()) << "the change latency was never reported";
  EXPECT_NEAR(latencies.back(), VirtualSink::kRewindMs + 10, 1) << "the device's rewind latency, and a buffer";
}

// A source that is ready only once `ready()` says so (a seek's audio still
// being fetched).
class GatedSong final : public media::PcmSource {
 public:
  GatedSong(std::shared_ptr<media::PcmSource> inner, std::function<bool()> ready)
      : inner_(std::move(inner)), ready_(std::move(ready)) {}
  const AudioFormat& format() const override { return inner_->format(); }
  std::size_t read(std::int16_t* out, std::size_t frames) override { return inner_->read(out, frames); }
  void seek(std::uint64_t frame) override { inner_->seek(frame); }
  std::uint64_t position() const override { return inner_->position(); }
  bool ready(std::uint64_t frame, std::size_t frames) const override {
    return ready_() && inner_->ready(frame, frames);
  }
  std::uint64_t length_frames() const override { return inner_->length_frames(); }
  bool ended() const override { return inner_->ended(); }
  Status status() const override { return inner_->status(); }

 private:
  std::shared_ptr<media::PcmSource> inner_;
  std::function<bool()> ready_;
};

// A source that, like a streaming one, throws away what it has decoded when
// told to go far (over a second) from where it is: it is not ready again
// until 200 ms of the sink's time later.
class ForgetfulSong final : public media::PcmSource {
 public:
  ForgetfulSong(std::shared_ptr<media::PcmSource> inner, std::function<double()> now)
      : inner_(std::move(inner)), now_(std::move(now)) {}
  const AudioFormat& format() const override { return inner_->format(); }
  std::size_t read(std::int16_t* out, std::size_t frames) override { return inner_->read(out, frames); }
  void seek(std::uint64_t frame) override {
    const auto from = inner_->position();
    if ((frame > from ? frame - from : from - frame) > 48000) ready_at_ = now_() + 200;
    inner_->seek(frame);
  }
  std::uint64_t position() const override { return inner_->position(); }
  bool ready(std::uint64_t frame, std::size_t frames) const override {
    return now_() >= ready_at_ && inner_->ready(frame, frames);
  }
  std::uint64_t length_frames() const override { return inner_->length_frames(); }
  bool ended() const override { return inner_->ended(); }
  Status status() const override { return inner_->status(); }

 private:
  std::shared_ptr<media::PcmSource> inner_;
  std::function<double()> now_;
  double ready_at_ = 0;
};

// The news of each change arrives when the device already holds audio for
// its instant (a command lead shorter than the device's queue): 50 ms
// ahead for a pause, 40 ms for a play, 80 ms for a seek far within the
// song, whose source (mark 3) is ready only 40 ms after the news. The
// player rewinds the device to each instant: what comes before it is
// heard untouched (no gap), the change lands on its sample, and the old
// position plays on until the seek's audio is ready (without moving the
// song's own source, which would throw its decoded audio away).
TEST(PlayerTest, AChangeHeardOfInsideTheQueueLandsOnItsSampleWithNoGap) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  const std::int64_t paused_at = server_ms_at(550) - server_ms_at(0);
  const auto script = pause_play_seek({500, 1000, 1500}, {550, 1040, 1580});
  PlayerInputs inputs;
  inputs.view = [&] { return script(sink->now_ms() - kStart); };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  std::mutex mu;
  std::vector<std::uint64_t> opened_from;
  inputs.open_song = [&](const std::string&, std::uint64_t from) -> Result<std::shared_ptr<media::PcmSource>> {
    {
      std::lock_guard lock(mu);
      opened_from.push_back(from);
    }
    if (from != 30000u * 48) {
      return std::shared_ptr<media::PcmSource>(std::make_shared<ForgetfulSong>(
          std::make_shared<CountingSong>(kSongMs * 48, 1), [sink] { return sink->now_ms(); }));
    }
    return std::shared_ptr<media::PcmSource>(std::make_shared<GatedSong>(
        std::make_shared<CountingSong>(kSongMs * 48, 3), [sink] { return sink->now_ms() >= kStart + 1540; }));
  };
  auto opened = [&](std::uint64_t from) {
    std::lock_guard lock(mu);
    return std::find(opened_from.begin(), opened_from.end(), from) != opened_from.end();
  };
  auto player = start_player(std::move(inputs), std::move(sink_owner));
  // Virtual time runs to the seek's news, then waits there until the
  // fetcher has opened the seek's source (it runs in real time).
  const bool fetched = testing::eventually([&] {
    std::lock_guard lock(mu);
    return !opened_from.empty();
  });
  sink->open(fetched ? kStart + 1500 : 0, /*wait_at_limit=*/fetched);
  ASSERT_TRUE(fetched) << "the player never asked for the song";
  const bool prepared = testing::eventually([&] { return opened(30000u * 48); });
  sink->open(kStart + 2200);
  ASSERT_TRUE(prepared) << "no source was opened at the seek's position";
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  const int rewinds = sink->rewinds();
  player->stop();

  auto room_ms = [&](const Heard& h) { return h.at_ms + kOffset - static_cast<double>(server_ms_at(0)); };
  const double frame_ms = 1 / kFramesPerMs;
  // Each frame is heard once, one frame after the one before.
  for (std::size_t i = 1; i < heard.size(); ++i) {
    ASSERT_NEAR(heard[i].at_ms - heard[i - 1].at_ms, frame_ms, 1e-3) << "frame " << i;
  }
  std::size_t pause = 0, play = 0, seek = 0;
  for (std::size_t i = 1; i < heard.size(); ++i) {
    const auto& a = heard[i - 1];
    const auto& b = heard[i];
    if (a.mark == 1 && b.mark == 0 && pause == 0) pause = i;
    if (a.mark == 0 && b.mark == 1 && pause != 0 && play == 0) play = i;
    if (a.mark == 1 && b.mark == 3 && seek == 0) seek = i;
  }
  ASSERT_NE(pause, 0u) << "the pause was never heard";
  ASSERT_NE(play, 0u) << "the play was never heard";
  ASSERT_NE(seek, 0u) << "the seek was never heard";
  // Sound without a break from the first frame of the song to the pause.
  std::size_t first_sound = 0;
  while (first_sound < heard.size() && heard[first_sound].mark == 0) ++first_sound;
  for (std::size_t i = first_sound + 1; i < pause; ++i) {
    ASSERT_EQ(heard[i].mark, 1) << "frame " << i;
    ASSERT_EQ(heard[i].count, (heard[i - 1].count + 1) % kWrap) << "frame " << i;
  }
  EXPECT_NEAR(room_ms(heard[pause]), static_cast<double>(server_ms_at(550) - server_ms_at(0)), frame_ms) << "pause";
  EXPECT_NEAR(heard[pause - 1].count, static_cast<double>((paused_at * 48 - 1) % kWrap), 2);
  EXPECT_NEAR(room_ms(heard[play]), static_cast<double>(server_ms_at(1040) - server_ms_at(0)), frame_ms) << "play";
  EXPECT_NEAR(heard[play].count, static_cast<double>(paused_at * 48 % kWrap), 2);
  // The old position played on, unbroken, while the seek's audio was
  // fetched, up to the seek's instant.
  for (std::size_t i = play + 1; i < seek; ++i) {
    ASSERT_EQ(heard[i].mark, 1) << "frame " << i;
    ASSERT_EQ(heard[i].count, (heard[i - 1].count + 1) % kWrap) << "frame " << i;
  }
  EXPECT_NEAR(room_ms(heard[seek]), static_cast<double>(server_ms_at(1580) - server_ms_at(0)), frame_ms) << "seek";
  EXPECT_EQ(heard[seek].count, 30000 * 48 % kWrap);
  for (std::size_t i = seek; i < heard.size(); ++i) ASSERT_EQ(heard[i].mark, 3) << "frame " << i;
  // Each change rewrote audio the device already held.
  EXPECT_GE(rewinds, 3);
}

// A skip heard of shortly before it lands: the next song starts at the
// skip's sample from the source the player opened ahead for it (decoding
// from its first frame for a while), not from a source opened at the news,
// which would not be ready in time (here: never).
TEST(PlayerTest, ASkipPlaysTheNextSongFromTheSourceOpenedAhead) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  RoomView played;
  played.valid = true;
  played.queue = {{"i1", "songA", kSongMs}, {"i2", "songB", kSongMs}};
  played.current = "i1";
  played.playing = true;
  played.position_at = server_ms_at(0);
  RoomView skipped = played;
  skipped.current = "i2";
  skipped.position_at = server_ms_at(800);
  std::atomic<int> views_after_news{0};
  PlayerInputs inputs;
  inputs.view = [&] {
    const double t = sink->now_ms() - kStart;
    if (t < 600) return played;
    ++views_after_news;
    return t < 800 ? pending_after(skipped, played) : skipped;
  };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  std::mutex mu;
  int b_opened = 0;
  inputs.open_song = [&](const std::string& id, std::uint64_t) -> Result<std::shared_ptr<media::PcmSource>> {
    std::lock_guard lock(mu);
    if (id == "songA") return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kSongMs * 48, 1));
    if (b_opened++ == 0) return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kSongMs * 48, 2));
    return std::shared_ptr<media::PcmSource>(
        std::make_shared<GatedSong>(std::make_shared<CountingSong>(kSongMs * 48, 4), [] { return false; }));
  };
  auto player = start_player(std::move(inputs), std::move(sink_owner));
  const bool ahead = testing::eventually([&] {
    std::lock_guard lock(mu);
    return b_opened > 0;
  });
  // Virtual time runs to the news and waits there while the fetcher (in
  // real time) looks at the pending skip a few times.
  sink->open(ahead ? kStart + 600 : 0, /*wait_at_limit=*/ahead);
  ASSERT_TRUE(ahead) << "the next song was never opened";
  ASSERT_TRUE(testing::eventually([&] { return views_after_news >= 5; }));
  sink->open(kStart + 1200);
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  player->stop();
  std::size_t first_b = heard.size();
  for (std::size_t i = 0; i < heard.size(); ++i) {
    ASSERT_NE(heard[i].mark, 4) << "a source opened at the news was played";
    if (heard[i].mark == 2 && first_b == heard.size()) first_b = i;
  }
  ASSERT_LT(first_b, heard.size()) << "the next song was never heard";
  ASSERT_GT(first_b, 0u);
  EXPECT_NEAR(heard[first_b].at_ms + kOffset - static_cast<double>(server_ms_at(0)),
              static_cast<double>(server_ms_at(800) - server_ms_at(0)), 1 / kFramesPerMs);
  EXPECT_EQ(heard[first_b].count, 0);
  EXPECT_EQ(heard[first_b - 1].mark, 1) << "song A played up to the skip";
}

// A sound card whose clock runs 200 ppm fast or slow against the system
// clock: over ten minutes it plays 5,760 frames more (or fewer) than the
// room's timeline has. The player follows the device's own reports of when
// a frame is heard and takes the difference up a frame at a time,
// resampled, so every buffer starts within a frame or two of the room's
// timeline from start to end, and nothing is rewound.
// A timed seek far within the song playing: the player opens a source at
// the new position while the old one still plays, and takes it over at the
// change (mark 3: the prepared source), on the change's sample.
TEST(PlayerTest, ATimedSeekIsPreparedInASourceOfItsOwn) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  RoomView played;
  played.valid = true;
  played.queue = {{"i1", "songA", kSongMs}};
  played.current = "i1";
  played.playing = true;
  played.position_at = server_ms_at(0);
  RoomView sought = played;
  sought.position_ms = 40000;
  sought.position_at = server_ms_at(600);
  sought.before = std::make_shared<const RoomView>(played);
  std::mutex mu;
  std::vector<std::uint64_t> opened_from;
  PlayerInputs inputs;
  inputs.view = [&] { return sought; };  // the seek is known from the start
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  inputs.open_song = [&](const std::string&, std::uint64_t from) -> Result<std::shared_ptr<media::PcmSource>> {
    std::lock_guard lock(mu);
    opened_from.push_back(from);
    return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kSongMs * 48, from == 40000u * 48 ? 3 : 1));
  };
  PlayerOptions options;
  options.format = kFormat;
  Player player(inputs, options);
  ASSERT_TRUE(player.start(std::move(sink_owner)));
  const bool prepared = testing::eventually([&] {
    std::lock_guard lock(mu);
    return std::find(opened_from.begin(), opened_from.end(), 40000u * 48) != opened_from.end();
  });
  sink->open(prepared ? kStart + 1000 : 0);
  ASSERT_TRUE(prepared) << "no source was opened at the seek's position";
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  player.stop();
  const double seek_ms = static_cast<double>(server_ms_at(600) - server_ms_at(0));
  std::size_t first_new = heard.size();
  for (std::size_t i = 0; i < heard.size(); ++i) {
    if (heard[i].mark == 3) {
      first_new = i;
      break;
    }
  }
  ASSERT_LT(first_new, heard.size()) << "the prepared source was never played";
  EXPECT_NEAR(heard[first_new].at_ms + kOffset - static_cast<double>(server_ms_at(0)), seek_ms, 1 / kFramesPerMs);
  EXPECT_EQ(heard[first_new].count, 40000 * 48 % kWrap);
  EXPECT_EQ(heard[first_new - 1].mark, 1) << "the old position played up to the change";
  for (std::size_t i = first_new; i < heard.size(); ++i) ASSERT_EQ(heard[i].mark, 3) << "frame " << i;
}

TEST(PlayerTest, FollowsADeviceClockThatDrifts200PpmForTenMinutes) {
  constexpr double kRunMs = 10 * 60 * 1000;
  constexpr std::int64_t kLongSongMs = 20 * 60 * 1000;
  for (const double ppm : {200.0, -200.0}) {
    SCOPED_TRACE("ppm " + std::to_string(ppm));
    auto sink_owner = std::make_unique<VirtualSink>(kStart, ppm, true);
    VirtualSink* sink = sink_owner.get();
    const auto started_at = static_cast<std::int64_t>(std::floor(kStart + kOffset));
    std::atomic<bool> asked{false};
    PlayerInputs inputs;
    inputs.view = [&] {
      RoomView v;
      v.valid = true;
      v.queue = {{"i1", "songA", kLongSongMs}};
      v.current = "i1";
      v.playing = true;
      v.position_at = started_at;
      return v;
    };
    inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
    inputs.open_song = [&](const std::string&, std::uint64_t) -> Result<std::shared_ptr<media::PcmSource>> {
      asked = true;
      return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kLongSongMs * 48, 1));
    };
    PlayerOptions options;
    options.format = kFormat;
    Player player(inputs, options);
    ASSERT_TRUE(player.start(std::move(sink_owner)));
    const bool fetched = testing::eventually([&] { return asked.load(); });
    sink->open(fetched ? kStart + kRunMs : 0);
    ASSERT_TRUE(fetched);
    ASSERT_TRUE(testing::eventually([&] { return sink->done(); }, std::chrono::seconds(60)));
    const auto heard = sink->heard();
    const int rewinds = sink->rewinds();
    player.stop();

    std::size_t checked = 0;
    double worst = 0;
    for (const auto& h : heard) {
      if (h.mark == 0 || h.at_ms < kStart + 50) continue;  // the start
      const double want = (h.at_ms + kOffset - static_cast<double>(started_at)) * kFramesPerMs;
      int diff = (h.count - static_cast<int>(std::llround(want)) % kWrap) % kWrap;
      if (diff > kWrap / 2) diff -= kWrap;
      if (diff < -kWrap / 2) diff += kWrap;
      worst = std::max(worst, std::abs(static_cast<double>(diff)));
      ++checked;
    }
    EXPECT_GT(checked, static_cast<std::size_t>(kRunMs / 10 * 0.99));
    EXPECT_LE(worst, 2) << "frames off the room's timeline at worst";
    EXPECT_LE(rewinds, 1) << "at most the silence written before the song was ready";
  }
}

TEST(PlayerTest, SilentUntilTheClockIsSynchronised) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  std::atomic<bool> asked{false};
  const std::vector<Step> script = {{0, "i1", true, 0}};
  PlayerInputs inputs;
  inputs.view = [&] { return view_at(script, sink->now_ms()); };
  inputs.clock_offset_ms = [] { return std::optional<double>(); };
  inputs.open_song = [&](const std::string& id, std::uint64_t) -> Result<std::shared_ptr<media::PcmSource>> {
    if (id == "songB") asked = true;
    return std::shared_ptr<media::PcmSource>(std::make_shared<CountingSong>(kSongMs * 48, 1));
  };
  PlayerOptions options;
  options.format = kFormat;
  Player player(inputs, options);
  ASSERT_TRUE(player.start(std::move(sink_owner)));
  const bool fetched = testing::eventually([&] { return asked.load(); });
  sink->open(fetched ? kStart + 500 : 0);
  ASSERT_TRUE(fetched) << "the player never asked for the songs";
  ASSERT_TRUE(testing::eventually([&] { return sink->done(); }));
  const auto heard = sink->heard();
  player.stop();
  ASSERT_FALSE(heard.empty());
  for (const auto& h : heard) {
    ASSERT_EQ(h.count, 0);
    ASSERT_EQ(h.mark, 0);
  }
}

TEST(PlayerTest, APausedRoomShowsItsSongAndPosition) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  const std::vector<Step> script = {{0, "i1", false, 21000}};
  PlayerInputs inputs;
  inputs.view = [&] { return view_at(script, sink->now_ms()); };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  inputs.open_song = any_song;
  auto player = start_player(std::move(inputs), std::move(sink_owner));
  sink->open(kStart + 500);
  const bool shown = testing::eventually([&] { return player->status().song_id == "songA"; });
  const auto status = player->status();
  player->stop();
  ASSERT_TRUE(shown) << "a paused room shows nothing";
  EXPECT_FALSE(status.playing);
  EXPECT_FALSE(status.buffering);
  EXPECT_EQ(status.position_ms, 21000);
  EXPECT_EQ(status.duration_ms, kSongMs);
}

// A source whose fetching failed for good (the server went away).
class FailedSong final : public media::PcmSource {
 public:
  const AudioFormat& format() const override { return kFormat; }
  std::size_t read(std::int16_t*, std::size_t) override { return 0; }
  void seek(std::uint64_t) override {}
  std::uint64_t position() const override { return 0; }
  bool ready(std::uint64_t, std::size_t) const override { return true; }
  std::uint64_t length_frames() const override { return 0; }
  bool ended() const override { return true; }
  Status status() const override { return unavailable("the server went away"); }
};

TEST(PlayerTest, ASongThatFailedIsOpenedAgain) {
  auto sink_owner = std::make_unique<VirtualSink>(kStart);
  VirtualSink* sink = sink_owner.get();
  const std::vector<Step> script = {{0, "i1", true, 0}};
  std::atomic<int> opened{0};
  PlayerInputs inputs;
  inputs.view = [&] { return view_at(script, sink->now_ms()); };
  inputs.clock_offset_ms = [] { return std::optional<double>(kOffset); };
  inputs.open_song = [&](const std::string& id, std::uint64_t from) -> Result<std::shared_ptr<media::PcmSource>> {
    if (id == "songA" && opened++ == 0) return std::shared_ptr<media::PcmSource>(std::make_shared<FailedSong>());
    return any_song(id, from);
  };
  auto player = start_player(std::move(inputs), std::move(sink_owner));
  sink->open(kStart + 1000);
  const bool reported =
      testing::eventually([&] { return player->status().error.find("went away") != std::string::npos; });
  const bool reopened = testing::eventually([&] { return opened.load() >= 2 && player->status().error.empty(); });
  player->stop();
  EXPECT_TRUE(reported) << "the failure is shown";
  EXPECT_TRUE(reopened) << "the song is opened again, and the failure no longer shown";
}

// ---- PulseAudio: a real daemon with a null sink -----------------------------

// Starts `pulseaudio` (no default modules: a private socket and a null
// sink) in a temporary runtime dir, and points this process's libpulse at
// it with PULSE_SERVER. Skips when pulseaudio is not installed
// (scripts/setup test installs it).
class PlayerPulseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* candidates[] = {"/usr/bin/pulseaudio", "/usr/local/bin/pulseaudio"};
    std::string bin;
    for (const char* c : candidates) {
      if (::access(c, X_OK) == 0) bin = c;
    }
    if (bin.empty()) GTEST_SKIP() << "pulseaudio is not installed (scripts/setup test installs it)";
    char tmpl[] = "/tmp/hifi-pulse-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string socket = dir_ + "/native";
    std::vector<std::string> args = {bin,
                                     "-n",
                                     "--daemonize=no",
                                     "--exit-idle-time=-1",
                                     "--use-pid-file=no",
                                     "--log-target=file:" + dir_ + "/log",
                                     "--load=module-native-protocol-unix auth-anonymous=1 socket=" + socket,
                                     "--load=module-null-sink sink_name=hifi_test rate=48000"};
    std::vector<std::string> env = {"HOME=" + dir_, "XDG_RUNTIME_DIR=" + dir_, "PULSE_RUNTIME_PATH=" + dir_,
                                    "PATH=/usr/bin:/bin"};
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ASSERT_EQ(rc, 0) << "cannot start " << bin;
    ::setenv("PULSE_SERVER", ("unix:" + socket).c_str(), 1);
    // Up once it accepts a stream.
    Result<std::unique_ptr<AudioSink>> sink = unavailable("not tried");
    const bool up = testing::eventually([&] {
      sink = make_audio_sink("pulse", kFormat);
      return sink.is_ok();
    });
    ASSERT_TRUE(up) << "pulseaudio did not come up: " << sink.status().to_string();
  }

  void TearDown() override {
    ::unsetenv("PULSE_SERVER");
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  pid_t pid_ = -1;
  std::string dir_;
};

TEST_F(PlayerPulseTest, SinkReportsAPlausibleLatency) {
  auto sink = make_audio_sink("pulse", kFormat);
  ASSERT_TRUE(sink) << sink.status().to_string();
  auto& s = **sink;
  const double before = s.next_play_time_ms() - wall_clock_ms();
  EXPECT_GE(before, -1.0);  // never in the past (1 ms: the two clock reads)
  EXPECT_LT(before, 1000.0);
  // Half a second of audio, 10 ms at a time: the server buffers about the
  // 100 ms the sink asks for, so what is written now is heard that much later.
  std::vector<std::int16_t> buffer(480 * 2, 0);
  std::vector<double> latencies;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(s.write(buffer.data(), 480));
    latencies.push_back(s.next_play_time_ms() - wall_clock_ms());
  }
  std::sort(latencies.begin(), latencies.end());
  const double median = latencies[latencies.size() / 2];
  EXPECT_GE(latencies.front(), -1.0);
  EXPECT_GT(median, 20.0) << "the device holds audio: it is heard later than written";
  EXPECT_LT(latencies.back(), 1000.0);
}

// rewind() rewrites what PulseAudio holds in place: a level A written for
// 300 ms, then a rewind 50 ms into the queue and a level B, is heard (on the
// null sink's monitor) as 250 ms of A and then B, with nothing between. (A
// flush would drop the whole queue and leave a gap of silence.) The
// recording is 2 s from before the first write.
TEST_F(PlayerPulseTest, RewindRewritesTheQueueInPlaceWithNoGap) {
  const pa_sample_spec spec{PA_SAMPLE_S16LE, 48000, 2};
  int error = 0;
  pa_simple* rec = pa_simple_new(nullptr, "hifi-test", PA_STREAM_RECORD, "hifi_test.monitor", "monitor", &spec,
                                 nullptr, nullptr, &error);
  ASSERT_NE(rec, nullptr) << pa_strerror(error);
  std::vector<std::int16_t> recorded(48000 * 2 * 2);
  std::thread reader([&] { pa_simple_read(rec, recorded.data(), recorded.size() * sizeof(std::int16_t), &error); });
  {
    auto sink = make_audio_sink("pulse", kFormat);
    ASSERT_TRUE(sink) << sink.status().to_string();
    auto& s = **sink;
    // A lead-in (level 2000) first: a stream's first frames can be lost
    // while the device starts.
    const std::vector<std::int16_t> lead_in(480 * 2, 2000), a(480 * 2, 8000), b(480 * 2, -8000);
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(s.write(lead_in.data(), 480));
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(s.write(a.data(), 480));
    const double end = s.next_play_time_ms();
    ASSERT_GT(end - wall_clock_ms(), s.rewind_latency_ms() + 50) << "too little queued to rewind into";
    s.rewind(end - 50);
    EXPECT_NEAR(s.next_play_time_ms(), end - 50, 0.5);
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(s.write(b.data(), 480));
    // Recorded (2 s from before A) before the sink goes.
    reader.join();
  }
  pa_simple_free(rec);
  // Channel 0 by level: A above 4000, B below -4000.
  auto level = [&](std::size_t frame) { return recorded[2 * frame]; };
  const std::size_t frames = recorded.size() / 2;
  std::size_t first_a = frames, last_a = frames, first_b = frames, last_b = frames;
  for (std::size_t f = 0; f < frames; ++f) {
    if (level(f) > 4000) {
      if (first_a == frames) first_a = f;
      last_a = f;
    } else if (level(f) < -4000 && first_a != frames) {
      if (first_b == frames) first_b = f;
      last_b = f;
    }
  }
  ASSERT_LT(first_a, frames) << "A was never heard";
  ASSERT_LT(first_b, frames) << "B was never heard";
  for (std::size_t f = first_a; f <= last_a; ++f) ASSERT_GT(level(f), 4000) << "a gap in A at frame " << f - first_a;
  EXPECT_NEAR((last_a + 1 - first_a) / kFramesPerMs, 250, 1) << "A, less the 50 ms rewound";
  EXPECT_LE(first_b - last_a - 1, 2u) << "frames between A and B";
  for (std::size_t f = first_b; f <= last_b; ++f) ASSERT_LT(level(f), -4000) << "a gap in B at frame " << f - first_b;
  EXPECT_NEAR((last_b + 1 - first_b) / kFramesPerMs, 600, 1);
}

// Records, for each write, the wall clock and the play time the sink gave
// just before it, and the write's first frame; passes everything on.
class TapSink final : public AudioSink {
 public:
  struct Write {
    double wall_ms, play_ms;
    std::int16_t count, mark;
  };
  explicit TapSink(std::unique_ptr<AudioSink> inner) : inner_(std::move(inner)) {}
  const AudioFormat& format() const override { return inner_->format(); }
  std::string describe() const override { return inner_->describe(); }
  double next_play_time_ms() override {
    const double wall = wall_clock_ms();
    const double play = inner_->next_play_time_ms();
    std::lock_guard lock(mu_);
    last_wall_ = wall;
    last_play_ = play;
    return play;
  }
  Status write(const std::int16_t* samples, std::size_t frames) override {
    {
      std::lock_guard lock(mu_);
      writes_.push_back({last_wall_, last_play_, samples[0], samples[1]});
    }
    return inner_->write(samples, frames);
  }
  void rewind(double wall_ms) override { inner_->rewind(wall_ms); }
  double rewind_latency_ms() override { return inner_->rewind_latency_ms(); }
  std::vector<Write> writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }

 private:
  std::unique_ptr<AudioSink> inner_;
  mutable std::mutex mu_;
  double last_wall_ = 0, last_play_ = 0;
  std::vector<Write> writes_;
};

TEST_F(PlayerPulseTest, PlayerPlacesAudioAtTheTimeTheDeviceWillPlayIt) {
  auto pulse = make_audio_sink("pulse", kFormat);
  ASSERT_TRUE(pulse) << pulse.status().to_string();
  auto tap_owner = std::make_unique<TapSink>(std::move(*pulse));
  TapSink* tap = tap_owner.get();
  // Playing song A from its start at server time `position_at` (now).
  const double offset = 1234.5;
  const auto position_at = static_cast<std::int64_t>(std::floor(wall_clock_ms() + offset));
  PlayerInputs inputs;
  inputs.view = [&] {
    RoomView v;
    v.valid = true;
    v.queue = {{"i1", "songA", kSongMs}};
    v.current = "i1";
    v.playing = true;
    v.position_at = position_at;
    return v;
  };
  inputs.clock_offset_ms = [&] { return std::optional<double>(offset); };
  inputs.open_song = any_song;
  PlayerOptions options;
  options.format = kFormat;
  Player player(inputs, options);
  ASSERT_TRUE(player.start(std::move(tap_owner)));
  auto song_writes = [&] {
    std::size_t n = 0;
    for (const auto& w : tap->writes()) n += w.mark == 1;
    return n;
  };
  ASSERT_TRUE(testing::eventually([&] { return song_writes() >= 150; }));  // 1.5 s of the song
  // The player owns the tap and destroys it when it stops: keep its record.
  const auto writes = tap->writes();
  player.stop();

  // For each buffer of the song: the device's latency then, and how far the
  // frame written is from the room's position at the time the device said
  // the frame would be heard.
  std::vector<double> latencies, errors;
  std::size_t seen = 0;
  for (const auto& w : writes) {
    if (w.mark != 1) continue;
    if (++seen <= 20) continue;  // the start: the device's buffer fills
    latencies.push_back(w.play_ms - w.wall_ms);
    const double want = (w.play_ms + offset - static_cast<double>(position_at)) * kFramesPerMs;
    double diff = std::fmod(w.count - want, kWrap);
    if (diff > kWrap / 2.0) diff -= kWrap;
    if (diff < -kWrap / 2.0) diff += kWrap;
    errors.push_back(diff / kFramesPerMs);
  }
  ASSERT_GT(latencies.size(), 100u);
  std::sort(latencies.begin(), latencies.end());
  std::sort(errors.begin(), errors.end());
  const double latency = latencies[latencies.size() / 2];
  const double error = errors[errors.size() / 2];
  EXPECT_GE(latencies.front(), -1.0);
  EXPECT_GT(latency, 20.0) << "the device's latency";
  // The frame written is the one for when it will be heard (not for when it
  // is written, which would put it `latency` ms behind). Within 5 ms, plus
  // what a device latency that moved during the run explains (at most half
  // the latency): on a loaded machine PulseAudio's latency can step after an
  // underrun, and the player follows a step under its resync threshold
  // smoothly, a frame per buffer (2 ms a second), not at once.
  const double moved = std::min(latencies.back() - latencies.front(), latency / 2);
  EXPECT_LT(std::abs(error), 5.0 + moved)
      << "median error " << error << " ms with a device latency of " << latency << " ms (from "
      << latencies.front() << " to " << latencies.back() << " ms)";
}

}  // namespace
}  // namespace hifi::client
