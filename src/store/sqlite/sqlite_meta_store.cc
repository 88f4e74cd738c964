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
////
// Writes: txn() commits in groups, so that concurrent writes share an fsync
// (group_commit.cc, which describes it).
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
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_store_impl.h"

namespace hifi {
namespace sqlite_store {

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


}  // namespace sqlite_store

using sqlite_store::SqliteMetaStore;

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
