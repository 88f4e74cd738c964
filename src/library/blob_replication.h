// BlobReplication: where the catalog hands a freshly committed blob so that
// it becomes durable on enough nodes before a song referencing it is
// published. The cluster layer implements it (src/cluster/replicator.h); the
// catalog only knows this contract.
//
// Thread-safety: implementations are called from worker threads, possibly
// concurrently. Calls block on disk and network.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/content_hash.h"
#include "common/status.h"

namespace hifi {

// A copy of an upload's bytes that another node received while the upload
// arrived here: fsynced there, waiting for this node's commit or abort.
struct StagedCopy {
  std::string node_id;    // the node that holds it
  std::string upload_id;  // its name there
  ContentHash sha256;     // what that node computed over the bytes it got
  std::uint64_t size = 0;
  // False when the node was sent every byte but never answered (it may be
  // frozen, and stage the copy once it resumes): not to be committed, only
  // aborted.
  bool answered = true;
};

// Blocks until the streams to the other nodes have ended; the copies they
// hold. Called at most once.
using WaitForStagedCopies = std::function<std::vector<StagedCopy>()>;

class BlobReplication {
 public:
  virtual ~BlobReplication() = default;
  // The blob is committed on this node. Returns OK once it is durable on as
  // many distinct nodes as the cluster requires; kUnavailable when too few
  // copies could be made (the upload must not be acknowledged). `staged`,
  // when given, names copies other nodes received while the upload arrived:
  // those whose digest matches are committed there instead of sent again,
  // the others are dropped.
  virtual Status replicate(const ContentHash& sha256, const WaitForStagedCopies& staged = nullptr) = 0;
  // Drops copies staged for an upload that is not published (refused, or
  // bytes the library already had). Best effort: a copy left over expires.
  virtual void abort_staged(const std::vector<StagedCopy>& staged) = 0;
  // The blob is committed on this node, which only needs to say so (a known
  // song's bytes were re-uploaded here).
  virtual Status note_local_copy(const ContentHash& sha256) = 0;
  // This node removed its copy.
  virtual void forget_local_copy(const ContentHash& sha256) = 0;
};

}  // namespace hifi
