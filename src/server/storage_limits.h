// What an upload may take (storage_limits.cc): the caller's storage quota
// (their own, set by an admin, else --default-quota; 0: none) against what
// they already have in the library, and the data directory's free space
// against --min-free-space, which uploads must leave so that the metadata
// store (logins, room commands) always has room to write. Private to the
// HTTP layer.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>

#include "server/http_internal.h"

namespace hifi::http_internal {

// A user's storage: bytes of the song files they uploaded that are still in
// the library, their songs, and their quota (0: none).
struct StorageUse {
  std::uint64_t used_bytes = 0;
  std::int64_t songs = 0;
  std::uint64_t quota_bytes = 0;
};
StorageUse storage_use(const RequestContext& ctx, const User& user);
// Adds storage_bytes, song_count and storage_quota_bytes to a user's JSON.
void add_storage_fields(boost::json::object& o, const StorageUse& use);

// Free bytes for an unprivileged writer on the file system of `dir`;
// nullopt when it cannot be asked.
std::optional<std::uint64_t> free_bytes(const std::string& dir);

// The 507 for a write the disk cannot take (logged), and whether `bytes`
// more would leave less than --min-free-space in the data directory. Songs
// and copies from other nodes alike must leave it.
StringResponse disk_full_problem(const RequestContext& ctx);
bool lacks_space_for(const RequestContext& ctx, std::uint64_t bytes);

// The checks of one upload. Not thread-safe: one per request.
class UploadBudget {
 public:
  explicit UploadBudget(const RequestContext& ctx);

  // Before the body is read: `song_bytes` is what Content-Length says the
  // song will take, when known. The problem to answer, or nullopt.
  std::optional<StringResponse> refuse_before(std::optional<std::uint64_t> song_bytes);
  // While the body arrives, with the bytes received so far: ok, or
  // kResourceExhausted after which refusal() is the answer.
  Status check(std::uint64_t so_far);
  // After a write or a commit failed with `status`: the 507 to answer when
  // it failed because the disk is full, else nullopt.
  std::optional<StringResponse> refuse_failed(const Status& status);
  // Once the whole song is here, and unless its bytes are in the library
  // already: the quota checked again against the use now (other uploads of
  // the same user may have finished meanwhile).
  std::optional<StringResponse> refuse_after(std::uint64_t song_bytes);
  // The song's bytes are in the library already (a duplicate): they take
  // none of the caller's quota; the free space is still checked.
  void waive_quota() { use_.quota_bytes = 0; }
  // The problem for the last failed check.
  const std::optional<StringResponse>& refusal() const { return refusal_; }

 private:
  StringResponse over_quota(std::uint64_t song_bytes) const;

  const RequestContext& ctx_;
  StorageUse use_;
  std::optional<StringResponse> refusal_;
};

}  // namespace hifi::http_internal
