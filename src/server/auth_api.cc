// Accounts from the user's side: register, log in and out, who am I, change
// the password.
#include <spdlog/spdlog.h>

#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace {

awaitable<Reply> register_user(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(username, fields.required_string("username"));
  HIFI_FIELD(password, fields.required_string("password"));
  HIFI_FIELD(invite, fields.optional_string("invite_code"));
  // Each registration costs an Argon2id run: a bounded number per address.
  std::int64_t retry_after_ms = 0;
  if (auto admitted = ctx.services.accounts.admit_registration(ctx.client_address, &retry_after_ms); !admitted) {
    auto res = problem_from_status(ctx, admitted);
    res.set(http::field::retry_after, std::to_string((retry_after_ms + 999) / 1000));
    co_return res;
  }
  auto done = co_await offload_password_work(ctx, [&] {
    return ctx.services.accounts.register_user(username, password, invite.value_or(""));
  });
  if (!done) co_return password_busy(ctx);
  auto& user = *done;
  if (!user) co_return problem_from_status(ctx, user.status());
  spdlog::info("account '{}' registered ({})", user->username, user->role);
  co_return json_response(ctx, http::status::created, api_json::user(*user));
}

awaitable<Reply> login(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(username, fields.required_string("username"));
  HIFI_FIELD(password, fields.required_string("password"));
  std::int64_t retry_after_ms = 0;
  auto done = co_await offload_password_work(ctx, [&] {
    return ctx.services.accounts.login(username, password, ctx.client_address, &retry_after_ms);
  });
  if (!done) co_return password_busy(ctx);
  auto& session = *done;
  if (!session) {
    auto res = problem_from_status(ctx, session.status());
    if (session.status().code() == Code::kResourceExhausted) {
      res.set(http::field::retry_after, std::to_string((retry_after_ms + 999) / 1000));
    }
    co_return res;
  }
  co_return json_response(ctx, http::status::ok,
                          {{"token", session->token},
                           {"expires_at", session->expires_at},
                           {"user", api_json::user(session->user)}});
}

awaitable<Reply> logout(RequestContext& ctx) {
  auto s = co_await offload(ctx, [&] { return ctx.services.accounts.logout(ctx.token); });
  if (!s) co_return problem_from_status(ctx, s);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> me(RequestContext& ctx) {
  co_return json_response(ctx, http::status::ok, api_json::user(*ctx.user));
}

awaitable<Reply> change_password(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(current, fields.required_string("current_password"));
  HIFI_FIELD(next, fields.required_string("new_password"));
  auto done = co_await offload_password_work(ctx, [&] {
    return ctx.services.accounts.change_password(ctx.user->id, current, next, ctx.token);
  });
  if (!done) co_return password_busy(ctx);
  const Status& s = *done;
  if (!s) co_return problem_from_status(ctx, s);
  co_return StringResponse{http::status::no_content, 11};
}

}  // namespace

std::vector<Route> auth_routes() {
  using V = http::verb;
  return {
      {V::post, "/api/v1/auth/register", Auth::kNone, register_user},
      {V::post, "/api/v1/auth/login", Auth::kNone, login},
      {V::post, "/api/v1/auth/logout", Auth::kBearer, logout},
      {V::get, "/api/v1/me", Auth::kBearer, me},
      {V::post, "/api/v1/me/password", Auth::kBearer, change_password},
  };
}

}  // namespace hifi::http_internal
