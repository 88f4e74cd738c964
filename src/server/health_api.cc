// GET /healthz (anyone) and GET /metrics (signed-in users).
#include "server/http_internal.h"
#include "server/metrics.h"

namespace hifi::http_internal {
namespace {

awaitable<Reply> healthz(RequestContext& ctx) {
  auto rev = co_await offload(ctx, [&] { return ctx.services.store.current_revision(); });
  if (!rev) {
    co_return problem(ctx, http::status::service_unavailable, "unavailable", "Unhealthy",
                      "the metadata store does not answer: " + rev.status().message());
  }
  co_return json_response(
      ctx, http::status::ok,
      {{"status", "ok"},
       {"store", ctx.services.store.describe()},
       {"revision", *rev},
       {"registration", registration_mode_name(ctx.services.accounts.registration_mode())},
       {"max_upload_bytes", ctx.config.max_upload_bytes}});
}

awaitable<Reply> metrics(RequestContext& ctx) {
  StringResponse res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = ctx.services.metrics.render() + ctx.services.cluster.render_metrics();
  co_return res;
}

}  // namespace

std::vector<Route> health_routes() {
  using V = http::verb;
  return {
      {V::get, "/healthz", Auth::kNone, healthz},
      {V::get, "/metrics", Auth::kBearer, metrics},
  };
}

}  // namespace hifi::http_internal
