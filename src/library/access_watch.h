// AccessWatch: what every node must learn at once when someone's access
// ends, and the state signed grants are checked against without a store
// read.
//
// It keeps a WatchedView of the key prefix "user", which holds users/,
// usernames/ and user-tokens/ (accounts.h): one watch, so that a disable and
// the revocation of the account's tokens that follows it arrive in the
// order they were written. From it the watch keeps, per user, whether the
// account is disabled and its sessions epoch (bumped by every "sign out
// everywhere", password change and disable), and the set of live session
// token hashes (from the user-tokens/ index), and reports:
//  - a user-tokens/<user>/<hash> entry deleted (logout, a revoked session,
//    sign out everywhere, a password change, an expired token swept):
//    AccessEnded{kSignedOut, user, hash};
//  - users/<id> turned disabled: AccessEnded{kDisabled, user, ""};
//  - users/<id> deleted: AccessEnded{kDeleted, user, ""}.
// After a reload (the first load reports nothing; a reload after a
// compaction compares with what was known) the same events are reported for
// what vanished or turned disabled meanwhile.
//
// Threads: the listener runs on the store's watch thread or the view's
// restart thread, never two at once, with no lock of the watch held; it
// must not block. grant() and view_status() are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "common/status.h"
#include "store/meta_store.h"
#include "store/watched_view.h"

namespace hifi {

// A user's access that ended: every session of the user (token_hash empty)
// or the one session whose token hashes (hex SHA-256) to token_hash.
struct AccessEnded {
  enum class Why { kSignedOut, kDisabled, kDeleted };
  Why why = Why::kSignedOut;
  std::string user_id;
  std::string token_hash;
};

// What a grant of the account (a signed stream URL) is checked against.
struct AccountGrantState {
  bool disabled = false;
  std::uint64_t sessions_epoch = 0;
  // The users/<id> record's mod_revision: any change of the account (its
  // role, name, quota) changes it. 0 from grant_state_from_json().
  Revision revision = 0;
};

class AccessWatch {
 public:
  using Listener = std::function<void(const AccessEnded&)>;

  // `store` must outlive the watch.
  explicit AccessWatch(MetaStore& store);
  ~AccessWatch();

  // Set before start(); called for every AccessEnded (see the file comment).
  void set_listener(Listener listener);
  // Loads the prefix and starts watching; the error when the first load fails.
  Status start();
  void stop();

  // The account as the view holds it; nullopt when the view does not know
  // the user (not loaded, or an account made a moment ago elsewhere).
  std::optional<AccountGrantState> grant(const std::string& user_id) const;
  // Whether the view holds the session token (by hash) as live for the user.
  bool session_live(const std::string& user_id, const std::string& token_hash) const;
  ViewStatus view_status() const;
  // Whether the view is not following the store now (its grants may be old).
  bool stale() const;
  // Waits until the view has applied `revision` (WatchedView::wait_for_revision).
  Status wait_for_revision(Revision revision, std::chrono::steady_clock::time_point deadline) const;

 private:
  void reset(const RangeResult& snapshot);
  void apply(const WatchResponse& response);

  MetaStore& store_;
  Listener listener_;
  mutable std::mutex mu_;
  std::map<std::string, AccountGrantState> users_;       // guarded by mu_
  std::set<std::pair<std::string, std::string>> tokens_;  // (user id, token hash); guarded by mu_
  std::unique_ptr<WatchedView> view_;
};

// The grant state stored in a users/<id> record; nullopt for a record that
// is not a user's JSON.
std::optional<AccountGrantState> grant_state_from_json(const std::string& record);

}  // namespace hifi
