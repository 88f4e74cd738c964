// The MetaStore conformance suite: behaviour every backend must share,
// written against the MetaStore interface only.
//
// The fixture and helpers live here; the tests are in
// meta_store_conformance_test.cc. A backend's test file includes this header
// and instantiates the suite in the same binary:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, MetaStoreConformance,
//                            ::testing::Values(MetaStoreFactory{"sqlite", make}),
//                            MetaStoreFactory::name_of);
//
// Each call of the factory must return a store over an empty keyspace that
// nothing else writes while the test runs: tests check that their own
// writes advance the revision by exactly one. Revisions are only compared
// relative to current_revision(), so a store need not start at 0.
//
// Tests never sleep for a fixed time to let something happen; they wait for
// a condition with a deadline (wait_until, WatchRecorder::wait_for_*).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/meta_store.h"
#include "support/eventually.h"

namespace hifi::store_test {

using namespace std::chrono_literals;

// Generous, because a loaded CI machine is slow; a passing test waits much
// less.
inline constexpr std::chrono::milliseconds kWaitTimeout = 10s;

struct MetaStoreFactory {
  std::string name;  // test-name suffix: letters, digits and '_' only
  std::function<std::unique_ptr<MetaStore>()> make;

  static std::string name_of(const ::testing::TestParamInfo<MetaStoreFactory>& info) {
    return info.param.name;
  }
};

inline void PrintTo(const MetaStoreFactory& factory, std::ostream* os) { *os << factory.name; }

inline std::string status_text(const Status& s) { return s.to_string(); }
template <typename T>
std::string status_text(const Result<T>& r) {
  return r.status().to_string();
}

#define HIFI_STORE_CONCAT_INNER(a, b) a##b
#define HIFI_STORE_CONCAT(a, b) HIFI_STORE_CONCAT_INNER(a, b)
#define HIFI_ASSERT_OK(expr)                                                                \
  do {                                                                                      \
    const auto& hifi_ok_result = (expr);                                                    \
    ASSERT_TRUE(hifi_ok_result.is_ok()) << ::hifi::store_test::status_text(hifi_ok_result); \
  } while (0)
#define HIFI_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  HIFI_ASSERT_OK_AND_ASSIGN_IMPL(HIFI_STORE_CONCAT(hifi_result_, __LINE__), lhs, expr)
#define HIFI_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)              \
  auto tmp = (expr);                                                \
  ASSERT_TRUE(tmp.is_ok()) << ::hifi::store_test::status_text(tmp); \
  lhs = std::move(tmp).value()

// Polls pred until it holds or the deadline passes; returns whether it held.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = kWaitTimeout) {
  return ::hifi::testing::eventually(pred, timeout);
}

// Records what a watch delivers and checks the delivery contract as it goes
// (increasing revisions, no overlapping calls, nothing after an error).
// Must outlive the watch handle that uses its callback.
class WatchRecorder {
 public:
  WatchCallback callback() {
    return [this](const Status& status, const WatchResponse& response) {
      if (in_callback_.fetch_add(1) != 0) overlapped_ = true;
      {
        std::lock_guard lock(mu_);
        ++calls_;
        if (!errors_.empty()) called_after_error_ = true;
        if (!status.is_ok()) {
          errors_.push_back(status);
          if (!response.events.empty()) error_with_events_ = true;
        } else {
          if (!responses_.empty() && response.revision <= responses_.back().revision) {
            misordered_ = true;
          }
          responses_.push_back(response);
        }
      }
      cv_.notify_all();
      in_callback_.fetch_sub(1);
    };
  }

  // Waits until a response with revision >= revision has arrived.
  bool wait_for_revision(Revision revision, std::chrono::milliseconds timeout = kWaitTimeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return !responses_.empty() && responses_.back().revision >= revision;
    });
  }
  bool wait_for_error(std::chrono::milliseconds timeout = kWaitTimeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return !errors_.empty(); });
  }

  std::vector<WatchResponse> responses() const {
    std::lock_guard lock(mu_);
    return responses_;
  }
  std::vector<Status> errors() const {
    std::lock_guard lock(mu_);
    return errors_;
  }
  std::size_t calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // Every contract violation seen so far, for one EXPECT.
  std::string violations() const {
    std::lock_guard lock(mu_);
    std::string out;
    if (misordered_) out += "revisions not strictly increasing; ";
    if (overlapped_) out += "callbacks overlapped; ";
    if (called_after_error_) out += "called after an error; ";
    if (error_with_events_) out += "error delivered with events; ";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchResponse> responses_;
  std::vector<Status> errors_;
  std::size_t calls_ = 0;
  bool misordered_ = false;
  bool called_after_error_ = false;
  bool error_with_events_ = false;
  std::atomic<int> in_callback_{0};
  std::atomic<bool> overlapped_{false};
};

inline std::vector<std::string> keys_of(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> keys;
  for (const auto& kv : kvs) keys.push_back(kv.key);
  return keys;
}

inline std::vector<std::string> keys_of(const WatchResponse& response) {
  std::vector<std::string> keys;
  for (const auto& e : response.events) keys.push_back(e.kv.key);
  return keys;
}

class MetaStoreConformance : public ::testing::TestWithParam<MetaStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    ASSERT_NE(store_, nullptr) << "factory " << GetParam().name << " returned no store";
  }
  void TearDown() override { store_.reset(); }

  MetaStore& store() { return *store_; }

  Revision current() {
    auto r = store_->current_revision();
    EXPECT_TRUE(r.is_ok()) << status_text(r);
    return r.is_ok() ? *r : -1;
  }

  // Wraps a store method so the value can be asserted on in one line.
  std::string value_of(const std::string& key) {
    auto r = store_->get(key);
    if (!r.is_ok()) return "<" + status_text(r) + ">";
    return r->value;
  }

  std::unique_ptr<MetaStore> store_;
};

// --- get / put / delete ----------------------------------------------------

// A sentinel watch on the same store: once it has seen `revision`, the
// watcher under test has had every chance to be called for it too.
class Sentinel {
 public:
  explicit Sentinel(MetaStore& store) {
    auto h = store.watch("", 0, rec_.callback());
    EXPECT_TRUE(h.is_ok()) << status_text(h);
    if (h.is_ok()) handle_ = std::move(h).value();
  }
  bool saw(Revision revision) { return rec_.wait_for_revision(revision); }

 private:
  WatchRecorder rec_;
  std::unique_ptr<WatchHandle> handle_;
};

}  // namespace hifi::store_test
