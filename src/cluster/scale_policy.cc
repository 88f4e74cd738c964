#include "cluster/scale_policy.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace hifi::cluster {

std::string validate(const ScaleOptions& o) {
  if (o.min_nodes < 1) return "--scale-min must be at least 1";
  if (o.max_nodes < o.min_nodes) {
    return "--scale-max (" + std::to_string(o.max_nodes) + ") is below --scale-min (" + std::to_string(o.min_nodes) + ")";
  }
  if (o.target_listeners < 0 || o.target_streams < 0 || o.target_cpu < 0) {
    return "scaling targets must be positive (0 leaves a metric out)";
  }
  if (o.target_cpu > 1) return "--scale-target-cpu is a fraction of the cores, at most 1 (e.g. 0.6)";
  if (o.tolerance < 0 || o.tolerance >= 1) return "the scaling tolerance must be in [0, 1)";
  if (o.up_window.count() < 0 || o.down_window.count() < 0) return "scaling windows cannot be negative";
  return "";
}

ScaleDecision ScalePolicy::decide(const std::vector<Member>& members, std::int64_t now_ms) {
  ScaleDecision d;
  double listeners = 0, streams = 0, cpu = 0;
  for (const auto& m : members) {
    if (!in_service(m)) continue;
    ++d.current;
    listeners += static_cast<double>(m.load.websockets);
    streams += static_cast<double>(m.load.active_streams);
    cpu += m.load.cpu;
  }
  const int current = std::max(1, d.current);
  std::ostringstream why;
  std::string strongest;
  // The largest count any metric wants (so none is starved), and which.
  int most = -1;
  auto metric = [&](const char* name, double total, double target, const char* unit) {
    if (target <= 0) return;
    const double average = total / current;
    const double ratio = average / target;
    int desired = d.current;
    if (std::abs(ratio - 1.0) > options_.tolerance) desired = static_cast<int>(std::ceil(current * ratio - 1e-9));
    if (desired > most) {
      most = desired;
      std::ostringstream part;
      part.precision(3);
      part << name << " " << average << unit << " per node, target " << target << unit;
      strongest = part.str();
    }
  };
  metric("listeners", listeners, options_.target_listeners, "");
  metric("streams", streams, options_.target_streams, "");
  metric("cpu", cpu * 100, options_.target_cpu * 100, "%");
  d.desired = most < 0 ? d.current : most;
  d.desired = std::clamp(d.desired, options_.min_nodes, options_.max_nodes);

  // Stabilization over the recommendations of the windows.
  history_.emplace_back(now_ms, d.desired);
  const auto keep = std::max(options_.up_window, options_.down_window).count();
  while (!history_.empty() && history_.front().first < now_ms - keep) history_.pop_front();
  int up = d.desired, down = d.desired;
  for (const auto& [at, desired] : history_) {
    if (at >= now_ms - options_.up_window.count()) up = std::min(up, desired);
    if (at >= now_ms - options_.down_window.count()) down = std::max(down, desired);
  }
  if (d.desired > d.current) {
    d.wanted = std::max(d.current, up);
  } else if (d.desired < d.current) {
    d.wanted = std::min(d.current, down);
  } else {
    d.wanted = d.current;
  }
  d.wanted = std::clamp(d.wanted, options_.min_nodes, options_.max_nodes);

  why << (most < 0 ? "no scaling metric" : strongest) << ": " << d.current << " node(s) in service";
  if (d.desired != d.current) why << ", the load asks for " << d.desired;
  if (d.wanted != d.desired) {
    why << ", held at " << d.wanted << " for now (load must stay "
        << (d.desired > d.current ? "high for " + std::to_string(options_.up_window.count() / 1000) + " s"
                                  : "low for " + std::to_string(options_.down_window.count() / 1000) + " s")
        << ")";
  }
  if (d.current < options_.min_nodes) why << ", below --scale-min " << options_.min_nodes;
  d.reason = why.str();
  return d;
}

}  // namespace hifi::cluster
