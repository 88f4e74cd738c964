// The conformance suite instantiated for the SQLite backend, plus what only
// an embedded, file-backed store has: persistence across reopen, history
// compaction, exclusive ownership of the file.
#include "store/sqlite/sqlite_meta_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// --- group commit ------------------------------------------------------------

// SqliteOptions::group_commit_gate for tests: holds the next group commit
// until a given number of txns are queued, so that they share one group in
// the order they queued. Groups after that one are not held.
class GroupGate {
 public:
  std::function<bool(std::size_t)> option() {
    return [this](std::size_t queued) {
      std::lock_guard lock(mu_);
      seen_ = queued;
      cv_.notify_all();
      if (hold_until_ != 0 && queued < hold_until_) return false;
      hold_until_ = 0;
      return true;
    };
  }

  void hold_until(std::size_t queued) {
    std::lock_guard lock(mu_);
    hold_until_ = queued;
    seen_ = 0;
  }

  // Waits until the held leader has seen `queued` txns in the queue.
  bool wait_queued(std::size_t queued) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitTimeout, [&] { return seen_ >= queued; });
  }

  // Lets a held group go after a failed wait: one more txn queued makes the
  // leader ask the gate again.
  void open(MetaStore& store) {
    {
      std::lock_guard lock(mu_);
      hold_until_ = 0;
    }
    (void)store.put("gate/wake", "");
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t hold_until_ = 0;  // 0: not holding
  std::size_t seen_ = 0;
};

// A store at `path` whose group commits `gate` can hold.
std::unique_ptr<MetaStore> open_gated(const std::string& path, GroupGate& gate,
                                      SqliteOptions options = {}) {
  options.group_commit_gate = gate.option();
  return open_or_fail(path, options);
}

struct TxnSpec {
  std::vector<Compare> compares;
  std::vector<Op> ops;
};

// Runs each txn on a thread of its own, queued in the order given, as one
// group commit; their results in that order.
std::vector<Result<TxnResult>> run_as_one_group(MetaStore& store, GroupGate& gate,
                                                const std::vector<TxnSpec>& txns) {
  gate.hold_until(txns.size());
  std::vector<std::optional<Result<TxnResult>>> results(txns.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < txns.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = store.txn(txns[i].compares, txns[i].ops); });
    if (!gate.wait_queued(i + 1)) {
      ADD_FAILURE() << "txn " << i << " of the group did not queue";
      gate.open(store);
      break;
    }
  }
  for (auto& t : threads) t.join();
  std::vector<Result<TxnResult>> out;
  for (auto& r : results)
    out.push_back(r ? std::move(*r) : Result<TxnResult>(internal_error("not run")));
  return out;
}

std::uint64_t commits_of(MetaStore& store) {
  auto commits = sqlite_commits(store);
  EXPECT_TRUE(commits.is_ok()) << commits.status().to_string();
  return commits.is_ok() ? *commits : 0;
}

std::string result_text(const Result<TxnResult>& r) {
  if (!r) return r.status().to_string();
  return std::string(r->succeeded ? "succeeded" : "failed") + " at " + std::to_string(r->revision);
}
std::string result_text(Revision revision, bool succeeded) {
  return std::string(succeeded ? "succeeded" : "failed") + " at " + std::to_string(revision);
}

// What one writer thread had acknowledged.
struct Acked {
  Revision revision = 0;
  std::string key;
  std::string value;
};

// `threads` writers doing `each` puts each, to keys of their own (key_of),
// all at once; the first group is held until every writer has queued its
// first txn, so that at least one group of `threads` txns is certain.
// Returns every acknowledged put by revision; failures are test failures.
std::map<Revision, Acked> run_writers(MetaStore& store, GroupGate& gate, int threads, int each,
                                      const std::function<std::string(int, int)>& key_of) {
  gate.hold_until(static_cast<std::size_t>(threads));
  std::vector<std::vector<Acked>> acked(threads);
  std::vector<std::string> errors(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int j = 0; j < each; ++j) {
        Acked a{0, key_of(t, j), std::to_string(t) + ":" + std::to_string(j)};
        auto r = store.put(a.key, a.value);
        if (!r) {
          errors[t] = "put " + a.key + ": " + r.status().to_string();
          return;
        }
        // One writer's txns are committed in the order it made them.
        if (!acked[t].empty() && *r <= acked[t].back().revision) {
          errors[t] = "revision " + std::to_string(*r) + " after " +
                      std::to_string(acked[t].back().revision);
          return;
        }
        a.revision = *r;
        acked[t].push_back(std::move(a));
      }
    });
  }
  for (auto& w : workers) w.join();
  std::map<Revision, Acked> by_revision;
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(errors[t], "") << "writer " << t;
    for (auto& a : acked[t]) {
      const Revision revision = a.revision;
      EXPECT_TRUE(by_revision.emplace(revision, std::move(a)).second)
          << "revision " << revision << " acknowledged twice";
    }
  }
  return by_revision;
}

// Every acknowledged put is there with its own revision, and the history
// replays them all, once each, in revision order.
void expect_all_there(MetaStore& store, const std::map<Revision, Acked>& acked) {
  ASSERT_FALSE(acked.empty());
  const Revision first = acked.begin()->first;
  const Revision last = acked.rbegin()->first;
  // Unique (a map) and as many as the span: contiguous.
  EXPECT_EQ(last - first + 1, static_cast<Revision>(acked.size()));
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store.current_revision());
  EXPECT_EQ(current, last);

  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store.watch("", first, rec.callback()));
  ASSERT_TRUE(rec.wait_for_revision(last));
  handle->cancel();
  const auto responses = rec.responses();
  ASSERT_EQ(responses.size(), acked.size());
  auto it = acked.begin();
  for (const auto& response : responses) {
    ASSERT_EQ(response.revision, it->first);
    ASSERT_EQ(response.events.size(), 1u) << "revision " << response.revision;
    EXPECT_EQ(response.events[0].kv.key, it->second.key) << "revision " << response.revision;
    EXPECT_EQ(response.events[0].kv.value, it->second.value) << "revision " << response.revision;
    ++it;
  }
  EXPECT_EQ(rec.violations(), "");

  // The last put to each key is its current value.
  std::map<std::string, const Acked*> latest;
  for (const auto& [revision, a] : acked) latest[a.key] = &a;
  for (const auto& [key, a] : latest) {
    KeyValue kv;
    HIFI_ASSERT_OK_AND_ASSIGN(kv, store.get(key));
    EXPECT_EQ(kv.value, a->value);
    EXPECT_EQ(kv.mod_revision, a->revision);
  }
}

// Room commands from many connections at once: each txn gets a revision of
// its own (unique, contiguous, in each writer's order), watchers see every
// one once and in order, and they share commits (fsyncs).
TEST_F(SqliteMetaStoreTest, ConcurrentTxnsShareCommitsYetEachGetsItsOwnRevision) {
  constexpr int kThreads = 16;
  constexpr int kEach = 50;
  GroupGate gate;
  auto store = open_gated(path_, gate);
  ASSERT_NE(store, nullptr);
  HIFI_ASSERT_OK(store->put("before", "x"));
  Revision start = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(start, store->current_revision());
  WatchRecorder live;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("", 0, live.callback()));
  const std::uint64_t commits_before = commits_of(*store);

  // A key per writer, rewritten, as a room's record is.
  const auto acked = run_writers(*store, gate, kThreads, kEach,
                                 [](int t, int) { return "rooms/" + std::to_string(t); });
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(acked.begin()->first, start + 1);

  // The first group alone took kThreads txns in one commit.
  const std::uint64_t commits = commits_of(*store) - commits_before;
  EXPECT_LE(commits, acked.size() - (kThreads - 1));
  EXPECT_GE(commits, acked.size() / 64);  // at most 64 txns a group

  // The live watcher saw each revision once, in order.
  ASSERT_TRUE(live.wait_for_revision(acked.rbegin()->first));
  const auto responses = live.responses();
  ASSERT_EQ(responses.size(), acked.size());
  for (std::size_t i = 0; i < responses.size(); ++i) {
    ASSERT_EQ(responses[i].revision, start + 1 + static_cast<Revision>(i));
  }
  EXPECT_EQ(live.violations(), "");
  expect_all_there(*store, acked);
  for (int t = 0; t < kThreads; ++t) {
    KeyValue kv;
    HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("rooms/" + std::to_string(t)));
    EXPECT_EQ(kv.version, kEach);
  }
}

// Within a group, each txn's compares see the writes of the txns before it,
// and one whose compare fails changes nothing and takes no revision.
TEST_F(SqliteMetaStoreTest, CompareInAGroupSeesTheTxnsBeforeIt) {
  GroupGate gate;
  auto store = open_gated(path_, gate);
  ASSERT_NE(store, nullptr);
  Revision r0 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r0, store->put("k", "0"));
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("", 0, rec.callback()));
  const std::uint64_t commits_before = commits_of(*store);

  const auto results = run_as_one_group(
      *store, gate,
      {
          {{Compare::mod_revision_equals("k", r0)}, {Op::put("k", "a")}},
          // Held when the group started, no longer after the txn before it.
          {{Compare::mod_revision_equals("k", r0)}, {Op::put("k", "b")}},
          // Holds only on the uncommitted write of the first txn.
          {{Compare::mod_revision_equals("k", r0 + 1)}, {Op::put("k", "c"), Op::put("other", "x")}},
          {{Compare::absent("new")}, {Op::put("new", "n")}},
          {{Compare::exists("never")}, {Op::put("never", "v")}},
          // A txn that changes nothing takes no revision.
          {{}, {Op::del("absent")}},
          {{Compare::exists("new")}, {Op::del("new")}},
      });
  ASSERT_EQ(results.size(), 7u);
  EXPECT_EQ(result_text(results[0]), result_text(r0 + 1, true));
  EXPECT_EQ(result_text(results[1]), result_text(r0 + 1, false));
  EXPECT_EQ(result_text(results[2]), result_text(r0 + 2, true));
  EXPECT_EQ(result_text(results[3]), result_text(r0 + 3, true));
  EXPECT_EQ(result_text(results[4]), result_text(r0 + 3, false));
  EXPECT_EQ(result_text(results[5]), result_text(r0 + 3, true));
  EXPECT_EQ(result_text(results[6]), result_text(r0 + 4, true));
  EXPECT_EQ(commits_of(*store) - commits_before, 1u);

  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("k"));
  EXPECT_EQ(kv.value, "c");
  EXPECT_EQ(kv.create_revision, r0);
  EXPECT_EQ(kv.mod_revision, r0 + 2);
  EXPECT_EQ(kv.version, 3);
  EXPECT_EQ(store->get("never").status().code(), Code::kNotFound);
  EXPECT_EQ(store->get("new").status().code(), Code::kNotFound);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, r0 + 4);

  ASSERT_TRUE(rec.wait_for_revision(r0 + 4));
  const auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 4u);
  EXPECT_EQ(responses[0].revision, r0 + 1);
  EXPECT_EQ(keys_of(responses[0]), std::vector<std::string>({"k"}));
  EXPECT_EQ(responses[0].events[0].kv.value, "a");
  EXPECT_EQ(responses[1].revision, r0 + 2);
  EXPECT_EQ(keys_of(responses[1]), std::vector<std::string>({"k", "other"}));
  EXPECT_EQ(responses[1].events[0].kv.value, "c");
  EXPECT_EQ(responses[1].events[0].kv.version, 3);
  EXPECT_EQ(responses[2].revision, r0 + 3);
  EXPECT_EQ(keys_of(responses[2]), std::vector<std::string>({"new"}));
  EXPECT_EQ(responses[3].revision, r0 + 4);
  EXPECT_EQ(responses[3].events[0].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(rec.violations(), "");
}

// A txn of a group that fails with an error fails alone: the others commit,
// with contiguous revisions.
TEST_F(SqliteMetaStoreTest, ErrorInAGroupFailsThatTxnAlone) {
  GroupGate gate;
  auto store = open_gated(path_, gate);
  ASSERT_NE(store, nullptr);
  LeaseId lease = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(lease, store->lease_grant(60));
  Revision r0 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r0, store->put("k", "0"));
  LeaseId unknown = lease + 1;
  const std::uint64_t commits_before = commits_of(*store);

  const auto results =
      run_as_one_group(*store, gate,
                       {
                           {{}, {Op::put("a", "1")}},
                           {{}, {Op::put("b1", "x"), Op::put("b2", "y", unknown)}},
                           {{}, {Op::put("c", "3", lease)}},
                           {{Compare::mod_revision_equals("k", r0)}, {Op::put("d", "4", unknown)}},
                           {{Compare::mod_revision_equals("k", r0)}, {Op::del("k")}},
                       });
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(result_text(results[0]), result_text(r0 + 1, true));
  EXPECT_EQ(results[1].status().code(), Code::kNotFound) << result_text(results[1]);
  EXPECT_EQ(result_text(results[2]), result_text(r0 + 2, true));
  EXPECT_EQ(results[3].status().code(), Code::kNotFound) << result_text(results[3]);
  EXPECT_EQ(result_text(results[4]), result_text(r0 + 3, true));
  EXPECT_EQ(commits_of(*store) - commits_before, 1u);

  for (const char* key : {"b1", "b2", "d", "k"}) {
    EXPECT_EQ(store->get(key).status().code(), Code::kNotFound) << key;
  }
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("c"));
  EXPECT_EQ(kv.lease, lease);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, r0 + 3);
  // The lease still ends its keys, as one revision after the group's.
  HIFI_ASSERT_OK(store->lease_revoke(lease));
  EXPECT_EQ(store->get("c").status().code(), Code::kNotFound);
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, r0 + 4);
}

// Every acknowledged txn of concurrent groups is in the file: after a
// reopen, with its revision, and in the history.
TEST_F(SqliteMetaStoreTest, AcknowledgedGroupsSurviveReopen) {
  GroupGate gate;
  std::map<Revision, Acked> acked;
  {
    auto store = open_gated(path_, gate);
    ASSERT_NE(store, nullptr);
    acked = run_writers(*store, gate, 8, 25, [](int t, int j) {
      return "k/" + std::to_string(t) + "/" + std::to_string(j % 5);
    });
  }
  ASSERT_EQ(acked.size(), 200u);
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  expect_all_there(*store, acked);
  // And the revisions go on from there.
  Revision next = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(next, store->put("after", "reopen"));
  EXPECT_EQ(next, acked.rbegin()->first + 1);
}

// Runs fn with writes that would make any file of this process larger than
// `max_bytes` failing (EFBIG, which SQLite reports as an I/O error) instead
// of raising SIGXFSZ. No test output is written meanwhile.
template <typename Fn>
void with_file_size_limit(std::uintmax_t max_bytes, Fn fn) {
  struct rlimit saved {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0) << std::strerror(errno);
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0) << std::strerror(errno);
  struct rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(max_bytes);
  const bool limited = setrlimit(RLIMIT_FSIZE, &tight) == 0;
  if (limited) fn();
  const bool restored = setrlimit(RLIMIT_FSIZE, &saved) == 0;
  sigaction(SIGXFSZ, &old_action, nullptr);
  ASSERT_TRUE(limited) << std::strerror(errno);
  ASSERT_TRUE(restored) << std::strerror(errno);
}

// A group whose COMMIT fails: every txn gets the error, nothing is
// published, and the store goes on from the state before the group.
TEST_F(SqliteMetaStoreTest, FailedCommitFailsTheWholeGroupAndChangesNothing) {
  GroupGate gate;
  auto store = open_gated(path_, gate);
  ASSERT_NE(store, nullptr);
  Revision r0 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r0, store->put("k", "0"));
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("", 0, rec.callback()));
  const std::uint64_t commits_before = commits_of(*store);
  const std::vector<TxnSpec> group = {
      {{}, {Op::put("k", "a")}},
      {{Compare::mod_revision_equals("k", r0 + 1)}, {Op::put("j", "b")}},
      {{Compare::mod_revision_equals("k", r0)}, {Op::put("k", "never")}},
  };

  // The WAL cannot grow: the commit cannot write the group's pages.
  std::error_code ec;
  const auto wal_bytes = std::filesystem::file_size(path_ + "-wal", ec);
  ASSERT_FALSE(ec) << ec.message();
  std::vector<Result<TxnResult>> failed;
  with_file_size_limit(wal_bytes, [&] { failed = run_as_one_group(*store, gate, group); });
  ASSERT_EQ(failed.size(), 3u);
  for (const auto& r : failed) EXPECT_EQ(r.status().code(), Code::kIoError) << result_text(r);
  EXPECT_EQ(commits_of(*store), commits_before);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, r0);
  EXPECT_EQ(store->get("j").status().code(), Code::kNotFound);

  // The same group again, with room to write: the revisions the failed one
  // did not take.
  const auto results = run_as_one_group(*store, gate, group);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(result_text(results[0]), result_text(r0 + 1, true));
  EXPECT_EQ(result_text(results[1]), result_text(r0 + 2, true));
  EXPECT_EQ(result_text(results[2]), result_text(r0 + 2, false));
  ASSERT_TRUE(rec.wait_for_revision(r0 + 2));
  const auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].revision, r0 + 1);
  EXPECT_EQ(responses[0].events[0].kv.value, "a");
  EXPECT_EQ(responses[1].revision, r0 + 2);
  EXPECT_EQ(rec.violations(), "");
  handle.reset();
  store.reset();

  store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, r0 + 2);
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("k"));
  EXPECT_EQ(kv.value, "a");
  EXPECT_EQ(kv.version, 2);
}

// A txn whose write fails so that SQLite rolls back the whole transaction
// (an I/O error while it spills pages to the WAL): the txns before it in the
// group are redone, and it alone fails.
TEST_F(SqliteMetaStoreTest, TxnThatBreaksTheTransactionFailsAloneTheOthersAreRedone) {
  GroupGate gate;
  auto store = open_gated(path_, gate);
  ASSERT_NE(store, nullptr);
  // 8 MiB of keys: deleting them writes their delete events, 8 MiB of new
  // pages, more than SQLite's page cache (2 MB) holds, from a txn of a few
  // bytes (the group's byte bound counts what txns carry, not what they
  // delete).
  std::vector<Op> big;
  for (int i = 0; i < 64; ++i)
    big.push_back(Op::put("big/" + std::to_string(i) + std::string(128 << 10, 'k'), "v"));
  HIFI_ASSERT_OK(store->txn({}, big));
  Revision r0 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r0, store->put("k", "0"));
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("", 0, rec.callback()));
  // Checkpointed, the WAL is written from its start again by the next
  // commit; the limit then leaves it 512 KiB: room for the small txns.
  HIFI_ASSERT_OK(sqlite_pragma(*store, "wal_checkpoint"));
  const std::uint64_t commits_before = commits_of(*store);

  std::vector<Result<TxnResult>> results;
  with_file_size_limit(512 << 10, [&] {
    results =
        run_as_one_group(*store, gate,
                         {
                             {{}, {Op::put("k", "a")}},
                             {{}, {Op::del_prefix("big/")}},
                             {{Compare::mod_revision_equals("k", r0 + 1)}, {Op::put("k", "c")}},
                         });
  });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(result_text(results[0]), result_text(r0 + 1, true));
  EXPECT_EQ(results[1].status().code(), Code::kIoError) << result_text(results[1]);
  EXPECT_EQ(result_text(results[2]), result_text(r0 + 2, true));
  EXPECT_EQ(commits_of(*store) - commits_before, 1u);
  RangeResult kept;
  HIFI_ASSERT_OK_AND_ASSIGN(kept, store->range("big/"));
  EXPECT_EQ(kept.kvs.size(), 64u);
  ASSERT_TRUE(rec.wait_for_revision(r0 + 2));
  const auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].events[0].kv.value, "a");
  EXPECT_EQ(responses[1].events[0].kv.value, "c");
  EXPECT_EQ(rec.violations(), "");
  handle.reset();
  store.reset();

  store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, r0 + 2);
  HIFI_ASSERT_OK_AND_ASSIGN(kept, store->range("big/"));
  EXPECT_EQ(kept.kvs.size(), 64u);
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store->get("k"));
  EXPECT_EQ(kv.value, "c");
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

// The same with concurrent writers sharing group commits.
TEST_F(SqliteMetaStoreDeathTest, AcknowledgedGroupsSurviveKill) {
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  EXPECT_EXIT(
      {
        GroupGate gate;
        SqliteOptions options;
        options.group_commit_gate = gate.option();
        auto store = open_sqlite_meta_store(path_, options);
        if (!store.is_ok()) _exit(1);
        gate.hold_until(kThreads);
        std::atomic<bool> failed{false};
        std::vector<std::thread> writers;
        for (int t = 0; t < kThreads; ++t) {
          writers.emplace_back([&, t] {
            for (int j = 0; j < kEach; ++j) {
              char key[32];
              std::snprintf(key, sizeof key, "k%d/%d", t, j);
              if (!(*store)->put(key, key).is_ok()) failed = true;
            }
          });
        }
        for (auto& w : writers) w.join();
        if (failed) _exit(2);
        auto commits = sqlite_commits(**store);
        if (!commits.is_ok() || *commits >= kThreads * kEach) _exit(3);  // no group was shared
        kill(getpid(), SIGKILL);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  auto store = open_or_fail(path_);
  ASSERT_NE(store, nullptr);
  Revision current = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(current, store->current_revision());
  EXPECT_EQ(current, kThreads * kEach);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store->range("k"));
  EXPECT_EQ(r.kvs.size(), static_cast<std::size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace hifi::store_test
