// RateLimiter with a ManualClock.
#include "library/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace hifi {
namespace {

TEST(RateLimiter, UnknownKeysAreAllowed) {
  ManualClock clock;
  RateLimiter limiter(clock, 3, 1000);
  EXPECT_EQ(limiter.blocked_for_ms("nobody"), 0);
  limiter.reset("nobody");  // harmless
  EXPECT_EQ(limiter.blocked_for_ms("nobody"), 0);
}

TEST(RateLimiter, BlocksAtTheLimitUntilTheOldestEventLeavesTheWindow) {
  ManualClock clock(0);
  RateLimiter limiter(clock, 3, 1000);
  limiter.record("k");
  EXPECT_EQ(limiter.blocked_for_ms("k"), 0);
  clock.set_ms(400);
  limiter.record("k");
  EXPECT_EQ(limiter.blocked_for_ms("k"), 0);
  clock.set_ms(800);
  limiter.record("k");
  // Three events in the window: blocked until the one at t=0 expires at t=1000.
  EXPECT_EQ(limiter.blocked_for_ms("k"), 200);
  clock.set_ms(999);
  EXPECT_EQ(limiter.blocked_for_ms("k"), 1);
  clock.set_ms(1000);
  EXPECT_EQ(limiter.blocked_for_ms("k"), 0);

  // The window slides: the events at 400 and 800 still count.
  limiter.record("k");
  EXPECT_EQ(limiter.blocked_for_ms("k"), 400);
  clock.set_ms(1400);
  EXPECT_EQ(limiter.blocked_for_ms("k"), 0);
  limiter.record("k");
  EXPECT_EQ(limiter.blocked_for_ms("k"), 400);  // now 800, 1000, 1400
}

TEST(RateLimiter, OnlyTheNewestEventsMatter) {
  ManualClock clock(0);
  RateLimiter limiter(clock, 3, 1000);
  // Five events (more than the limit, as a caller that ignores the answer
  // would record): the block lasts until the third newest expires.
  for (int t = 0; t < 5; ++t) {
    clock.set_ms(t * 100);
    limiter.record("k");
  }
  EXPECT_EQ(limiter.blocked_for_ms("k"), 200 + 1000 - 400);
  clock.set_ms(1200);
  EXPECT_EQ(limiter.blocked_for_ms("k"), 0);
}

TEST(RateLimiter, KeysAreIndependentAndResetForgetsOne) {
  ManualClock clock(0);
  RateLimiter limiter(clock, 2, 1000);
  limiter.record("a");
  limiter.record("a");
  limiter.record("b");
  EXPECT_GT(limiter.blocked_for_ms("a"), 0);
  EXPECT_EQ(limiter.blocked_for_ms("b"), 0);
  limiter.record("b");
  EXPECT_GT(limiter.blocked_for_ms("b"), 0);

  limiter.reset("a");
  EXPECT_EQ(limiter.blocked_for_ms("a"), 0);
  EXPECT_EQ(limiter.blocked_for_ms("b"), 1000);
  limiter.record("a");
  EXPECT_EQ(limiter.blocked_for_ms("a"), 0);  // counting starts over
}

TEST(RateLimiter, LimitOfOne) {
  ManualClock clock(0);
  RateLimiter limiter(clock, 1, 60'000);
  limiter.record("k");
  EXPECT_EQ(limiter.blocked_for_ms("k"), 60'000);
  clock.advance_ms(59'999);
  EXPECT_EQ(limiter.blocked_for_ms("k"), 1);
  clock.advance_ms(1);
  EXPECT_EQ(limiter.blocked_for_ms("k"), 0);
}

TEST(RateLimiter, EvictsTheKeyWithTheOldestLastEventWhenFull) {
  ManualClock clock(0);
  RateLimiter limiter(clock, 1, 1'000'000, /*max_keys=*/3);
  limiter.record("a");  // t=0
  clock.set_ms(10);
  limiter.record("b");  // t=10
  clock.set_ms(20);
  limiter.record("c");  // t=20
  clock.set_ms(30);
  limiter.record("a");  // a's newest event is now t=30, so b is the oldest
  EXPECT_GT(limiter.blocked_for_ms("a"), 0);
  EXPECT_GT(limiter.blocked_for_ms("b"), 0);
  EXPECT_GT(limiter.blocked_for_ms("c"), 0);

  clock.set_ms(40);
  limiter.record("d");  // full: b goes
  EXPECT_EQ(limiter.blocked_for_ms("b"), 0);
  EXPECT_GT(limiter.blocked_for_ms("a"), 0);
  EXPECT_GT(limiter.blocked_for_ms("c"), 0);
  EXPECT_GT(limiter.blocked_for_ms("d"), 0);

  clock.set_ms(50);
  limiter.record("e");  // then c
  EXPECT_EQ(limiter.blocked_for_ms("c"), 0);
  EXPECT_GT(limiter.blocked_for_ms("a"), 0);
  EXPECT_GT(limiter.blocked_for_ms("d"), 0);
  EXPECT_GT(limiter.blocked_for_ms("e"), 0);

  // Recording a key that is already tracked evicts nothing.
  clock.set_ms(60);
  limiter.record("a");
  EXPECT_GT(limiter.blocked_for_ms("d"), 0);
  EXPECT_GT(limiter.blocked_for_ms("e"), 0);
}

TEST(RateLimiter, ConcurrentRecordsAreAllCounted) {
  ManualClock clock(0);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  RateLimiter limiter(clock, kThreads * kPerThread, 1000);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < kPerThread; ++n) {
        limiter.record("shared");
        limiter.record("own-" + std::to_string(i));
        (void)limiter.blocked_for_ms("shared");
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(limiter.blocked_for_ms("shared"), 1000);
  EXPECT_EQ(limiter.blocked_for_ms("own-0"), 0);
}

}  // namespace
}  // namespace hifi
