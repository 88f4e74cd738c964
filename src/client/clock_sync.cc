#include "client/clock_sync.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace hifi::client {

void ClockSync::add_sample(double t0, double t1, double t2, double t3) {
  if (!std::isfinite(t0) || !std::isfinite(t1) || !std::isfinite(t2) || !std::isfinite(t3)) return;
  if (t3 < t0) return;  // the local clock went backwards: no usable round trip
  Sample s;
  s.offset = ((t1 - t0) + (t2 - t3)) / 2;
  // A server that reports more processing time than the whole exchange took
  // (clock rate skew) would give a negative round trip; it is as good as 0.
  s.round_trip = std::max(0.0, (t3 - t0) - (t2 - t1));
  s.at = t3;
  // Such a sample's bounds cross: it bounds nothing.
  if (t2 - t3 <= t1 - t0) {
    s.low = t2 - t3;
    s.high = t1 - t0;
  }
  samples_.push_back(s);
  const std::size_t window = std::max<std::size_t>(window_, 1);
  while (samples_.size() > window) samples_.pop_front();
  estimate_.reset();
}

std::optional<double> ClockSync::offset_ms() const {
  if (samples_.empty()) return carried_;
  if (!estimate_) estimate_ = estimate();
  return estimate_;
}

double ClockSync::estimate() const {
  // As many of the latest samples as the jitter needs for the mean to be
  // within about 0.25 ms (a sample's error is about a 2.7th of the round
  // trips' interquartile range; 0.6 of the samples are used), at least
  // 120: on a steady path the estimate follows the clocks within a minute.
  const double spread = round_trip_spread_ms();
  const double needed = std::ceil(std::pow(spread / 2.7 / 0.25, 2) / 0.6);
  const auto use = static_cast<std::size_t>(std::min(std::max(needed, 120.0), static_cast<double>(samples_.size())));
  const auto first = samples_.end() - static_cast<std::ptrdiff_t>(std::min(use, samples_.size()));
  std::vector<double> trips;
  trips.reserve(samples_.size());
  for (auto it = first; it != samples_.end(); ++it) trips.push_back(it->round_trip);
  std::sort(trips.begin(), trips.end());
  // Round trips far above the fast ones were queued somewhere (a congested
  // uplink, a retransmission): their delay is one-sided. Kept: up to the
  // 75th percentile, and no further above the 25th than it is above the
  // fastest twice over (nearest ranks, so at least one sample stays).
  const double fastest = trips.front();
  const double q25 = trips[(trips.size() - 1) / 4];
  const double q75 = trips[(trips.size() - 1) * 3 / 4];
  const double limit = std::min(q75, q25 + 2 * (q25 - fastest));
  std::vector<double> offsets;
  for (auto it = first; it != samples_.end(); ++it) {
    if (it->round_trip <= limit) offsets.push_back(it->offset);
  }
  // The mean of the middle 80 %: jitter averages out (each sample is off by
  // half the difference between its two one-way delays), outliers do not
  // pull it.
  std::sort(offsets.begin(), offsets.end());
  const std::size_t trim = offsets.size() / 10;
  double sum = 0;
  for (std::size_t i = trim; i < offsets.size() - trim; ++i) sum += offsets[i];
  const double mean = sum / static_cast<double>(offsets.size() - 2 * trim);
  // No one-way delay is negative, so every exchange bounds the offset from
  // both sides: t2 - t3 <= offset <= t1 - t0. The tightest bounds of the
  // latest samples (of the last kBoundsWindowMs, at most kMaxBoundsSamples
  // of them, so that the clocks' rate difference cannot move them much)
  // close in on the offset whenever a request and an answer each went at
  // their path's fastest, however jittery the others: the mean is kept
  // within them. A path whose fastest one way stays above its fastest the
  // other way leaves half the difference, as in the mean.
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  const double since = samples_.back().at - kBoundsWindowMs;
  const std::size_t bounded = std::min(use, kMaxBoundsSamples);
  std::size_t n = 0;
  for (auto it = samples_.rbegin(); it != samples_.rend() && n < bounded && it->at >= since; ++it, ++n) {
    low = std::max(low, it->low);
    high = std::min(high, it->high);
  }
  // Crossed bounds: a clock stepped or ran at another rate within them;
  // they say nothing then.
  if (low > high) return mean;
  return std::clamp(mean, low, high);
}

std::optional<double> ClockSync::best_round_trip_ms() const {
  if (samples_.empty()) return std::nullopt;
  double best = samples_.front().round_trip;
  for (const auto& s : samples_) best = std::min(best, s.round_trip);
  return best;
}

bool ClockSync::settled() const {
  // (Carried over, it stays settled while the new node's samples come in: a
  // player moved to another node plays on, as it did before the move.)
  if (carried_ || samples_.size() >= kSettledSamples) return true;
  return !samples_.empty() && *best_round_trip_ms() <= kSettledRoundTripMs;
}

}  // namespace hifi::client

namespace hifi::client {

double ClockSync::round_trip_spread_ms() const {
  if (samples_.empty()) return 0;
  return *round_trip_quantile_ms(0.75) - *round_trip_quantile_ms(0.25);
}

std::optional<double> ClockSync::round_trip_quantile_ms(double q) const {
  if (samples_.empty()) return std::nullopt;
  std::vector<double> trips;
  trips.reserve(samples_.size());
  for (const auto& s : samples_) trips.push_back(s.round_trip);
  std::sort(trips.begin(), trips.end());
  const auto rank = static_cast<std::size_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(trips.size())));
  return trips[rank == 0 ? 0 : rank - 1];
}

}  // namespace hifi::client
