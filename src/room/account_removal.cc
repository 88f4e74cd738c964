#include "room/account_removal.h"

#include "room/jukebox.h"

namespace hifi::room {

Status delete_account(const AccountData& data, const User& actor, const std::string& user_id) {
  if (auto s = data.accounts.delete_user(actor, user_id); !s) return s;
  for (auto step : {
           +[](const AccountData& d, const std::string& id) { return d.credentials.remove_all(id); },
           +[](const AccountData& d, const std::string& id) { return d.annotations.forget_user(id); },
           +[](const AccountData& d, const std::string& id) { return d.playlists.forget_user(id); },
           +[](const AccountData& d, const std::string& id) { return d.play_queues.forget_user(id); },
           +[](const AccountData& d, const std::string& id) { return d.shares.forget_user(id); },
           +[](const AccountData& d, const std::string& id) { return Jukeboxes(d.store, d.rooms).forget(id); },
       }) {
    if (auto s = step(data, user_id); !s) return s;
  }
  // The personal room, which only its owner could use.
  auto s = data.rooms.remove(personal_room_id(user_id), actor);
  return s || s.code() == Code::kNotFound ? Status::ok() : s;
}

}  // namespace hifi::room
