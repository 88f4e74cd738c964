// `hifi cluster drain`: taking a node out of the cluster.
#include <boost/json.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "client/cli/commands.h"

namespace hifi::client {
namespace json = boost::json;

namespace {

// The node's health as the cluster lists it now: "" when it is gone.
std::optional<std::string> health_of(CliContext& ctx, const std::string& id, ApiError& error) {
  auto r = ctx.api->cluster();
  if (!r) {
    error = r.error;
    return std::nullopt;
  }
  for (const auto& m : r->members) {
    if (m.id == id) return m.health.empty() ? std::string("ok") : m.health;
  }
  return std::string();
}

}  // namespace

int cmd_cluster_drain(CliContext& ctx, const std::string& id, bool wait, int timeout_s) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = ctx.api->request("POST", "/api/v1/cluster/members/" + id + "/drain");
  if (!r) return fail(r.error, "could not drain node " + id);
  if (!wait) {
    if (ctx.json) std::cout << json::serialize(json::object{{"id", id}, {"draining", true}}) << "\n";
    if (!ctx.json) std::cout << "Asked node " << id << " to drain; `hifi cluster` shows it until it has left.\n";
    return kExitOk;
  }
  if (!ctx.json) std::cout << "Draining node " << id << ": its listeners move, its copies are handed over...\n";
  const auto began = std::chrono::steady_clock::now();
  const auto deadline = began + std::chrono::seconds(timeout_s);
  std::string last;
  for (;;) {
    ApiError error;
    auto health = health_of(ctx, id, error);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    if (health && health->empty()) {
      if (ctx.json) {
        std::cout << json::serialize(json::object{{"id", id}, {"drained", true}, {"seconds", seconds}}) << "\n";
      } else {
        std::printf("Node %s has left the cluster after %.1f s; the other nodes hold its songs and listeners.\n",
                    id.c_str(), seconds);
      }
      return kExitOk;
    }
    if (health && *health != last && !ctx.json) {
      std::cout << "  " << id << ": " << *health << "\n";
      last = *health;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "hifi: node " << id << " has not left after " << timeout_s
                << " s (still " << (health ? *health : "unknown: " + error.message())
                << "); its log says what it waits for\n";
      return kExitFailure;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace hifi::client
