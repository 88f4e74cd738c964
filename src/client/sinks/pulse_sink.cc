// The real device, through PulseAudio's asynchronous API (PipeWire serves
// it too), on a threaded main loop of its own.
//
// rewind() rewrites queued audio in place: the next write goes to the
// stream with a negative PA_SEEK_RELATIVE offset, so it overwrites what the
// server holds from that frame on. Nothing before it is dropped, so a change
// that lands inside the queue is heard at its sample without a gap (a flush
// would silence the device until the queue refills).
//
// When the next write is heard comes from the server's timing reports as
// they are (their timestamp, read index and sink latency), not from
// libpulse's interpolated latency, which after a rewind moves by tenths of a
// ms, and on a busy machine by several ms for seconds: the player would
// follow that, and be heard that far off. A report is asked for whenever
// the latest is older than kFreshReportMs (libpulse's own come every 1.5 s).
// The audio between what a report says is heard and the next write (the
// queue, some 0.2 s) is counted at the device's own rate: its clock drifts
// from the system clock (up to a few hundred ppm), and the reports show by
// how much, as the frames heard against their timestamps seconds apart
// (DeviceRate).
#include <pulse/error.h>
#include <pulse/pulseaudio.h>
#include <pulse/rtclock.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>

#include "client/sinks/device_rate.h"
#include "client/sinks/sinks.h"

namespace hifi::client::sinks {
namespace {

// Buffering we ask for (the stream's whole latency, as PulseAudio's
// PA_STREAM_ADJUST_LATENCY reads it: the server splits it between its queue
// and the device). Large enough not to underrun on a busy machine; a change
// need not wait for it, as rewind() rewrites the queue.
constexpr pa_usec_t kTargetLatencyUs = 100'000;
// What rewind() leaves alone beyond what the device holds: the server reads
// ahead of the device in small blocks.
constexpr double kRewindMarginMs = 5;
// A timing report older than this (libpulse asks for one at least every
// 1.5 s while the stream plays), or stamped this far after now (the clock
// stepped back), is not used.
constexpr double kMaxReportAgeMs = 2000;
// A newer report is asked for once the latest is this old.
constexpr double kFreshReportMs = 100;
constexpr double kMaxReportAheadMs = 5;
// write() gives up when the server has taken nothing for this long (a
// device that stopped): the player stays free to stop, and tries again.
constexpr auto kStallLimit = std::chrono::seconds(3);
// Reported when the server cannot tell its latency (should not happen).
constexpr double kFallbackLatencyMs = 100;

// Holds the main loop's lock for a scope (the loop thread runs the callbacks).
class LoopLock {
 public:
  explicit LoopLock(pa_threaded_mainloop* loop) : loop_(loop) { pa_threaded_mainloop_lock(loop_); }
  ~LoopLock() { pa_threaded_mainloop_unlock(loop_); }
  LoopLock(const LoopLock&) = delete;
  LoopLock& operator=(const LoopLock&) = delete;

 private:
  pa_threaded_mainloop* loop_;
};

// Every callback only wakes whoever waits on the loop (a state change, a
// request for more audio, a timing update).
void signal_loop(void* loop) { pa_threaded_mainloop_signal(static_cast<pa_threaded_mainloop*>(loop), 0); }
void on_context_event(pa_context*, void* loop) { signal_loop(loop); }
void on_stream_event(pa_stream*, void* loop) { signal_loop(loop); }
void on_stream_request(pa_stream*, std::size_t, void* loop) { signal_loop(loop); }
void on_time_event(pa_mainloop_api*, pa_time_event*, const struct timeval*, void* loop) { signal_loop(loop); }

class PulseSink final : public AudioSink {
 public:
  PulseSink(AudioFormat format, pa_sample_spec spec) : format_(format), spec_(spec) {}

  ~PulseSink() override {
    if (loop_ == nullptr) return;
    pa_threaded_mainloop_stop(loop_);
    if (refresh_ != nullptr) pa_operation_unref(refresh_);
    if (stall_alarm_ != nullptr) pa_threaded_mainloop_get_api(loop_)->time_free(stall_alarm_);
    if (stream_ != nullptr) {
      pa_stream_disconnect(stream_);
      pa_stream_unref(stream_);
    }
    if (context_ != nullptr) {
      pa_context_disconnect(context_);
      pa_context_unref(context_);
    }
    pa_threaded_mainloop_free(loop_);
  }

  // Connects to the server and opens the playback stream.
  Status open() {
    loop_ = pa_threaded_mainloop_new();
    if (loop_ == nullptr) return Status(Code::kUnavailable, "no audio device: PulseAudio: cannot create its main loop");
    context_ = pa_context_new(pa_threaded_mainloop_get_api(loop_), "hifi");
    if (context_ == nullptr) return Status(Code::kUnavailable, "no audio device: PulseAudio: cannot create a context");
    pa_context_set_state_callback(context_, on_context_event, loop_);
    // Without a server this fails at once (connection refused / no socket);
    // libpulse only tries local sockets unless PULSE_SERVER says otherwise.
    if (pa_context_connect(context_, nullptr, PA_CONTEXT_NOFLAGS, nullptr) < 0) return unavailable();
    if (pa_threaded_mainloop_start(loop_) < 0) {
      return Status(Code::kUnavailable, "no audio device: PulseAudio: cannot start its main loop");
    }
    LoopLock lock(loop_);
    for (;;) {
      const auto state = pa_context_get_state(context_);
      if (state == PA_CONTEXT_READY) break;
      if (!PA_CONTEXT_IS_GOOD(state)) return unavailable();
      pa_threaded_mainloop_wait(loop_);
    }
    stream_ = pa_stream_new(context_, "music", &spec_, nullptr);
    if (stream_ == nullptr) return unavailable();
    pa_stream_set_state_callback(stream_, on_stream_event, loop_);
    pa_stream_set_write_callback(stream_, on_stream_request, loop_);
    pa_stream_set_latency_update_callback(stream_, on_stream_event, loop_);
    pa_stream_set_suspended_callback(stream_, on_stream_event, loop_);
    pa_buffer_attr attr{};
    attr.maxlength = static_cast<std::uint32_t>(-1);
    attr.tlength = static_cast<std::uint32_t>(pa_usec_to_bytes(kTargetLatencyUs, &spec_));
    attr.prebuf = static_cast<std::uint32_t>(-1);
    attr.minreq = static_cast<std::uint32_t>(-1);
    attr.fragsize = static_cast<std::uint32_t>(-1);
    const auto flags = static_cast<pa_stream_flags_t>(PA_STREAM_INTERPOLATE_TIMING | PA_STREAM_ADJUST_LATENCY |
                                                      PA_STREAM_AUTO_TIMING_UPDATE);
    if (pa_stream_connect_playback(stream_, nullptr, &attr, flags, nullptr, nullptr) < 0) return unavailable();
    for (;;) {
      const auto state = pa_stream_get_state(stream_);
      if (state == PA_STREAM_READY) break;
      if (!PA_STREAM_IS_GOOD(state)) return unavailable();
      pa_threaded_mainloop_wait(loop_);
    }
    return Status::ok();
  }

  const AudioFormat& format() const override { return format_; }

  // Blocks until the server asks for more, i.e. at the device's pace; fails
  // when it has taken nothing for kStallLimit.
  Status write(const std::int16_t* samples, std::size_t frames) override {
    const auto* data = reinterpret_cast<const std::uint8_t*>(samples);
    std::size_t left = frames * frame_bytes();
    LoopLock lock(loop_);
    auto progress = std::chrono::steady_clock::now();
    while (left > 0) {
      if (Status s = healthy(); !s) return s;
      std::size_t room = pa_stream_writable_size(stream_);
      if (room == static_cast<std::size_t>(-1)) return device_error();
      // A rewind freed what it moves back over (the server asks for it
      // once it has seen the seek).
      if (seek_bytes_ < 0) room += static_cast<std::size_t>(-seek_bytes_);
      const std::size_t n = std::min(left, room - room % frame_bytes());
      if (n == 0) {
        // Woken by the server's requests, or by a timer at the stall
        // limit (a suspended stream gets neither requests nor reports).
        const auto waited = std::chrono::steady_clock::now() - progress;
        if (waited >= kStallLimit) {
          return Status(Code::kUnavailable, "audio device error: PulseAudio took no audio for 3 s");
        }
        const auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(kStallLimit - waited).count();
        wake_at(pa_rtclock_now() + static_cast<pa_usec_t>(left_us) + 1000);
        pa_threaded_mainloop_wait(loop_);
        continue;
      }
      if (pa_stream_write(stream_, data, n, nullptr, seek_bytes_, PA_SEEK_RELATIVE) < 0) return device_error();
      seek_bytes_ = 0;
      data += n;
      left -= n;
      progress = std::chrono::steady_clock::now();
    }
    return Status::ok();
  }

  double next_play_time_ms() override {
    LoopLock lock(loop_);
    return play_time_ms(wall_clock_ms());
  }

  double rewind_latency_ms() override {
    LoopLock lock(loop_);
    return soonest_rewind_ms();
  }

  void rewind(double wall_ms) override {
    LoopLock lock(loop_);
    if (!healthy()) return;
    const double now = wall_clock_ms();
    const double queued = play_time_ms(now) - now;
    const double from = std::max(wall_ms - now, soonest_rewind_ms());
    if (from >= queued) return;
    const auto frames =
        static_cast<std::int64_t>(std::floor((queued - from) * spec_.rate * device_rate_.ratio() / 1000.0 + 1e-6));
    seek_bytes_ -= frames * static_cast<std::int64_t>(frame_bytes());
  }

  std::string describe() const override {
    return "PulseAudio default device (" + std::to_string(format_.sample_rate) + " Hz, " +
           std::to_string(format_.channels) + " ch)";
  }

 private:
  std::size_t frame_bytes() const { return pa_frame_size(&spec_); }

  // From a write now to the ear (ms): the stream's latency (what the server
  // holds plus the device's own), less what a pending rewind takes back.
  // Called with the lock held.
  double queued_ms() {
    pa_usec_t usec = 0;
    int negative = 0;
    // Until the first timing update arrives there is no figure yet.
    for (int tries = 0; pa_stream_get_latency(stream_, &usec, &negative) < 0; ++tries) {
      if (tries == 50 || !healthy()) return kFallbackLatencyMs;
      pa_operation* op = pa_stream_update_timing_info(stream_, nullptr, nullptr);
      if (op != nullptr) pa_operation_unref(op);
      pa_threaded_mainloop_wait(loop_);
    }
    const double latency = negative ? 0.0 : static_cast<double>(usec) / 1000.0;
    return latency + static_cast<double>(seek_bytes_) / static_cast<double>(frame_bytes()) * 1000.0 / spec_.rate;
  }

  // When (wall clock) a write made at `now` is heard: by the server's latest
  // timing report while the stream plays, else now + libpulse's
  // interpolation (queued_ms()). The interpolation's estimate moves after a
  // rewind (by tenths of a ms, and by several ms for seconds on a busy
  // machine), and the player would follow it; the report itself does not.
  // Called with the lock held.
  double play_time_ms(double now) {
    if (auto reported = reported_play_time_ms(now)) return *reported;
    return now + queued_ms();
  }

  // The same from the latest timing report as it is (not interpolated): at
  // its timestamp, the frame at the read index less what the sink held was
  // being heard. Nullopt without a report of a playing stream from the last
  // kMaxReportAgeMs.
  std::optional<double> reported_play_time_ms(double now) {
    const pa_timing_info* t = pa_stream_get_timing_info(stream_);
    if (t == nullptr || !t->playing || t->read_index_corrupt || t->write_index_corrupt) {
      device_rate_.reset();
      return std::nullopt;
    }
    const double at = static_cast<double>(t->timestamp.tv_sec) * 1000.0 + static_cast<double>(t->timestamp.tv_usec) / 1000.0;
    if (now - at > kFreshReportMs) ask_for_report();
    if (now - at > kMaxReportAgeMs || at > now + kMaxReportAheadMs) return std::nullopt;
    const double bytes_per_ms = static_cast<double>(frame_bytes()) * spec_.rate / 1000.0;
    const double heard = static_cast<double>(t->read_index) - static_cast<double>(t->sink_usec) / 1000.0 * bytes_per_ms;
    // An underrun since the last report (the bytes handed to the sink since
    // the last one went down) breaks the card's run of frames.
    if (t->since_underrun < since_underrun_) device_rate_.reset();
    since_underrun_ = t->since_underrun;
    device_rate_.add(at, heard / static_cast<double>(frame_bytes()), spec_.rate / 1000.0);
    return at + (static_cast<double>(t->write_index + seek_bytes_) - heard) / (bytes_per_ms * device_rate_.ratio());
  }

  // Sets the one stall timer to signal the loop at `usec` (pa_rtclock_now()
  // time), made on first use. A timer that fires after its wait is over only
  // wakes a waiter that checks again. Called with the lock held.
  void wake_at(pa_usec_t usec) {
    if (stall_alarm_ == nullptr) {
      stall_alarm_ = pa_context_rttime_new(context_, usec, on_time_event, loop_);
    } else {
      pa_context_rttime_restart(context_, stall_alarm_, usec);
    }
  }

  // Asks the server for a timing report unless one is on its way; it
  // arrives on the loop thread. Called with the lock held.
  void ask_for_report() {
    if (refresh_ != nullptr) {
      if (pa_operation_get_state(refresh_) == PA_OPERATION_RUNNING) return;
      pa_operation_unref(refresh_);
    }
    refresh_ = pa_stream_update_timing_info(stream_, nullptr, nullptr);
  }

  // How soon after now (ms) rewind() may replace audio: past what the device
  // holds already, beyond the server's reach of an ordinary rewrite. Called
  // with the lock held.
  double soonest_rewind_ms() {
    const pa_timing_info* timing = pa_stream_get_timing_info(stream_);
    const double device_ms = timing == nullptr ? kFallbackLatencyMs / 2 : static_cast<double>(timing->sink_usec) / 1000.0;
    return device_ms + kRewindMarginMs;
  }

  Status healthy() {
    if (pa_context_get_state(context_) != PA_CONTEXT_READY || pa_stream_get_state(stream_) != PA_STREAM_READY) {
      return device_error();
    }
    return Status::ok();
  }

  Status device_error() const {
    return Status(Code::kUnavailable,
                  std::string("audio device error: PulseAudio: ") + pa_strerror(pa_context_errno(context_)));
  }
  Status unavailable() const {
    return Status(Code::kUnavailable,
                  std::string("no audio device: PulseAudio: ") + pa_strerror(pa_context_errno(context_)) +
                      ". Use --sink null or --sink wav:FILE to play without a sound card.");
  }

  const AudioFormat format_;
  const pa_sample_spec spec_;
  pa_threaded_mainloop* loop_ = nullptr;
  pa_context* context_ = nullptr;
  pa_stream* stream_ = nullptr;
  // A rewind not yet applied (bytes, <= 0): the next write seeks by it.
  std::int64_t seek_bytes_ = 0;
  // The timing report asked for last (ask_for_report), or null.
  pa_operation* refresh_ = nullptr;
  // Wakes write() at the stall limit (wake_at), or null before the first wait.
  pa_time_event* stall_alarm_ = nullptr;
  DeviceRate device_rate_;
  std::int64_t since_underrun_ = 0;  // of the last report seen
};

}  // namespace

Result<std::unique_ptr<AudioSink>> make_pulse_sink(const AudioFormat& format) {
  pa_sample_spec spec{};
  spec.format = PA_SAMPLE_S16LE;
  spec.rate = static_cast<std::uint32_t>(format.sample_rate);
  spec.channels = static_cast<std::uint8_t>(format.channels);
  if (!pa_sample_spec_valid(&spec)) return invalid_argument("unsupported audio format");
  auto sink = std::make_unique<PulseSink>(format, spec);
  if (Status s = sink->open(); !s) return s;
  return std::unique_ptr<AudioSink>(std::move(sink));
}

}  // namespace hifi::client::sinks
