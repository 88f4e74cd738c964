// Replicator: keeps the index of which node holds which blob
// (replicas/<sha256>/<node-id>) and makes new blobs durable on R nodes.
//
// Placement: the node that received an upload keeps one copy; the other
// R-1 go first to the members its bytes were streamed to while they
// arrived (stream_targets: ranked by rendezvous hashing of the client's
// digest, else of a random key), then to the live members ranked highest
// by rendezvous hashing of (node id, sha256). Reads find copies through
// the index, wherever they are. A target that
// fails mid-transfer is replaced by the next in rank. With fewer than R live
// members, every live member gets a copy; a member that cannot be connected
// to at all counts as gone (it crashed and its lease has not run out yet).
//
// A node writes its own index record only after its copy is fsynced, and
// removes it before or when it drops the copy, so the index never claims a
// copy that was not durable. (A crash between fsync and record leaves an
// unrecorded copy; the maintenance pass records it.)
//
// Copies above R (a node came back with copies that were re-made meanwhile)
// go when the repair leader asks their holders: each holder drops its copy
// only while enough other live members hold one (drop_local_copy).
//
// Thread-safety: all methods are thread-safe and block on the network.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "cluster/member.h"
#include "cluster/membership.h"
#include "cluster/peer_client.h"
#include "library/blob_replication.h"
#include "store/meta_store.h"

namespace hifi::cluster {

struct Replica {
  std::string node_id;
  std::optional<Member> member;  // set when the node is live
};

// The replica index as one read saw it: for each blob, the nodes with a
// record and the record's mod revision.
using ReplicaIndex = std::map<ContentHash, std::map<std::string, Revision>>;

// One read of the whole index (replicas/). Records whose key does not name
// a sha256 are skipped.
Result<ReplicaIndex> read_replica_index(MetaStore& store);

// What hand_over_copies() did.
struct HandOverReport {
  int checked = 0;          // blobs this node holds a recorded copy of
  int copied = 0;           // copies pushed to members in service
  int short_of_copies = 0;  // blobs still short of copies_wanted on the others
  int released = 0;         // blobs whose record here went, their copies elsewhere checked
  int others_in_service = 0;  // live members in service other than this one
  std::string error;        // set when the pass could not run at all
  bool complete() const { return error.empty() && short_of_copies == 0; }
};

struct ReplicationCounters {
  std::atomic<std::uint64_t> pushes_ok{0};
  std::atomic<std::uint64_t> pushes_failed{0};
  std::atomic<std::uint64_t> under_replicated_uploads{0};
  // Copies streamed to another node while an upload arrived, and committed
  // there; and those that could not be (sent again after the commit).
  std::atomic<std::uint64_t> streamed_ok{0};
  std::atomic<std::uint64_t> streamed_failed{0};
};

class Replicator final : public BlobReplication {
 public:
  Replicator(MetaStore& store, BlobStore& blobs, const Membership& membership,
             const PeerClient& peers, const Clock& clock, int replicas);

  // BlobReplication
  Status replicate(const ContentHash& sha256, const WaitForStagedCopies& staged = nullptr) override;
  void abort_staged(const std::vector<StagedCopy>& staged) override;

  // The members an upload arriving here should stream its bytes to while
  // they arrive: copies_wanted(live in service) - 1 of the live members in
  // service other than this one, in this node's view (no store read), ranked by
  // rendezvous hashing of `key` (the bytes' SHA-256 when the client named
  // it, else anything that spreads uploads). Empty with a replica count of
  // 1 or no other member.
  std::vector<Member> stream_targets(const ContentHash& key) const;
  Status note_local_copy(const ContentHash& sha256) override;
  void forget_local_copy(const ContentHash& sha256) override;

  // Copies wanted for a blob when `live` members are up: min(R, live).
  int copies_wanted(std::size_t live) const;
  int replication_factor() const { return replicas_; }

  // The nodes holding a durable copy, sorted by node id.
  Result<std::vector<Replica>> replicas(const ContentHash& sha256) const;
  // The live nodes other than this one that hold the blob, least loaded
  // first (empty when none).
  std::vector<Member> holders(const ContentHash& sha256) const;

  // For a draining node: every blob it holds a recorded copy of gets
  // copies_wanted(members in service other than this one) copies on those
  // members, pushed from here to the ones ranked first that lack one; then
  // this node's record of it goes, in one transaction that checks that the
  // records of those copies are all still there. A blob whose copies fall
  // short, or one of whose copies another node dropped meanwhile, keeps
  // this node's record and counts in short_of_copies. Returns what it did;
  // run it again while blobs are short. Once a pass finds nothing to check
  // (checked == 0), this node holds no recorded copy and its data directory
  // can go.
  HandOverReport hand_over_copies();

  // Pushes this node's copy to the live member target_id. kNotFound when
  // this node has no copy or the target is not live.
  Status push_to(const ContentHash& sha256, const std::string& target_id);

  // Drops this node's copy, which the repair leader found above R: only
  // while at least copies_wanted(members in service) other members in
  // service hold a recorded copy, re-read from the index now (a draining
  // member's copy does not count: it is about to go). The record goes first, in one
  // transaction that checks that the records of that many of the others
  // are still there (so two holders dropping at once cannot each count on
  // the other), then the file. kNotFound without a copy here;
  // kFailedPrecondition when too few others hold one (nothing changes).
  Status drop_local_copy(const ContentHash& sha256);

  const ReplicationCounters& counters() const { return counters_; }

 private:
  // Pushes this node's copy to `target` (a member as the caller read it).
  Status push_to_member(const ContentHash& sha256, const Member& target);
  // Has `target` commit the copy it received while the upload arrived; when
  // it cannot (but can be reached), pushes the blob instead.
  Status commit_streamed(const StagedCopy& copy, const Member& target);

  MetaStore& store_;
  BlobStore& blobs_;
  const Membership& membership_;
  const PeerClient& peers_;
  const Clock& clock_;
  const int replicas_;
  ReplicationCounters counters_;
  // Shared while a record of this node's copy is written (after checking
  // that the file is there), exclusive while a copy is dropped: a record
  // is never written for a copy that is going.
  mutable std::shared_mutex local_copies_mu_;
};

}  // namespace hifi::cluster
