// PeerClient: blocking calls from this node to another node's /internal/v1
// API, each authenticated with PeerAuth. Every network step has a deadline,
// so a peer that hangs (or was SIGSTOPped) costs at most that long.
//
// Thread-safety: immutable after construction; calls may run concurrently
// (each opens its own connection). Calls block: use worker threads.
#pragma once

#include <chrono>
#include <string>

#include "cluster/member.h"
#include "cluster/peer_auth.h"
#include "common/clock.h"
#include "common/content_hash.h"
#include "common/status.h"
#include "library/blob_replication.h"

namespace hifi::cluster {

struct PeerClientOptions {
  std::chrono::milliseconds connect_timeout{2000};
  // Longest wait for one piece of a transfer, or for an answer.
  std::chrono::milliseconds idle_timeout{15000};
  // Longest wait for the answer to the question that opens a push ("do you
  // hold it?"), which a live node answers at once. A node that accepts the
  // connection but says nothing for this long (frozen, e.g. SIGSTOP, or
  // wedged) counts as unavailable, like one that refuses connections.
  std::chrono::milliseconds answer_timeout{2000};
};

// A refused node-to-node request's reason, for a log or an error:
// "HTTP <status>", with the problem's detail when the body is one.
std::string describe_refusal(unsigned status, const std::string& body);

class PeerClient {
 public:
  PeerClient(const PeerAuth& auth, const Clock& clock, PeerClientOptions options = {});

  // Each call is addressed to one member (its advertised URL and its id,
  // which the request's signature names).
  //
  // Makes sure the node `to` holds a durable copy of the committed
  // blob `sha256`: asks whether it has one (POST .../keep, which also marks
  // it wanted again), and if not PUTs the file at `path`. OK once that node
  // answered that its copy is durable.
  // kUnavailable when the node cannot be reached at all (it is down) or does
  // not answer the opening question within answer_timeout (it is frozen);
  // kResourceExhausted when its disk cannot take the copy (507); kIoError
  // when the transfer failed or the node refused otherwise, with the reason.
  Status push_blob(const Member& to, const ContentHash& sha256, const std::string& path) const;

  // Asks the node `holder` to push its copy of `sha256` to the member
  // `target_id`. OK when the target acknowledged a durable copy.
  Status request_push(const Member& holder, const ContentHash& sha256, const std::string& target_id) const;

  // Asks the node `holder` to drop its copy of `sha256`, which the
  // repair leader found above R. OK once the copy is gone; the holder
  // refuses (kIoError, with its reason) when too few other live nodes hold
  // one.
  Status request_drop(const Member& holder, const ContentHash& sha256) const;

  // Asks the node `to`, which received `copy` while an upload arrived here,
  // to move it into its blob store (POST /internal/v1/uploads/{id}/commit
  // with the digest this node computed). OK once it is durable there and
  // recorded. kNotFound when that node no longer holds it (expired, or it
  // restarted); kFailedPrecondition-like refusals (its bytes hash to
  // something else) are kIoError with the reason; kUnavailable when it
  // cannot be reached.
  Status commit_staged(const Member& to, const StagedCopy& copy) const;
  // Asks the node `to` to drop the copy it holds of upload `upload_id`
  // (DELETE /internal/v1/uploads/{id}). OK also when it holds none.
  Status abort_staged(const Member& to, const std::string& upload_id) const;

 private:
  const PeerAuth& auth_;
  const Clock& clock_;
  PeerClientOptions options_;
};

}  // namespace hifi::cluster
