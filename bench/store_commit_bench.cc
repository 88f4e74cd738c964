// store_commit_bench: how many durable writes a second HiFi's SQLite store
// takes from N concurrent writers (group commit: one fsync per group), next
// to the disk's floor measured in the same run and directory: one thread
// writing 2 KiB and fdatasync-ing it in a loop, the most one-at-a-time
// durable commits this disk allows.
//
//   store_commit_bench DIR SECONDS N [N ...]
//
// Each writer puts its own key (a 2 KiB value, about a room record) in a
// loop, as room commands in as many rooms would. Prints, per N: txns/s,
// latency p50/p99, commits (fsyncs of the WAL) and txns per commit, and the
// ratio of txns/s to the floor's fsyncs/s, then the same as a line
// "ROW <writers> <txns/s> <floor fsyncs/s> <p99 ms>" for bench/store_bench.sh.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_meta_store.h"

namespace {

using Clock = std::chrono::steady_clock;

// fdatasync'd 2 KiB writes a second, one at a time, for `seconds`.
double fsync_floor(const std::string& dir, double seconds) {
  const auto path = dir + "/floor.bin";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 0;
  const std::string block(2048, 'f');
  long n = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>((n % 64) * 2048)) < 0 || ::fdatasync(fd) != 0) break;
    ++n;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  std::filesystem::remove(path);
  return n / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: store_commit_bench DIR SECONDS N [N ...]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const double seconds = std::atof(argv[2]);
  const double floor = fsync_floor(dir, seconds);
  std::printf("floor: one thread, 2 KiB write + fdatasync: %.0f/s\n", floor);
  for (int a = 3; a < argc; ++a) {
    const int n = std::atoi(argv[a]);
    const std::string path = dir + "/bench-" + std::to_string(n) + ".db";
    for (const char* sfx : {"", "-wal", "-shm", ".reserve"}) std::filesystem::remove(path + sfx);
    auto opened = hifi::open_sqlite_meta_store(path, hifi::SqliteOptions());
    if (!opened.is_ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().to_string().c_str());
      return 1;
    }
    auto store = std::move(opened).value();
    const std::string value(2048, 'v');
    for (int t = 0; t < n; ++t) (void)store->put("rooms/" + std::to_string(t), value);
    const auto commits0 = *hifi::sqlite_commits(*store);
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(n));
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&, t] {
        const std::string key = "rooms/" + std::to_string(t);
        for (unsigned i = 0; !stop; ++i) {
          const auto t0 = Clock::now();
          auto r = store->put(key, std::to_string(i) + value);
          if (!r.is_ok()) errors++;
          lat[static_cast<std::size_t>(t)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    if (all.empty()) continue;
    std::sort(all.begin(), all.end());
    const auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))]; };
    const auto commits = *hifi::sqlite_commits(*store) - commits0;
    const double rate = all.size() / elapsed;
    std::printf("writers=%-3d txns/s=%8.1f p50=%7.2f ms p99=%7.2f ms commits=%-6llu txns/commit=%5.1f  txns/s over floor fsyncs/s=%.2f errors=%d\n",
                n, rate, pct(0.5), pct(0.99), static_cast<unsigned long long>(commits),
                commits > 0 ? static_cast<double>(all.size()) / static_cast<double>(commits) : 0.0,
                floor > 0 ? rate / floor : 0.0, errors.load());
    std::printf("ROW %d %.1f %.1f %.2f\n", n, rate, floor, pct(0.99));
    std::fflush(stdout);
    store.reset();
    for (const char* sfx : {"", "-wal", "-shm", ".reserve"}) std::filesystem::remove(path + sfx);
  }
  return 0;
}
