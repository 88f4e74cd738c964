// hifi-drift-card: two sound cards whose sample clocks run off the system's
// clock by a chosen amount, and a recording of what they played on one
// timeline, for measuring at the speaker whether players follow a device
// clock that drifts.
//
//   hifi-drift-card --left FIFO --left-ppm PPM --right FIFO --right-ppm PPM
//                   --out RECORDING.wav [--rate 48000] [--channels 2]
//                   [--pipe-bytes 16384] [--tick-us 100] [--seconds S]
//
// Each FIFO is the file of a PulseAudio pipe sink (module-pipe-sink with its
// default use_system_clock_for_timing=no, format s16le at --rate with
// --channels): such a sink writes whenever its pipe has room and reports as
// its latency what the pipe holds, so whoever reads the pipe is its sound
// card and sets its clock. This tool reads each pipe as a card would play it:
// a card at P ppm takes frame n at T0 + n / (rate * (1 + P / 1e6)) of the
// system's monotonic clock (T0: when it starts), a few frames at a time every
// --tick-us. PulseAudio's timing reports then show the drift exactly as they
// would show a real card's, through the read index and the pipe's fill.
//
// The recording is a 2-channel 16-bit WAV at --rate on the system clock: its
// frame m holds what each card played at T0 + m / rate (the card's signal at
// that moment, the mean of its channels, interpolated between its
// frames). The left card is the left channel. Two players that stay on the
// room's timeline are therefore aligned in it however far their cards
// drift, and hifi-speaker-skew measures them as it measures PulseAudio's
// null-sink recordings.
//
// When a pipe holds fewer frames than are due the card plays silence for the
// rest (an underrun: counted, with when the first and the last stretch of
// them began); what arrives later is played after it.
// The pipe is shrunk to --pipe-bytes so that PulseAudio's latency stays
// small (a pipe holds 64 KiB by default: 341 ms at 48 kHz stereo).
//
// Runs until SIGINT or SIGTERM (or --seconds), then completes the WAV header
// and prints per card the frames played and the frames of underrun on
// stderr. Exit status: 0, 2 for bad arguments, 1 when a FIFO or the output
// cannot be opened, read or written.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "client/sinks/wav_header.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;
// The largest offset accepted: far beyond any real crystal (a few hundred ppm).
constexpr double kMaxPpm = 100'000;
// The recording is written out this often.
constexpr double kFlushEverySeconds = 0.02;
// The most recording frames a WAV's 32-bit sizes can count (about 6.2 hours
// at 48 kHz): the recording stops there.
constexpr std::int64_t kMaxRecordedFrames = (0xFFFFFFFFLL - 36) / 4;
// Frames each side of a position the interpolation weighs.
constexpr std::int64_t kTaps = 8;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  std::string left_fifo, right_fifo, out;
  double left_ppm = 0, right_ppm = 0;
  int rate = 48000;
  int channels = 2;
  long pipe_bytes = 16384;
  long tick_us = 100;
  double seconds = 0;  // 0: until a signal
};

void usage(std::ostream& out) {
  out << "usage: hifi-drift-card --left FIFO --left-ppm PPM --right FIFO --right-ppm PPM\n"
         "                       --out RECORDING.wav [--rate HZ] [--channels N]\n"
         "                       [--pipe-bytes B] [--tick-us US] [--seconds S]\n"
         "Plays two PulseAudio pipe sinks' FIFOs as sound cards whose clocks run PPM parts\n"
         "per million fast (negative: slow) against the system clock, and records what\n"
         "they play on the system clock's timeline: left card left, right card right.\n"
         "  --rate        the pipe sinks' sample rate and the recording's (default 48000)\n"
         "  --channels    the pipe sinks' channels, s16le (default 2; mixed to one)\n"
         "  --pipe-bytes  each pipe's size, so PulseAudio's latency stays small (default\n"
         "                16384; 0 keeps the system's)\n"
         "  --tick-us     how often the cards take their due frames (default 100)\n"
         "  --seconds     stop after this long (default: at SIGINT or SIGTERM)\n"
         "Prints per card the frames played and the frames of underrun (silence played\n"
         "because the pipe was empty) when it stops.\n";
}

bool parse_number(const char* text, double& out) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_args(int argc, char** argv, Options& opt, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    auto text = [&](std::string& out) {
      if (next == nullptr) {
        std::cerr << "hifi-drift-card: " << a << " needs a value\n";
        return false;
      }
      out = next;
      ++i;
      return true;
    };
    auto number = [&](double& out, double lo, double hi) {
      if (!parse_number(next, out) || out < lo || out > hi) {
        std::cerr << "hifi-drift-card: " << a << " needs a number from " << lo << " to " << hi << "\n";
        return false;
      }
      ++i;
      return true;
    };
    double v = 0;
    if (a == "--help" || a == "-h") {
      help = true;
      return true;
    } else if (a == "--left") {
      if (!text(opt.left_fifo)) return false;
    } else if (a == "--right") {
      if (!text(opt.right_fifo)) return false;
    } else if (a == "--out") {
      if (!text(opt.out)) return false;
    } else if (a == "--left-ppm") {
      if (!number(opt.left_ppm, -kMaxPpm, kMaxPpm)) return false;
    } else if (a == "--right-ppm") {
      if (!number(opt.right_ppm, -kMaxPpm, kMaxPpm)) return false;
    } else if (a == "--rate") {
      if (!number(v, 8000, 192000)) return false;
      opt.rate = static_cast<int>(v);
    } else if (a == "--channels") {
      if (!number(v, 1, 8)) return false;
      opt.channels = static_cast<int>(v);
    } else if (a == "--pipe-bytes") {
      if (!number(v, 0, 1 << 20)) return false;
      opt.pipe_bytes = static_cast<long>(v);
    } else if (a == "--tick-us") {
      if (!number(v, 50, 100'000)) return false;
      opt.tick_us = static_cast<long>(v);
    } else if (a == "--seconds") {
      if (!number(opt.seconds, 0, 86'400)) return false;
    } else {
      std::cerr << "hifi-drift-card: unknown argument '" << a << "'\n";
      return false;
    }
  }
  if (opt.left_fifo.empty() || opt.right_fifo.empty() || opt.out.empty()) {
    std::cerr << "hifi-drift-card: --left, --right and --out are needed\n";
    return false;
  }
  return true;
}

// The Lanczos kernel with kTaps lobes.
double lanczos(double x) {
  if (std::fabs(x) < 1e-9) return 1;
  if (std::fabs(x) >= static_cast<double>(kTaps)) return 0;
  const double px = M_PI * x;
  return static_cast<double>(kTaps) * std::sin(px) * std::sin(px / static_cast<double>(kTaps)) / (px * px);
}

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// One card: the pipe it plays and the mono signal it has played, from
// sample `base` on.
class Card {
 public:
  Card(std::string name, double ppm, const Options& opt)
      : name_(std::move(name)),
        ppm_(ppm),
        frame_bytes_(2 * static_cast<std::size_t>(opt.channels)),
        channels_(opt.channels),
        rate_(opt.rate * (1 + ppm / 1e6)) {}
  ~Card() {
    if (fd_ >= 0) close(fd_);
  }
  Card(const Card&) = delete;
  Card& operator=(const Card&) = delete;

  // Opens the FIFO, empties it of what the sink wrote before the card
  // started and shrinks it. False with a message on failure.
  bool open(const std::string& path, long pipe_bytes) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
      std::cerr << "hifi-drift-card: " << path << " is not a FIFO (load the pipe sink first)\n";
      return false;
    }
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      std::cerr << "hifi-drift-card: " << path << ": " << std::strerror(errno) << "\n";
      return false;
    }
    if (pipe_bytes == 0) return drain();
    // A pipe cannot shrink below what it holds, and the sink refills it:
    // empty it and try again.
    for (int tries = 0;; ++tries) {
      if (!drain()) return false;
      if (fcntl(fd_, F_SETPIPE_SZ, static_cast<int>(pipe_bytes)) >= 0) return drain();
      if (errno != EBUSY || tries == 1000) {
        std::cerr << "hifi-drift-card: cannot size the pipe " << path << " to " << pipe_bytes
                  << " bytes: " << std::strerror(errno) << "\n";
        return false;
      }
    }
  }

  // Plays the frames due by `elapsed` seconds after T0. False on a read error.
  bool play_until(double elapsed) {
    const auto due = static_cast<std::int64_t>(std::floor(elapsed * rate_));
    while (played_ < due) {
      const std::int64_t want = due - played_;
      chunk_.resize(pending_.size() + static_cast<std::size_t>(want) * frame_bytes_);
      std::copy(pending_.begin(), pending_.end(), chunk_.begin());
      const ssize_t n = read(fd_, chunk_.data() + pending_.size(), chunk_.size() - pending_.size());
      std::size_t bytes = pending_.size();
      if (n > 0) {
        bytes += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        std::cerr << "hifi-drift-card: reading the " << name_ << " card's pipe: " << std::strerror(errno) << "\n";
        return false;
      }
      const std::size_t frames = bytes / frame_bytes_;
      for (std::size_t f = 0; f < frames; ++f) {
        const auto* p = chunk_.data() + f * frame_bytes_;
        std::int32_t sum = 0;
        for (int c = 0; c < channels_; ++c) {
          std::int16_t s;
          std::memcpy(&s, p + 2 * static_cast<std::size_t>(c), 2);
          sum += s;
        }
        signal_.push_back(static_cast<float>(sum) / static_cast<float>(channels_));
      }
      pending_.assign(chunk_.begin() + static_cast<std::ptrdiff_t>(frames * frame_bytes_),
                      chunk_.begin() + static_cast<std::ptrdiff_t>(bytes));
      played_ += static_cast<std::int64_t>(frames);
      if (frames > 0) in_underrun_ = false;
      if (n <= 0 || static_cast<std::int64_t>(frames) == 0) {
        // The pipe is empty: silence for the rest of what is due.
        const std::int64_t silent = due - played_;
        signal_.insert(signal_.end(), static_cast<std::size_t>(silent), 0.0F);
        underrun_ += silent;
        played_ = due;
        if (!in_underrun_) {
          in_underrun_ = true;
          if (underruns_++ == 0) first_underrun_s_ = elapsed;
          last_underrun_s_ = elapsed;
        }
      }
    }
    return true;
  }

  // The card's signal at card position `pos` (in its own frames), or false
  // when it has not played that far yet: Lanczos interpolation over
  // 2 * kTaps frames, so clicks keep their edges (a linear one would dull
  // them by a different amount at each fraction).
  bool sample_at(double pos, float& out) const {
    const auto i = static_cast<std::int64_t>(std::floor(pos));
    if (i + kTaps >= base_ + static_cast<std::int64_t>(signal_.size())) return false;
    const double frac = pos - static_cast<double>(i);
    double sum = 0, weights = 0;
    for (std::int64_t k = 1 - kTaps; k <= kTaps; ++k) {
      const double x = frac - static_cast<double>(k);
      const double w = lanczos(x);
      const std::int64_t at = i + k;
      if (at >= base_) sum += w * signal_[static_cast<std::size_t>(at - base_)];
      weights += w;
    }
    out = static_cast<float>(sum / weights);
    return true;
  }

  // Forgets what lies before card position `pos`.
  void forget_before(double pos) {
    const auto keep_from = static_cast<std::int64_t>(std::floor(pos)) - kTaps;
    if (keep_from <= base_ + 65536) return;
    signal_.erase(signal_.begin(), signal_.begin() + (keep_from - base_));
    base_ = keep_from;
  }

  // Card position (own frames) at recording frame m.
  double position_at(std::int64_t m) const { return static_cast<double>(m) * (1 + ppm_ / 1e6); }

  void report(double seconds) const {
    std::cerr << "hifi-drift-card: " << name_ << " card at " << ppm_ << " ppm: " << played_ << " frames in "
              << std::fixed << std::setprecision(6) << seconds << std::defaultfloat << " s, " << underrun_
              << " frames of underrun";
    if (underruns_ > 0) {
      std::cerr << " in " << underruns_ << " stretch(es), the first at " << std::fixed << std::setprecision(3)
                << first_underrun_s_ << " s, the last at " << last_underrun_s_ << std::defaultfloat << " s";
    }
    std::cerr << "\n";
  }

 private:
  bool drain() {
    char sink[65536];
    for (;;) {
      const ssize_t n = read(fd_, sink, sizeof sink);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) {
        std::cerr << "hifi-drift-card: reading the " << name_ << " card's pipe: " << std::strerror(errno) << "\n";
        return false;
      }
      return true;
    }
  }

  std::string name_;
  double ppm_;
  std::size_t frame_bytes_;
  int channels_;
  double rate_;  // frames a second of the system clock
  int fd_ = -1;
  std::vector<std::uint8_t> chunk_, pending_;
  std::vector<float> signal_;
  std::int64_t base_ = 0;  // card position of signal_[0]
  std::int64_t played_ = 0;
  std::int64_t underrun_ = 0;
  bool in_underrun_ = false;
  int underruns_ = 0;  // stretches of underrun
  double first_underrun_s_ = 0, last_underrun_s_ = 0;
};

void put_le(std::uint8_t* p, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

std::int16_t to_s16(float v) {
  return static_cast<std::int16_t>(std::lround(std::fmax(-32768.0F, std::fmin(32767.0F, v))));
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bool help = false;
  if (!parse_args(argc, argv, opt, help)) {
    usage(std::cerr);
    return kExitBadInput;
  }
  if (help) {
    usage(std::cout);
    return kExitOk;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // Wake-ups on time: the default 50 us of timer slack is half a tick.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  Card left("left", opt.left_ppm, opt), right("right", opt.right_ppm, opt);
  if (!left.open(opt.left_fifo, opt.pipe_bytes) || !right.open(opt.right_fifo, opt.pipe_bytes)) return kExitFailed;
  const int out = ::open(opt.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    std::cerr << "hifi-drift-card: " << opt.out << ": " << std::strerror(errno) << "\n";
    return kExitFailed;
  }
  const auto rate = static_cast<std::uint32_t>(opt.rate);
  const auto header = hifi::client::sinks::wav_header(rate, 2, 0);
  if (!write_all(out, header.data(), header.size())) {
    std::cerr << "hifi-drift-card: writing " << opt.out << ": " << std::strerror(errno) << "\n";
    close(out);
    return kExitFailed;
  }

  const double t0 = monotonic_seconds();
  timespec wake{};
  clock_gettime(CLOCK_MONOTONIC, &wake);
  std::int64_t recorded = 0;  // recording frames written
  std::vector<std::uint8_t> buffer;
  double last_flush = 0;
  bool ok = true;
  double elapsed = 0;  // when the cards last played
  while (g_stop == 0 && ok) {
    wake.tv_nsec += opt.tick_us * 1000;
    while (wake.tv_nsec >= 1'000'000'000) {
      wake.tv_nsec -= 1'000'000'000;
      ++wake.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr);
    const double now = monotonic_seconds() - t0;
    if (opt.seconds > 0 && now >= opt.seconds) break;
    elapsed = now;
    ok = left.play_until(elapsed) && right.play_until(elapsed);
    // Every recording frame both cards have played past.
    for (;;) {
      float l = 0, r = 0;
      if (!left.sample_at(left.position_at(recorded), l) || !right.sample_at(right.position_at(recorded), r)) break;
      std::uint8_t frame[4];
      put_le(frame, static_cast<std::uint16_t>(to_s16(l)), 2);
      put_le(frame + 2, static_cast<std::uint16_t>(to_s16(r)), 2);
      buffer.insert(buffer.end(), frame, frame + 4);
      ++recorded;
      if (recorded == kMaxRecordedFrames) {
        std::cerr << "hifi-drift-card: the recording reached the largest size a WAV can hold; stopping\n";
        g_stop = 1;
        break;
      }
    }
    left.forget_before(left.position_at(recorded));
    right.forget_before(right.position_at(recorded));
    if (elapsed - last_flush >= kFlushEverySeconds || g_stop != 0) {
      if (!write_all(out, buffer.data(), buffer.size())) {
        std::cerr << "hifi-drift-card: writing " << opt.out << ": " << std::strerror(errno) << "\n";
        ok = false;
      }
      buffer.clear();
      last_flush = elapsed;
    }
  }
  if (ok && !write_all(out, buffer.data(), buffer.size())) ok = false;
  const auto data_bytes = static_cast<std::uint32_t>(recorded * 4);
  const auto final_header = hifi::client::sinks::wav_header(rate, 2, data_bytes);
  if (lseek(out, 0, SEEK_SET) != 0 || !write_all(out, final_header.data(), final_header.size())) ok = false;
  close(out);
  left.report(elapsed);
  right.report(elapsed);
  std::cerr << "hifi-drift-card: recorded " << static_cast<double>(recorded) / opt.rate << " s to " << opt.out << "\n";
  return ok ? kExitOk : kExitFailed;
}
