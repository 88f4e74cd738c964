// WatchedView against real stores: the SQLite backend, and a real 3-member
// etcd cluster when the etcd binary is installed (those tests skip without
// it). Watches are ended the ways they end in production: a SQLite watcher
// that falls behind its buffer, an etcd member that stays unreachable past
// the client's watch_retry_limit, and an etcd compaction past the revision
// the view must resume from.
#include "store/watched_view.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/etcd/etcd_meta_store.h"
#include "store/etcd_cluster.h"
#include "store/meta_store_conformance.h"
#include "store/sqlite/sqlite_meta_store.h"

namespace hifi::store_test {
namespace {

constexpr char kPrefix[] = "view/";

using Data = std::map<std::string, std::string>;

// The owner side of a view: a copy of the prefix kept by the callbacks,
// which also check their contract (no overlap, increasing revisions). While
// held, apply() blocks, so the store's watch falls behind.
class Mirror {
 public:
  WatchedView::ResetFn reset_fn() {
    return [this](const RangeResult& snapshot) {
      Guard guard(this);
      std::lock_guard lock(mu_);
      data_.clear();
      for (const auto& kv : snapshot.kvs) data_[kv.key] = kv.value;
      last_ = snapshot.revision;
      ++resets_;
    };
  }
  WatchedView::ApplyFn apply_fn() {
    return [this](const WatchResponse& response) {
      Guard guard(this);
      std::unique_lock lock(mu_);
      gate_.wait(lock, [&] { return !held_; });
      if (response.revision <= last_) misordered_ = true;
      last_ = response.revision;
      applied_.push_back(response.revision);
      for (const auto& e : response.events) {
        if (e.type == WatchEvent::Type::kPut) {
          data_[e.kv.key] = e.kv.value;
        } else {
          data_.erase(e.kv.key);
        }
      }
    };
  }

  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    gate_.notify_all();
  }

  Data data() const {
    std::lock_guard lock(mu_);
    return data_;
  }
  std::vector<Revision> applied() const {
    std::lock_guard lock(mu_);
    return applied_;
  }
  int resets() const {
    std::lock_guard lock(mu_);
    return resets_;
  }
  std::string violations() const {
    std::lock_guard lock(mu_);
    std::string out;
    if (misordered_) out += "revisions not increasing; ";
    if (overlapped_) out += "callbacks overlapped; ";
    return out;
  }

 private:
  struct Guard {
    explicit Guard(Mirror* m) : mirror(m) {
      if (mirror->running_.fetch_add(1) != 0) {
        std::lock_guard lock(mirror->mu_);
        mirror->overlapped_ = true;
      }
    }
    ~Guard() { mirror->running_.fetch_sub(1); }
    Mirror* mirror;
  };

  mutable std::mutex mu_;
  std::condition_variable gate_;
  bool held_ = false;
  Data data_;
  Revision last_ = 0;
  std::vector<Revision> applied_;
  int resets_ = 0;
  bool misordered_ = false;
  bool overlapped_ = false;
  std::atomic<int> running_{0};
};

// What the store holds under the prefix now.
Data contents(MetaStore& store) {
  Data out;
  auto all = store.range(kPrefix);
  if (!all) return out;
  for (const auto& kv : all->kvs) out[kv.key] = kv.value;
  return out;
}

std::unique_ptr<WatchedView> make_view(MetaStore& store, Mirror& mirror) {
  return std::make_unique<WatchedView>(
      store, kPrefix, mirror.reset_fn(), mirror.apply_fn(),
      WatchedViewOptions{.name = "test", .min_backoff = 10ms, .max_backoff = 200ms});
}

std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-view-test-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<MetaStore> open_sqlite(const std::string& path, const SqliteOptions& options) {
  auto store = open_sqlite_meta_store(path, options);
  if (!store) {
    ADD_FAILURE() << "open " << path << ": " << store.status().to_string();
    return nullptr;
  }
  return std::move(store).value();
}

std::unique_ptr<MetaStore> open_etcd(const std::vector<std::string>& endpoints) {
  EtcdOptions options;
  options.key_namespace = "watched-view/";
  options.connect_timeout = 500ms;
  // Longer than etcd's own deadline for a write proposed during an election.
  options.request_timeout = 15s;
  // The view must see its watch end soon after its only member dies.
  options.watch_retry_limit = 300ms;
  auto store = open_etcd_meta_store(endpoints, options);
  if (!store) {
    ADD_FAILURE() << "open etcd store: " << store.status().to_string();
    return nullptr;
  }
  return std::move(store).value();
}

// --- behaviour shared by both backends ------------------------------------

// A store to run a view on, and what keeps it alive.
struct Backend {
  std::string name;
  bool etcd = false;
};

class WatchedViewTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam().etcd) {
      if (!etcd_available()) GTEST_SKIP() << etcd_binary() << " not found";
      cluster_ = std::make_unique<EtcdCluster>();
      std::string error;
      ASSERT_TRUE(cluster_->start(&error)) << error;
      store_ = open_etcd(cluster_->endpoints());
    } else {
      store_ = open_sqlite(dir_.path() + "/meta.db", SqliteOptions());
    }
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (view_) view_->stop();
  }

  TempDir dir_;
  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<MetaStore> store_;
  Mirror mirror_;
  std::unique_ptr<WatchedView> view_;
};

TEST_P(WatchedViewTest, StartLoadsThePrefix) {
  HIFI_ASSERT_OK(store_->put("view/a", "1"));
  HIFI_ASSERT_OK(store_->put("view/b", "2"));
  HIFI_ASSERT_OK(store_->put("other/c", "3"));
  Revision now = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(now, store_->current_revision());
  view_ = make_view(*store_, mirror_);
  EXPECT_TRUE(view_->stale());
  HIFI_ASSERT_OK(view_->start());
  EXPECT_EQ(mirror_.data(), (Data{{"view/a", "1"}, {"view/b", "2"}}));
  EXPECT_EQ(mirror_.resets(), 1);
  EXPECT_EQ(view_->applied_revision(), now);
  const auto status = view_->status();
  EXPECT_FALSE(status.stale);
  EXPECT_EQ(status.restarts, 0u);
}

TEST_P(WatchedViewTest, AppliesEventsInRevisionOrder) {
  view_ = make_view(*store_, mirror_);
  HIFI_ASSERT_OK(view_->start());
  std::vector<Revision> written;
  for (int i = 0; i < 10; ++i) {
    Revision r = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(r, store_->put("view/k" + std::to_string(i % 3), std::to_string(i)));
    written.push_back(r);
    HIFI_ASSERT_OK(store_->put("other/x", std::to_string(i)));  // outside the prefix
  }
  TxnResult txn;
  HIFI_ASSERT_OK_AND_ASSIGN(txn, store_->txn({}, {Op::del("view/k0"), Op::put("view/z", "z")}));
  written.push_back(txn.revision);
  HIFI_ASSERT_OK(view_->wait_for_revision(txn.revision, in(kWaitTimeout)));
  EXPECT_EQ(mirror_.applied(), written);
  EXPECT_EQ(mirror_.data(), contents(*store_));
  EXPECT_EQ(mirror_.violations(), "");
}

TEST_P(WatchedViewTest, WaitForRevisionGivesReadYourWrites) {
  view_ = make_view(*store_, mirror_);
  HIFI_ASSERT_OK(view_->start());
  for (int i = 0; i < 5; ++i) {
    Revision r = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(r, store_->put("view/k", std::to_string(i)));
    HIFI_ASSERT_OK(view_->wait_for_revision(r, in(kWaitTimeout)));
    EXPECT_EQ(mirror_.data().at("view/k"), std::to_string(i));
  }
  // A revision nobody writes: the deadline passes.
  const Status late = view_->wait_for_revision(view_->applied_revision() + 100, in(50ms));
  EXPECT_EQ(late.code(), Code::kUnavailable) << late.to_string();
  view_->stop();
  const Status stopped = view_->wait_for_revision(view_->applied_revision() + 1, in(kWaitTimeout));
  EXPECT_EQ(stopped.code(), Code::kUnavailable);
}

TEST_P(WatchedViewTest, StartAsyncLoadsOnItsOwnThread) {
  HIFI_ASSERT_OK(store_->put("view/a", "1"));
  view_ = make_view(*store_, mirror_);
  view_->start_async();
  ASSERT_TRUE(wait_until([&] { return !view_->stale(); }));
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store_->put("view/b", "2"));
  HIFI_ASSERT_OK(view_->wait_for_revision(r, in(kWaitTimeout)));
  EXPECT_EQ(mirror_.data(), contents(*store_));
  EXPECT_EQ(view_->status().restarts, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, WatchedViewTest,
                         ::testing::Values(Backend{"Sqlite", false}, Backend{"Etcd", true}),
                         [](const auto& info) { return info.param.name; });

// --- SQLite: a watcher that falls behind its buffer ------------------------

TEST(WatchedViewSqliteTest, ReloadsWhenTheWatcherFallsBehindItsBuffer) {
  TempDir dir;
  SqliteOptions options;
  options.max_watch_backlog = 4;
  auto store = open_sqlite(dir.path() + "/meta.db", options);
  ASSERT_NE(store, nullptr);
  HIFI_ASSERT_OK(store->put("view/gone", "soon deleted"));
  Mirror mirror;
  auto view = make_view(*store, mirror);
  HIFI_ASSERT_OK(view->start());

  mirror.hold();
  Revision last = 0;
  for (int i = 0; i < 20; ++i) {
    HIFI_ASSERT_OK_AND_ASSIGN(last, store->put("view/k" + std::to_string(i), std::to_string(i)));
  }
  HIFI_ASSERT_OK_AND_ASSIGN(last, store->del("view/gone"));
  // A writer waiting for its revision across the restart gets it.
  auto waiter = std::async(std::launch::async,
                           [&] { return view->wait_for_revision(last, in(kWaitTimeout)); });
  mirror.release();

  HIFI_ASSERT_OK(waiter.get());
  ASSERT_TRUE(wait_until([&] { return !view->stale(); }));
  EXPECT_EQ(mirror.data(), contents(*store));
  const auto status = view->status();
  EXPECT_FALSE(status.stale);
  EXPECT_EQ(status.restarts, 1u);
  EXPECT_EQ(status.reloads, 1u);
  EXPECT_EQ(status.last_error.code(), Code::kCompacted);
  EXPECT_EQ(mirror.resets(), 2);
  EXPECT_EQ(mirror.violations(), "");

  // It keeps following.
  HIFI_ASSERT_OK_AND_ASSIGN(last, store->put("view/after", "x"));
  HIFI_ASSERT_OK(view->wait_for_revision(last, in(kWaitTimeout)));
  EXPECT_EQ(mirror.data(), contents(*store));
  view->stop();
}

// --- etcd: the view's only member goes away --------------------------------

// The view talks to member 0 only; a writer to the other two, which keep a
// majority while member 0 is down.
class WatchedViewEtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!etcd_available()) GTEST_SKIP() << etcd_binary() << " not found";
    std::string error;
    ASSERT_TRUE(cluster_.start(&error)) << error;
    view_store_ = open_etcd({cluster_.endpoint(0)});
    writer_ = open_etcd({cluster_.endpoint(1), cluster_.endpoint(2)});
    ASSERT_NE(view_store_, nullptr);
    ASSERT_NE(writer_, nullptr);
    HIFI_ASSERT_OK(writer_->put("view/a", "1"));
    HIFI_ASSERT_OK(writer_->put("view/b", "2"));
    view_ = make_view(*view_store_, mirror_);
    HIFI_ASSERT_OK(view_->start());
  }
  void TearDown() override {
    if (view_) view_->stop();
  }

  // Kills member 0 and waits until the view has noticed and the other two
  // have a leader.
  void lose_the_views_member() {
    cluster_.kill_member(0);
    ASSERT_TRUE(wait_until([&] { return view_->stale(); }));
    ASSERT_TRUE(wait_until([&] { return cluster_.leader() > 0; }, 30s));
    EXPECT_EQ(view_->status().last_error.code(), Code::kUnavailable);
  }
  // Changes the prefix while member 0 is down; returns the last revision.
  Revision write_meanwhile() {
    EXPECT_TRUE(writer_->put("view/c", "3").is_ok());
    auto last = writer_->del("view/a");
    EXPECT_TRUE(last.is_ok()) << last.status().to_string();
    return last.is_ok() ? *last : 0;
  }
  void restart_the_views_member() {
    std::string error;
    ASSERT_TRUE(cluster_.restart_member(0, &error)) << error;
  }

  EtcdCluster cluster_;
  std::unique_ptr<MetaStore> view_store_;
  std::unique_ptr<MetaStore> writer_;
  Mirror mirror_;
  std::unique_ptr<WatchedView> view_;
};

TEST_F(WatchedViewEtcdTest, ResumesWhenItsMemberComesBack) {
  lose_the_views_member();
  const Revision last = write_meanwhile();
  // A writer waiting through the outage gets its revision once the view follows again.
  auto waiter = std::async(std::launch::async,
                           [&] { return view_->wait_for_revision(last, in(30s)); });
  restart_the_views_member();

  HIFI_ASSERT_OK(waiter.get());
  ASSERT_TRUE(wait_until([&] { return !view_->stale(); }));
  EXPECT_EQ(mirror_.data(), contents(*writer_));
  const auto status = view_->status();
  EXPECT_FALSE(status.stale);
  EXPECT_GE(status.restarts, 1u);
  EXPECT_EQ(status.reloads, 0u);
  EXPECT_EQ(mirror_.resets(), 1);
  EXPECT_EQ(mirror_.violations(), "");
}

TEST_F(WatchedViewEtcdTest, ReloadsWhenTheRevisionWasCompactedMeanwhile) {
  lose_the_views_member();
  const Revision last = write_meanwhile();
  ASSERT_TRUE(cluster_.compact(last));
  restart_the_views_member();

  HIFI_ASSERT_OK(view_->wait_for_revision(last, in(30s)));
  ASSERT_TRUE(wait_until([&] { return !view_->stale(); }));
  EXPECT_EQ(mirror_.data(), contents(*writer_));
  const auto status = view_->status();
  EXPECT_FALSE(status.stale);
  EXPECT_GE(status.restarts, 1u);
  EXPECT_GE(status.reloads, 1u);
  EXPECT_EQ(mirror_.resets(), 1 + static_cast<int>(status.reloads));
  EXPECT_EQ(mirror_.violations(), "");

  Revision after = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(after, writer_->put("view/d", "4"));
  HIFI_ASSERT_OK(view_->wait_for_revision(after, in(kWaitTimeout)));
  EXPECT_EQ(mirror_.data(), contents(*writer_));
}

}  // namespace
}  // namespace hifi::store_test
