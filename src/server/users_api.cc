// Accounts from an admin's side: list, create and delete users, disable or
// enable one, change a role, set a password, create invite codes. The
// account service decides who may; password hashing runs on the password
// pool.
#include <spdlog/spdlog.h>

#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"
#include "server/storage_limits.h"
#include "room/account_removal.h"
#include "room/jukebox.h"

namespace hifi::http_internal {
namespace {

awaitable<Reply> list_users(RequestContext& ctx) {
  auto users = co_await offload(ctx, [&] { return ctx.services.accounts.list_users(*ctx.user); });
  if (!users) co_return problem_from_status(ctx, users.status());
  const auto totals = ctx.services.catalog.upload_totals();
  boost::json::array items;
  for (auto& u : *users) {
    auto o = api_json::user(u);
    auto it = totals.find(u.id);
    StorageUse use;
    if (it != totals.end()) {
      use.used_bytes = static_cast<std::uint64_t>(it->second.bytes);
      use.songs = it->second.songs;
    }
    use.quota_bytes = u.quota_bytes.value_or(ctx.config.default_quota_bytes);
    add_storage_fields(o, use);
    items.push_back(std::move(o));
  }
  co_return json_response(ctx, http::status::ok, {{"items", items}});
}

boost::json::object settings_json(RegistrationMode mode) {
  return {{"registration", registration_mode_name(mode)}};
}

awaitable<Reply> get_settings(RequestContext& ctx) {
  if (!ctx.user->is_admin()) co_return problem_from_status(ctx, permission_denied("only an admin may see the settings"));
  auto mode = co_await offload(ctx, [&] { return ctx.services.accounts.registration_mode_now(); });
  if (!mode) co_return problem_from_status(ctx, mode.status());
  co_return json_response(ctx, http::status::ok, settings_json(*mode));
}

// {"registration": "open"|"invite"|"closed"}: whoever may make an account.
awaitable<Reply> update_settings(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(registration, fields.optional_string("registration"));
  if (!ctx.user->is_admin()) co_return problem_from_status(ctx, permission_denied("only an admin may change the settings"));
  if (!registration) co_return bad_request(ctx, "nothing to change; send {\"registration\": \"open\"|\"invite\"|\"closed\"}");
  auto mode = parse_registration_mode(*registration);
  if (!mode) co_return bad_request(ctx, "registration must be open, invite or closed");
  auto set = co_await offload(ctx, [&] { return ctx.services.accounts.set_registration_mode(*ctx.user, *mode); });
  if (!set) co_return problem_from_status(ctx, set.status());
  spdlog::info("registration set to '{}' by '{}'", *registration, ctx.user->username);
  co_return json_response(ctx, http::status::ok, settings_json(*set));
}

awaitable<Reply> create_user(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(username, fields.required_string("username"));
  HIFI_FIELD(password, fields.required_string("password"));
  HIFI_FIELD(role, fields.optional_string("role"));
  if (!ctx.user->is_admin()) co_return problem_from_status(ctx, permission_denied("only an admin may create users"));
  auto done = co_await offload_password_work(ctx, [&] {
    return ctx.services.accounts.create_user(*ctx.user, username, password, role.value_or("user"));
  });
  if (!done) co_return password_busy(ctx);
  auto& user = *done;
  if (!user) co_return problem_from_status(ctx, user.status());
  spdlog::info("account '{}' ({}) created by '{}'", user->username, user->role, ctx.user->username);
  auto res = json_response(ctx, http::status::created, api_json::user(*user));
  res.set(http::field::location, "/api/v1/users/" + user->id);
  co_return res;
}

// {"disabled": bool}, {"role": "admin"|"user"} and/or {"quota_bytes": N
// (0: no limit) | null (the server's default)}.
awaitable<Reply> update_user(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(disabled, fields.optional_bool("disabled"));
  HIFI_FIELD(role, fields.optional_string("role"));
  std::optional<std::optional<std::uint64_t>> quota;  // outer: present; inner: null
  if (const auto* q = body.if_contains("quota_bytes")) {
    if (q->is_null()) quota.emplace();
    else if (q->is_int64() && q->as_int64() >= 0) quota.emplace(static_cast<std::uint64_t>(q->as_int64()));
    else if (q->is_uint64()) quota.emplace(q->as_uint64());
    else co_return invalid_parameter(ctx, "quota_bytes", "quota_bytes must be a number of bytes (0: no limit) or null");
  }
  if (!disabled && !role && !quota) {
    co_return bad_request(ctx, "nothing to change; send {\"disabled\": true|false}, {\"role\": \"admin\"|\"user\"} "
                               "and/or {\"quota_bytes\": N|null}");
  }
  auto user = co_await offload(ctx, [&]() -> Result<User> {
    auto& accounts = ctx.services.accounts;
    Result<User> changed = not_found("");
    if (role) {
      changed = accounts.set_role(*ctx.user, ctx.params[0], *role);
      if (!changed) return changed;
    }
    if (quota) {
      changed = accounts.set_quota(*ctx.user, ctx.params[0], *quota);
      if (!changed) return changed;
    }
    if (disabled) changed = accounts.set_disabled(*ctx.user, ctx.params[0], *disabled);
    return changed;
  });
  if (!user) co_return problem_from_status(ctx, user.status());
  spdlog::info("account '{}' updated by '{}' (role {}, {})", user->username, ctx.user->username, user->role,
               user->disabled ? "disabled" : "enabled");
  co_return json_response(ctx, http::status::ok, api_json::user(*user));
}

awaitable<Reply> set_user_password(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(password, fields.required_string("password"));
  auto done = co_await offload_password_work(
      ctx, [&] { return ctx.services.accounts.set_password(*ctx.user, ctx.params[0], password); });
  if (!done) co_return password_busy(ctx);
  const Status& s = *done;
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("password of account {} set by '{}'", ctx.params[0], ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

// The account and everything only its user had go (room/account_removal.h);
// its uploads stay in the library.
awaitable<Reply> delete_user(RequestContext& ctx) {
  auto s = co_await offload(ctx, [&] {
    auto& v = ctx.services;
    const room::AccountData data{v.accounts, v.credentials, v.annotations, v.playlists,
                                 v.play_queues, v.shares, v.store, v.rooms};
    return room::delete_account(data, *ctx.user, ctx.params[0]);
  });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("account {} deleted by '{}'", ctx.params[0], ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> create_invite(RequestContext& ctx) {
  auto invite = co_await offload(ctx, [&] { return ctx.services.accounts.create_invite(*ctx.user); });
  if (!invite) co_return problem_from_status(ctx, invite.status());
  co_return json_response(ctx, http::status::created,
                          {{"code", invite->code}, {"expires_at", invite->expires_at}});
}

}  // namespace

std::vector<Route> user_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/users", Auth::kBearer, list_users},
      {V::post, "/api/v1/users", Auth::kBearer, create_user},
      {V::patch, "/api/v1/users/{}", Auth::kBearer, update_user},
      {V::delete_, "/api/v1/users/{}", Auth::kBearer, delete_user},
      {V::put, "/api/v1/users/{}/password", Auth::kBearer, set_user_password},
      {V::post, "/api/v1/invites", Auth::kBearer, create_invite},
      {V::get, "/api/v1/settings", Auth::kBearer, get_settings},
      {V::patch, "/api/v1/settings", Auth::kBearer, update_settings},
  };
}

}  // namespace hifi::http_internal
