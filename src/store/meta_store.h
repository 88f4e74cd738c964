// MetaStore: the revisioned key-value store through which every service
// touches shared state. Modelled on the etcd v3 data model so that the
// embedded SQLite backend and the cluster (etcd) backend are interchangeable
// and pass one conformance suite (tests/store/meta_store_conformance.h).
//
// Model
//  - Keys and values are arbitrary byte strings.
//  - The store has one global revision counter. Every successful write
//    transaction (txn with at least one effective put or delete, a lease
//    expiry that deletes keys) increments it by exactly one; all events of
//    that transaction carry the new revision.
//  - Each key has create_revision, mod_revision (revision of its last put)
//    and version (number of puts since creation). An absent key has all three
//    equal to 0, so "compare mod_revision == 0" means "key does not exist".
//
// Thread-safety: every method may be called from any thread concurrently.
// Watch callbacks run on a store-owned thread; see watch().
//
// Failure: methods return a non-OK Status only for environment failures
// (disk, network: kIoError / kUnavailable) or misuse (kInvalidArgument).
// A compare that does not hold is *not* an error: txn() returns
// TxnResult{succeeded = false}.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hifi {

using Revision = std::int64_t;
using LeaseId = std::int64_t;  // 0 means "no lease"

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
  std::int64_t version = 0;
  LeaseId lease = 0;
};

// A condition evaluated atomically at the start of a transaction.
struct Compare {
  enum class Kind {
    kModRevisionEquals,  // key's mod_revision == revision (0: key absent)
    kExists,             // key is present
    kAbsent,             // key is absent
  };
  Kind kind;
  std::string key;
  Revision revision = 0;

  static Compare mod_revision_equals(std::string key, Revision rev) {
    return {Kind::kModRevisionEquals, std::move(key), rev};
  }
  static Compare exists(std::string key) { return {Kind::kExists, std::move(key), 0}; }
  static Compare absent(std::string key) { return {Kind::kAbsent, std::move(key), 0}; }
};

struct Op {
  enum class Kind { kPut, kDelete, kDeletePrefix };
  Kind kind;
  std::string key;  // the key, or the prefix for kDeletePrefix
  std::string value;
  LeaseId lease = 0;  // kPut only; the key is deleted when the lease ends

  static Op put(std::string key, std::string value, LeaseId lease = 0) {
    return {Kind::kPut, std::move(key), std::move(value), lease};
  }
  static Op del(std::string key) { return {Kind::kDelete, std::move(key), {}, 0}; }
  static Op del_prefix(std::string prefix) {
    return {Kind::kDeletePrefix, std::move(prefix), {}, 0};
  }
};

struct TxnResult {
  bool succeeded = false;  // all compares held and the ops were applied
  Revision revision = 0;   // store revision after the txn (current one if it failed)
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key, bytewise
  Revision revision = 0;      // store revision the read was served at
  bool more = false;          // true when limit cut the result short
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type;
  KeyValue kv;  // for deletes: key set, value empty, mod_revision = revision of the delete
};

// A batch of events that share one revision (one transaction), in key order.
struct WatchResponse {
  Revision revision = 0;
  std::vector<WatchEvent> events;
};

// Called with each batch in strictly increasing revision order. When the
// watch cannot continue (history compacted, backend failure) it is called
// once with a non-OK Status and an empty response, and never again.
using WatchCallback = std::function<void(const Status&, const WatchResponse&)>;

// Cancels the watch when destroyed. After cancel() returns, the callback is
// not running and will not be called again.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
  virtual void cancel() = 0;
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  // The value of one key; kNotFound if it is absent.
  virtual Result<KeyValue> get(const std::string& key) = 0;

  // Keys starting with prefix, sorted; limit 0 means no limit. start_after
  // (exclusive) allows paging.
  virtual Result<RangeResult> range(const std::string& prefix, std::size_t limit = 0,
                                    const std::string& start_after = {}) = 0;

  // If all compares hold, applies ops atomically (in order; a later op on
  // the same key wins) and bumps the revision once.
  virtual Result<TxnResult> txn(const std::vector<Compare>& compares,
                                const std::vector<Op>& ops) = 0;

  // Shorthands over txn().
  Result<Revision> put(const std::string& key, const std::string& value, LeaseId lease = 0);
  Result<Revision> del(const std::string& key);

  // Current revision of the whole store.
  virtual Result<Revision> current_revision() = 0;

  // Watches keys starting with prefix. Delivers every change with revision >=
  // from_revision (0: only changes after the call). When from_revision is
  // older than the retained history, the callback gets kCompacted.
  virtual Result<std::unique_ptr<WatchHandle>> watch(const std::string& prefix,
                                                     Revision from_revision,
                                                     WatchCallback callback) = 0;

  // Leases: keys put under a lease are deleted (as one revision) when the
  // lease expires or is revoked. ttl_seconds >= 1.
  virtual Result<LeaseId> lease_grant(std::int64_t ttl_seconds) = 0;
  // Restarts the lease's TTL; kNotFound if it already expired.
  virtual Status lease_keepalive(LeaseId lease) = 0;
  virtual Status lease_revoke(LeaseId lease) = 0;

  // Human-readable backend name for logs ("sqlite:/path", "etcd:...").
  virtual std::string describe() const = 0;
};

// The exclusive upper end of the keys that start with prefix: the smallest
// string greater than all of them. Nullopt when there is none (prefix empty
// or all 0xff bytes): the range then runs to the end of the key space.
std::optional<std::string> prefix_range_end(std::string_view prefix);

// Opens the embedded SQLite backend with its database file at path.
// Exceptions are not used; a failure to open is returned as a Status.
Result<std::unique_ptr<MetaStore>> open_sqlite_meta_store(const std::string& path);

}  // namespace hifi
