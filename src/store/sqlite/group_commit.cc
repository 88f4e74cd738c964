// SqliteMetaStore::txn: group commit.
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
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_store_impl.h"

namespace hifi::sqlite_store {

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
}  // namespace hifi::sqlite_store
