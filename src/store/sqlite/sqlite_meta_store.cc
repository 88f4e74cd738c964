// Embedded MetaStore backend: one SQLite database in WAL mode.
//
// Layout
//  - meta(name, value): "revision" (the global revision counter),
//    "compact_revision" (events at or below it are gone), "schema_version".
//  - kv: the current state, one row per present key.
//  - events: the history of the most recent revisions, one row per changed
//    key per revision, from which a watch replays what it missed. Bounded
//    by a count of revisions and by the bytes of their keys and values
//    (SqliteOptions), whichever is reached first; the bytes of each
//    retained revision are tracked in memory (loaded at open).
//  - <path>.reserve: disk set aside for the store's writes, given back when
//    the disk is full (SqliteOptions::reserve_bytes).
//  - leases(id, ttl): granted leases. Deadlines live only in memory; after a
//    restart every lease gets a fresh full TTL, as etcd does on leader change.
//
// Concurrency: one connection guarded by mu_. Reads take mu_ too, so they
// never see the rows of a write transaction still open (the connection sees
// its own uncommitted writes). A watch is registered under mu_, which makes
// "replay history up to revision R, then live events from R + 1" free of
// gaps and duplicates.
//
// Group commit (as in LevelDB), so that concurrent writes share an fsync:
//  - txn() queues its call on writers_. The call at the front leads: it
//    takes mu_, then every call queued behind it (up to kMaxGroupTxns, and
//    kMaxGroupBytes of keys and values), and runs them in one BEGIN
//    IMMEDIATE transaction, in queue order, each in a SAVEPOINT of its own.
//  - Each txn behaves as if committed alone, one after another: one that
//    writes gets its own revision (the previous one + 1); its compares see
//    the writes of the txns before it; one whose compare fails writes
//    nothing and reports the revision reached at that point; one that fails
//    with an error (unknown lease, I/O) is rolled back to its savepoint and
//    gets its error while the others go on. Should SQLite roll back the whole
//    transaction (it may on an I/O error or a full disk), the group is run
//    again without that txn.
//  - Then one COMMIT, which with synchronous=FULL is one fsync of the WAL for
//    the whole group. Until it has returned, the group's revisions and
//    history live in a Pending, not in revision_, compact_revision_ and
//    history_: a failed COMMIT leaves those as they were and fails every txn
//    of the group. Once it has returned: the in-memory state is updated, each
//    txn's events are handed to the WatchHub in revision order while mu_ is
//    still held (watchers receive revisions in commit order), and only then
//    is each caller of the group woken with its result. Nothing is
//    acknowledged before it is durable.
//  - While a group commits, new calls queue; the first of them leads the
//    next group as soon as this one is done.
//  - A write that fails for want of disk space is tried once more after the
//    reserve is given back: per txn, or the whole group when its COMMIT
//    failed so.
// Lease grants and lease ends take mu_ and commit alone; a leader holds mu_
// from BEGIN to COMMIT, so they never run inside a group's transaction.
//
// Lock order: mu_ before queue_mu_, and mu_ before WatchHub::mu_; queue_mu_
// is never held while taking another lock. Watch callbacks run on the hub's
// dispatcher thread with no lock held, so they may call back into the store
// (including cancelling their own watch).
#include "store/sqlite/sqlite_meta_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace hifi {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kSchemaVersion = 1;
// Bounds ttl so that deadline arithmetic cannot overflow (about 31 years).
constexpr std::int64_t kMaxLeaseTtlSeconds = 1'000'000'000;
// After a failed lease expiry (disk error) the timer retries this much later
// instead of spinning.
constexpr auto kLeaseRetryDelay = std::chrono::seconds(1);
// Bounds of one group commit: this many txns, and this many bytes of their
// keys and values (the leader's own txn is always taken, whatever its size).
// The byte bound keeps one commit well within the disk reserve and keeps a
// small command from waiting long behind the writes of big records.
constexpr std::size_t kMaxGroupTxns = 64;
constexpr std::size_t kMaxGroupBytes = 1 << 20;

// One execution of a cached prepared statement. Resets the statement when
// destroyed so that no read stays open across calls (it would pin a WAL
// snapshot and block checkpoints).
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // Keys and values are always bound as BLOBs so that SQLite orders them
  // with memcmp. An empty string must still be a zero-length BLOB, not NULL.
  Query& blob(int index, std::string_view value) {
    const char* data = value.data() != nullptr ? value.data() : "";
    record(sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT));
    return *this;
  }
  Query& integer(int index, std::int64_t value) {
    record(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Query& text(int index, std::string_view value) {
    record(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8));
    return *this;
  }

  // Advances to the next row: true if there is one, false when done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return error(bind_rc_);
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return error(rc);
  }

  // Runs a statement that returns no rows of interest.
  Status run() {
    for (;;) {
      auto row = step();
      if (!row) return row.status();
      if (!*row) return Status::ok();
    }
  }

  std::int64_t int_column(int index) { return sqlite3_column_int64(stmt_, index); }
  std::string blob_column(int index) {
    // sqlite3_column_blob must be called before sqlite3_column_bytes.
    const void* data = sqlite3_column_blob(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    if (data == nullptr) return {};
    return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
  }

 private:
  void record(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  Status error(int rc) const {
    return io_error(std::string("sqlite: ") + sqlite3_errstr(rc) + ": " + sqlite3_errmsg(db_) +
                    " (in: " + sqlite3_sql(stmt_) + ")");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// ---------------------------------------------------------------------------
// WatchHub: the registry of watchers and the thread that calls them back.
//
// Each watcher owns a FIFO backlog of responses already filtered by its
// prefix; one dispatcher thread delivers one response at a time, taking
// watchers round-robin so a busy one cannot starve the others. A watcher is
// therefore never called concurrently and sees revisions in the order they
// were queued.
class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  struct Watcher {
    Watcher(std::string p, Revision from, WatchCallback cb)
        : prefix(std::move(p)), min_revision(from), callback(std::move(cb)) {}

    const std::string prefix;
    // Live revisions below this are not delivered (they were replayed, or
    // precede the requested from_revision).
    const Revision min_revision;
    // Touched only by the dispatcher while it runs the watcher, or by
    // whoever ends the watcher when it is not running.
    WatchCallback callback;

    // Guarded by WatchHub::mu_.
    std::deque<WatchResponse> backlog;
    std::optional<Status> error;  // delivered after the backlog, then the watch ends
    bool queued = false;          // present in ready_
    bool done = false;            // cancelled or ended; never called again
  };

  explicit WatchHub(std::size_t max_backlog) : max_backlog_(max_backlog) {}

  void start() {
    std::lock_guard lock(mu_);
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
    thread_id_ = thread_.get_id();
  }

  // Stops the dispatcher. Undelivered responses are dropped. Called from a
  // callback (the store destroyed by its own watcher), the thread is
  // detached instead of joined; it holds a reference to the hub and exits
  // once that callback returns.
  void stop() {
    std::vector<std::shared_ptr<Watcher>> watchers;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& w : watchers_) w->done = true;
      watchers.swap(watchers_);
      ready_.clear();
    }
    work_cv_.notify_all();
    if (!thread_.joinable()) return;
    if (std::this_thread::get_id() == thread_id_) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  // Registers a watcher whose first deliveries are `replay` (or `error`);
  // live revisions >= min_revision follow. Must be called with the store's
  // mutex held so that no revision is published in between.
  std::shared_ptr<Watcher> add(std::string prefix, Revision min_revision,
                               std::deque<WatchResponse> replay, std::optional<Status> error,
                               WatchCallback callback) {
    auto w = std::make_shared<Watcher>(std::move(prefix), min_revision, std::move(callback));
    std::lock_guard lock(mu_);
    w->backlog = std::move(replay);
    w->error = std::move(error);
    if (stopping_) {
      w->done = true;
      return w;
    }
    if (!w->error) watchers_.push_back(w);
    if (!w->backlog.empty() || w->error) enqueue(w);
    return w;
  }

  // Queues the events of one committed revision (sorted by key) for every
  // interested watcher. Called with the store's mutex held, in revision order.
  void publish(Revision revision, const std::vector<WatchEvent>& events) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < watchers_.size();) {
      const auto& w = watchers_[i];
      if (revision < w->min_revision) {
        ++i;
        continue;
      }
      WatchResponse response;
      response.revision = revision;
      for (const auto& e : events) {
        if (e.kv.key.starts_with(w->prefix)) response.events.push_back(e);
      }
      if (response.events.empty()) {
        ++i;
        continue;
      }
      if (w->backlog.size() >= max_backlog_) {
        // Ending the watch is the only bounded option; the owner re-reads
        // and watches again, as it would after a compaction.
        w->backlog.clear();
        w->error = Status(Code::kCompacted,
                          "watch fell behind by more than " + std::to_string(max_backlog_) +
                              " revisions at revision " + std::to_string(revision));
        enqueue(w);
        watchers_.erase(watchers_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      w->backlog.push_back(std::move(response));
      enqueue(w);
      ++i;
    }
  }

  // Ends a watcher. Unless called from the dispatcher thread (i.e. from a
  // callback), waits until its callback is not running.
  void cancel(const std::shared_ptr<Watcher>& w) {
    WatchCallback dead;
    {
      std::unique_lock lock(mu_);
      w->done = true;
      w->backlog.clear();
      w->error.reset();
      auto it = std::find(watchers_.begin(), watchers_.end(), w);
      if (it != watchers_.end()) watchers_.erase(it);
      if (std::this_thread::get_id() == thread_id_) {
        // On the dispatcher: either this is the running watcher, which the
        // dispatcher cleans up after its callback returns, or another one,
        // which then cannot be running.
        if (running_ != w.get()) dead = std::move(w->callback);
      } else {
        idle_cv_.wait(lock, [&] { return running_ != w.get(); });
        dead = std::move(w->callback);
      }
    }
    // `dead` is destroyed here, outside the lock: the callback's captures may
    // do anything in their destructors.
  }

 private:
  // Marks w as having something to deliver. Called with mu_ held.
  void enqueue(const std::shared_ptr<Watcher>& w) {
    if (w->queued) return;
    w->queued = true;
    ready_.push_back(w);
    work_cv_.notify_one();
  }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      std::shared_ptr<Watcher> w = std::move(ready_.front());
      ready_.pop_front();
      w->queued = false;
      if (w->done) continue;

      Status status;
      WatchResponse response;
      if (!w->backlog.empty()) {
        response = std::move(w->backlog.front());
        w->backlog.pop_front();
      } else if (w->error) {
        status = std::move(*w->error);
        w->error.reset();
        w->done = true;
        auto it = std::find(watchers_.begin(), watchers_.end(), w);
        if (it != watchers_.end()) watchers_.erase(it);
      } else {
        continue;
      }
      if (!w->backlog.empty() || w->error) enqueue(w);

      running_ = w.get();
      lock.unlock();
      // Callbacks must not throw (the project does not use exceptions); one
      // that does terminates the process, which is the loudest failure.
      w->callback(status, response);
      WatchCallback dead;
      lock.lock();
      running_ = nullptr;
      if (w->done) dead = std::move(w->callback);
      idle_cv_.notify_all();
      if (dead) {
        lock.unlock();
        dead = nullptr;
        lock.lock();
      }
    }
  }

  const std::size_t max_backlog_;
  std::mutex mu_;
  std::condition_variable work_cv_;                 // ready_ non-empty or stopping_
  std::condition_variable idle_cv_;                 // running_ changed
  std::vector<std::shared_ptr<Watcher>> watchers_;  // live watchers
  std::deque<std::shared_ptr<Watcher>> ready_;      // watchers with something to deliver
  const Watcher* running_ = nullptr;                // whose callback runs now
  bool stopping_ = false;
  std::thread thread_;
  std::thread::id thread_id_;
};

class SqliteWatchHandle final : public WatchHandle {
 public:
  SqliteWatchHandle(std::shared_ptr<WatchHub> hub, std::shared_ptr<WatchHub::Watcher> watcher)
      : hub_(std::move(hub)), watcher_(std::move(watcher)) {}
  ~SqliteWatchHandle() override { cancel(); }

  // WatchHub::cancel is idempotent and synchronized, so the callback may
  // cancel through its handle while another thread does the same.
  void cancel() override { hub_->cancel(watcher_); }

 private:
  // The hub outlives the store if a handle does, so cancelling after the
  // store is gone is safe. The watcher stays allocated until the handle
  // dies, but cancel() releases its callback and backlog.
  const std::shared_ptr<WatchHub> hub_;
  const std::shared_ptr<WatchHub::Watcher> watcher_;
};

// ---------------------------------------------------------------------------

enum StmtId {
  kBegin,
  kCommit,
  kRollback,
  kSavepoint,
  kRollbackToSavepoint,
  kReleaseSavepoint,
  kGetKv,
  kRangeBounded,
  kRangeUnbounded,
  kPutKv,
  kDeleteKv,
  kLeaseKeys,
  kInsertEvent,
  kReadEvents,
  kCompactEvents,
  kSetMeta,
  kInsertLease,
  kDeleteLease,
  kNumStmts,
};

constexpr const char* kStmtSql[kNumStmts] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT txn",
    "ROLLBACK TO txn",
    "RELEASE txn",
    "SELECT value, create_rev, mod_rev, version, lease FROM kv WHERE key = ?1",
    "SELECT key, value, create_rev, mod_rev, version, lease FROM kv"
    " WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
    "SELECT key, value, create_rev, mod_rev, version, lease FROM kv"
    " WHERE key >= ?1 ORDER BY key LIMIT ?3",
    "INSERT OR REPLACE INTO kv(key, value, create_rev, mod_rev, version, lease)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM kv WHERE key = ?1",
    // "lease != 0" lets the planner use the partial index kv_by_lease.
    "SELECT key FROM kv WHERE lease = ?1 AND lease != 0 ORDER BY key",
    "INSERT INTO events(revision, key, type, value, create_rev, version, lease)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    // The events primary key is (revision, key), so a prefix can only
    // filter; replays are bounded by the retained history anyway.
    "SELECT revision, key, type, value, create_rev, version, lease FROM events"
    " WHERE revision >= ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3)"
    " ORDER BY revision, key",
    "DELETE FROM events WHERE revision <= ?1",
    "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
    "INSERT INTO leases(id, ttl) VALUES (?1, ?2)",
    "DELETE FROM leases WHERE id = ?1",
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv(
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv(lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS events(
  revision INTEGER NOT NULL,
  key BLOB NOT NULL,
  type INTEGER NOT NULL,
  value BLOB NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  PRIMARY KEY (revision, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases(
  id INTEGER PRIMARY KEY,
  ttl INTEGER NOT NULL
);
)sql";

// Event types as stored in events.type.
constexpr std::int64_t kEventPut = 0;
constexpr std::int64_t kEventDelete = 1;

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
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) {
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
  Status for_each_row_locked(const char* sql, const char* what, const std::function<void(Query&)>& row_fn);
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

Status SqliteMetaStore::exec_locked(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::ok();
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return io_error("sqlite: " + path_ + ": " + text);
}

void SqliteMetaStore::make_reserve() {
  if (options_.reserve_bytes <= 0 || path_.empty() || path_ == ":memory:") return;
  const auto path = reserve_path();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size >= static_cast<std::uintmax_t>(options_.reserve_bytes)) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const int rc = ::posix_fallocate(fd, 0, options_.reserve_bytes);
  ::close(fd);
  if (rc != 0) {
    ::unlink(path.c_str());
    spdlog::warn("sqlite: no room for the {} MiB reserve next to {} ({}); a full disk would stop writes",
                 options_.reserve_bytes >> 20, path_, std::strerror(rc));
  }
}

bool SqliteMetaStore::release_reserve() {
  if (::unlink(reserve_path().c_str()) != 0) return false;
  spdlog::error("sqlite: the disk of {} is full; gave back the {} MiB reserve so that writes go on. Free "
                "space on it; the reserve is made again at the next start",
                path_, options_.reserve_bytes >> 20);
  return true;
}

Status SqliteMetaStore::for_each_row_locked(const char* sql, const char* what,
                                            const std::function<void(Query&)>& row_fn) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) return db_error(what);
  Status status;
  {
    Query q(db_, stmt);
    for (;;) {
      auto row = q.step();
      if (!row) {
        status = row.status();
        break;
      }
      if (!*row) break;
      row_fn(q);
    }
  }
  sqlite3_finalize(stmt);
  return status;
}

Result<std::int64_t> SqliteMetaStore::read_meta_locked(const char* name, std::int64_t fallback) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = ?1", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return db_error("prepare");
  }
  std::int64_t value = fallback;
  Status status;
  {
    Query q(db_, stmt);
    q.text(1, name);
    auto row = q.step();
    if (!row) {
      status = row.status();
    } else if (*row) {
      value = q.int_column(0);
    }
  }
  sqlite3_finalize(stmt);
  if (!status) return status;
  return value;
}

Status SqliteMetaStore::open() {
  std::unique_lock lock(mu_);
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    if (db_ == nullptr) return io_error("sqlite: cannot open " + path_ + ": out of memory");
    return db_error("cannot open");
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);

  // EXCLUSIVE locking keeps the file locked for as long as the store is
  // open: the cached revision and the watchers assume that nothing else
  // writes the database, so a second server on the same file must fail
  // instead of silently diverging. It must be set before entering WAL mode
  // so that the WAL index lives in heap memory rather than a shm file.
  if (Status s = exec_locked("PRAGMA locking_mode=EXCLUSIVE"); !s) return s;
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK) {
      return db_error("cannot set journal mode on");
    }
    std::string mode;
    Status status;
    {
      Query q(db_, stmt);
      auto row = q.step();
      if (!row) {
        status = row.status();
      } else if (*row) {
        mode = q.blob_column(0);
      }
    }
    sqlite3_finalize(stmt);
    if (!status) return status;
    // An in-memory database (tests) cannot use WAL; a file must.
    if (mode != "wal" && path_ != ":memory:" && !path_.empty()) {
      return io_error("sqlite: " + path_ + ": cannot enable WAL mode (got '" + mode + "')");
    }
  }
  // FULL fsyncs the WAL on every commit: an acknowledged write survives a
  // power loss, not just a process crash.
  if (Status s = exec_locked("PRAGMA synchronous=FULL"); !s) return s;

  // Creating the schema in a write transaction also takes the exclusive
  // lock now rather than at the first write.
  if (Status s = exec_locked("BEGIN IMMEDIATE"); !s) return s;
  Status s = exec_locked(kSchema);
  if (s) {
    auto version = read_meta_locked("schema_version", 0);
    if (!version) {
      s = version.status();
    } else if (*version == 0) {
      s = exec_locked("INSERT INTO meta(name, value) VALUES ('schema_version', 1)");
    } else if (*version != kSchemaVersion) {
      s = io_error("sqlite: " + path_ + ": unsupported schema version " + std::to_string(*version));
    }
  }
  if (s) s = exec_locked("COMMIT");
  if (!s) {
    if (!sqlite3_get_autocommit(db_)) (void)exec_locked("ROLLBACK");
    return s;
  }

  for (int i = 0; i < kNumStmts; ++i) {
    if (sqlite3_prepare_v3(db_, kStmtSql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[i], nullptr) !=
        SQLITE_OK) {
      return db_error("cannot prepare statement for");
    }
  }

  auto revision = read_meta_locked("revision", 0);
  if (!revision) return revision.status();
  revision_ = *revision;
  auto compact = read_meta_locked("compact_revision", 0);
  if (!compact) return compact.status();
  compact_revision_ = *compact;
  // The bytes of each retained revision, for the history's byte bound.
  if (Status s = for_each_row_locked("SELECT revision, sum(length(key) + length(value)) FROM events"
                                     " GROUP BY revision ORDER BY revision",
                                     "cannot read the history of",
                                     [&](Query& q) {
                                       history_.emplace_back(q.int_column(0), q.int_column(1));
                                       history_bytes_ += q.int_column(1);
                                     });
      !s) {
    return s;
  }
  const auto now = SteadyClock::now();
  if (Status s = for_each_row_locked("SELECT id, ttl FROM leases", "cannot read leases from",
                                     [&](Query& q) {
                                       const std::int64_t ttl = q.int_column(1);
                                       leases_[q.int_column(0)] = Lease{ttl, now + std::chrono::seconds(ttl)};
                                     });
      !s) {
    return s;
  }

  make_reserve();
  hub_->start();
  lease_thread_ = std::thread([this] { lease_loop(); });
  return Status::ok();
}

Result<std::optional<KeyValue>> SqliteMetaStore::load_locked(const std::string& key) {
  Query q = query(kGetKv);
  q.blob(1, key);
  auto row = q.step();
  if (!row) return row.status();
  if (!*row) return std::optional<KeyValue>();
  KeyValue kv;
  kv.key = key;
  kv.value = q.blob_column(0);
  kv.create_revision = q.int_column(1);
  kv.mod_revision = q.int_column(2);
  kv.version = q.int_column(3);
  kv.lease = q.int_column(4);
  return std::optional<KeyValue>(std::move(kv));
}

Status SqliteMetaStore::scan_locked(const std::string& lower,
                                    const std::optional<std::string>& upper, std::int64_t limit,
                                    std::vector<KeyValue>* out) {
  Query q = query(upper ? kRangeBounded : kRangeUnbounded);
  q.blob(1, lower);
  if (upper) q.blob(2, *upper);
  q.integer(3, limit);
  for (;;) {
    auto row = q.step();
    if (!row) return row.status();
    if (!*row) return Status::ok();
    KeyValue kv;
    kv.key = q.blob_column(0);
    kv.value = q.blob_column(1);
    kv.create_revision = q.int_column(2);
    kv.mod_revision = q.int_column(3);
    kv.version = q.int_column(4);
    kv.lease = q.int_column(5);
    out->push_back(std::move(kv));
  }
}

Result<SqliteMetaStore::Staged> SqliteMetaStore::stage_revision_locked(
    const Pending& pending, const std::vector<WatchEvent>& events) {
  Staged staged;
  staged.revision = pending.revision + 1;
  for (const auto& e : events) {
    staged.bytes += static_cast<std::int64_t>(e.kv.key.size() + e.kv.value.size());
  }
  for (const auto& e : events) {
    Query q = query(kInsertEvent);
    q.integer(1, staged.revision).blob(2, e.kv.key);
    q.integer(3, e.type == WatchEvent::Type::kPut ? kEventPut : kEventDelete);
    q.blob(4, e.kv.value).integer(5, e.kv.create_revision).integer(6, e.kv.version);
    q.integer(7, e.kv.lease);
    if (Status s = q.run(); !s) return s;
  }
  if (Status s = query(kSetMeta).text(1, "revision").integer(2, staged.revision).run(); !s) {
    return s;
  }

  // Compacting in steps of 1/16 of the history (in revisions or in bytes)
  // keeps the cost of each delete small and amortised over many writes.
  Revision compact = pending.compact;
  const std::int64_t limit = std::max<std::int64_t>(options_.history_limit, 1);
  if (const Revision floor = staged.revision - limit;
      floor - pending.compact >= std::max<std::int64_t>(limit / 16, 1)) {
    compact = floor;
  }
  const std::int64_t max_bytes = std::max<std::int64_t>(options_.history_bytes, 1);
  if (pending.bytes + staged.bytes > max_bytes) {
    // Drop the oldest revisions until 15/16 of the budget is left; never
    // the one being written.
    std::int64_t kept = pending.bytes + staged.bytes;
    const std::int64_t target = max_bytes - max_bytes / 16;
    pending.for_each_retained([&](Revision rev, std::int64_t rev_bytes) {
      if (rev > compact && kept <= target) return false;
      kept -= rev_bytes;
      compact = std::max(compact, rev);
      return true;
    });
  }
  if (compact != pending.compact) {
    if (Status s = query(kCompactEvents).integer(1, compact).run(); !s) return s;
    if (Status s = query(kSetMeta).text(1, "compact_revision").integer(2, compact).run(); !s) {
      return s;
    }
  }
  staged.compact = compact;
  return staged;
}

Status SqliteMetaStore::commit_locked(TxnGuard* guard) {
  if (Status s = query(kCommit).run(); !s) return s;
  guard->release();
  commits_.fetch_add(1, std::memory_order_relaxed);
  return Status::ok();
}

void SqliteMetaStore::adopt_locked(Pending&& pending) {
  for (std::size_t i = 0; i < pending.dropped_; ++i) {
    history_bytes_ -= history_.front().second;
    history_.pop_front();
  }
  for (const auto& entry : pending.added_) {
    history_.push_back(entry);
    history_bytes_ += entry.second;
  }
  revision_ = pending.revision;
  compact_revision_ = pending.compact;
}

Result<TxnResult> SqliteMetaStore::txn(const std::vector<Compare>& compares,
                                       const std::vector<Op>& ops) {
  Writer w;
  w.compares = &compares;
  w.ops = &ops;
  for (const auto& op : ops) {
    if (op.kind != Op::Kind::kDeletePrefix && op.key.empty()) {
      return invalid_argument("txn: empty key");
    }
    w.bytes += op.key.size() + op.value.size();
  }
  for (const auto& c : compares) w.bytes += c.key.size();

  std::unique_lock qlock(queue_mu_);
  writers_.push_back(&w);
  // A leader held at the test gate counts the queue again.
  if (options_.group_commit_gate && writers_.front() != &w) writers_.front()->cv.notify_one();
  w.cv.wait(qlock, [&] { return w.done || writers_.front() == &w; });
  if (w.done) return std::move(*w.result);
  if (options_.group_commit_gate) {
    w.cv.wait(qlock, [&] { return options_.group_commit_gate(writers_.size()); });
  }
  qlock.unlock();
  lead_group(&w);
  return std::move(*w.result);
}

void SqliteMetaStore::lead_group(Writer* leader) {
  std::vector<Writer*> group;
  std::vector<Result<TxnResult>> results;
  {
    std::lock_guard lock(mu_);
    {
      // Whoever queued while the previous group held mu_ joins this one.
      std::lock_guard qlock(queue_mu_);
      std::size_t bytes = 0;
      for (Writer* w : writers_) {
        if (group.size() == kMaxGroupTxns) break;
        if (!group.empty() && bytes + w->bytes > kMaxGroupBytes) break;
        bytes += w->bytes;
        group.push_back(w);
      }
    }
    HIFI_CHECK(!group.empty() && group.front() == leader, "group commit: the leader is not first");
    // Nothing may escape with the group's writers still waiting.
    try {
      results = commit_group_locked(group);
    } catch (const std::exception& e) {
      results.clear();
      for (std::size_t i = 0; i < group.size(); ++i) {
        results.push_back(internal_error(std::string("sqlite txn: ") + e.what()));
      }
    }
  }
  std::lock_guard qlock(queue_mu_);
  for (std::size_t i = 0; i < group.size(); ++i) {
    Writer* w = writers_.front();
    writers_.pop_front();
    w->result = std::move(results[i]);
    w->done = true;
    // Under queue_mu_: once it sees `done` the writer returns and its cv is gone.
    if (w != leader) w->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
}

std::vector<Result<TxnResult>> SqliteMetaStore::commit_group_locked(
    const std::vector<Writer*>& group) {
  struct Slot {
    std::optional<Result<TxnResult>> result;
    std::vector<WatchEvent> events;  // of a txn that wrote a revision
    bool failed = false;             // has an error of its own, whatever becomes of the group
    bool retried = false;            // has had its second try after the reserve was given back
  };
  std::vector<Slot> slots(group.size());
  // BEGIN or COMMIT has had its second try after the reserve was given back.
  bool group_retried = false;
  // Each pass commits, or ends with one more txn failed or retried, or with
  // the group retried: at most 2 * group.size() + 2 passes.
  for (;;) {
    Pending pending(*this);
    TxnGuard guard(this);
    Status status = query(kBegin).run();
    bool restart = false;
    for (std::size_t i = 0; status && i < group.size() && !restart; ++i) {
      Slot& slot = slots[i];
      if (slot.failed) continue;
      // A write that fails for want of disk space is tried once more after
      // the reserve file is given back (SqliteOptions::reserve_bytes).
      for (;;) {
        slot.events.clear();
        bool broken = false;
        auto result =
            apply_txn_locked(*group[i]->compares, *group[i]->ops, &pending, &slot.events, &broken);
        if (result) {
          slot.result = std::move(result);
          break;
        }
        const bool retry = disk_full(result.status()) && !slot.retried && release_reserve();
        if (retry) {
          slot.retried = true;
        } else {
          slot.result = result.status();
          slot.failed = true;
        }
        // When SQLite rolled back the whole transaction (it may, on an I/O
        // error or a full disk), the txns before this one are redone.
        if (broken || sqlite3_get_autocommit(db_)) {
          restart = true;
          break;
        }
        if (!retry) break;
      }
    }
    if (restart) continue;  // the guard rolls back
    // A group that wrote nothing has nothing to make durable: the guard
    // rolls its transaction back.
    const bool wrote = std::any_of(slots.begin(), slots.end(), [](const Slot& slot) {
      return !slot.failed && !slot.events.empty();
    });
    if (status && !wrote) break;
    if (status) status = commit_locked(&guard);
    if (!status) {
      if (disk_full(status) && !group_retried && release_reserve()) {
        group_retried = true;
        continue;
      }
      // Nothing of the group is committed: every txn without an error of
      // its own gets this one.
      for (auto& slot : slots) {
        if (!slot.failed) slot.result = status;
      }
      break;
    }
    adopt_locked(std::move(pending));
    // Under mu_ and in revision order, so watchers see commit order.
    for (auto& slot : slots) {
      if (slot.failed || slot.events.empty()) continue;
      hub_->publish((*slot.result)->revision, slot.events);
    }
    break;
  }
  std::vector<Result<TxnResult>> results;
  results.reserve(slots.size());
  for (auto& slot : slots) results.push_back(std::move(*slot.result));
  return results;
}

Result<TxnResult> SqliteMetaStore::apply_txn_locked(const std::vector<Compare>& compares,
                                                    const std::vector<Op>& ops, Pending* pending,
                                                    std::vector<WatchEvent>* events, bool* broken) {
  for (const auto& c : compares) {
    auto kv = load_locked(c.key);
    if (!kv) return kv.status();
    bool holds = false;
    switch (c.kind) {
      case Compare::Kind::kModRevisionEquals:
        holds = (kv->has_value() ? (*kv)->mod_revision : 0) == c.revision;
        break;
      case Compare::Kind::kExists:
        holds = kv->has_value();
        break;
      case Compare::Kind::kAbsent:
        holds = !kv->has_value();
        break;
    }
    if (!holds) return TxnResult{false, pending->revision};
  }

  // The final state of every key the ops touch, applied in order on top of
  // the stored state; only the net difference is written and reported.
  struct Change {
    bool existed = false;           // present before the txn
    std::optional<KeyValue> after;  // nullopt: absent after the txn
  };
  std::map<std::string, Change> changes;
  auto touch = [&](const std::string& key) -> Result<Change*> {
    auto it = changes.find(key);
    if (it != changes.end()) return &it->second;
    auto kv = load_locked(key);
    if (!kv) return kv.status();
    Change change;
    change.existed = kv->has_value();
    change.after = std::move(*kv);
    return &changes.emplace(key, std::move(change)).first->second;
  };

  const Revision revision = pending->revision + 1;
  for (const auto& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut: {
        if (op.lease != 0 && leases_.count(op.lease) == 0) {
          return not_found("lease " + std::to_string(op.lease) + " not found");
        }
        auto change = touch(op.key);
        if (!change) return change.status();
        Change* c = *change;
        KeyValue kv;
        kv.key = op.key;
        kv.value = op.value;
        kv.mod_revision = revision;
        kv.lease = op.lease;
        if (c->after) {
          kv.create_revision = c->after->create_revision;
          // Several puts to one key in one txn are one modification.
          kv.version = c->after->version + (c->after->mod_revision == revision ? 0 : 1);
        } else {
          kv.create_revision = revision;
          kv.version = 1;
        }
        c->after = std::move(kv);
        break;
      }
      case Op::Kind::kDelete: {
        auto change = touch(op.key);
        if (!change) return change.status();
        (*change)->after.reset();
        break;
      }
      case Op::Kind::kDeletePrefix: {
        std::vector<KeyValue> stored;
        if (Status s = scan_locked(op.key, prefix_range_end(op.key), -1, &stored); !s) return s;
        for (auto& kv : stored) {
          auto [it, inserted] = changes.try_emplace(kv.key);
          if (inserted) it->second.existed = true;
          it->second.after.reset();
        }
        // Keys created earlier in this txn are not in the table yet.
        for (auto it = changes.lower_bound(op.key);
             it != changes.end() && it->first.starts_with(op.key); ++it) {
          it->second.after.reset();
        }
        break;
      }
    }
  }

  std::vector<WatchEvent> written;
  for (auto& [key, change] : changes) {
    if (change.after) {
      written.push_back(WatchEvent{WatchEvent::Type::kPut, std::move(*change.after)});
    } else if (change.existed) {
      KeyValue kv;
      kv.key = key;
      kv.mod_revision = revision;
      written.push_back(WatchEvent{WatchEvent::Type::kDelete, std::move(kv)});
    }
  }
  // Nothing changes: no revision.
  if (written.empty()) return TxnResult{true, pending->revision};

  if (Status s = query(kSavepoint).run(); !s) return s;
  Result<Staged> staged = [&]() -> Result<Staged> {
    for (const auto& e : written) {
      if (e.type == WatchEvent::Type::kPut) {
        const KeyValue& kv = e.kv;
        Query q = query(kPutKv);
        q.blob(1, kv.key).blob(2, kv.value).integer(3, kv.create_revision);
        q.integer(4, kv.mod_revision).integer(5, kv.version).integer(6, kv.lease);
        if (Status s = q.run(); !s) return s;
      } else {
        if (Status s = query(kDeleteKv).blob(1, e.kv.key).run(); !s) return s;
      }
    }
    return stage_revision_locked(*pending, written);
  }();
  Status status = staged ? query(kReleaseSavepoint).run() : staged.status();
  if (!status) {
    if (!query(kRollbackToSavepoint).run() || !query(kReleaseSavepoint).run()) *broken = true;
    return status;
  }
  pending->add(*staged);
  *events = std::move(written);
  return TxnResult{true, staged->revision};
}

Result<std::unique_ptr<WatchHandle>> SqliteMetaStore::watch(const std::string& prefix,
                                                            Revision from_revision,
                                                            WatchCallback callback) {
  if (from_revision < 0) return invalid_argument("watch: negative revision");
  if (!callback) return invalid_argument("watch: no callback");

  std::lock_guard lock(mu_);
  std::deque<WatchResponse> replay;
  std::optional<Status> error;
  Revision live_from = from_revision;
  if (from_revision == 0 || from_revision > revision_) {
    if (from_revision == 0) live_from = revision_ + 1;
  } else if (from_revision <= compact_revision_) {
    live_from = revision_ + 1;
    error = Status(Code::kCompacted, "revision " + std::to_string(from_revision) +
                                         " is compacted; the oldest retained is " +
                                         std::to_string(compact_revision_ + 1));
  } else {
    live_from = revision_ + 1;
    const auto upper = prefix_range_end(prefix);
    Query q = query(kReadEvents);
    q.integer(1, from_revision).blob(2, prefix);
    if (upper) q.blob(3, *upper);
    for (;;) {
      auto row = q.step();
      if (!row) return row.status();
      if (!*row) break;
      const Revision revision = q.int_column(0);
      if (replay.empty() || replay.back().revision != revision) {
        replay.emplace_back();
        replay.back().revision = revision;
      }
      WatchEvent e;
      e.type = q.int_column(2) == kEventPut ? WatchEvent::Type::kPut : WatchEvent::Type::kDelete;
      e.kv.key = q.blob_column(1);
      e.kv.value = q.blob_column(3);
      e.kv.create_revision = q.int_column(4);
      e.kv.mod_revision = revision;
      e.kv.version = q.int_column(5);
      e.kv.lease = q.int_column(6);
      replay.back().events.push_back(std::move(e));
    }
  }
  auto watcher =
      hub_->add(prefix, live_from, std::move(replay), std::move(error), std::move(callback));
  return std::unique_ptr<WatchHandle>(new SqliteWatchHandle(hub_, std::move(watcher)));
}

Result<LeaseId> SqliteMetaStore::lease_grant(std::int64_t ttl_seconds) {
  if (ttl_seconds < 1 || ttl_seconds > kMaxLeaseTtlSeconds) {
    return invalid_argument("lease ttl must be between 1 and " +
                            std::to_string(kMaxLeaseTtlSeconds) + " seconds");
  }
  std::lock_guard lock(mu_);
  // Random ids (rather than a counter) make a stale id from another store or
  // an older incarnation unlikely to name a live lease.
  LeaseId id = 0;
  while (id == 0 || leases_.count(id) != 0) {
    id = static_cast<LeaseId>(rng_() >> 1);
  }
  if (Status s = query(kInsertLease).integer(1, id).integer(2, ttl_seconds).run(); !s) return s;
  commits_.fetch_add(1, std::memory_order_relaxed);  // autocommit
  leases_[id] = Lease{ttl_seconds, SteadyClock::now() + std::chrono::seconds(ttl_seconds)};
  lease_cv_.notify_all();
  return id;
}

Status SqliteMetaStore::lease_keepalive(LeaseId lease) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(lease);
  if (it == leases_.end()) return not_found("lease " + std::to_string(lease) + " not found");
  // A later deadline needs no wake-up: the timer re-checks when it fires.
  it->second.deadline = SteadyClock::now() + std::chrono::seconds(it->second.ttl_seconds);
  return Status::ok();
}

Status SqliteMetaStore::lease_revoke(LeaseId lease) {
  std::lock_guard lock(mu_);
  if (leases_.count(lease) == 0) {
    return not_found("lease " + std::to_string(lease) + " not found");
  }
  return end_lease_locked(lease);
}

Status SqliteMetaStore::end_lease_locked(LeaseId id) {
  Pending pending(*this);
  TxnGuard guard(this);
  if (Status s = query(kBegin).run(); !s) return s;
  std::vector<std::string> keys;
  {
    Query q = query(kLeaseKeys);
    q.integer(1, id);
    for (;;) {
      auto row = q.step();
      if (!row) return row.status();
      if (!*row) break;
      keys.push_back(q.blob_column(0));
    }
  }
  const Revision revision = pending.revision + 1;
  std::vector<WatchEvent> events;
  events.reserve(keys.size());
  for (auto& key : keys) {
    if (Status s = query(kDeleteKv).blob(1, key).run(); !s) return s;
    KeyValue kv;
    kv.key = std::move(key);
    kv.mod_revision = revision;
    events.push_back(WatchEvent{WatchEvent::Type::kDelete, std::move(kv)});
  }
  if (Status s = query(kDeleteLease).integer(1, id).run(); !s) return s;
  if (!events.empty()) {
    auto staged = stage_revision_locked(pending, events);
    if (!staged) return staged.status();
    pending.add(*staged);
  }
  if (Status s = commit_locked(&guard); !s) return s;
  adopt_locked(std::move(pending));
  if (!events.empty()) hub_->publish(revision, events);
  leases_.erase(id);
  return Status::ok();
}

void SqliteMetaStore::lease_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = SteadyClock::now();
    auto next = SteadyClock::time_point::max();
    std::vector<LeaseId> expired;
    for (const auto& [id, lease] : leases_) {
      if (lease.deadline <= now) {
        expired.push_back(id);
      } else {
        next = std::min(next, lease.deadline);
      }
    }
    for (LeaseId id : expired) {
      if (!end_lease_locked(id)) {
        // Nothing to report the error to; the disk may recover.
        auto& lease = leases_[id];
        lease.deadline = now + kLeaseRetryDelay;
        next = std::min(next, lease.deadline);
      }
    }
    if (next == SteadyClock::time_point::max()) {
      lease_cv_.wait(lock);
    } else {
      lease_cv_.wait_until(lock, next);
    }
  }
}

}  // namespace

Result<std::unique_ptr<MetaStore>> open_sqlite_meta_store(const std::string& path,
                                                          const SqliteOptions& options) {
  // Thread creation and allocation may throw; nothing may escape.
  try {
    auto store = std::make_unique<SqliteMetaStore>(path, options);
    if (Status s = store->open(); !s) return s;
    return std::unique_ptr<MetaStore>(std::move(store));
  } catch (const std::exception& e) {
    return internal_error(std::string("cannot open sqlite meta store: ") + e.what());
  }
}

Result<std::unique_ptr<MetaStore>> open_sqlite_meta_store(const std::string& path) {
  return open_sqlite_meta_store(path, SqliteOptions());
}

Result<std::string> sqlite_pragma(MetaStore& store, const std::string& name) {
  auto* sqlite = dynamic_cast<SqliteMetaStore*>(&store);
  if (sqlite == nullptr) return invalid_argument(store.describe() + " is not a SQLite store");
  return sqlite->pragma(name);
}

Result<std::uint64_t> sqlite_commits(MetaStore& store) {
  auto* sqlite = dynamic_cast<SqliteMetaStore*>(&store);
  if (sqlite == nullptr) return invalid_argument(store.describe() + " is not a SQLite store");
  return sqlite->commits();
}

}  // namespace hifi
