// Maintenance: keeps every referenced blob at R durable, correct copies.
//
//  - Repair (the leader only, every repair interval): for each blob a song
//    references, counts the copies on live members; when fewer than
//    min(R, live members), asks a live holder to push to the next members in
//    rendezvous rank. A blob without any live copy is reported (log and
//    hifi_under_replicated_blobs) until a holder comes back. When more than
//    that (a node came back with copies re-made meanwhile), asks the live
//    holders ranked last to drop theirs; each holder checks for itself that
//    enough other live copies remain (Replicator::drop_local_copy). Blobs no
//    song references are left to garbage collection.
//    The replica records of a node that has not been a live member for
//    forget_dead_after (counted from the first repair pass of this leader
//    that missed it) are dropped, so nodes that never return leave nothing
//    behind; one that does return records its copies again at its index
//    pass, and those above R are trimmed.
//  - Index check (every node, every repair interval): records copies the
//    index misses, drops records of copies this node no longer has, and
//    removes blobs no song references once they are older than the grace
//    period (an upload in flight commits its blob before publishing the
//    song; the grace period covers that window), and drops copies staged
//    for other nodes' uploads that were neither committed nor aborted
//    within their time to live (StagedCopies).
//  - Scrub (every node, every scrub interval): re-hashes this node's copies;
//    a copy whose bytes no longer match its name is moved to quarantine/ and
//    its record dropped, so the next repair replaces it from a good copy.
//
// Everything it does is logged and counted in MaintenanceCounters.
// Thread-safety: the passes may be called from any thread; each kind of
// pass runs one at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "blob/blob_store.h"
#include "cluster/membership.h"
#include "cluster/replicator.h"
#include "cluster/staged_copies.h"
#include "library/catalog.h"

namespace hifi::cluster {


struct MaintenanceOptions {
  std::chrono::milliseconds repair_interval{30'000};
  std::chrono::milliseconds scrub_interval{24LL * 3600 * 1000};  // 0: never
  std::chrono::milliseconds gc_grace{3600LL * 1000};
  std::chrono::milliseconds forget_dead_after{24LL * 3600 * 1000};
};

struct MaintenanceCounters {
  std::atomic<std::uint64_t> repair_passes{0};
  std::atomic<std::uint64_t> repair_copies_ok{0};
  std::atomic<std::uint64_t> repair_copies_failed{0};
  std::atomic<std::uint64_t> repair_trims_ok{0};  // copies above R dropped
  std::atomic<std::uint64_t> repair_trims_failed{0};
  std::atomic<std::uint64_t> records_forgotten{0};  // of nodes gone past forget_dead_after
  std::atomic<std::int64_t> under_replicated{0};  // after the last repair pass (leader)
  std::atomic<std::int64_t> without_live_copy{0};
  std::atomic<std::uint64_t> scrubbed_ok{0};
  std::atomic<std::uint64_t> scrubbed_corrupt{0};
  std::atomic<std::uint64_t> gc_removed{0};
  std::atomic<std::uint64_t> index_fixed{0};
};

struct RepairReport {
  int checked = 0;
  int under_replicated = 0;  // before the pass
  int copies_made = 0;
  int copies_failed = 0;
  int without_live_copy = 0;
  int over_replicated = 0;  // before the pass
  int copies_trimmed = 0;
  int trims_failed = 0;
  int records_forgotten = 0;
};

class Maintenance {
 public:
  Maintenance(MetaStore& store, BlobStore& blobs, const Catalog& catalog,
              const Membership& membership, Replicator& replicator, const PeerClient& peers,
              StagedCopies& staged, const Clock& clock, MaintenanceOptions options);
  ~Maintenance();

  void start();
  void stop();

  // One pass each, synchronously. repair_pass() does nothing unless this
  // node leads.
  RepairReport repair_pass();
  void index_pass();
  void scrub_pass();

  const MaintenanceCounters& counters() const { return counters_; }

 private:
  struct Copies;  // one blob's live holders, for the repair pass
  void loop();
  // The parts of a repair pass; copy_missing returns the live copies after it.
  int copy_missing(const Copies& copies, RepairReport& report);
  void trim_surplus(const Copies& copies, RepairReport& report);
  void forget_dead_records(const ReplicaIndex& index, const std::map<std::string, Member>& live_by_id,
                           RepairReport& report);

  MetaStore& store_;
  BlobStore& blobs_;
  const Catalog& catalog_;
  const Membership& membership_;
  Replicator& replicator_;
  const PeerClient& peers_;
  StagedCopies& staged_;
  const Clock& clock_;
  const MaintenanceOptions options_;
  MaintenanceCounters counters_;

  std::mutex repair_mu_, index_mu_, scrub_mu_;
  // Nodes with replica records that are not live members, with when this
  // node's repair pass first missed them (guarded by repair_mu_; cleared
  // when this node does not lead).
  std::map<std::string, std::chrono::steady_clock::time_point> missing_since_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hifi::cluster
