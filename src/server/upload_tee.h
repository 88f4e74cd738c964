// UploadTee: an upload's bytes sent on to the nodes that will hold copies,
// while they arrive from the client, so that every copy is written, hashed
// and fsynced at the same time instead of one after another.
//
//   auto tee = co_await UploadTee::open(ctx, replicator.stream_targets(key), expected, size);
//   for each piece of the song's bytes: co_await tee->send({buffer, ...});
//   auto staged = co_await tee->finish();  // copies the targets hold, staged
//   ... replicator.replicate(sha, staged) commits them there (or sends again)
//
// Each target gets one PUT /internal/v1/uploads/{id} with a chunked body
// (see cluster_api.cc), opened with Expect: 100-continue; a target that
// cannot be reached, refuses, does not say 100 or take a piece within the
// peers' answer timeout (2 s), or does not answer within that plus a
// second per 64 MiB after the last piece, is dropped, and the upload goes
// on without it: the replication sends that copy after the commit, as it
// did before streaming. Dropping the tee before finish()
// closes the streams mid-body, so the targets keep nothing.
//
// Thread-safety: none; one coroutine (the upload's) drives it, on the
// request's executor. finish() may run on that executor after the request
// coroutine moved on to other work, as long as the tee is kept alive.
#pragma once

#include <boost/asio/buffer.hpp>

#include <memory>
#include <optional>
#include <vector>

#include "cluster/member.h"
#include "library/blob_replication.h"
#include "server/http_internal.h"

namespace hifi::http_internal {

class UploadTee {
 public:
  // Opens a stream to each target (connect, TLS, request header). The
  // client's digest, when it named one, is signed so that each target
  // checks the bytes as they come; `size`, when known, lets a target with
  // too little room refuse at once.
  static awaitable<std::shared_ptr<UploadTee>> open(RequestContext& ctx, std::vector<cluster::Member> targets,
                                                    const std::optional<ContentHash>& expected,
                                                    std::optional<std::uint64_t> size);
  ~UploadTee();

  // Sends one chunk of the song's bytes (the buffers in order) to every
  // target still open.
  awaitable<void> send(const std::vector<asio::const_buffer>& pieces);
  // Ends every stream and reads the answers: the copies the targets hold.
  awaitable<std::vector<StagedCopy>> finish();

  // The targets still open.
  std::size_t open_streams() const;
  // The longest finish() can take: each open stream's last chunk and answer.
  std::chrono::milliseconds finish_limit() const;
  // How long finish() waits for a target's answer after the last chunk.
  std::chrono::milliseconds answer_limit() const;

 private:
  struct Target;
  UploadTee() = default;
  void drop(Target& target, const std::string& why);

  std::string upload_id_;
  // The peers' answer timeout: for the 100, for each chunk, and the base
  // of the wait for the last answer (answer_limit()).
  std::chrono::milliseconds stall_limit_{2000};
  std::chrono::milliseconds idle_limit_{15000};
  std::uint64_t sent_ = 0;  // bytes of the song sent so far
  std::vector<std::unique_ptr<Target>> targets_;
};

}  // namespace hifi::http_internal
