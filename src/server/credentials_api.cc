// A user's app passwords and API keys, for apps that speak other protocols
// (Subsonic): create (the secret is in that answer only), list, revoke.
// ClientCredentials decides; these handlers translate.
#include <spdlog/spdlog.h>

#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

json::value time_or_null(std::int64_t ms) { return ms > 0 ? json::value(ms) : json::value(nullptr); }

// The handlers of one kind of credential; `secret_field` names the secret
// in the creation answer ("password", "key").
struct CredentialRoutes {
  CredentialKind kind;
  const char* secret_field;

  awaitable<Reply> create(RequestContext& ctx) const {
    HIFI_READ_JSON(body);
    JsonFields fields(body);
    HIFI_FIELD(name, fields.required_string("name"));
    auto made = co_await offload(ctx, [&] { return ctx.services.credentials.create(kind, *ctx.user, name); });
    if (!made) co_return problem_from_status(ctx, made.status());
    spdlog::info("'{}' created {} {} ({})", ctx.user->username, secret_field, made->credential.id,
                 made->credential.name);
    co_return json_response(ctx, http::status::created,
                            {{"id", made->credential.id}, {"name", made->credential.name}, {secret_field, made->secret}});
  }

  awaitable<Reply> list(RequestContext& ctx) const {
    auto items = co_await offload(ctx, [&] { return ctx.services.credentials.list(kind, *ctx.user); });
    if (!items) co_return problem_from_status(ctx, items.status());
    json::array out;
    for (const auto& c : *items) {
      out.push_back({{"id", c.id},
                     {"name", c.name},
                     {"created_at", c.created_at},
                     {"last_used_at", time_or_null(c.last_used_at)}});
    }
    co_return json_response(ctx, http::status::ok, {{"items", out}});
  }

  awaitable<Reply> revoke(RequestContext& ctx) const {
    auto s = co_await offload(ctx, [&] { return ctx.services.credentials.revoke(kind, *ctx.user, ctx.params[0]); });
    if (!s) co_return problem_from_status(ctx, s);
    spdlog::info("'{}' revoked {} {}", ctx.user->username, secret_field, ctx.params[0]);
    co_return StringResponse{http::status::no_content, 11};
  }
};

void add_routes(std::vector<Route>& routes, const std::string& path, CredentialRoutes r) {
  using V = http::verb;
  routes.push_back({V::post, path, Auth::kBearer, [r](RequestContext& ctx) { return r.create(ctx); }});
  routes.push_back({V::get, path, Auth::kBearer, [r](RequestContext& ctx) { return r.list(ctx); }});
  routes.push_back({V::delete_, path + "/{}", Auth::kBearer, [r](RequestContext& ctx) { return r.revoke(ctx); }});
}

}  // namespace

std::vector<Route> credential_routes() {
  std::vector<Route> routes;
  add_routes(routes, "/api/v1/me/app-passwords", {CredentialKind::kAppPassword, "password"});
  add_routes(routes, "/api/v1/me/api-keys", {CredentialKind::kApiKey, "key"});
  return routes;
}

}  // namespace hifi::http_internal
