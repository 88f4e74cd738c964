// hifi-speaker-skew: how far apart two listeners play, measured in what came
// out of the audio stack rather than in the players' own logs.
//
//   hifi-speaker-skew [--json] [--window-ms 500] [--max-lag-ms 50]
//                     [--min-level -50] [--min-corr 0.5] RECORDING.wav
//
// The recording is a 2-channel 16-bit PCM WAV in which listener A was routed
// to the left channel and listener B to the right one (tests/e2e/pulse.sh
// does this with PulseAudio: two remap sinks in front of one null sink whose
// monitor is recorded). Both played the same song, so the right channel is
// the left one shifted by the skew.
//
// The recording is cut into consecutive windows. A window is compared only
// when both channels carry signal: its RMS level in each is at least
// --min-level dBFS (a paused or silent stretch is counted as silent). Then,
// for a lag k in samples, the normalised cross-correlation
//
//   c(k) = sum L[n] R[n+k] / sqrt(sum L[n]^2 * sum R[n+k]^2),  n in the window
//
// peaks at the lag by which the right channel is late. The method:
//   1. Coarse: each channel's envelope, the mean of |x| over blocks of D
//      samples (D = rate / 6000, 8 at 48 kHz), is correlated (Pearson: the
//      window's mean removed) at every decimated lag within +-max-lag. The
//      envelope follows onsets (clicks, notes) and ignores a waveform's
//      period, so a steady tone, which correlates at every period, gives no
//      peak here. A window whose best envelope peak is below --min-corr, or
//      whose second-best peak (outside the hill of the best one) reaches 0.9
//      of it, is unmatched. This step costs (window/D) * (2 * max-lag/D)
//      products, about 2M per window at the defaults.
//   2. Fine: c of the waveforms is computed at full rate for every lag within
//      4*D samples of the coarse peak, and the best integer lag is refined
//      with a parabola through it and its two neighbours (sub-sample
//      resolution). Products of 16-bit samples are summed exactly (64-bit).
// Ten minutes of audio take about 1.5 s at the defaults (one core).
// The skew of a window is that lag in ms: positive when the right channel
// (listener B) plays later than the left one. A fine peak below --min-corr,
// or on the edge of the lag range, leaves the window unmatched.
//
// Output: one line per window and a summary (windows compared, silent and
// unmatched; p50, p99 and max of |skew|; the mean signed skew), or with
// --json one object with the summary fields and a "windows" array.
// Exit status: 0 when at least one window was compared, 3 when none was,
// 2 for bad arguments or a file that is not a 2-channel 16-bit PCM WAV.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;
constexpr int kExitNothingCompared = 3;
// The decimated rate of the coarse search.
constexpr double kCoarseRate = 6000;
// A second peak at this fraction of the best one makes the window ambiguous.
constexpr double kAmbiguousRatio = 0.9;

struct Options {
  bool json = false;
  double window_ms = 500;
  double max_lag_ms = 50;
  double min_level_dbfs = -50;
  double min_corr = 0.5;
  std::string path;
};

struct Recording {
  int rate = 0;
  std::vector<std::int16_t> left, right;
};

enum class WindowStatus { kCompared, kSilent, kUnmatched };

struct Window {
  double start_ms = 0;
  WindowStatus status = WindowStatus::kSilent;
  double skew_ms = 0;
  double corr = 0;  // the normalised correlation at the peak (0 when silent)
  double left_dbfs = 0;
  double right_dbfs = 0;
  const char* reason = "";  // why a window is unmatched
};

void usage(std::ostream& out) {
  out << "usage: hifi-speaker-skew [--json] [--window-ms MS] [--max-lag-ms MS] [--min-level DBFS]\n"
         "                         [--min-corr C] RECORDING.wav\n"
         "Compares the left and right channels of a 2-channel 16-bit WAV (listener A on the\n"
         "left, B on the right) window by window and reports B's lag behind A (ms).\n"
         "  --window-ms   window length (default 500)\n"
         "  --max-lag-ms  largest skew searched, either way (default 50)\n"
         "  --min-level   a window where either channel's RMS is below this (dBFS) is silent\n"
         "                (default -50)\n"
         "  --min-corr    a window whose normalised correlation peak is below this is\n"
         "                unmatched (default 0.5)\n"
         "Exit status: 0 when a window was compared, 3 when none was, 2 for bad input.\n";
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// Parses argv into `opt`; false (with a message on stderr) for bad usage.
bool parse_args(int argc, char** argv, Options& opt, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](double& out) {
      if (i + 1 >= argc || !parse_number(argv[i + 1], out)) {
        std::cerr << "hifi-speaker-skew: " << a << " needs a number\n";
        return false;
      }
      ++i;
      return true;
    };
    if (a == "--help" || a == "-h") {
      help = true;
      return true;
    } else if (a == "--json") {
      opt.json = true;
    } else if (a == "--window-ms") {
      if (!value(opt.window_ms)) return false;
    } else if (a == "--max-lag-ms") {
      if (!value(opt.max_lag_ms)) return false;
    } else if (a == "--min-level") {
      if (!value(opt.min_level_dbfs)) return false;
    } else if (a == "--min-corr") {
      if (!value(opt.min_corr)) return false;
    } else if (a.size() > 1 && a[0] == '-') {
      std::cerr << "hifi-speaker-skew: unknown option " << a << "\n";
      return false;
    } else if (opt.path.empty()) {
      opt.path = a;
    } else {
      std::cerr << "hifi-speaker-skew: one recording only (got " << opt.path << " and " << a
                << ")\n";
      return false;
    }
  }
  if (opt.path.empty()) {
    std::cerr << "hifi-speaker-skew: no recording given\n";
    return false;
  }
  if (!(opt.window_ms >= 10 && opt.window_ms <= 60'000)) {
    std::cerr << "hifi-speaker-skew: --window-ms must be within 10..60000\n";
    return false;
  }
  if (!(opt.max_lag_ms > 0 && opt.max_lag_ms <= 5'000)) {
    std::cerr << "hifi-speaker-skew: --max-lag-ms must be within (0, 5000]\n";
    return false;
  }
  if (!(opt.min_corr >= 0 && opt.min_corr <= 1)) {
    std::cerr << "hifi-speaker-skew: --min-corr must be within 0..1\n";
    return false;
  }
  return true;
}

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }

// Reads a RIFF/WAVE file of 16-bit PCM, 2 channels. A data chunk whose size
// is 0, 0xFFFFFFFF or beyond the end of the file (a recorder still writing,
// or stopped before it fixed the header) extends to the end of the file.
// Returns an empty string on success, else what is wrong.
std::string read_wav(const std::string& path, Recording& rec) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open: " + std::string(std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char riff[12];
  if (!in.read(reinterpret_cast<char*>(riff), 12) || std::memcmp(riff, "RIFF", 4) != 0 ||
      std::memcmp(riff + 8, "WAVE", 4) != 0) {
    return "not a WAV file (no RIFF/WAVE header)";
  }
  bool have_fmt = false;
  std::uint64_t pos = 12;
  while (true) {
    unsigned char head[8];
    in.seekg(static_cast<std::streamoff>(pos));
    if (!in.read(reinterpret_cast<char*>(head), 8)) return "no data chunk";
    const std::uint32_t size = le32(head + 4);
    pos += 8;
    if (std::memcmp(head, "fmt ", 4) == 0) {
      if (size < 16) return "fmt chunk too short";
      unsigned char fmt[40] = {};
      if (!in.read(reinterpret_cast<char*>(fmt), std::min<std::uint32_t>(size, sizeof fmt))) {
        return "truncated fmt chunk";
      }
      std::uint16_t format = le16(fmt);
      const std::uint16_t channels = le16(fmt + 2);
      rec.rate = static_cast<int>(le32(fmt + 4));
      const std::uint16_t bits = le16(fmt + 14);
      // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the format tag.
      if (format == 0xFFFE && size >= 26) format = le16(fmt + 24);
      if (format != 1) return "not PCM (format tag " + std::to_string(format) + ")";
      if (channels != 2) return "has " + std::to_string(channels) + " channels, 2 needed";
      if (bits != 16) return "has " + std::to_string(bits) + "-bit samples, 16 needed";
      if (rec.rate < 1000 || rec.rate > 768'000) return "implausible sample rate";
      have_fmt = true;
    } else if (std::memcmp(head, "data", 4) == 0) {
      if (!have_fmt) return "data chunk before the fmt chunk";
      std::uint64_t bytes = size;
      if (size == 0 || size == 0xFFFFFFFFu || pos + size > file_size) bytes = file_size - pos;
      const std::uint64_t frames = bytes / 4;
      rec.left.resize(frames);
      rec.right.resize(frames);
      std::vector<unsigned char> buf(1 << 16);
      std::uint64_t done = 0;
      while (done < frames) {
        const std::uint64_t n = std::min<std::uint64_t>(frames - done, buf.size() / 4);
        if (!in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n * 4))) {
          return "truncated data chunk";
        }
        for (std::uint64_t i = 0; i < n; ++i) {
          rec.left[done + i] = static_cast<std::int16_t>(le16(&buf[i * 4]));
          rec.right[done + i] = static_cast<std::int16_t>(le16(&buf[i * 4 + 2]));
        }
        done += n;
      }
      return "";
    }
    pos += size + (size & 1);
    if (pos >= file_size) return "no data chunk";
  }
}

double dbfs(double sum_squares, std::size_t n) {
  if (n == 0 || sum_squares <= 0) return -200;
  return std::max(-200.0, 10 * std::log10(sum_squares / n / (32768.0 * 32768.0)));
}

// Index i moved by lag k (the callers keep it within the recording).
std::size_t shifted(std::size_t i, long k) {
  return static_cast<std::size_t>(static_cast<long>(i) + k);
}

// The envelope: mean of |x| over blocks of D samples.
std::vector<float> envelope(const std::vector<std::int16_t>& x, std::size_t d) {
  std::vector<float> out(x.size() / d);
  for (std::size_t j = 0; j < out.size(); ++j) {
    int s = 0;
    for (std::size_t i = 0; i < d; ++i) s += std::abs(static_cast<int>(x[j * d + i]));
    out[j] = static_cast<float>(s) / static_cast<float>(d);
  }
  return out;
}

// An envelope with running sums, so that the mean and energy of any stretch
// take O(1).
struct Envelope {
  explicit Envelope(std::vector<float> v)
      : x(std::move(v)), sum(x.size() + 1), sum_sq(x.size() + 1) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      sum[i + 1] = sum[i] + x[i];
      sum_sq[i + 1] = sum_sq[i] + static_cast<double>(x[i]) * x[i];
    }
  }
  std::vector<float> x;
  std::vector<double> sum, sum_sq;  // of x[0 .. i)
};

// Pearson correlation of a.x[ia .. ia+n) and b.x[ib .. ib+n).
double pearson(const Envelope& a, std::size_t ia, const Envelope& b, std::size_t ib,
               std::size_t n) {
  const float* pa = &a.x[ia];
  const float* pb = &b.x[ib];
  // Four sums, so that the additions do not wait on each other.
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<double>(pa[i]) * pb[i];
    s1 += static_cast<double>(pa[i + 1]) * pb[i + 1];
    s2 += static_cast<double>(pa[i + 2]) * pb[i + 2];
    s3 += static_cast<double>(pa[i + 3]) * pb[i + 3];
  }
  for (; i < n; ++i) s0 += static_cast<double>(pa[i]) * pb[i];
  const double sab = (s0 + s1) + (s2 + s3);
  const double sa = a.sum[ia + n] - a.sum[ia], saa = a.sum_sq[ia + n] - a.sum_sq[ia];
  const double sb = b.sum[ib + n] - b.sum[ib], sbb = b.sum_sq[ib + n] - b.sum_sq[ib];
  const double cov = sab - sa * sb / n;
  const double var = (saa - sa * sa / n) * (sbb - sb * sb / n);
  return var > 0 ? cov / std::sqrt(var) : 0;
}

// sum a[i] * b[i] over [0, n), exact (|a[i] * b[i]| < 2^30, n < 2^32).
std::int64_t dot(const std::int16_t* a, const std::int16_t* b, std::size_t n) {
  std::int64_t s = 0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<std::int32_t>(a[i]) * b[i];
  return s;
}

class Analyzer {
 public:
  Analyzer(const Recording& rec, const Options& opt)
      : rec_(rec),
        opt_(opt),
        d_(std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(rec.rate / kCoarseRate)))),
        dl_(envelope(rec.left, d_)),
        dr_(envelope(rec.right, d_)) {
    window_ = std::max<std::size_t>(
        d_, static_cast<std::size_t>(opt.window_ms * rec.rate / 1000) / d_ * d_);
    max_lag_ = std::max<long>(1, std::lround(opt.max_lag_ms * rec.rate / 1000));
    coarse_lag_ = (max_lag_ + static_cast<long>(d_) - 1) / static_cast<long>(d_);
    fine_span_ = 4 * static_cast<long>(d_);
  }

  std::vector<Window> run() const {
    std::vector<Window> out;
    // Room for the lags on both sides of every window.
    const std::size_t margin = static_cast<std::size_t>(max_lag_ + fine_span_) + 2 * d_;
    const std::size_t first = (margin + d_ - 1) / d_ * d_;
    const std::size_t n = rec_.left.size();
    for (std::size_t start = first; start + window_ + margin <= n; start += window_) {
      out.push_back(analyze(start));
    }
    return out;
  }

 private:
  Window analyze(std::size_t start) const {
    Window w;
    w.start_ms = 1000.0 * static_cast<double>(start) / rec_.rate;
    double el = 0, er = 0;
    for (std::size_t i = start; i < start + window_; ++i) {
      el += static_cast<double>(rec_.left[i]) * rec_.left[i];
      er += static_cast<double>(rec_.right[i]) * rec_.right[i];
    }
    w.left_dbfs = dbfs(el, window_);
    w.right_dbfs = dbfs(er, window_);
    if (w.left_dbfs < opt_.min_level_dbfs || w.right_dbfs < opt_.min_level_dbfs) {
      w.status = WindowStatus::kSilent;
      return w;
    }
    w.status = WindowStatus::kUnmatched;

    // Coarse search on the envelopes.
    const std::size_t j0 = start / d_, wd = window_ / d_;
    std::vector<double> coarse(2 * coarse_lag_ + 1);
    for (long k = -coarse_lag_; k <= coarse_lag_; ++k) {
      coarse[k + coarse_lag_] = pearson(dl_, j0, dr_, shifted(j0, k), wd);
    }
    const auto best_it = std::max_element(coarse.begin(), coarse.end());
    const long best = best_it - coarse.begin();
    // The hill of the best peak: downhill both ways from it.
    long lo = best, hi = best;
    while (lo > 0 && coarse[lo - 1] <= coarse[lo]) --lo;
    while (hi + 1 < static_cast<long>(coarse.size()) && coarse[hi + 1] <= coarse[hi]) ++hi;
    double second = -1;
    for (long k = 0; k < static_cast<long>(coarse.size()); ++k) {
      if (k < lo || k > hi) second = std::max(second, coarse[k]);
    }
    w.corr = *best_it;
    if (*best_it < opt_.min_corr) {
      w.reason = "low envelope correlation";
      return w;
    }
    if (second >= kAmbiguousRatio * *best_it) {
      w.reason = "ambiguous";
      return w;
    }

    // Fine search at full rate around the coarse peak.
    const long centre = (best - coarse_lag_) * static_cast<long>(d_);
    const long from = std::max(-max_lag_, centre - fine_span_);
    const long to = std::min(max_lag_, centre + fine_span_);
    std::vector<double> fine(static_cast<std::size_t>(to - from + 1));
    const std::int16_t* left = &rec_.left[start];
    const std::int16_t* right = &rec_.right[shifted(start, from)];
    // The right channel's energy over the shifted window, slid one sample
    // per lag.
    std::int64_t energy_right = dot(right, right, window_);
    for (long k = from; k <= to; ++k, ++right) {
      if (k > from) {
        energy_right += static_cast<std::int32_t>(right[window_ - 1]) * right[window_ - 1] -
                        static_cast<std::int32_t>(right[-1]) * right[-1];
      }
      const double den = std::sqrt(el * static_cast<double>(energy_right));
      fine[k - from] = den > 0 ? static_cast<double>(dot(left, right, window_)) / den : 0;
    }
    const auto peak_it = std::max_element(fine.begin(), fine.end());
    const long peak = peak_it - fine.begin();
    w.corr = *peak_it;
    if (*peak_it < opt_.min_corr) {
      w.reason = "low correlation";
      return w;
    }
    if (peak == 0 || peak + 1 == static_cast<long>(fine.size())) {
      w.reason = "peak at the edge of the lag range";
      return w;
    }
    const double ym = fine[peak - 1], y0 = fine[peak], yp = fine[peak + 1];
    const double curve = ym - 2 * y0 + yp;
    const double delta = curve < 0 ? 0.5 * (ym - yp) / curve : 0;
    w.corr = y0 - 0.25 * (ym - yp) * delta;  // the parabola's vertex
    w.skew_ms = 1000.0 * (static_cast<double>(from + peak) + delta) / rec_.rate;
    w.status = WindowStatus::kCompared;
    w.reason = "";
    return w;
  }

  const Recording& rec_;
  const Options& opt_;
  std::size_t d_;  // samples per envelope block
  Envelope dl_, dr_;
  std::size_t window_ = 0;  // samples per window, a multiple of d_
  long max_lag_ = 0;        // samples
  long coarse_lag_ = 0;     // envelope blocks
  long fine_span_ = 0;      // samples either side of the coarse peak
};

// Nearest-rank percentile.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(std::ceil(p * v.size()));
  return v[std::min(idx == 0 ? 0 : idx - 1, v.size() - 1)];
}

const char* status_name(WindowStatus s) {
  switch (s) {
    case WindowStatus::kCompared:
      return "compared";
    case WindowStatus::kSilent:
      return "silent";
    case WindowStatus::kUnmatched:
      return "unmatched";
  }
  return "?";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
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
  Recording rec;
  if (auto error = read_wav(opt.path, rec); !error.empty()) {
    std::cerr << "hifi-speaker-skew: " << opt.path << ": " << error << "\n";
    return kExitBadInput;
  }

  const auto windows = Analyzer(rec, opt).run();
  std::vector<double> abs_skews;
  double sum = 0;
  std::size_t silent = 0, unmatched = 0;
  for (const auto& w : windows) {
    if (w.status == WindowStatus::kCompared) {
      abs_skews.push_back(std::fabs(w.skew_ms));
      sum += w.skew_ms;
    } else if (w.status == WindowStatus::kSilent) {
      ++silent;
    } else {
      ++unmatched;
    }
  }
  const std::size_t compared = abs_skews.size();
  const double seconds = static_cast<double>(rec.left.size()) / rec.rate;

  if (opt.json) {
    auto number = [&](double v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", v);
      return std::string(buf);
    };
    auto stat = [&](double v) { return compared ? number(v) : std::string("null"); };
    std::cout << "{\"file\":" << json_string(opt.path) << ",\"sample_rate\":" << rec.rate
              << ",\"seconds\":" << number(seconds) << ",\"window_ms\":" << number(opt.window_ms)
              << ",\"max_lag_ms\":" << number(opt.max_lag_ms)
              << ",\"min_level_dbfs\":" << number(opt.min_level_dbfs)
              << ",\"min_corr\":" << number(opt.min_corr) << ",\"windows_total\":" << windows.size()
              << ",\"compared\":" << compared << ",\"silent\":" << silent
              << ",\"unmatched\":" << unmatched
              << ",\"p50_ms\":" << stat(percentile(abs_skews, 0.5))
              << ",\"p99_ms\":" << stat(percentile(abs_skews, 0.99))
              << ",\"max_ms\":" << stat(percentile(abs_skews, 1.0))
              << ",\"mean_ms\":" << stat(compared ? sum / compared : 0) << ",\"windows\":[";
    for (std::size_t i = 0; i < windows.size(); ++i) {
      const auto& w = windows[i];
      std::cout << (i ? "," : "") << "{\"start_ms\":" << number(w.start_ms) << ",\"status\":\""
                << status_name(w.status) << "\",\"skew_ms\":"
                << (w.status == WindowStatus::kCompared ? number(w.skew_ms) : "null")
                << ",\"corr\":" << number(w.corr) << ",\"left_dbfs\":" << number(w.left_dbfs)
                << ",\"right_dbfs\":" << number(w.right_dbfs);
      if (w.status == WindowStatus::kUnmatched) std::cout << ",\"reason\":\"" << w.reason << "\"";
      std::cout << "}";
    }
    std::cout << "]}\n";
  } else {
    std::printf("%10s  %9s  %6s  %7s  %7s  %s\n", "start_ms", "skew_ms", "corr", "L_dBFS", "R_dBFS",
                "status");
    for (const auto& w : windows) {
      char skew[32] = "-";
      if (w.status == WindowStatus::kCompared) std::snprintf(skew, sizeof skew, "%.4f", w.skew_ms);
      std::printf("%10.1f  %9s  %6.3f  %7.1f  %7.1f  %s%s%s\n", w.start_ms, skew, w.corr,
                  w.left_dbfs, w.right_dbfs, status_name(w.status), *w.reason ? ": " : "",
                  w.reason);
    }
    std::printf(
        "%.1f s at %d Hz, %zu windows of %.0f ms: %zu compared, %zu silent, %zu unmatched\n",
        seconds, rec.rate, windows.size(), opt.window_ms, compared, silent, unmatched);
    if (compared) {
      std::printf(
          "skew (right - left): |skew| p50 %.4f ms, p99 %.4f ms, max %.4f ms; mean %.4f ms\n",
          percentile(abs_skews, 0.5), percentile(abs_skews, 0.99), percentile(abs_skews, 1.0),
          sum / compared);
    } else {
      std::printf("no window had signal in both channels that matched\n");
    }
  }
  return compared ? kExitOk : kExitNothingCompared;
}
