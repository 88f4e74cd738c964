#include "client/sinks/device_rate.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace hifi::client::sinks {
namespace {

constexpr double kPerMs = 48.0;  // 48 kHz

// Reports every 100 ms for `seconds` from `t0` of a card playing at
// `ratio` times its nominal rate, starting at frame `frame0`; each report's
// frame off by up to `jitter_frames` (a card's pointer moves in steps).
double feed(DeviceRate& rate, double t0, double seconds, double ratio, double frame0 = 0,
            double jitter_frames = 0) {
  double t = t0;
  for (int i = 0; i <= static_cast<int>(seconds * 10); ++i) {
    t = t0 + i * 100.0;
    const double wiggle = jitter_frames * ((i * 7919) % 11 - 5) / 5.0;
    rate.add(t, frame0 + (t - t0) * kPerMs * ratio + wiggle, kPerMs);
  }
  return t;
}

TEST(DeviceRateTest, IsNominalUntilReportsSpanTenSeconds) {
  DeviceRate rate;
  EXPECT_EQ(rate.ratio(), 1.0);
  const double t = feed(rate, 1000, 9.5, 1.0002);
  EXPECT_EQ(rate.ratio(), 1.0);
  feed(rate, t + 100, 1.5, 1.0002, (t + 100 - 1000) * kPerMs * 1.0002);
  EXPECT_NEAR(rate.ratio(), 1.0002, 1e-7);
  rate.reset();
  EXPECT_EQ(rate.ratio(), 1.0);
}

TEST(DeviceRateTest, OneOddReportDoesNotSetTheRate) {
  DeviceRate rate;
  // The stream's first report 1 ms off (as the first of a stream that just
  // started may be), the rest exact: the fit over all of them keeps the
  // estimate within 20 ppm where the two ends 20 s apart would be 50 ppm off.
  rate.add(0, -1 * kPerMs, kPerMs);
  feed(rate, 100, 20, 1.0, 100 * kPerMs);
  EXPECT_NEAR(rate.ratio(), 1.0, 20e-6);
}

TEST(DeviceRateTest, ReportsFarApartStartAfresh) {
  DeviceRate rate;
  const double t = feed(rate, 0, 12, 1.0002);
  ASSERT_NE(rate.ratio(), 1.0);
  // 60 s without a report, the card 50 ms short over them (within the
  // 2,000 ppm a step may move): nothing says where that went.
  rate.add(t + 60'000, (t + 60'000) * kPerMs * 1.0002 - 50 * kPerMs, kPerMs);
  EXPECT_EQ(rate.ratio(), 1.0);
}

TEST(DeviceRateTest, FindsASlowCardThroughThePointersSteps) {
  DeviceRate rate;
  // 4.8 frames of jitter: a card whose position is known to 100 µs.
  feed(rate, 5000, 30, 1 - 200e-6, 123456, 4.8);
  EXPECT_NEAR(rate.ratio(), 1 - 200e-6, 15e-6);
}

TEST(DeviceRateTest, AnUnderrunStartsAfresh) {
  DeviceRate rate;
  double t = feed(rate, 0, 12, 1.0003);
  ASSERT_NEAR(rate.ratio(), 1.0003, 1e-6);
  // The card played nothing for 300 ms (its frames stood still), then on at
  // another rate: the old estimate must not carry over.
  const double frame = t * kPerMs * 1.0003 + 100 * kPerMs;  // at t + 400
  t = feed(rate, t + 400, 3, 0.9999, frame);
  EXPECT_EQ(rate.ratio(), 1.0);
  feed(rate, t + 100, 10, 0.9999, frame + 3100 * kPerMs * 0.9999);
  EXPECT_NEAR(rate.ratio(), 0.9999, 1e-6);
}

TEST(DeviceRateTest, BelievesAtMostAThousandPpm) {
  DeviceRate rate;
  feed(rate, 0, 12, 1.0015);
  EXPECT_EQ(rate.ratio(), 1 + DeviceRate::kMaxDrift);
  rate.reset();
  // Further off than a card's clock can be: every step breaks the run.
  feed(rate, 0, 12, 1.01);
  EXPECT_EQ(rate.ratio(), 1.0);
}

TEST(DeviceRateTest, AClockSteppedBackStartsAfresh) {
  DeviceRate rate;
  double t = feed(rate, 100'000, 12, 1.0002);
  ASSERT_NE(rate.ratio(), 1.0);
  rate.add(t - 5000, t * kPerMs, kPerMs);
  EXPECT_EQ(rate.ratio(), 1.0);
}

TEST(DeviceRateTest, FollowsTheLastHalfMinute) {
  DeviceRate rate;
  double t = feed(rate, 0, 60, 1.0001);
  // The card warms up: 100 ppm slower (a step too small to break the run).
  const double frame = t * kPerMs * 1.0001;
  feed(rate, t + 100, 40, 1.0, frame + 100 * kPerMs);
  EXPECT_NEAR(rate.ratio(), 1.0, 5e-6);
}

}  // namespace
}  // namespace hifi::client::sinks
