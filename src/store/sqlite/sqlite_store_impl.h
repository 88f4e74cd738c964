// SqliteMetaStore, the embedded MetaStore backend, as its two source files
// share it: sqlite_meta_store.cc (opening, reads, watches, leases) and
// group_commit.cc (txn). Internal to the SQLite store; callers use
// sqlite_meta_store.h. The layout and the locking are described at the top
// of sqlite_meta_store.cc, the group commit at the top of group_commit.cc.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_meta_store.h"
#include "store/sqlite/statement.h"
#include "store/sqlite/watch_hub.h"

namespace hifi::sqlite_store {

using SteadyClock = std::chrono::steady_clock;

inline constexpr std::int64_t kSchemaVersion = 1;
// Bounds ttl so that deadline arithmetic cannot overflow (about 31 years).
inline constexpr std::int64_t kMaxLeaseTtlSeconds = 1'000'000'000;
// After a failed lease expiry (disk error) the timer retries this much later
// instead of spinning.
inline constexpr auto kLeaseRetryDelay = std::chrono::seconds(1);
// Bounds of one group commit: this many txns, and this many bytes of their
// keys and values (the leader's own txn is always taken, whatever its size).
// The byte bound keeps one commit well within the disk reserve and keeps a
// small command from waiting long behind the writes of big records.
inline constexpr std::size_t kMaxGroupTxns = 64;
inline constexpr std::size_t kMaxGroupBytes = 1 << 20;

class SqliteMetaStore final : public MetaStore {
 public:
  SqliteMetaStore(std::string path, const SqliteOptions& options)
      : path_(std::move(path)),
        options_(options),
        hub_(std::make_shared<WatchHub>(std::max<std::size_t>(options.max_watch_backlog, 1))),
        rng_(std::random_device{}()) {}

  ~SqliteMetaStore() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    lease_cv_.notify_all();
    if (lease_thread_.joinable()) lease_thread_.join();
    hub_->stop();
    for (auto*& stmt : stmts_) {
      sqlite3_finalize(stmt);
      stmt = nullptr;
    }
    if (db_ != nullptr) sqlite3_close_v2(db_);
  }

  Status open();

  Result<KeyValue> get(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto kv = load_locked(key);
    if (!kv) return kv.status();
    if (!kv->has_value()) return not_found("key not found");
    return std::move(**kv);
  }

  Result<RangeResult> range(const std::string& prefix, std::size_t limit,
                            const std::string& start_after) override {
    // "key > start_after" is "key >= start_after + '\0'", which lets one
    // inclusive lower bound serve both the prefix and the paging cursor.
    std::string lower = prefix;
    if (!start_after.empty()) {
      std::string after = start_after + '\0';
      if (after > lower) lower = std::move(after);
    }
    const auto upper = prefix_range_end(prefix);
    const bool limited =
        limit != 0 && limit < static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());

    std::lock_guard lock(mu_);
    RangeResult out;
    out.revision = revision_;
    // One extra row tells whether the limit cut the result short.
    const std::int64_t sql_limit = limited ? static_cast<std::int64_t>(limit) + 1 : -1;
    Status s = scan_locked(lower, upper, sql_limit, &out.kvs);
    if (!s) return s;
    if (limited && out.kvs.size() > limit) {
      out.kvs.resize(limit);
      out.more = true;
    }
    return out;
  }

  // Queues the txn for a group commit (see the top of this file) and
  // returns once its group has committed, or failed.
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& ops) override;

  Result<Revision> current_revision() override {
    std::lock_guard lock(mu_);
    return revision_;
  }

  Result<std::unique_ptr<WatchHandle>> watch(const std::string& prefix, Revision from_revision,
                                             WatchCallback callback) override;

  Result<LeaseId> lease_grant(std::int64_t ttl_seconds) override;
  Status lease_keepalive(LeaseId lease) override;
  Status lease_revoke(LeaseId lease) override;

  std::string describe() const override { return "sqlite:" + path_; }

  // Write transactions committed since open (sqlite_commits).
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

  // `PRAGMA <name>` as this store's connection answers it (pragmas such as
  // synchronous are per connection), as text.
  Result<std::string> pragma(const std::string& name) {
    if (name.empty() ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) {
      return invalid_argument("not a pragma name: " + name);
    }
    std::unique_lock lock(mu_);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, ("PRAGMA " + name).c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return db_error("prepare pragma on");
    }
    Result<std::string> value = not_found("PRAGMA " + name + " returned no row");
    {
      Query q(db_, stmt);
      auto row = q.step();
      if (!row) {
        value = row.status();
      } else if (*row) {
        value = q.blob_column(0);
      }
    }
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  struct Lease {
    std::int64_t ttl_seconds = 0;
    SteadyClock::time_point deadline;
  };

  // Rolls back an open transaction unless it was committed.
  class TxnGuard {
   public:
    explicit TxnGuard(SqliteMetaStore* store) : store_(store) {}
    ~TxnGuard() {
      if (!done_ && !sqlite3_get_autocommit(store_->db_)) {
        (void)Query(store_->db_, store_->stmts_[kRollback]).run();
      }
    }
    void release() { done_ = true; }

   private:
    SqliteMetaStore* store_;
    bool done_ = false;
  };

  // A txn() call waiting in the group commit queue; lives on its caller's
  // stack until `done`.
  struct Writer {
    const std::vector<Compare>* compares = nullptr;
    const std::vector<Op>* ops = nullptr;
    std::size_t bytes = 0;  // of its keys and values, for the group's bound
    // Guarded by queue_mu_; set by the leader of its group.
    std::optional<Result<TxnResult>> result;
    bool done = false;
    std::condition_variable cv;  // done, or it is at the front of the queue
  };

  // What a revision written inside the open transaction changes in the
  // in-memory state once committed.
  struct Staged {
    Revision revision = 0;
    Revision compact = 0;    // compact_revision after it
    std::int64_t bytes = 0;  // of its events' keys and values
  };

  // The state an open write transaction has reached: the committed state
  // (revision_, compact_revision_, history_) plus the revisions written in
  // it so far. Adopted as the committed state only once COMMIT succeeded,
  // so that a failed commit leaves the in-memory state as it was.
  class Pending {
   public:
    explicit Pending(const SqliteMetaStore& store)
        : revision(store.revision_),
          compact(store.compact_revision_),
          bytes(store.history_bytes_),
          base_(&store.history_) {}

    Revision revision;   // last revision written
    Revision compact;    // events at or below this are deleted
    std::int64_t bytes;  // of the retained history

    // Calls fn(revision, bytes) on the retained revisions, oldest first,
    // until it returns false.
    template <typename Fn>
    void for_each_retained(Fn fn) const {
      for (std::size_t i = dropped_; i < base_->size(); ++i) {
        if (!fn((*base_)[i].first, (*base_)[i].second)) return;
      }
      for (const auto& [rev, rev_bytes] : added_) {
        if (!fn(rev, rev_bytes)) return;
      }
    }

    void add(const Staged& staged) {
      compact = staged.compact;
      while (dropped_ < base_->size() && (*base_)[dropped_].first <= compact) {
        bytes -= (*base_)[dropped_++].second;
      }
      while (!added_.empty() && added_.front().first <= compact) {
        bytes -= added_.front().second;
        added_.pop_front();
      }
      added_.emplace_back(staged.revision, staged.bytes);
      bytes += staged.bytes;
      revision = staged.revision;
    }

   private:
    friend class SqliteMetaStore;
    const std::deque<std::pair<Revision, std::int64_t>>* base_;
    std::size_t dropped_ = 0;  // entries at the front of *base_ compacted
    std::deque<std::pair<Revision, std::int64_t>> added_;  // retained, written here
  };

  Query query(StmtId id) { return Query(db_, stmts_[id]); }
  Status db_error(const char* what) const {
    std::string message = std::string("sqlite: ") + what + " " + path_ + ": " + sqlite3_errmsg(db_);
    // The store holds the file locked while open, so "busy" here almost
    // always means a second server pointed at the same database.
    if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_BUSY) {
      message += " (is another process using this database?)";
    }
    return io_error(std::move(message));
  }

  // Leads the group that starts with `leader` at the front of the queue:
  // commits it, then hands every writer of the group its result.
  void lead_group(Writer* leader);
  // Runs the group's txns in one transaction, each in a savepoint, and
  // commits it; publishes their events once committed. One result per
  // writer, in order.
  std::vector<Result<TxnResult>> commit_group_locked(const std::vector<Writer*>& group);
  // One txn of a group, inside the open transaction and on top of what the
  // txns before it wrote (`pending`, advanced when it writes). Its events
  // go to *events. On an error its writes are rolled back to its savepoint;
  // *broken is set when that was not possible (the whole transaction must
  // then be rolled back).
  Result<TxnResult> apply_txn_locked(const std::vector<Compare>& compares,
                                     const std::vector<Op>& ops, Pending* pending,
                                     std::vector<WatchEvent>* events, bool* broken);
  // SQLite's SQLITE_FULL reaches callers as an io_error naming it.
  static bool disk_full(const Status& status) {
    return status.message().find(sqlite3_errstr(SQLITE_FULL)) != std::string::npos;
  }
  std::string reserve_path() const { return path_ + ".reserve"; }
  // Makes the reserve file when it is missing and the disk has room.
  void make_reserve();
  // Deletes the reserve file; false when there was none.
  bool release_reserve();
  Status exec_locked(const char* sql);
  Result<std::int64_t> read_meta_locked(const char* name, std::int64_t fallback);
  // Runs a one-off query, calling row_fn for each row; `what` names the
  // failure to prepare it ("cannot read leases from").
  Status for_each_row_locked(const char* sql, const char* what,
                             const std::function<void(Query&)>& row_fn);
  Result<std::optional<KeyValue>> load_locked(const std::string& key);
  Status scan_locked(const std::string& lower, const std::optional<std::string>& upper,
                     std::int64_t limit, std::vector<KeyValue>* out);
  // Records `events` as the revision after pending.revision in the open
  // transaction (events, the revision counter, compaction); `pending` is
  // left to the caller to advance once the revision is sure to stay.
  Result<Staged> stage_revision_locked(const Pending& pending,
                                       const std::vector<WatchEvent>& events);
  // Commits the open transaction.
  Status commit_locked(TxnGuard* guard);
  // Makes a committed transaction's state the in-memory state.
  void adopt_locked(Pending&& pending);
  // Deletes the lease and its keys as one revision.
  Status end_lease_locked(LeaseId id);
  void lease_loop();

  const std::string path_;
  const SqliteOptions options_;
  const std::shared_ptr<WatchHub> hub_;

  // Group commit queue: txn() calls in arrival order; the front one leads
  // the next group. Lock order: mu_ before queue_mu_.
  std::mutex queue_mu_;
  std::deque<Writer*> writers_;
  std::atomic<std::uint64_t> commits_{0};

  std::mutex mu_;
  std::condition_variable lease_cv_;  // leases_ changed or stopping_
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmts_[kNumStmts] = {};
  Revision revision_ = 0;          // last committed revision
  Revision compact_revision_ = 0;  // events at or below this are deleted
  // The retained revisions above compact_revision_, oldest first, with the
  // bytes of the keys and values of their events, and the sum of those.
  std::deque<std::pair<Revision, std::int64_t>> history_;
  std::int64_t history_bytes_ = 0;
  std::map<LeaseId, Lease> leases_;
  std::mt19937_64 rng_;
  bool stopping_ = false;
  std::thread lease_thread_;
};

}  // namespace hifi::sqlite_store
