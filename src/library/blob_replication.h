// BlobReplication: where the catalog hands a freshly committed blob so that
// it becomes durable on enough nodes before a song referencing it is
// published. The cluster layer implements it (src/cluster/replicator.h); the
// catalog only knows this contract.
//
// Thread-safety: implementations are called from worker threads, possibly
// concurrently. Calls block on disk and network.
#pragma once

#include "common/content_hash.h"
#include "common/status.h"

namespace hifi {

class BlobReplication {
 public:
  virtual ~BlobReplication() = default;
  // The blob is committed on this node. Returns OK once it is durable on as
  // many distinct nodes as the cluster requires; kUnavailable when too few
  // copies could be made (the upload must not be acknowledged).
  virtual Status replicate(const ContentHash& sha256) = 0;
  // The blob is committed on this node, which only needs to say so (a known
  // song's bytes were re-uploaded here).
  virtual Status note_local_copy(const ContentHash& sha256) = 0;
  // This node removed its copy.
  virtual void forget_local_copy(const ContentHash& sha256) = 0;
};

}  // namespace hifi
