// getUser, getUsers, createUser, updateUser, deleteUser, changePassword:
// Subsonic's user management over AccountService, which decides who may do
// what (admins manage accounts; everyone may change their own password).
//
// The roles say honestly what HiFi lets an account do:
//   adminRole                      HiFi's "admin" role
//   streamRole, downloadRole,      every enabled account: HiFi lets every
//   uploadRole, playlistRole,      user stream, download, upload songs,
//   shareRole, jukeboxRole,        make playlists and shares, drive a room
//   settingsRole                   and change their password
//   coverArtRole, podcastRole,     false: HiFi lets no one edit tags or
//   commentRole,                   covers, and has no podcasts, comments
//   videoConversionRole            or video conversion
// Role parameters other than adminRole are accepted and ignored: they
// cannot change what HiFi lets an account do.
#include <spdlog/spdlog.h>

#include "common/text.h"
#include "room/jukebox.h"
#include "subsonic/endpoints.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

// A user as a `User` element: alone (getUser) or as an item of `users`.
Element user_element(const User& user, bool item) {
  const bool enabled = !user.disabled;
  Element e = item ? Element::item("user") : Element("user");
  e.set("username", user.username).set("email", "").set("scrobblingEnabled", false);
  e.set("adminRole", user.is_admin()).set("settingsRole", enabled).set("downloadRole", enabled);
  e.set("uploadRole", enabled).set("playlistRole", enabled).set("coverArtRole", false).set("commentRole", false);
  e.set("podcastRole", false).set("streamRole", enabled).set("jukeboxRole", enabled).set("shareRole", enabled);
  e.set("videoConversionRole", false);
  e.add(Element::item("folder").text(kMusicFolderId));
  return e;
}

// The account named by parameter "username" (error 10 without it, 70 for
// an unknown name).
Expected<User> named_user(const Call& call) {
  auto name = call.params.required("username");
  if (!name) return name.error();
  auto state = call.accounts.account_state_by_name(*name);
  if (!state) return error_from_status(state.status());
  return state->user;
}

// The decoded "password" parameter: error 10 when missing, 0 when its
// "enc:" form is not hex.
Expected<std::string> password_param(const Params& params) {
  auto password = params.required("password");
  if (!password) return password.error();
  return decode_password(*password, ErrorCode::kGeneric);
}

Expected<Body> get_user(const Call& call) {
  auto name = call.params.required("username");
  if (!name) return name.error();
  const auto& me = call.caller.user;
  if (fold_for_search(*name) == fold_for_search(me.username)) return Body{user_element(me, false)};
  if (!me.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may look at another user"};
  auto user = named_user(call);
  if (!user) return user.error();
  return Body{user_element(*user, false)};
}

Expected<Body> get_users(const Call& call) {
  auto users = call.accounts.list_users(call.caller.user);
  if (!users) return error_from_status(users.status());
  Element list("users");
  for (const auto& u : *users) list.add(user_element(u, true));
  return Body{std::move(list)};
}

Expected<Body> create_user(const Call& call) {
  if (!call.caller.user.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may create users"};
  auto name = call.params.required("username");
  if (!name) return name.error();
  auto password = password_param(call.params);
  if (!password) return password.error();
  auto admin = call.params.boolean("adminRole", false);
  if (!admin) return admin.error();
  auto user = call.accounts.create_user(call.caller.user, *name, *password, *admin ? "admin" : "user");
  if (!user) return error_from_status(user.status());
  spdlog::info("subsonic: account '{}' ({}) created by '{}'", user->username, user->role, call.caller.user.username);
  return Body{};
}

Expected<Body> update_user(const Call& call) {
  if (!call.caller.user.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may update users"};
  auto user = named_user(call);
  if (!user) return user.error();
  auto admin = call.params.boolean("adminRole", user->is_admin());
  if (!admin) return admin.error();
  std::optional<std::string> password;
  if (call.params.has("password")) {
    auto p = password_param(call.params);
    if (!p) return p.error();
    // Checked before anything changes, so that a refused password changes nothing.
    if (auto s = validate_password(*p); !s) return error_from_status(s);
    password = std::move(*p);
  }
  if (*admin != user->is_admin()) {
    auto changed = call.accounts.set_role(call.caller.user, user->id, *admin ? "admin" : "user");
    if (!changed) return error_from_status(changed.status());
  }
  if (password) {
    if (auto s = call.accounts.set_password(call.caller.user, user->id, *password); !s) return error_from_status(s);
  }
  return Body{};
}

Expected<Body> delete_user(const Call& call) {
  if (!call.caller.user.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may delete users"};
  auto user = named_user(call);
  if (!user) return user.error();
  if (auto s = call.accounts.delete_user(call.caller.user, user->id); !s) return error_from_status(s);
  if (auto s = call.credentials.remove_all(user->id); !s) return error_from_status(s);
  if (auto s = room::Jukeboxes(call.store, call.rooms).forget(user->id); !s) return error_from_status(s);
  spdlog::info("subsonic: account '{}' deleted by '{}'", user->username, call.caller.user.username);
  return Body{};
}

Expected<Body> change_password(const Call& call) {
  auto name = call.params.required("username");
  if (!name) return name.error();
  const auto& me = call.caller.user;
  const bool self = fold_for_search(*name) == fold_for_search(me.username);
  if (!self && !me.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may change another user's password"};
  auto password = password_param(call.params);
  if (!password) return password.error();
  std::string user_id = me.id;
  if (!self) {
    auto user = named_user(call);
    if (!user) return user.error();
    user_id = user->id;
  }
  if (auto s = call.accounts.set_password(me, user_id, *password); !s) return error_from_status(s);
  return Body{};
}

}  // namespace

std::vector<Endpoint> users_endpoints() {
  return {
      {"getUser", true, get_user},
      {"getUsers", true, get_users},
      {"createUser", true, create_user, true},
      {"updateUser", true, update_user, true},
      {"deleteUser", true, delete_user},
      {"changePassword", true, change_password, true},
  };
}

}  // namespace hifi::subsonic
