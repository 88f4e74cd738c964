// ScalePolicy: how many nodes the cluster wants, from its members' load,
// the way Kubernetes' HorizontalPodAutoscaler decides:
//
//   for each metric with a target:  desired = ceil(current * average / target)
//
// where `current` counts the members in service (draining ones do not) and
// `average` is the metric's mean over them: room listeners (WebSockets) and
// active streams per node, and CPU (a fraction of the machine's cores). The
// largest desired count wins; a ratio within `tolerance` of 1 keeps the
// current count. Then stabilization: scaling up takes the smallest
// recommendation of the last `up_window` (load must stay high that long),
// scaling down the largest of the last `down_window`; the result is kept
// within [min, max].
//
// Pure arithmetic on what it is given (members and a time); not
// thread-safe: the autoscaler calls it from its one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "cluster/member.h"

namespace hifi::cluster {

struct ScaleOptions {
  int min_nodes = 1;
  int max_nodes = 1;
  double target_listeners = 0;  // per node; 0: not a scaling metric
  double target_streams = 0;
  double target_cpu = 0;        // fraction of the cores, e.g. 0.6
  double tolerance = 0.1;
  std::chrono::milliseconds up_window{30'000};
  std::chrono::milliseconds down_window{300'000};

  // Whether any metric has a target (else the policy keeps the count).
  bool enabled() const { return target_listeners > 0 || target_streams > 0 || target_cpu > 0; }
};

// Why the options cannot be used ("" when they can): min > max, min < 1,
// negative targets, a tolerance outside [0, 1).
std::string validate(const ScaleOptions& options);

struct ScaleDecision {
  int current = 0;  // members in service
  int desired = 0;  // from the load now, before stabilization
  int wanted = 0;   // what the cluster should have
  std::string reason;
};

class ScalePolicy {
 public:
  explicit ScalePolicy(ScaleOptions options) : options_(options) {}

  // `members`: the live members (draining ones included; they are not
  // counted). `now_ms`: a monotonic time.
  ScaleDecision decide(const std::vector<Member>& members, std::int64_t now_ms);
  // Forgets the recommendations (a node that stops leading starts afresh).
  void reset() { history_.clear(); }

  const ScaleOptions& options() const { return options_; }

 private:
  const ScaleOptions options_;
  std::deque<std::pair<std::int64_t, int>> history_;  // (time, desired)
};

}  // namespace hifi::cluster
