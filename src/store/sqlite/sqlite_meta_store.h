// Private interface of the embedded SQLite MetaStore backend: tuning knobs
// that production code leaves at their defaults and tests shrink.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/meta_store.h"

namespace hifi {

struct SqliteOptions {
  // Events of this many most recent revisions are kept so that a watcher can
  // resume from an older revision; older ones are compacted in small steps.
  std::int64_t history_limit = 10000;
  // ... and at most this many bytes of their keys and values: the oldest
  // revisions go first, so a big record rewritten often (a room's queue,
  // on every seek) cannot grow the file without bound. The newest revision
  // is always kept, whatever its size.
  std::int64_t history_bytes = 64LL << 20;
  // Disk set aside for the store's own writes, in a file "<path>.reserve"
  // made at open (when the disk has room for it). When a write fails
  // because the disk is full, the file is deleted and the write tried
  // again, so that logins and room commands go on while something else has
  // filled the disk; it is made again at the next open. 0: none.
  std::int64_t reserve_bytes = 8LL << 20;
  // A watcher whose undelivered backlog grows beyond this many responses is
  // ended with kCompacted, so that one stuck consumer cannot exhaust memory.
  std::size_t max_watch_backlog = 100000;
  // How long an operation waits for a lock held by another connection. The
  // store keeps the database locked while open, so this bounds how long a
  // second open of the same file waits before failing.
  int busy_timeout_ms = 5000;
  // Tests only. When set, the txn() that leads a group commit waits, before
  // it picks its group, until this returns true for the number of txn()
  // calls queued (itself included); it is asked again each time another
  // one queues. Lets a test make writers share a group deterministically.
  // Called with an internal lock held: it must not call into the store.
  std::function<bool(std::size_t queued)> group_commit_gate;
};

Result<std::unique_ptr<MetaStore>> open_sqlite_meta_store(const std::string& path,
                                                          const SqliteOptions& options);

// `PRAGMA <name>` (lowercase letters and '_') on the store's own
// connection, as text: how tests check the durability settings, which are
// per connection. kInvalidArgument when `store` is not a SQLite store.
Result<std::string> sqlite_pragma(MetaStore& store, const std::string& name);

// How many write transactions the store has committed since it was opened,
// each one fsync of the WAL: one per group of txn() calls that wrote
// something (group commit, see sqlite_meta_store.cc), per lease grant and
// per lease end. A counter, read without waiting for writes in progress.
// kInvalidArgument when `store` is not a SQLite store.
Result<std::uint64_t> sqlite_commits(MetaStore& store);

}  // namespace hifi
