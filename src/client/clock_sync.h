// ClockSync: estimates the offset between this machine's clock and the
// server's from time-sync exchanges over the room WebSocket (see
// docs/protocol.md, "Clock synchronisation").
//
// Each sample is (t0, t1, t2, t3): local send time, server receive time,
// server send time, local receive time, all in milliseconds. Each sample's
// offset is off by half the difference between its two one-way delays. The
// estimate looks at the latest samples, as many as the jitter of the round
// trips calls for (at least 120: on a steady path it follows the clocks
// within a minute; up to the whole window on a jittery one), keeps those whose round trip is not far
// above the fast ones (queued one way: up to the 75th percentile, and at
// most the 25th plus twice its distance from the fastest) and takes the mean
// of the middle 80 % of their offsets, so random jitter averages out with
// the number of samples while one-sided delays are left out. No one-way
// delay is negative, so each exchange also bounds the offset from both
// sides (t2 - t3 <= offset <= t1 - t0); the mean is kept within the
// tightest bounds of the last minute's samples, which close in on the
// offset once a request and an answer have each gone at their path's
// fastest (bounds that cross, a clock stepped, are not used). A constant
// asymmetry of the path (one direction always slower) cannot be seen from
// the exchanges and stays in the estimate as half the difference.
// Not thread-safe; the owner serialises access.
#pragma once

#include <cstddef>
#include <deque>
#include <limits>
#include <optional>

namespace hifi::client {

class ClockSync {
 public:
  explicit ClockSync(std::size_t window = 3000) : window_(window) {}

  void add_sample(double t0, double t1, double t2, double t3);
  // server_time ≈ local_time + offset_ms(); nullopt before the first sample
  // (or the estimate carry_over() kept).
  std::optional<double> offset_ms() const;
  // Round trip of the best kept sample; the offset's error is at most half.
  std::optional<double> best_round_trip_ms() const;
  // Whether the estimate is good enough to place audio by: one exchange
  // took at most kSettledRoundTripMs (the offset is within half of it), or
  // kSettledSamples have been taken (a busy machine or a slow path: their
  // mean, within their bounds), or it carried an earlier connection's over
  // (until reset()). A
  // player waits for it before its first sample: placed on a worse first
  // guess, it would be heard off by it, and take up to a second to move
  // back once the next exchanges corrected the estimate.
  bool settled() const;
  static constexpr double kSettledRoundTripMs = 1.0;
  static constexpr std::size_t kSettledSamples = 5;
  // The q-quantile (0..1, nearest rank) of the round trips in the window.
  std::optional<double> round_trip_quantile_ms(double q) const;
  // How much the round trips vary: their 75th minus their 25th percentile
  // (0 before any sample). The more they vary, the more samples the
  // estimate needs: each sample's error is about that large.
  double round_trip_spread_ms() const;
  std::size_t samples() const { return samples_.size(); }
  void reset() {
    samples_.clear();
    carried_.reset();
    estimate_.reset();
  }
  // Measures afresh (another server of the same cluster, whose clock is
  // the same time source) but answers with the current estimate until the
  // first new sample, so that playback needs no pause for it.
  void carry_over() {
    carried_ = offset_ms();
    samples_.clear();
    estimate_.reset();
  }

 private:
  struct Sample {
    double offset;
    double round_trip;
    double at;  // t3
    // t2 - t3 and t1 - t0: the offset is within them (unbounded for a
    // sample whose bounds cross: a clock moved during it).
    double low = -std::numeric_limits<double>::infinity();
    double high = std::numeric_limits<double>::infinity();
  };
  // The bounds come from the samples of the last minute, at most this many:
  // over longer, two clocks' rates may differ enough to move them.
  static constexpr double kBoundsWindowMs = 60'000;
  static constexpr std::size_t kMaxBoundsSamples = 600;
  double estimate() const;

  std::size_t window_;
  std::deque<Sample> samples_;
  std::optional<double> carried_;
  mutable std::optional<double> estimate_;  // of samples_, computed when asked
};

}  // namespace hifi::client
