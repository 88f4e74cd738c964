// DeviceRate: how fast a sound card plays against its nominal rate, from
// its timing reports. The card's sample clock is its own crystal: it runs
// a few hundred ppm off the system clock, and a player that counts the
// audio it queued at the nominal rate is heard that much sooner or later.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace hifi::client::sinks {

// The device's rate against its nominal one, from the frames it was hearing
// at the timing reports' timestamps: the least-squares slope over the last
// kRateWindowMs of reports at least kRatePointMs apart, once they span
// kMinRateSpanMs. It starts afresh when two of them are more than
// kMaxGapMs apart (nothing was known in between), when the frames between
// them moved more than kRateBreak off the time between them (an underrun, a
// stream that stopped, the clock stepped), and on reset() (the caller saw
// an underrun or a stream that stopped). At most kMaxDrift off nominal is
// believed. Not thread-safe.
class DeviceRate {
 public:
  static constexpr double kRatePointMs = 1000;
  static constexpr double kMaxGapMs = 3000;
  static constexpr double kRateWindowMs = 30'000;
  static constexpr double kMinRateSpanMs = 10'000;
  static constexpr double kRateBreak = 2e-3;
  static constexpr double kMaxDrift = 1e-3;

  // A report: at `at_ms` (system clock) the device was hearing frame
  // `heard_frames`; it plays `nominal_per_ms` frames a ms when on time.
  void add(double at_ms, double heard_frames, double nominal_per_ms) {
    if (!points_.empty()) {
      const Point& last = points_.back();
      const double dt = at_ms - last.at_ms;
      if (dt < kRatePointMs && dt >= 0) return;
      const double ratio = dt > 0 ? (heard_frames - last.frames) / (dt * nominal_per_ms) : 0;
      if (dt < 0 || dt > kMaxGapMs || std::abs(ratio - 1) > kRateBreak) points_.clear();
    }
    points_.push_back({at_ms, heard_frames});
    while (points_.size() > 2 && at_ms - points_[1].at_ms >= kRateWindowMs) points_.erase(points_.begin());
    ratio_ = 1;
    if (at_ms - points_.front().at_ms < kMinRateSpanMs) return;
    // Slope of frames over time, both taken from the first point (the
    // timestamps are some 1.8e12 ms: their squares would lose the µs).
    const Point& first = points_.front();
    double mean_t = 0, mean_f = 0;
    for (const Point& p : points_) {
      mean_t += p.at_ms - first.at_ms;
      mean_f += p.frames - first.frames;
    }
    mean_t /= static_cast<double>(points_.size());
    mean_f /= static_cast<double>(points_.size());
    double stt = 0, stf = 0;
    for (const Point& p : points_) {
      const double t = p.at_ms - first.at_ms - mean_t;
      stt += t * t;
      stf += t * (p.frames - first.frames - mean_f);
    }
    ratio_ = std::clamp(stf / stt / nominal_per_ms, 1 - kMaxDrift, 1 + kMaxDrift);
  }
  // The stream stopped playing, or underran: what comes next is a new stretch.
  void reset() {
    points_.clear();
    ratio_ = 1;
  }
  // Device frames per nominal frame (1 until known).
  double ratio() const { return ratio_; }

 private:
  struct Point {
    double at_ms;
    double frames;
  };
  std::vector<Point> points_;
  double ratio_ = 1;
};

}  // namespace hifi::client::sinks
