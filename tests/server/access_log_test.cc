#include "server/access_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "support/eventually.h"

namespace hifi {
namespace {

// What the log's thread wrote, split into lines.
class Captured {
 public:
  AccessLog::Writer writer() {
    return [this](std::string_view lines) {
      std::lock_guard lock(mu_);
      ++batches_;
      std::size_t start = 0;
      while (start < lines.size()) {
        auto end = lines.find('\n', start);
        EXPECT_NE(end, std::string_view::npos) << "a batch ends with a whole line";
        if (end == std::string_view::npos) end = lines.size();
        lines_.emplace_back(lines.substr(start, end - start));
        start = end + 1;
      }
    };
  }
  // A writer whose first batch waits until release() (the output is
  // stuck); first_batch_started() says when it got there.
  AccessLog::Writer stuck_writer() {
    return [this, capture = writer(), released = release_.get_future().share()](std::string_view lines) {
      if (calls_++ == 0) released.wait();
      capture(lines);
    };
  }
  bool first_batch_started() const { return calls_.load() >= 1; }
  void release() { release_.set_value(); }

  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }
  std::size_t batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::size_t batches_ = 0;
  std::promise<void> release_;
  std::atomic<int> calls_{0};
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST(AccessLogTest, StopWritesEveryQueuedLineInOrder) {
  Captured out;
  AccessLog::Options options;
  options.batch_delay = std::chrono::hours(1);  // only stop() or a full quarter sends a batch
  AccessLog log(out.writer(), options);
  constexpr int kLines = 1000;
  for (int i = 0; i < kLines; ++i) ASSERT_TRUE(log.add("GET /song/" + std::to_string(i)));
  log.stop();
  auto lines = out.lines();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    EXPECT_TRUE(ends_with(lines[i], " info GET /song/" + std::to_string(i))) << lines[i];
  }
  EXPECT_EQ(log.dropped(), 0u);
  EXPECT_FALSE(log.add("after stop"));  // nothing to write it any more
  EXPECT_EQ(log.dropped(), 1u);
}

TEST(AccessLogTest, LinesHaveTheServerLogFormat) {
  Captured out;
  {
    AccessLog log(out.writer());
    log.add("127.0.0.1 GET /healthz -> 200 2B 0.1ms");
  }  // the destructor stops it
  auto lines = out.lines();
  ASSERT_EQ(lines.size(), 1u);
  // 2026-12-06T01:02:03.456 info ...
  const auto& line = lines[0];
  ASSERT_GT(line.size(), 24u);
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_EQ(line[19], '.');
  EXPECT_EQ(line.substr(23), " info 127.0.0.1 GET /healthz -> 200 2B 0.1ms");
}

TEST(AccessLogTest, BatchesLinesWhileTheWriterIsBusy) {
  Captured out;
  AccessLog::Options options;
  options.batch_delay = std::chrono::milliseconds(0);
  AccessLog log(out.stuck_writer(), options);
  ASSERT_TRUE(log.add("first"));
  ASSERT_TRUE(testing::eventually([&] { return out.first_batch_started(); }));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log.add("queued " + std::to_string(i)));
  out.release();
  log.stop();
  EXPECT_EQ(out.lines().size(), 101u);
  // The 100 lines queued while the first batch was being written went out
  // together, not one write each.
  EXPECT_EQ(out.batches(), 2u);
}

TEST(AccessLogTest, AFloodIsBoundedAndDropsAreCountedAndReported) {
  Captured out;
  AccessLog::Options options;
  options.max_queued_bytes = 8 * 1024;
  options.batch_delay = std::chrono::milliseconds(0);
  AccessLog log(out.stuck_writer(), options);
  ASSERT_TRUE(log.add("first"));
  ASSERT_TRUE(testing::eventually([&] { return out.first_batch_started(); }));
  const std::string message(100, 'x');
  int accepted = 0;
  constexpr int kFlood = 10000;
  for (int i = 0; i < kFlood; ++i) accepted += log.add(message) ? 1 : 0;
  // At most max_queued_bytes wait, each line counting its size and more.
  EXPECT_GT(accepted, 0);
  EXPECT_LE(accepted * 100, 8 * 1024);
  EXPECT_EQ(log.dropped(), static_cast<std::uint64_t>(kFlood - accepted));
  out.release();
  log.stop();
  auto lines = out.lines();
  // Every accepted line, then one warning with the count of the rest.
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(1 + accepted + 1));
  for (int i = 1; i <= accepted; ++i) EXPECT_TRUE(ends_with(lines[i], " info " + message));
  EXPECT_NE(lines.back().find(" warning access log: " + std::to_string(kFlood - accepted) + " request line(s) dropped"),
            std::string::npos)
      << lines.back();
}

// A connection's log: each request in a line, runs of file bytes for one
// path (a player's ranges of a song) summed up in one.
TEST(ConnectionLogTest, RunsOfFileBytesForOnePathAreOneLine) {
  Captured out;
  AccessLog::Options options;
  options.batch_delay = std::chrono::hours(1);
  AccessLog log(out.writer(), options);
  int dropped = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto at = [&](int ms) { return t0 + std::chrono::milliseconds(ms); };
  {
    ConnectionLog connection(log, "10.0.0.7", [&] { ++dropped; });
    connection.add({"GET", "/api/v1/me", 200, 120, 0.5, false}, at(0));
    for (int i = 0; i < 5; ++i) connection.add({"GET", "/api/v1/songs/a/stream", 206, 1000, 0.2 + i * 0.1, true}, at(10 + i));
    connection.add({"GET", "/api/v1/songs/a/stream", 200, 9000, 0.4, true}, at(20));   // another status
    connection.add({"GET", "/api/v1/songs/b/stream", 200, 7000, 0.3, true}, at(30));   // another path
    connection.add({"GET", "/api/v1/songs/b/stream", 200, 7000, 0.3, true}, at(40));
    connection.add({"GET", "/api/v1/songs/b/stream", 404, 90, 0.1, false}, at(50));   // an error: at once
    connection.add({"GET", "/api/v1/songs/c/stream", 206, 500, 0.1, true}, at(60));
    const auto late = 60 + static_cast<int>(ConnectionLog::kRunSpan.count());
    connection.add({"GET", "/api/v1/songs/c/stream", 206, 500, 0.1, true}, at(late));  // a new run: too late
    connection.add({"HEAD", "/api/v1/songs/c/stream", 206, 0, 0.1, true}, at(late + 1));  // another method
    connection.add({"HEAD", "/api/v1/songs/c/stream", 206, 0, 0.1, true}, at(late + 2));
    connection.add({"HEAD", "/api/v1/songs/c/stream", 206, 0, 0.1, true}, at(late + 3));
  }  // the connection's end writes the run in progress
  log.stop();
  const std::vector<std::string> want = {
      " info 10.0.0.7 GET /api/v1/me -> 200 120B 0.5ms",
      // A run's first response at once, the other four when the run ends.
      " info 10.0.0.7 GET /api/v1/songs/a/stream -> 206 1000B 0.2ms",
      " info 10.0.0.7 GET /api/v1/songs/a/stream -> 206 4000B in 4 more responses, 1.8ms (slowest 0.6ms)",
      " info 10.0.0.7 GET /api/v1/songs/a/stream -> 200 9000B 0.4ms",
      " info 10.0.0.7 GET /api/v1/songs/b/stream -> 200 7000B 0.3ms",
      " info 10.0.0.7 GET /api/v1/songs/b/stream -> 200 7000B in 1 more response, 0.3ms (slowest 0.3ms)",
      " info 10.0.0.7 GET /api/v1/songs/b/stream -> 404 90B 0.1ms",
      " info 10.0.0.7 GET /api/v1/songs/c/stream -> 206 500B 0.1ms",
      " info 10.0.0.7 GET /api/v1/songs/c/stream -> 206 500B 0.1ms",
      " info 10.0.0.7 HEAD /api/v1/songs/c/stream -> 206 0B 0.1ms",
      // The connection's end writes what the last run still held.
      " info 10.0.0.7 HEAD /api/v1/songs/c/stream -> 206 0B in 2 more responses, 0.2ms (slowest 0.1ms)",
  };
  const auto lines = out.lines();
  ASSERT_EQ(lines.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(ends_with(lines[i], want[i])) << lines[i];
  EXPECT_EQ(dropped, 0);
}

TEST(ConnectionLogTest, LinesTheLogDropsAreCounted) {
  Captured out;
  AccessLog log(out.writer());
  log.stop();
  int dropped = 0;
  {
    ConnectionLog connection(log, "10.0.0.7", [&] { ++dropped; });
    const auto now = std::chrono::steady_clock::now();
    connection.add({"GET", "/api/v1/me", 200, 120, 0.5, false}, now);
    connection.add({"GET", "/api/v1/songs/a/stream", 206, 1000, 0.2, true}, now);
    connection.add({"GET", "/api/v1/songs/a/stream", 206, 1000, 0.2, true}, now);
    EXPECT_EQ(dropped, 2);
  }
  EXPECT_EQ(dropped, 3);  // the run's sum, at the connection's end
}

}  // namespace
}  // namespace hifi
