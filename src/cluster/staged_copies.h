// StagedCopies: copies of uploads in progress on other nodes, held here
// fsynced but not yet part of the blob store.
//
// An upload to a cluster streams its bytes to the other nodes that will
// hold copies while they arrive from the client (PUT
// /internal/v1/uploads/{id}). Each of those nodes writes and hashes them
// into a temporary, fsyncs it, and keeps it here under the upload's id. The
// receiving node then decides: a commit (with the digest it computed) moves
// the copy into the blob store, an abort drops it. A copy nobody decides on
// (the receiving node crashed, or the upload was refused) is dropped after
// a time to live; a restart drops them all (temporaries are cleaned at
// start-up).
//
// Thread-safety: all methods are thread-safe. Entries are keyed by the
// sending node and the upload id, so one node cannot decide on another's.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "blob/blob_store.h"
#include "common/clock.h"
#include "common/status.h"

namespace hifi::cluster {

struct StagedCopiesOptions {
  // Copies held at most; a stream beyond that is refused (kResourceExhausted)
  // and its upload falls back to a copy after the commit.
  std::size_t max_copies = 32;
  // How long a copy waits for its commit or abort.
  std::chrono::milliseconds time_to_live{60'000};
};

class StagedCopies {
 public:
  StagedCopies(const Clock& clock, StagedCopiesOptions options = {});

  // An upload id as the sending node makes it: 32 lowercase hex digits.
  static bool valid_id(const std::string& id);

  // Keeps `writer` (all bytes written and synced) for the upload `id` from
  // node `from`. kAlreadyExists when that upload already has one here;
  // kResourceExhausted when max_copies are held.
  Status add(const std::string& from, const std::string& id, std::unique_ptr<BlobWriter> writer);
  // Takes the copy out, for commit(); null when there is none (never sent,
  // decided on already, or expired).
  std::unique_ptr<BlobWriter> take(const std::string& from, const std::string& id);
  // The sender gave the upload up: its copy goes. When none is here yet (the
  // abort overtook the stream, e.g. on a node resuming from a freeze), the
  // id is remembered for the time to live and a later add() of it is
  // refused (kFailedPrecondition). True when a copy was dropped.
  bool abort(const std::string& from, const std::string& id);
  // Drops the copies older than the time to live; how many.
  std::size_t expire();
  std::size_t size() const;

 private:
  struct Entry {
    std::unique_ptr<BlobWriter> writer;
    std::int64_t added_ms = 0;
  };
  // Moves the expired copies' writers to `out` (the caller destroys them
  // after releasing the lock).
  void expire_locked(std::int64_t now_ms, std::vector<std::unique_ptr<BlobWriter>>& out);

  const Clock& clock_;
  const StagedCopiesOptions options_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Entry> copies_;
  // Uploads aborted before their copy was staged, with when (at most
  // kMaxAborted; the oldest are forgotten first).
  static constexpr std::size_t kMaxAborted = 1024;
  std::map<std::pair<std::string, std::string>, std::int64_t> aborted_;
};

}  // namespace hifi::cluster
