// Deleting an account: the one place that knows everything a user leaves
// behind. The account goes (accounts.h: its name is free again), and with
// it every way in (sessions, app passwords, API keys) and everything that
// was only theirs: stars, ratings, plays and history, playlists, the saved
// play queue and bookmarks, shares (their links stop working) and the
// jukebox choice and personal room. Their uploads stay in the shared library and the rooms
// they made stay for their listeners.
//
// Thread-safety: blocks on the store; call from worker threads.
#pragma once

#include <string>

#include "common/status.h"
#include "library/accounts.h"
#include "library/annotations.h"
#include "library/client_credentials.h"
#include "library/play_queues.h"
#include "library/playlists.h"
#include "library/shares.h"
#include "room/room_service.h"

namespace hifi::room {

struct AccountData {
  AccountService& accounts;
  ClientCredentials& credentials;
  Annotations& annotations;
  Playlists& playlists;
  PlayQueues& play_queues;
  Shares& shares;
  MetaStore& store;
  RoomService& rooms;
};

// Only an admin may delete an account, and not their own (the errors of
// AccountService::delete_user; kNotFound for an unknown id). Once the
// account is gone, the rest is removed; a store failure there is returned
// and leaves the rest to stale records that name no account.
Status delete_account(const AccountData& data, const User& actor, const std::string& user_id);

}  // namespace hifi::room
