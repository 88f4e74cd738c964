// The SQLite store's prepared statements, its schema, and Query, one
// execution of a cached statement. Internal to the SQLite store.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "store/meta_store.h"

namespace hifi::sqlite_store {

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

inline constexpr const char* kStmtSql[kNumStmts] = {
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

inline constexpr const char* kSchema = R"sql(
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
inline constexpr std::int64_t kEventPut = 0;
inline constexpr std::int64_t kEventDelete = 1;

}  // namespace hifi::sqlite_store
