// Autoscaler: on the leader, once a second, decides how many nodes the
// cluster wants (ScalePolicy) and has its Provisioner add or drain nodes.
//
// The decision is published in the store (key `scale`: wanted, current,
// desired, reason, last_change, the node that decided and any action still
// pending), so every node shows the same in GET /api/v1/cluster, and a node
// that takes over leadership continues from it: an action in flight (nodes
// started but not joined yet, a node asked to drain) holds further actions
// until it shows in the member list or `action_timeout` passes, so a new
// leader neither starts an extra node nor drains a second one. At most one
// node drains at a time. A provisioner that fails is retried with backoff
// (5 s, doubling up to 5 min); failures are logged and counted.
//
// Thread-safety: start()/stop() from one thread; the rest from any.
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/membership.h"
#include "cluster/provisioner.h"
#include "cluster/scale_policy.h"
#include "common/clock.h"
#include "store/meta_store.h"

namespace hifi::cluster {

inline constexpr const char* kScaleKey = "scale";

struct AutoscalerOptions {
  ScaleOptions policy;
  std::chrono::milliseconds interval{1000};
  // How long an action may take to show in the member list (a node to
  // start and join, a drain to begin).
  std::chrono::milliseconds action_timeout{60'000};
};

struct AutoscalerCounters {
  std::atomic<std::uint64_t> adds_ok{0};
  std::atomic<std::uint64_t> adds_failed{0};
  std::atomic<std::uint64_t> removes_ok{0};
  std::atomic<std::uint64_t> removes_failed{0};
  std::atomic<std::int64_t> wanted{0};   // as last decided or read (0: none yet)
  std::atomic<std::int64_t> current{0};
};

class Autoscaler {
 public:
  Autoscaler(MetaStore& store, Membership& membership, const Clock& clock, AutoscalerOptions options,
             std::unique_ptr<Provisioner> provisioner);
  ~Autoscaler();

  void start();
  void stop();
  // One decision and action, now (the thread does it every interval); does
  // nothing unless this node leads.
  void tick();

  // The last decision, as this node made it or the leader published it:
  // {wanted, current, desired, reason, last_change, by, provisioner}; none
  // before the first.
  std::optional<boost::json::object> published() const;
  std::string render_metrics() const;
  const AutoscalerCounters& counters() const { return counters_; }

 private:
  void loop();
  // The record in the store, as last read or written.
  boost::json::object read_record();
  void write_record(const boost::json::object& record);

  MetaStore& store_;
  Membership& membership_;
  const Clock& clock_;
  const AutoscalerOptions options_;
  std::unique_ptr<Provisioner> provisioner_;
  ScalePolicy policy_;
  AutoscalerCounters counters_;

  mutable std::mutex mu_;
  std::optional<boost::json::object> published_;  // guarded by mu_
  std::int64_t last_written_ms_ = 0;
  std::chrono::steady_clock::time_point next_action_;
  std::chrono::milliseconds backoff_{0};
  bool was_leader_ = false;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hifi::cluster
