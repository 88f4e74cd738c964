#include "client/player.h"

#include <boost/json.hpp>

#include <chrono>
#include <cmath>
#include <set>

#include "client/http_byte_source.h"
#include "media/streaming_source.h"

namespace hifi::client {
using namespace std::chrono_literals;

namespace {

// A song streamed from the server: a StreamingSource whose decoding thread
// opens the song's signed stream URL (for `query`'s representation) and
// reads it with range requests as decoding goes. A transcoded
// representation is asked to start at the frame reading must start from.
std::shared_ptr<media::PcmSource> stream_song(ApiClient& api, const AudioFormat& format,
                                              const std::string& song_id, const std::string& query,
                                              std::uint64_t from) {
  const int rate = format.sample_rate;
  auto open = [&api, song_id, query, rate](std::uint64_t frame) -> Result<media::StreamingSource::Input> {
    std::uint64_t first_frame = 0;
    std::string extra = query;
    if (!query.empty() && frame > 0) {
      const std::uint64_t offset_ms = frame * 1000 / static_cast<std::uint64_t>(rate);
      extra += "&offset_ms=" + std::to_string(offset_ms);
      first_frame = offset_ms * static_cast<std::uint64_t>(rate) / 1000;
    }
    auto url = [&api, song_id, extra]() -> ApiResult<std::string> {
      ApiResult<std::string> out;
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
      out.value = std::string(u->as_string()) + (extra.empty() ? "" : "&" + extra);
      return out;
    };
    auto bytes = std::make_unique<HttpByteSource>(api, std::move(url), "song " + song_id);
    if (Status s = bytes->start(); !s) return s;
    return media::StreamingSource::Input{std::move(bytes), first_frame};
  };
  return media::StreamingSource::start(std::move(open), format, media::StreamingSource::Window{}, from);
}

}  // namespace

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
  inputs_.clock_offset_ms = [&room] { return room.clock_offset_ms(); };
  inputs_.open_song = [&api, format = options_.format, query = stream_query(options_.quality)](
                          const std::string& id, std::uint64_t from) -> Result<std::shared_ptr<media::PcmSource>> {
    return stream_song(api, format, id, query, from);
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

void Player::fetch_loop() {
  const double frames_per_ms = options_.format.sample_rate / 1000.0;
  while (!stopping_) {
    auto view = inputs_.view();
    // The songs wanted, and where playback will start in each.
    std::vector<std::pair<std::string, std::uint64_t>> wanted;
    if (const auto* item = view.current_item()) {
      const auto offset = inputs_.clock_offset_ms();
      const double ms = view.position_at_time(wall_clock_ms() + offset.value_or(0));
      wanted.emplace_back(item->song_id, static_cast<std::uint64_t>(std::llround(ms * frames_per_ms)));
    }
    if (const auto* item = view.next_item()) wanted.emplace_back(item->song_id, 0);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [id, from] : wanted) {
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
        songs_.erase(id);
      }
      auto opened = inputs_.open_song(id, from);
      std::lock_guard lock(mu_);
      status_.error = opened ? "" : opened.status().message();
      if (opened) songs_[id] = std::move(*opened);
    }
    {
      // Keep what is wanted; anything else can go (and free its memory).
      std::set<std::string> keep;
      for (const auto& w : wanted) keep.insert(w.first);
      std::lock_guard lock(mu_);
      for (auto it = songs_.begin(); it != songs_.end();) {
        it = keep.count(it->first) ? std::next(it) : songs_.erase(it);
      }
      for (auto it = retry_at_.begin(); it != retry_at_.end();) {
        it = keep.count(it->first) ? std::next(it) : retry_at_.erase(it);
      }
    }
    std::this_thread::sleep_for(50ms);
  }
}

void Player::audio_loop() {
  const auto& fmt = sink_->format();
  const std::size_t n = options_.buffer_frames;
  const auto channels = static_cast<std::size_t>(fmt.channels);
  const double frames_per_ms = fmt.sample_rate / 1000.0;
  const auto resync_frames = static_cast<std::int64_t>(options_.resync_threshold_ms * frames_per_ms);
  std::vector<std::int16_t> buffer(n * channels);
  Cursor cursor;

  // Where the song should be for the buffer about to be written.
  struct Target {
    const RoomItem* item = nullptr;
    std::int64_t frame = 0;
    double wall_ms = 0;
  };
  while (!stopping_) {
    auto view = inputs_.view();
    auto offset = inputs_.clock_offset_ms();
    auto locate = [&]() -> Target {
      Target t;
      t.wall_ms = sink_->next_play_time_ms();
      if (!view.valid || !view.playing || !offset) return t;
      // Past the current item's end, the one the room plays next: the
      // server advances exactly there, so the player need not wait for it.
      double position_ms = 0;
      t.item = view.item_at_time(t.wall_ms + *offset, &position_ms);
      if (t.item) t.frame = std::llround(position_ms * frames_per_ms);
      return t;
    };
    auto target = locate();
    std::shared_ptr<media::PcmSource> decoded = target.item ? song(target.item->song_id) : nullptr;
    // Reading starts at (or within a frame of) the target: a source that
    // decodes as it goes is told where before it is asked for readiness.
    if (decoded) decoded->seek(static_cast<std::uint64_t>(target.frame));
    const bool ready = decoded && decoded->ready(static_cast<std::uint64_t>(target.frame), n);
    {
      // A paused room still has its song and position.
      const RoomItem* current = view.valid ? view.current_item() : nullptr;
      std::lock_guard lock(mu_);
      status_.song_id = current ? current->song_id : "";
      status_.playing = target.item != nullptr;
      status_.buffering = target.item && !ready;
      status_.duration_ms = current ? static_cast<double>(current->duration_ms) : 0;
      status_.position_ms = target.item ? target.frame / frames_per_ms
                                        : current ? view.position_at_time(view.position_at) : 0;
    }
    if (target.item && decoded && ready) {
      const std::uint64_t total = decoded->length_frames();
      if (total > 0 && static_cast<std::uint64_t>(target.frame) >= total) {
        // The song is over and the room has not moved on yet: let what the
        // sink holds play out, then silence until the next item starts.
        std::fill(buffer.begin(), buffer.end(), 0);
        cursor.frame = target.frame;
        if (!sink_->write(buffer.data(), n)) std::this_thread::sleep_for(10ms);
        continue;
      }
    }
    if (!target.item || !ready) {
      if (cursor.valid) {
        sink_->flush();  // paused or stopped: silence now, not after the queued audio
        cursor.valid = false;
      }
      std::fill(buffer.begin(), buffer.end(), 0);
      if (!sink_->write(buffer.data(), n)) std::this_thread::sleep_for(10ms);
      continue;
    }

    // The cursor ran past the end of its item into the one after it, where
    // the room goes too: it carries on there (gapless), no jump.
    if (cursor.valid) {
      for (const auto& it : view.queue) {
        if (it.id != cursor.item_id) continue;
        const auto end = std::llround(static_cast<double>(it.duration_ms) * frames_per_ms);
        if (cursor.frame >= end && view.item_after(it) == target.item) {
          cursor = {target.item->id, target.item->song_id, cursor.frame - end, true};
        }
        break;
      }
    }
    bool jump = !cursor.valid || cursor.item_id != target.item->id ||
                std::llabs(target.frame - cursor.frame) > resync_frames;
    if (jump) {
      // Whatever the sink still holds (the old position, or the silence
      // written while paused) must not delay the new position.
      sink_->flush();
      target = locate();  // the flush moved the sink's timeline
      if (!target.item) continue;
      cursor = {target.item->id, target.item->song_id, target.frame, true};
    }
    std::int64_t start = cursor.frame;
    std::size_t advance = n;
    const auto error = target.frame - cursor.frame;
    if (error > 0) {
      start += 1;  // behind: drop one frame
    } else if (error < 0) {
      advance = n - 1;  // ahead: the first frame is heard twice
    }
    std::size_t got = 0;
    if (error < 0) {
      decoded->seek(static_cast<std::uint64_t>(start));
      got = decoded->read(buffer.data(), 1);
      decoded->seek(static_cast<std::uint64_t>(start));
      got += decoded->read(buffer.data() + channels, n - 1);
    } else if (start >= 0) {
      decoded->seek(static_cast<std::uint64_t>(start));
      // Where the room moves on from this item: when that falls inside this
      // buffer, the rest of it is the start of the next item, sample for
      // sample (gapless), if that song is ready.
      const auto end = std::llround(static_cast<double>(target.item->duration_ms) * frames_per_ms);
      const std::size_t first = end > start && end - start < static_cast<std::int64_t>(n)
                                    ? static_cast<std::size_t>(end - start)
                                    : n;
      got = decoded->read(buffer.data(), first);
      const RoomItem* next = first < n ? view.item_after(*target.item) : nullptr;
      std::shared_ptr<media::PcmSource> next_song = next ? song(next->song_id) : nullptr;
      if (next_song) {
        std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(got * channels),
                  buffer.begin() + static_cast<std::ptrdiff_t>(first * channels), 0);
        next_song->seek(0);
        got = first + next_song->read(buffer.data() + first * channels, n - first);
      }
    }
    std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(std::min(got, n) * channels), buffer.end(), 0);
    if (sync_log_) {
      std::fprintf(sync_log_, "%.3f %s %lld %d\n", target.wall_ms, cursor.song_id.c_str(),
                   static_cast<long long>(start), fmt.sample_rate);
      std::fflush(sync_log_);
    }
    cursor.frame = start + static_cast<std::int64_t>(advance);
    if (!sink_->write(buffer.data(), n)) std::this_thread::sleep_for(10ms);
  }
}

}  // namespace hifi::client
