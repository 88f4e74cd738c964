// Accounts from the user's side: register, log in and out, who am I, change
// the password.
#include <spdlog/spdlog.h>

#include "common/text.h"
#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/storage_limits.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

constexpr std::size_t kMaxDeviceNameChars = 100;

// "Firefox on Linux" from a User-Agent, for the list of sessions; the first
// words of it when it names no browser this knows.
std::string describe_user_agent(std::string_view ua) {
  auto has = [&](std::string_view word) { return ua.find(word) != std::string_view::npos; };
  std::string browser = has("Firefox/")                    ? "Firefox"
                        : has("Edg/")                      ? "Edge"
                        : has("OPR/")                      ? "Opera"
                        : has("Chromium/")                 ? "Chromium"
                        : has("Chrome/")                   ? "Chrome"
                        : has("Safari/")                   ? "Safari"
                        : has("hifi/") || has("hifi-cli/") ? "HiFi CLI"
                        : has("curl/")                     ? "curl"
                                                           : "";
  std::string os = has("Android")                          ? "Android"
                   : has("iPhone") || has("iPad")          ? "iOS"
                   : has("Windows")                        ? "Windows"
                   : has("Mac OS X") || has("Macintosh")   ? "macOS"
                   : has("CrOS")                           ? "ChromeOS"
                   : has("Linux")                          ? "Linux"
                                                           : "";
  if (browser.empty()) return truncate_utf8(without_control_chars(ua), 60);
  return os.empty() ? browser : browser + " on " + os;
}

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
  HIFI_FIELD(device_name, fields.optional_string("device_name"));
  // What the session is called in the list of sessions: the client's name
  // for its device, else one made from its User-Agent.
  std::string device;
  if (device_name) {
    auto cleaned = clean_user_text(*device_name, kMaxDeviceNameChars, "device_name", /*allow_empty=*/true);
    if (!cleaned) co_return bad_request(ctx, cleaned.status().message());
    device = std::move(*cleaned);
  }
  if (device.empty()) device = describe_user_agent(ctx.header()[http::field::user_agent]);
  std::int64_t retry_after_ms = 0;
  auto done = co_await offload_password_work(ctx, [&] {
    return ctx.services.accounts.login(username, password, ctx.client_address, &retry_after_ms, device);
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

// The caller's account, with their storage: bytes used, songs, quota.
awaitable<Reply> me(RequestContext& ctx) {
  auto o = api_json::user(*ctx.user);
  add_storage_fields(o, storage_use(ctx, *ctx.user));
  co_return json_response(ctx, http::status::ok, o);
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

awaitable<Reply> list_sessions(RequestContext& ctx) {
  auto sessions = co_await offload(ctx, [&] { return ctx.services.accounts.sessions(ctx.user->id, ctx.token); });
  if (!sessions) co_return problem_from_status(ctx, sessions.status());
  json::array items;
  for (const auto& s : *sessions) {
    items.push_back({{"id", s.id},
                     {"device", s.device},
                     {"address", s.address},
                     {"created_at", s.created_at},
                     {"last_used_at", s.last_used_at},
                     {"expires_at", s.expires_at},
                     {"current", s.current}});
  }
  co_return json_response(ctx, http::status::ok, {{"sessions", std::move(items)}});
}

awaitable<Reply> revoke_session(RequestContext& ctx) {
  auto s = co_await offload(ctx, [&] { return ctx.services.accounts.revoke_session(ctx.user->id, ctx.params[0]); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("'{}' ended session {}", ctx.user->username, ctx.params[0]);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> revoke_other_sessions(RequestContext& ctx) {
  auto s = co_await offload(ctx, [&] { return ctx.services.accounts.revoke_other_sessions(ctx.user->id, ctx.token); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("'{}' ended every other session", ctx.user->username);
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
      {V::get, "/api/v1/me/sessions", Auth::kBearer, list_sessions},
      {V::delete_, "/api/v1/me/sessions", Auth::kBearer, revoke_other_sessions},
      {V::delete_, "/api/v1/me/sessions/{}", Auth::kBearer, revoke_session},
  };
}

}  // namespace hifi::http_internal
