// Private interface of the embedded SQLite MetaStore backend: tuning knobs
// that production code leaves at their defaults and tests shrink.
#pragma once

#include <cstddef>
#include <cstdint>
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
};

Result<std::unique_ptr<MetaStore>> open_sqlite_meta_store(const std::string& path,
                                                          const SqliteOptions& options);

// `PRAGMA <name>` (lowercase letters and '_') on the store's own
// connection, as text: how tests check the durability settings, which are
// per connection. kInvalidArgument when `store` is not a SQLite store.
Result<std::string> sqlite_pragma(MetaStore& store, const std::string& name);

}  // namespace hifi
