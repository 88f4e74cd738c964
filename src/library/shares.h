// Shares: public links to songs that play and download without an account.
//
// Keys (values are JSON):
//   shares/<share-id>   {id, owner, description, songs, created_at, expires_at, visit_count, last_visited}
// A share's id is 32 random hex digits (128 bits): it is the secret of the
// link, /share/<id>, so it cannot be guessed. expires_at 0 means never.
// An expired share stays listed for its owner (who may extend it) but opens
// for nobody.
//
// Read straight from the store: a visit costs one get and one
// compare-and-swap (the visit count), listing one range read.
//
// Thread-safety: all methods are thread-safe and block on the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "library/accounts.h"
#include "store/meta_store.h"

namespace hifi {

struct Share {
  std::string id;
  std::string owner;  // user id
  std::string description;
  std::vector<std::string> songs;  // song ids, in order
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;  // Unix ms; 0: never
  std::int64_t visit_count = 0;
  std::int64_t last_visited = 0;
  bool expired(std::int64_t now_ms) const { return expires_at != 0 && expires_at <= now_ms; }
};

inline constexpr std::size_t kMaxShareSongs = 500;
inline constexpr std::size_t kMaxSharesPerUser = 1'000;
inline constexpr std::size_t kMaxShareDescriptionChars = 1'000;

struct ShareEdit {
  std::optional<std::string> description;
  std::optional<std::int64_t> expires_at;  // 0: never
};

class Shares {
 public:
  Shares(MetaStore& store, const Clock& clock);

  // kInvalidArgument for no songs, more than kMaxShareSongs, a long
  // description or an expiry in the past; kResourceExhausted past
  // kMaxSharesPerUser. Song ids are checked by the caller.
  Result<Share> create(const User& owner, const std::vector<std::string>& songs, const std::string& description,
                       std::int64_t expires_at);
  // The owner's shares (an admin's call lists everyone's), newest first.
  Result<std::vector<Share>> list(const User& viewer) const;
  // For the owner or an admin; kNotFound otherwise.
  Result<Share> get(const std::string& id, const User& viewer) const;
  // Opens a share for a visitor without an account: kNotFound for an
  // unknown or expired id (the same answer, so ids cannot be probed), and
  // counts the visit when count_visit.
  Result<Share> visit(const std::string& id, bool count_visit);
  Result<Share> update(const std::string& id, const User& actor, const ShareEdit& edit);
  Status remove(const std::string& id, const User& actor);
  // Deletes every share of a user (on account deletion).
  Status forget_user(const std::string& user_id);

 private:
  MetaStore& store_;
  const Clock& clock_;
};

}  // namespace hifi
