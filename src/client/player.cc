#include "client/player.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <set>

#include "client/http_byte_source.h"
#include "media/streaming_source.h"

namespace hifi::client {
using namespace std::chrono_literals;

namespace {

// Signed stream URLs asked for already, by song: opening a song again (the
// source prepared for a seek, a song played again) skips the stream-url
// round trip. One is kept for half its lifetime, at most 10 minutes; a
// refused one is asked for anew (HttpByteSource calls its UrlFn again).
class SignedUrlCache {
 public:
  std::optional<std::string> get(const std::string& song_id) {
    std::lock_guard lock(mu_);
    auto it = urls_.find(song_id);
    if (it == urls_.end() || std::chrono::steady_clock::now() >= it->second.second) return std::nullopt;
    return it->second.first;
  }
  void put(const std::string& song_id, std::string url, std::int64_t expires_at_ms) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    const auto keep = std::chrono::milliseconds(std::clamp<std::int64_t>((expires_at_ms - now_ms) / 2, 0, 600'000));
    std::lock_guard lock(mu_);
    if (urls_.size() >= kMaxUrls) urls_.clear();  // songs of a long session: start afresh
    urls_[song_id] = {std::move(url), std::chrono::steady_clock::now() + keep};
  }

 private:
  static constexpr std::size_t kMaxUrls = 256;
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> urls_;
};

// A song streamed from the server: a StreamingSource whose decoding thread
// opens the song's signed stream URL (for `query`'s representation) and
// reads it with range requests as decoding goes. A transcoded
// representation is asked to start at the frame reading must start from.
// Seek data the room sent for a song, frame and rate (RoomClient::seek_data).
using SeekDataFn = std::function<std::shared_ptr<const SeekData>(const std::string&, std::uint64_t, int)>;

std::shared_ptr<media::PcmSource> stream_song(ApiClient& api, const std::shared_ptr<SignedUrlCache>& urls,
                                              const SeekDataFn& seek_data, const AudioFormat& format,
                                              const std::string& song_id, const std::string& query,
                                              std::uint64_t from) {
  const int rate = format.sample_rate;
  auto open = [&api, urls, seek_data, song_id, query, rate](std::uint64_t frame) -> Result<media::StreamingSource::Input> {
    std::uint64_t first_frame = 0;
    std::string extra = query;
    if (!query.empty() && frame > 0) {
      const std::uint64_t offset_ms = frame * 1000 / static_cast<std::uint64_t>(rate);
      extra += "&offset_ms=" + std::to_string(offset_ms);
      first_frame = offset_ms * static_cast<std::uint64_t>(rate) / 1000;
    }
    auto url = [&api, urls, song_id, extra, first = true]() mutable -> ApiResult<std::string> {
      ApiResult<std::string> out;
      const std::string tail = extra.empty() ? "" : "&" + extra;
      if (std::exchange(first, false)) {
        if (auto known = urls->get(song_id)) {
          out.value = *known + tail;
          return out;
        }
      }
      auto res = api.json("GET", "/api/v1/songs/" + song_id + "/stream-url");
      if (!res) {
        out.error = std::move(res.error);
        return out;
      }
      const auto* u = res->is_object() ? res->as_object().if_contains("url") : nullptr;
      if (u == nullptr || !u->is_string()) {
        out.error.status = 200;
        out.error.detail = "the server's stream-url answer has no url";
        return out;
      }
      const auto* expires = res->as_object().if_contains("expires_at");
      if (expires != nullptr && expires->is_int64()) urls->put(song_id, std::string(u->as_string()), expires->as_int64());
      out.value = std::string(u->as_string()) + tail;
      return out;
    };
    auto bytes = std::make_unique<HttpByteSource>(api, std::move(url), "song " + song_id);
    // The stored file: seeks ask for the server's plan, and from a position
    // one request opens it and seeks.
    // With the seek data the server sent with the news of the jump, no
    // request at all.
    if (query.empty()) bytes->enable_seek_plans();
    Status started;
    if (!query.empty() || frame == 0) {
      started = bytes->start();
    } else if (auto data = seek_data ? seek_data(song_id, frame, rate) : nullptr) {
      started = bytes->start_with_plan(frame, rate, data->etag, data->content_type, data->body);
    } else {
      started = bytes->start_at(frame, rate);
    }
    if (!started) return started;
    return media::StreamingSource::Input{std::move(bytes), first_frame};
  };
  return media::StreamingSource::start(std::move(open), format, media::StreamingSource::Window{}, from);
}

}  // namespace

// The key of a source prepared for a timed jump within a song.
std::string pending_key(const std::string& song_id, std::int64_t change_at) {
  return song_id + "@" + std::to_string(change_at);
}

std::optional<StreamQuality> parse_stream_quality(const std::string& text) {
  if (text == "original") return StreamQuality::kOriginal;
  if (text == "high") return StreamQuality::kHigh;
  if (text == "low") return StreamQuality::kLow;
  return std::nullopt;
}

std::string stream_query(StreamQuality quality) {
  switch (quality) {
    case StreamQuality::kOriginal:
      return "";
    case StreamQuality::kHigh:
      return "format=opus&bitrate=160";
    case StreamQuality::kLow:
      return "format=opus&bitrate=96";
  }
  return "";
}

Player::Player(ApiClient& api, RoomClient& room, PlayerOptions options)
    : Player(PlayerInputs{}, std::move(options)) {
  inputs_.view = [&room] { return room.view(); };
  inputs_.clock_offset_ms = [&room] { return room.settled_clock_offset_ms(); };
  inputs_.change_latency_ms = [&room](double latency_ms) { room.set_change_latency_ms(latency_ms); };
  // The stored file is what seek data is planned on: a player of it asks
  // the room for seek data at its output rate.
  const std::string query = stream_query(options_.quality);
  SeekDataFn seek_data;
  if (query.empty()) {
    // Its sources decode from a window's worth before where they play.
    room.set_seek_data_rate(options_.format.sample_rate,
                            media::StreamingSource::frames_behind(media::StreamingSource::Window{},
                                                                  options_.format.sample_rate));
    seek_data = [&room](const std::string& id, std::uint64_t frame, int rate) { return room.seek_data(id, frame, rate); };
  }
  inputs_.open_song = [&api, urls = std::make_shared<SignedUrlCache>(), seek_data, format = options_.format, query](
                          const std::string& id, std::uint64_t from) -> Result<std::shared_ptr<media::PcmSource>> {
    return stream_song(api, urls, seek_data, format, id, query, from);
  };
}

Player::Player(PlayerInputs inputs, PlayerOptions options)
    : inputs_(std::move(inputs)), options_(std::move(options)) {}

Player::~Player() { stop(); }

Status Player::start() {
  auto sink = make_audio_sink(options_.sink, options_.format);
  if (!sink) return sink.status();
  return start(std::move(*sink));
}

Status Player::start(std::unique_ptr<AudioSink> sink) {
  if (!sink) return invalid_argument("no audio sink");
  sink_ = std::move(sink);
  if (!options_.sync_log.empty()) {
    sync_log_ = std::fopen(options_.sync_log.c_str(), "w");
    if (!sync_log_) return io_error("cannot write the sync log " + options_.sync_log);
  }
  fetcher_ = std::thread([this] { fetch_loop(); });
  audio_ = std::thread([this] { audio_loop(); });
  return Status::ok();
}

void Player::stop() {
  stopping_ = true;
  if (fetcher_.joinable()) fetcher_.join();
  if (audio_.joinable()) audio_.join();
  if (sync_log_) {
    std::fclose(sync_log_);
    sync_log_ = nullptr;
  }
  sink_.reset();
}

PlayerStatus Player::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

std::string Player::sink_description() const { return sink_ ? sink_->describe() : "none"; }

std::shared_ptr<media::PcmSource> Player::song(const std::string& song_id) const {
  std::lock_guard lock(mu_);
  auto it = songs_.find(song_id);
  return it == songs_.end() ? nullptr : it->second;
}

std::shared_ptr<media::PcmSource> Player::prepared(const std::string& song_id, std::int64_t change_at) const {
  return song(pending_key(song_id, change_at));
}

void Player::fetch_loop() {
  const double frames_per_ms = options_.format.sample_rate / 1000.0;
  while (!stopping_) {
    const auto latest = inputs_.view();
    const auto offset = inputs_.clock_offset_ms();
    // Where the audio thread is (it writes ahead of what is heard; its
    // sink's clock), or now before it has written anything.
    const double written = entered_.load();
    const double at = std::isfinite(written) ? written : wall_clock_ms() + offset.value_or(0);
    const RoomView& view = latest.at(at);
    // The sources wanted (key, song, where playback will start in it).
    struct Wanted {
      std::string key;
      std::string song_id;
      std::uint64_t from;
    };
    std::vector<Wanted> wanted;
    auto frame_of = [&](double ms) { return static_cast<std::uint64_t>(std::llround(std::max(0.0, ms) * frames_per_ms)); };
    // A view's current song (from where it is at server time `t`) and the next.
    auto want_songs_of = [&](const RoomView& v, double t) {
      if (const RoomItem* c = v.current_item()) wanted.push_back({c->song_id, c->song_id, frame_of(v.position_at_time(t))});
      if (const RoomItem* n = v.next_item()) wanted.push_back({n->song_id, n->song_id, 0});
    };
    want_songs_of(view, at);
    const RoomItem* current = view.current_item();
    const RoomItem* next = view.next_item();
    // What plays now is kept too: the audio thread writes ahead, and may
    // rewrite what it wrote up to a change it heard of late.
    if (offset) {
      const double now = wall_clock_ms() + *offset;
      if (now < at) want_songs_of(latest.at(now), now);
    }
    // Timed changes still to come: their song, decoding from where they
    // start, so that it is ready at the instant. A jump within a song
    // playing now gets a source of its own (key SONG@TIME), which the audio
    // thread takes over at the change.
    // (Wanted until a second after the change, so that it is not dropped
    // before the audio thread, writing at the change, has taken it over.)
    for (const RoomView* v = &latest; v->before; v = v->before.get()) {
      const auto change_at = static_cast<double>(v->position_at);
      if (change_at + 1000 <= at) break;
      const RoomItem* item = v->playing ? v->current_item() : nullptr;
      if (!item) continue;
      const auto from = frame_of(static_cast<double>(v->position_ms));
      const bool playing_now = (current && current->song_id == item->song_id) || (next && next->song_id == item->song_id);
      if (!playing_now) {
        wanted.push_back({item->song_id, item->song_id, from});
        continue;
      }
      double heard_ms = 0;
      const RoomItem* there = v->before->item_at_time(change_at, &heard_ms);
      if (!there && (there = v->before->current_item())) heard_ms = v->before->position_at_time(change_at);  // paused
      const bool near = there && there->song_id == item->song_id &&
                        std::abs(heard_ms - static_cast<double>(v->position_ms)) < kNearJumpMs;
      // A skip (to the song next before the change, from near its start):
      // the source opened ahead for it, decoding for seconds already,
      // serves; one opened now would not be ready in time.
      const RoomItem* ahead = v->before->next_item();
      const bool skip = ahead && ahead->song_id == item->song_id && (!there || there->song_id != item->song_id) &&
                        static_cast<double>(v->position_ms) < kNearJumpMs;
      if (!near && !skip) {
        auto key = pending_key(item->song_id, v->position_at);
        std::lock_guard lock(mu_);
        if (!taken_.count(key)) wanted.push_back({std::move(key), item->song_id, from});
      }
    }
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [id, song_id, from] : wanted) {
      if (stopping_) break;
      if (auto open = song(id)) {
        // A source that failed (the server went away, say) is opened anew,
        // not too often; until then it plays silence.
        if (!open->ended() || open->status()) continue;
        auto [it, first] = retry_at_.try_emplace(
            id, now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(kRetrySeconds)));
        std::lock_guard lock(mu_);
        status_.error = open->status().message();
        if (now < it->second) continue;
        retry_at_.erase(it);
        // (Unless the audio thread put another source there meanwhile.)
        if (auto there = songs_.find(id); there != songs_.end() && there->second == open) songs_.erase(there);
      }
      auto opened = inputs_.open_song(song_id, from);
      std::lock_guard lock(mu_);
      status_.error = opened ? "" : opened.status().message();
      if (opened) songs_.try_emplace(id, std::move(*opened));
    }
    {
      // Keep what is wanted; anything else can go (and free its memory).
      std::set<std::string> keep;
      for (const auto& w : wanted) keep.insert(w.key);
      std::lock_guard lock(mu_);
      for (auto it = songs_.begin(); it != songs_.end();) {
        it = keep.count(it->first) ? std::next(it) : songs_.erase(it);
      }
      for (auto it = retry_at_.begin(); it != retry_at_.end();) {
        it = keep.count(it->first) ? std::next(it) : retry_at_.erase(it);
      }
      // Taken-over keys are remembered while their change is still known.
      std::set<std::string> pending;
      for (const RoomView* v = &latest; v->before; v = v->before.get()) {
        if (const auto* item = v->current_item()) pending.insert(pending_key(item->song_id, v->position_at));
      }
      for (auto it = taken_.begin(); it != taken_.end();) it = pending.count(*it) ? std::next(it) : taken_.erase(it);
    }
    // Often enough that a change heard of shortly before it lands (the
    // command lead can be a few tens of ms) starts preparing its song at once.
    std::this_thread::sleep_for(10ms);
  }
}

namespace {

// Fills out[0..frames) (interleaved) from `src` holding `src_frames` frames
// by linear interpolation: the first output frame is src's first, the last
// is src's last. The player plays a buffer's worth of song a frame faster
// or slower this way, spread over the buffer, instead of dropping or
// repeating a frame (an audible click).
void resample_linear(const std::int16_t* src, std::size_t src_frames, std::int16_t* out, std::size_t frames,
                     std::size_t channels) {
  if (frames == 0) return;
  if (src_frames == frames || src_frames < 2 || frames < 2) {
    for (std::size_t i = 0; i < frames; ++i) {
      const std::size_t j = std::min(i, src_frames == 0 ? 0 : src_frames - 1);
      for (std::size_t c = 0; c < channels; ++c) out[i * channels + c] = src_frames ? src[j * channels + c] : 0;
    }
    return;
  }
  const double step = static_cast<double>(src_frames - 1) / static_cast<double>(frames - 1);
  for (std::size_t i = 0; i < frames; ++i) {
    const double x = static_cast<double>(i) * step;
    const auto j = std::min(static_cast<std::size_t>(x), src_frames - 2);
    const double f = x - static_cast<double>(j);
    for (std::size_t c = 0; c < channels; ++c) {
      const double a = src[j * channels + c];
      const double b = src[(j + 1) * channels + c];
      out[i * channels + c] = static_cast<std::int16_t>(std::lround(a + (b - a) * f));
    }
  }
}

}  // namespace

void Player::audio_loop() {
  const auto& fmt = sink_->format();
  const std::size_t n = options_.buffer_frames;
  const auto channels = static_cast<std::size_t>(fmt.channels);
  const double frames_per_ms = fmt.sample_rate / 1000.0;
  const auto resync_frames = static_cast<std::int64_t>(options_.resync_threshold_ms * frames_per_ms);
  const double half_frame_ms = 0.5 / frames_per_ms;
  const double buffer_ms = static_cast<double>(n) / frames_per_ms;
  // entered_: the server time up to which buffers have been written since
  // the last rewind (where the fetcher prepares songs from).
  // written_change_at: the position_at of the view the last written buffer
  // followed (changes after it are not in what the sink holds yet).
  double written_change_at = -std::numeric_limits<double>::infinity();
  // Records a buffer about to be written: from `wall_ms`, `frames` long, by `view`.
  auto written = [&](double wall_ms, double offset_ms, std::size_t frames, const RoomView& by) {
    entered_ = std::max(entered_.load(), wall_ms + offset_ms + static_cast<double>(frames) / frames_per_ms);
    written_change_at = static_cast<double>(by.position_at);
  };
  // --sync-log lines wait until their buffer can no longer be rewound, so
  // that the log says what is heard; a rewind drops (or shortens) them.
  struct LogLine {
    double wall_ms;
    std::string song_id;
    std::int64_t start;
    std::size_t frames;
  };
  std::deque<LogLine> log_lines;
  auto write_log = [&](double until_wall_ms) {
    bool wrote = false;
    while (!log_lines.empty() &&
           log_lines.front().wall_ms + static_cast<double>(log_lines.front().frames) / frames_per_ms <= until_wall_ms) {
      const auto& l = log_lines.front();
      std::fprintf(sync_log_, "%.3f %s %lld %d %zu\n", l.wall_ms, l.song_id.c_str(), static_cast<long long>(l.start),
                   fmt.sample_rate, l.frames);
      log_lines.pop_front();
      wrote = true;
    }
    if (wrote) std::fflush(sync_log_);
  };
  // Replaces what the sink holds from server time `server_ms` on (as soon
  // as it can, when that is sooner): what comes before it still plays.
  auto rewound = [&](double server_ms, double offset_ms) {
    sink_->rewind(server_ms - offset_ms);
    const double from = sink_->next_play_time_ms();
    entered_ = from + offset_ms;
    while (!log_lines.empty() && log_lines.back().wall_ms >= from - half_frame_ms) log_lines.pop_back();
    if (!log_lines.empty()) {
      auto& last = log_lines.back();
      const auto kept = std::llround((from - last.wall_ms) * frames_per_ms);
      last.frames = std::min(last.frames, static_cast<std::size_t>(std::max<long long>(1, kept)));
    }
  };
  std::vector<std::int16_t> buffer(n * channels);
  std::vector<std::int16_t> source((n + 1) * channels);
  Cursor cursor;
  // The server time of a change the last buffer was cut short for: the
  // buffer that starts there changes at the planned sample, without a flush.
  std::optional<double> planned_change;
  // A change (server time) that landed inside what the sink holds, whose
  // audio is not ready yet: the sink keeps the view before it until the
  // audio is ready or the change is due, then is rewound to it.
  std::optional<double> held_change;
  auto last_latency_report = std::chrono::steady_clock::time_point{};
  double last_latency = -1;

  // Where the song should be for the buffer about to be written.
  struct Target {
    const RoomItem* item = nullptr;
    std::int64_t frame = 0;
    double wall_ms = 0;
  };
  while (!stopping_) {
    const auto latest = inputs_.view();
    auto offset = inputs_.clock_offset_ms();
    // The view in effect when the buffer is heard: a change still to come
    // (a timed command) leaves the one before it in effect until then.
    const RoomView* view = &latest;
    auto locate = [&]() -> Target {
      Target t;
      t.wall_ms = sink_->next_play_time_ms();
      // (A change less than half a frame away counts as here.)
      double at = offset ? t.wall_ms + *offset + half_frame_ms : 0;
      if (held_change) at = std::min(at, *held_change - half_frame_ms);
      view = offset ? &latest.at(at) : &latest;
      if (!view->valid || !view->playing || !offset) return t;
      // Past the current item's end, the one the room plays next: the
      // server advances exactly there, so the player need not wait for it.
      double position_ms = 0;
      t.item = view->item_at_time(t.wall_ms + *offset, &position_ms);
      if (t.item) t.frame = std::llround(position_ms * frames_per_ms);
      // Within half a frame of the end counts as the next item's start (by
      // frames, not by ms: the clock estimate moves by microseconds).
      if (t.item) {
        const auto end = std::llround(static_cast<double>(t.item->duration_ms) * frames_per_ms);
        if (end > 0 && t.frame >= end) {
          if (const RoomItem* next = view->item_after(*t.item)) {
            t.frame -= end;
            t.item = next;
          }
        }
      }
      return t;
    };
    auto target = locate();
    // The cursor where the target is (invalid when nothing plays there).
    auto cursor_at_target = [&] {
      return target.item ? Cursor{target.item->id, target.item->song_id, target.frame, true} : Cursor{};
    };
    if (inputs_.change_latency_ms) {
      // Told when it moves by a millisecond, and once a second anyway. The
      // audio thread notices a change between two writes, one buffer apart.
      const auto now = std::chrono::steady_clock::now();
      const double latency = std::max(0.0, sink_->rewind_latency_ms()) + buffer_ms;
      if (std::abs(latency - last_latency) >= 1 || now - last_latency_report >= std::chrono::seconds(1)) {
        last_latency_report = now;
        last_latency = latency;
        inputs_.change_latency_ms(latency);
      }
    }
    // Now by the sink's clock (the local wall clock for a device).
    auto sink_now = [&] { return sink_->next_play_time_ms() - sink_->latency_ms(); };
    if (sync_log_ && !log_lines.empty()) write_log(sink_now());
    // Whether a change (server time) must be written now to be heard at its
    // instant: it is within the rewind latency and two buffers of now.
    auto due = [&](double change) {
      return change - *offset <= sink_now() + sink_->rewind_latency_ms() + 2 * buffer_ms;
    };
    // The first change (server time) the sink's audio does not follow yet;
    // -infinity when there is none (a jump that corrects an error).
    auto unwritten_change = [&] {
      double first = std::numeric_limits<double>::infinity();
      for (const RoomView* v = &latest; v != nullptr; v = v->before.get()) {
        const auto at = static_cast<double>(v->position_at);
        if (at > written_change_at) first = std::min(first, at);
      }
      return std::isfinite(first) ? first : -std::numeric_limits<double>::infinity();
    };
    // Whether the audio of `v` at server time `at` can be written now
    // (silence always can).
    auto ready_at = [&](const RoomView& v, double at) {
      double position_ms = 0;
      const RoomItem* item = v.playing ? v.item_at_time(at, &position_ms) : nullptr;
      if (item == nullptr) return true;
      std::shared_ptr<media::PcmSource> source = prepared(item->song_id, v.position_at);
      if (!source && cursor.valid && item->song_id == cursor.song_id) {
        // A jump within the song playing now: a far one waits for the
        // source the fetcher prepares for it; a near one decodes on (the
        // song's own source cannot be asked: it would move).
        double heard_ms = 0;
        const RoomItem* there = latest.at(at - half_frame_ms).item_at_time(at, &heard_ms);
        return there != nullptr && there->song_id == item->song_id && std::abs(heard_ms - position_ms) < kNearJumpMs;
      }
      if (!source) source = song(item->song_id);
      if (!source) return false;
      const auto frame = static_cast<std::uint64_t>(std::max<std::int64_t>(0, std::llround(position_ms * frames_per_ms)));
      source->seek(frame);
      return source->ready(frame, n);
    };
    // The sink goes back to `change` (server time; as soon as it can when
    // that is past) and the next buffer starts there, with the view then.
    auto rewind_to = [&](double change) {
      held_change.reset();
      rewound(change, *offset);
      written_change_at = std::max(written_change_at, change);
      planned_change = change;
      target = locate();
    };
    // A change that lands inside what the sink holds: rewound to at once
    // when its audio is ready or it is due, held until then otherwise (the
    // sink keeps playing the view before it). A jump with no such change
    // behind it (the clock estimate moved, say) rewinds as soon as the sink
    // can. Needs the clock offset.
    enum class Taken { kHeld, kAtChange, kAtOnce };
    auto take_change = [&] {
      constexpr double kNone = -std::numeric_limits<double>::infinity();
      double change = held_change ? kNone : unwritten_change();
      // A change past what the sink holds is still to be planned, not taken.
      if (change - *offset >= sink_->next_play_time_ms()) change = kNone;
      if (std::isfinite(change) && !due(change) && !ready_at(latest.at(change + half_frame_ms), change)) {
        held_change = change;
        return Taken::kHeld;
      }
      if (!std::isfinite(change)) {
        // (A held change stays held.)
        rewound(kNone, *offset);
        target = locate();
        return Taken::kAtOnce;
      }
      rewind_to(change);
      return Taken::kAtChange;
    };
    if (held_change && offset) {
      const double change = *held_change;
      if (due(change) || ready_at(latest.at(change + half_frame_ms), change)) {
        rewind_to(change);
        cursor = cursor_at_target();
        continue;
      }
    }
    // This buffer starts where a planned change lands. (Within 2 ms: the
    // clock estimate may move a little between two buffers.)
    const bool at_planned_change =
        planned_change && offset && std::abs(target.wall_ms + *offset - *planned_change) < 2.0;
    if (at_planned_change && target.item) {
      // A jump within a song: the fetcher prepared a source decoding from
      // the new position; it takes the song's place now.
      const auto key = pending_key(target.item->song_id, static_cast<std::int64_t>(*planned_change));
      std::lock_guard lock(mu_);
      if (auto prepared = songs_.find(key); prepared != songs_.end()) {
        songs_[target.item->song_id] = std::move(prepared->second);
        songs_.erase(prepared);
        taken_.insert(key);
      }
    }
    planned_change.reset();
    // A change that lands inside this buffer (or right at its end) cuts it
    // short there, so that the next buffer starts exactly at the change.
    std::size_t frames = n;
    if (offset) {
      const double server_start = target.wall_ms + *offset;
      if (auto change = latest.next_change_after(server_start + half_frame_ms)) {
        const auto until = std::llround((*change - server_start) * frames_per_ms);
        if (until <= static_cast<std::int64_t>(n)) {
          frames = static_cast<std::size_t>(std::max<std::int64_t>(1, until));
          planned_change = change;
        }
      }
    }
    // A jump within the song playing now is decided before its source is
    // told where to go: moving it far would throw away the decoded audio
    // the old position plays on from while the jump is held.
    if (!at_planned_change && offset && cursor.valid && target.item && target.item->id == cursor.item_id &&
        std::llabs(target.frame - cursor.frame) > resync_frames) {
      if (take_change() != Taken::kHeld) cursor = cursor_at_target();
      continue;
    }
    std::shared_ptr<media::PcmSource> decoded = target.item ? song(target.item->song_id) : nullptr;
    // Reading starts at (or within a frame of) the target: a source that
    // decodes as it goes is told where before it is asked for readiness.
    if (decoded) decoded->seek(static_cast<std::uint64_t>(target.frame));
    const bool ready = decoded && decoded->ready(static_cast<std::uint64_t>(target.frame), frames);
    {
      // A paused room still has its song and position.
      const RoomItem* current = view->valid ? view->current_item() : nullptr;
      std::lock_guard lock(mu_);
      status_.song_id = current ? current->song_id : "";
      status_.playing = target.item != nullptr;
      status_.buffering = target.item && !ready;
      status_.duration_ms = current ? static_cast<double>(current->duration_ms) : 0;
      status_.position_ms = target.item ? target.frame / frames_per_ms
                                        : current ? view->position_at_time(view->position_at) : 0;
    }
    if (target.item && decoded && ready) {
      const std::uint64_t total = decoded->length_frames();
      if (total > 0 && static_cast<std::uint64_t>(target.frame) >= total) {
        // The song is over and the room has not moved on yet: let what the
        // sink holds play out, then silence until the next item starts.
        std::fill(buffer.begin(), buffer.end(), 0);
        cursor.frame = target.frame;
        written(target.wall_ms, *offset, frames, *view);
        if (!sink_->write(buffer.data(), frames)) std::this_thread::sleep_for(10ms);
        continue;
      }
    }
    if (!target.item || !ready) {
      // Paused or stopped: silence from the change on, rewriting the queued
      // audio, unless the pause lands right here (what the sink holds is
      // still right).
      if (cursor.valid && !at_planned_change) {
        if (!offset) {
          sink_->flush();
          entered_ = -std::numeric_limits<double>::infinity();
        } else if (const auto taken = take_change(); taken == Taken::kHeld) {
          continue;
        } else if (taken == Taken::kAtChange) {
          // The buffer at the change comes next (taking over a source
          // prepared for it); silence, if that is what it holds, from there.
          cursor = cursor_at_target();
          continue;
        }
      }
      cursor.valid = false;
      std::fill(buffer.begin(), buffer.end(), 0);
      if (offset) written(target.wall_ms, *offset, frames, *view);
      if (!sink_->write(buffer.data(), frames)) std::this_thread::sleep_for(10ms);
      continue;
    }

    // The cursor ran past the end of its item into the one after it, where
    // the room goes too: it carries on there (gapless), no jump.
    if (cursor.valid) {
      for (const auto& it : view->queue) {
        if (it.id != cursor.item_id) continue;
        const auto end = std::llround(static_cast<double>(it.duration_ms) * frames_per_ms);
        if (cursor.frame >= end && view->item_after(it) == target.item) {
          cursor = {target.item->id, target.item->song_id, cursor.frame - end, true};
        }
        break;
      }
    }
    bool jump = !cursor.valid || cursor.item_id != target.item->id ||
                std::llabs(target.frame - cursor.frame) > resync_frames;
    if (jump && at_planned_change) {
      // A timed change lands here: what the sink holds up to this sample is
      // right, and the new position starts with this buffer.
      cursor = {target.item->id, target.item->song_id, target.frame, true};
    } else if (jump) {
      // What the sink holds (the old position, or silence) is wrong from a
      // change on, or from now (an error to correct): it is rewritten from
      // there, so the new position is heard at its sample, or as soon as it
      // can be when the news came too late. (Held: the old view plays on
      // until the new audio is ready.)
      if (take_change() != Taken::kHeld) cursor = cursor_at_target();
      continue;
    }
    // Small errors (the clock estimate moving, the device's clock drifting
    // from the system's) are taken up by playing this buffer one frame
    // faster or slower, resampled smoothly across it.
    const auto error = target.frame - cursor.frame;
    const std::size_t src_frames = frames + (error > 0 && frames > 1 ? 1 : 0) - (error < 0 && frames > 2 ? 1 : 0);
    const std::int64_t start = cursor.frame;
    std::size_t got = 0;
    if (start >= 0) {
      decoded->seek(static_cast<std::uint64_t>(start));
      // Where the room moves on from this item: when that falls inside this
      // buffer, the rest of it is the start of the next item, sample for
      // sample (gapless), if that song is ready.
      const auto end = std::llround(static_cast<double>(target.item->duration_ms) * frames_per_ms);
      const std::size_t first = end > start && end - start < static_cast<std::int64_t>(src_frames)
                                    ? static_cast<std::size_t>(end - start)
                                    : src_frames;
      got = decoded->read(source.data(), first);
      const RoomItem* next = first < src_frames ? view->item_after(*target.item) : nullptr;
      std::shared_ptr<media::PcmSource> next_song = next ? song(next->song_id) : nullptr;
      if (next_song) {
        std::fill(source.begin() + static_cast<std::ptrdiff_t>(got * channels),
                  source.begin() + static_cast<std::ptrdiff_t>(first * channels), 0);
        next_song->seek(0);
        got = first + next_song->read(source.data() + first * channels, src_frames - first);
      }
    }
    std::fill(source.begin() + static_cast<std::ptrdiff_t>(std::min(got, src_frames) * channels), source.end(), 0);
    resample_linear(source.data(), src_frames, buffer.data(), frames, channels);
    if (sync_log_) log_lines.push_back({target.wall_ms, cursor.song_id, start, frames});
    cursor.frame = start + static_cast<std::int64_t>(src_frames);
    written(target.wall_ms, *offset, frames, *view);
    if (!sink_->write(buffer.data(), frames)) std::this_thread::sleep_for(10ms);
  }
  if (sync_log_) write_log(std::numeric_limits<double>::infinity());
}

}  // namespace hifi::client
