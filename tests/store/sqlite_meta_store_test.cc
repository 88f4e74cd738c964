// The conformance suite instantiated for the SQLite backend, plus what only
// an embedded, file-backed store has: persistence across reopen, history
// compaction, exclusive ownership of the file.
#include "store/sqlite/sqlite_meta_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "store/meta_store_conformance.h"

namespace hifi::store_test {
namespace {

// A fresh temporary directory for the run; every store gets a new file in
// it, so tests never see each other's data.
class TempDirEnvironment : public ::testing::Environment {
 public:
  static std::string new_db_path() {
    static std::atomic<int> counter{0};
    return root_ + "/meta-" + std::to_string(counter++) + ".db";
  }

  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
    root_ = pattern;
  }

  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

 private:
  static inline std::string root_;
};

const auto* const kTempDirEnvironment = ::testing::AddGlobalTestEnvironment(new TempDirEnvironment);

std::unique_ptr<MetaStore> open_or_fail(const std::string& path,
                                        const SqliteOptions& options = SqliteOptions()) {
  auto store = open_sqlite_meta_store(path, options);
  if (!store.is_ok()) {
    ADD_FAILURE() << "open " << path << ": " << store.status().to_string();
    return nullptr;
  }
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, MetaStoreConformance,
                         ::testing::Values(MetaStoreFactory{
                             "Sqlite",
                             [] { return open_or_fail(TempDirEnvironment::new_db_path()); }}),
                         MetaStoreFactory::name_of);

class SqliteMetaStoreTest : public ::testing::Test {
 protected:
  const std::string path_ = TempDirEnvironment::new_db_path();
};

TEST_F(SqliteMetaStoreTest, DescribeNamesTheFile) {
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->describe(), "sqlite:" + path_);
}

// An acknowledged write must survive a power loss, not just a crash of the
// process (which keeps the page cache): WAL with synchronous=FULL (or
// EXTRA) fsyncs the WAL on every commit; NORMAL would not. The settings are
// per connection, so they are read on the store's own.
TEST_F(SqliteMetaStoreTest, CommitsAreFsyncedWalWithSynchronousFullOrExtra) {
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  auto journal = sqlite_pragma(*store, "journal_mode");
  ASSERT_TRUE(journal.is_ok()) << journal.status().to_string();
  EXPECT_EQ(*journal, "wal");
  auto synchronous = sqlite_pragma(*store, "synchronous");
  ASSERT_TRUE(synchronous.is_ok()) << synchronous.status().to_string();
  // 2 = FULL, 3 = EXTRA (0 = OFF, 1 = NORMAL).
  EXPECT_TRUE(*synchronous == "2" || *synchronous == "3") << "PRAGMA synchronous = " << *synchronous;
  EXPECT_EQ(sqlite_pragma(*store, "synchronous; DROP TABLE kv").status().code(), Code::kInvalidArgument);
}

TEST_F(SqliteMetaStoreTest, OpenInAMissingDirectoryIsAnIoError) {
  auto store = open_sqlite_meta_store(path_ + ".missing/sub/meta.db");
  ASSERT_FALSE(store.is_ok());
  EXPECT_EQ(store.status().code(), Code::kIoError);
}

TEST_F(SqliteMetaStoreTest, ReopenKeepsDataRevisionAndHistory) {
  Revision last = 0;
  {
    auto store = open_or_fail(path_);
    ASSERT_NE(store, nullptr);
    HIFI_ASSERT_OK(store->put("a", "1"));
    HIFI_ASSERT_OK(store->put("a", "2"));
    HIFI_ASSERT_OK(store->put("b", std::string("\0\xff", 2)));
    HIFI_ASSERT_OK_AND_ASSIGN(last, store->del("b"));
  }
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, last);
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("a"));
  EXPECT_EQ(kv.value, "2");
  EXPECT_EQ(kv.create_revision, last - 3);
  EXPECT_EQ(kv.mod_revision, last - 2);
  EXPECT_EQ(kv.version, 2);
  EXPECT_EQ(store->get("b").status().code(), Code::kNotFound);

  // History written by the previous process can be replayed.
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("b", last - 1, rec.callback()));
  Revision next = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(next, store->put("b", "again"));
  EXPECT_EQ(next, last + 1);
  ASSERT_TRUE(rec.wait_for_revision(next));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].events[0].kv.value, std::string("\0\xff", 2));
  EXPECT_EQ(responses[1].events[0].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(responses[2].events[0].kv.create_revision, next);
}

TEST_F(SqliteMetaStoreTest, ReopenedLeasesGetAFreshTtlThenExpire) {
  const auto granted = std::chrono::steady_clock::now();
  {
    auto store = open_or_fail(path_);
    ASSERT_NE(store, nullptr);
    LeaseId lease = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(lease, store->lease_grant(1));
    HIFI_ASSERT_OK(store->put("owned", "v", lease));
  }
  // Let the original deadline pass while no process holds the store.
  ASSERT_TRUE(wait_until([&] { return std::chrono::steady_clock::now() > granted + 1200ms; }));
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("owned"));
  HIFI_ASSERT_OK(store->lease_keepalive(kv.lease));
  ASSERT_TRUE(wait_until([&] { return store->get("owned").status().code() == Code::kNotFound; }));
  EXPECT_EQ(store->lease_keepalive(kv.lease).code(), Code::kNotFound);
}

TEST_F(SqliteMetaStoreTest, WatchFromCompactedRevisionGetsCompacted) {
  SqliteOptions options;
  options.history_limit = 16;
  {
    auto store = open_or_fail(path_, options);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 100; ++i) HIFI_ASSERT_OK(store->put("k", std::to_string(i)));
  }
  // Compaction state survives a reopen.
  auto store = open_or_fail(path_, options);
  ASSERT_NE(store, nullptr);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());

  WatchRecorder old_rec;
  std::unique_ptr<WatchHandle> old_handle;
  HIFI_ASSERT_OK_AND_ASSIGN(old_handle, store->watch("", 1, old_rec.callback()));
  ASSERT_TRUE(old_rec.wait_for_error());
  EXPECT_EQ(old_rec.errors()[0].code(), Code::kCompacted);

  WatchRecorder recent_rec;
  std::unique_ptr<WatchHandle> recent_handle;
  HIFI_ASSERT_OK_AND_ASSIGN(recent_handle, store->watch("", current - 15, recent_rec.callback()));
  Revision live = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(live, store->put("k", "live"));
  ASSERT_TRUE(recent_rec.wait_for_revision(live));
  EXPECT_EQ(recent_rec.responses().size(), 17u);
  EXPECT_EQ(recent_rec.responses().front().revision, current - 15);
  EXPECT_EQ(recent_rec.violations(), "");

  // The compacted watch is over: nothing more after its error.
  EXPECT_EQ(old_rec.calls(), 1u);
  EXPECT_TRUE(old_rec.responses().empty());
  EXPECT_EQ(old_rec.violations(), "");
}

// The disk the file and its WAL take.
std::uintmax_t disk_bytes(const std::string& path) {
  std::uintmax_t total = 0;
  for (const auto* suffix : {"", "-wal"}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path + suffix, ec);
    if (!ec) total += size;
  }
  return total;
}

// A busy room rewrites a big record on every command: the history kept for
// watches is bounded by its bytes, not only by a count of revisions, so it
// cannot fill the disk (10,000 revisions of a 300 KB record would be 3 GB).
TEST_F(SqliteMetaStoreTest, HistoryOfBigRecordsIsBoundedByBytes) {
  SqliteOptions options;
  options.history_bytes = 2 << 20;
  const std::string big(100 * 1024, 'x');
  Revision last = 0;
  for (int round = 0; round < 2; ++round) {  // the bound holds across a reopen too
    auto store = open_or_fail(path_, options);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 300; ++i) {
      HIFI_ASSERT_OK_AND_ASSIGN(last, store->put("rooms/busy", std::to_string(i) + big));
      // The history's 2 MiB, the current value, and SQLite's page and WAL
      // overhead: far below the 30 MB written per round.
      ASSERT_LT(disk_bytes(path_), 12u << 20) << "after write " << i << " of round " << round;
    }
    // What is retained still replays: the last few revisions.
    WatchRecorder recent;
    std::unique_ptr<WatchHandle> handle;
    HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("rooms/", last - 4, recent.callback()));
    ASSERT_TRUE(recent.wait_for_revision(last));
    EXPECT_EQ(recent.responses().size(), 5u);
    EXPECT_EQ(recent.violations(), "");
    // What is not gets kCompacted.
    WatchRecorder old;
    std::unique_ptr<WatchHandle> old_handle;
    HIFI_ASSERT_OK_AND_ASSIGN(old_handle, store->watch("rooms/", last - 200, old.callback()));
    ASSERT_TRUE(old.wait_for_error());
    EXPECT_EQ(old.errors()[0].code(), Code::kCompacted);
  }
}

TEST_F(SqliteMetaStoreTest, SecondOpenOfTheSameFileFails) {
  SqliteOptions options;
  options.busy_timeout_ms = 50;
  auto first = open_or_fail(path_, options);
  ASSERT_NE(first, nullptr);
  HIFI_ASSERT_OK(first->put("k", "v"));
  auto second = open_sqlite_meta_store(path_, options);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), Code::kIoError);
  first.reset();
  auto third = open_or_fail(path_, options);
  ASSERT_NE(third, nullptr);
}

TEST_F(SqliteMetaStoreTest, StuckWatcherIsEndedWhenItsBacklogOverflows) {
  SqliteOptions options;
  options.max_watch_backlog = 4;
  auto store = open_or_fail(path_, options);
  ASSERT_NE(store, nullptr);

  std::atomic<bool> release{false};
  WatchRecorder rec;
  auto record = rec.callback();
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle,
                            store->watch("", 0, [&](const Status& s, const WatchResponse& r) {
                              wait_until([&] { return release.load(); });
                              record(s, r);
                            }));
  Revision last = 0;
  for (int i = 0; i < 20; ++i) {
    HIFI_ASSERT_OK_AND_ASSIGN(last, store->put("k", "v"));
  }
  release = true;
  ASSERT_TRUE(rec.wait_for_error());
  EXPECT_EQ(rec.errors()[0].code(), Code::kCompacted);
  EXPECT_LE(rec.responses().size(), 5u);
  EXPECT_EQ(rec.violations(), "");

  // Other watchers are unaffected.
  WatchRecorder fresh;
  std::unique_ptr<WatchHandle> fresh_handle;
  HIFI_ASSERT_OK_AND_ASSIGN(fresh_handle, store->watch("", last - 2, fresh.callback()));
  ASSERT_TRUE(fresh.wait_for_revision(last));
  EXPECT_EQ(fresh.responses().size(), 3u);
}

TEST_F(SqliteMetaStoreTest, WatchHandleMayOutliveTheStore) {
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  {
    auto store = open_or_fail(path_);
    ASSERT_NE(store, nullptr);
    HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("", 0, rec.callback()));
    Revision r = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(r, store->put("k", "v"));
    ASSERT_TRUE(rec.wait_for_revision(r));
  }
  handle->cancel();
  handle.reset();
  EXPECT_EQ(rec.calls(), 1u);
}

// Named *DeathTest so that gtest runs it first, before any test has started
// threads that fork() would not copy.
using SqliteMetaStoreDeathTest = SqliteMetaStoreTest;

TEST_F(SqliteMetaStoreDeathTest, AcknowledgedWritesSurviveKill) {
  constexpr int kWrites = 50;
  EXPECT_EXIT(
      {
        auto store = open_sqlite_meta_store(path_);
        if (!store.is_ok()) _exit(1);
        for (int i = 0; i < kWrites; ++i) {
          if (!(*store)->put("k" + std::to_string(i), std::to_string(i)).is_ok()) _exit(2);
        }
        // No destructor, no checkpoint: the WAL is all there is.
        kill(getpid(), SIGKILL);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, kWrites);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store->range("k"));
  EXPECT_EQ(r.kvs.size(), static_cast<std::size_t>(kWrites));
}

}  // namespace
}  // namespace hifi::store_test
