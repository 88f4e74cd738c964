// GET /healthz (anyone) and GET /metrics (admins, or a scraper with the
// metrics token).
#include <fmt/format.h>

#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/room_hub.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

// This node's in-memory views of the store, by name.
std::vector<std::pair<std::string, ViewStatus>> views(const Services& services) {
  std::vector<std::pair<std::string, ViewStatus>> out{{"catalog", services.catalog.view_status()},
                                                       {"rooms", services.rooms.view_status()},
                                                       {"annotations", services.annotations.view_status()},
                                                       {"playlists", services.playlists.view_status()}};
  if (auto presence = services.hub.presence_view_status()) out.emplace_back("presence", *presence);
  if (auto accounts = services.accounts.view_status()) out.emplace_back("accounts", *accounts);
  return out;
}

// 200 while the store answers: "ok", or "degraded" when a view of the store
// is stale (its watch ended and has not resumed yet: reads may be old).
// Whether the store answers is asked at most once a second (StoreProbe), so
// that probes and load balancers cost the store nothing per request.
awaitable<Reply> healthz(RequestContext& ctx) {
  auto& probe = ctx.services.store_probe;
  auto rev = probe.cached();
  if (!rev) rev = co_await offload(ctx, [&] { return probe.check(); });
  if (!*rev) {
    co_return problem(ctx, http::status::service_unavailable, "unavailable", "Unhealthy",
                      "the metadata store does not answer: " + rev->status().message());
  }
  bool stale = false;
  json::object view_json;
  for (const auto& [name, v] : views(ctx.services)) {
    stale = stale || v.stale;
    json::object o{{"stale", v.stale},
                   {"revision", v.applied_revision},
                   {"restarts", v.restarts},
                   {"reloads", v.reloads}};
    if (v.stale) o["stale_for_ms"] = v.stale_for.count();
    if (!v.last_error.is_ok()) o["last_error"] = v.last_error.message();
    view_json[name] = std::move(o);
  }
  // A draining node answers 200 (it still serves what it began) but says
  // so, for load balancers that should send it nothing new.
  const bool draining = ctx.services.cluster.membership().draining();
  co_return json_response(
      ctx, http::status::ok,
      {{"status", draining ? "draining" : stale ? "degraded" : "ok"},
       {"store", ctx.services.store.describe()},
       {"revision", **rev},
       {"views", std::move(view_json)},
       {"registration", registration_mode_name(ctx.services.accounts.registration_mode())},
       {"max_upload_bytes", ctx.config.max_upload_bytes}});
}

std::string render_node_metrics(const Services& services) {
  std::string out;
  out += "# HELP hifi_view_stale Whether a view of the store is not following it now (1) or is (0).\n";
  out += "# TYPE hifi_view_stale gauge\n";
  const auto all = views(services);
  for (const auto& [name, v] : all) out += fmt::format("hifi_view_stale{{view=\"{}\"}} {}\n", name, v.stale ? 1 : 0);
  out += "# HELP hifi_view_restarts_total Watches of a view started again after one ended.\n";
  out += "# TYPE hifi_view_restarts_total counter\n";
  for (const auto& [name, v] : all) out += fmt::format("hifi_view_restarts_total{{view=\"{}\"}} {}\n", name, v.restarts);
  out += "# HELP hifi_view_reloads_total Reloads of a whole view after the store compacted its history.\n";
  out += "# TYPE hifi_view_reloads_total counter\n";
  for (const auto& [name, v] : all) out += fmt::format("hifi_view_reloads_total{{view=\"{}\"}} {}\n", name, v.reloads);
  out += "# HELP hifi_blob_kept_descriptors Descriptors of recently read blobs kept open for the next read.\n";
  out += "# TYPE hifi_blob_kept_descriptors gauge\n";
  out += fmt::format("hifi_blob_kept_descriptors {}\n", services.blobs.kept_descriptors());
  return out;
}

awaitable<Reply> metrics(RequestContext& ctx) {
  StringResponse res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = ctx.services.metrics.render() + ctx.services.cluster.render_metrics() +
               render_node_metrics(ctx.services);
  co_return res;
}

}  // namespace

std::vector<Route> health_routes() {
  using V = http::verb;
  return {
      {V::get, "/healthz", Auth::kNone, healthz},
      {V::get, "/metrics", Auth::kAdminOrMetricsToken, metrics},
  };
}

}  // namespace hifi::http_internal
