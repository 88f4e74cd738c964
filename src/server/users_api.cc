// Accounts from an admin's side: list users, disable or enable one, create
// invite codes. The account service decides who may.
#include <spdlog/spdlog.h>

#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace {

awaitable<Reply> list_users(RequestContext& ctx) {
  auto users = co_await offload(ctx, [&] { return ctx.services.accounts.list_users(*ctx.user); });
  if (!users) co_return problem_from_status(ctx, users.status());
  boost::json::array items;
  for (auto& u : *users) items.push_back(api_json::user(u));
  co_return json_response(ctx, http::status::ok, {{"items", items}});
}

awaitable<Reply> update_user(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(disabled, fields.optional_bool("disabled"));
  if (!disabled) co_return bad_request(ctx, "nothing to change; send {\"disabled\": true|false}");
  auto user = co_await offload(
      ctx, [&] { return ctx.services.accounts.set_disabled(*ctx.user, ctx.params[0], *disabled); });
  if (!user) co_return problem_from_status(ctx, user.status());
  spdlog::info("account '{}' {} by '{}'", user->username, *disabled ? "disabled" : "enabled",
               ctx.user->username);
  co_return json_response(ctx, http::status::ok, api_json::user(*user));
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
      {V::patch, "/api/v1/users/{}", Auth::kBearer, update_user},
      {V::post, "/api/v1/invites", Auth::kBearer, create_invite},
  };
}

}  // namespace hifi::http_internal
