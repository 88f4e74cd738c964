// Membership: this node's registration in the cluster, and its view of the
// other members and of the leader.
//
// The node holds one MetaStore lease (TTL MembershipOptions::ttl) and keeps
// under it: its member record (members/<id>), the leader key when it leads,
// and its room presence. A renewal thread refreshes the lease, the record
// (with current load and free disk) and the cached member list every
// min(1 s, ttl/4). If the node stops renewing (crash, SIGSTOP, cut off from
// the store) etcd deletes those keys when the TTL runs out, so the others stop
// routing to it within `ttl`. When a paused node resumes and finds its lease
// gone, it takes a new one, registers again and calls the rejoin callback.
//
// Leadership: whoever creates the `leader` key (under its lease, with a
// compare that it is absent) leads until its lease ends. No node is special
// otherwise; any node can lead.
//
// Thread-safety: all methods are thread-safe. Callbacks run on the renewal
// thread and must not block for long.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/member.h"
#include "common/clock.h"
#include "store/meta_store.h"

namespace hifi::cluster {

struct MembershipOptions {
  std::string node_id;
  std::string version;
  std::string data_dir;  // free disk is measured here
  std::chrono::milliseconds ttl{5000};
};

// Counters sampled at every renewal; bytes/s is derived from bytes_sent.
struct LoadCounters {
  std::int64_t active_streams = 0;
  std::uint64_t bytes_sent = 0;  // total since start
  std::int64_t connections = 0;
  std::int64_t websockets = 0;
};

class Membership {
 public:
  using LoadSampler = std::function<LoadCounters()>;

  Membership(MetaStore& store, const Clock& clock, MembershipOptions options, LoadSampler sampler);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Takes a lease, registers with this advertise URL and starts renewing.
  // Fails (start-up error) when the store does not answer.
  Status start(const std::string& advertise);
  // Leaves: stops renewing and revokes the lease, so the others see this
  // node gone at once rather than after the TTL. Idempotent.
  void stop();

  const std::string& self_id() const { return options_.node_id; }
  std::string advertise() const;
  // The current lease (changes after a rejoin); 0 before start().
  LeaseId lease() const;
  // Live members as of the last renewal, sorted by id. Includes this node
  // once started (even when the last refresh failed).
  std::vector<Member> members() const;
  // Live members as the store has them now (one read), sorted by id, with
  // this node included: for decisions that must not miss a node that joined
  // since the last renewal (where an upload's copies go). Falls back to
  // members() when the store does not answer.
  std::vector<Member> current_members() const;
  std::optional<Member> find(const std::string& id) const;
  // The leader's id, if any.
  std::optional<std::string> leader() const;
  bool is_leader() const;
  std::chrono::milliseconds ttl() const { return options_.ttl; }

  // Called after the lease was lost and a new one registered.
  void set_on_rejoin(std::function<void()> callback);

  // Draining: from now on this node's record says "draining" (the others
  // stop choosing it for new work), it gives up leadership and claims it no
  // more. Renews at once so the store has it before this returns. Idempotent.
  void start_draining();
  bool draining() const;
  // Called once, on the renewal thread, when the store holds a drain
  // request for this node (drain/<id>, written by request_drain() on any node).
  void set_on_drain_requested(std::function<void()> callback);
  // Asks node `id` to drain (writes drain/<id>); it notices at its next
  // renewal. kNotFound when it is not a live member; kFailedPrecondition
  // when no other member in service would remain.
  Status request_drain(const std::string& id, const std::string& requested_by);
  // Removes this node's drain request (when it leaves, so that a restart
  // under the same id does not drain again).
  void clear_drain_request();

  // Runs one renewal now (tests; the thread does it periodically).
  void renew_now();

 private:
  Status register_self();
  Member self_record();
  void renew_loop();
  // Calls the drain callback once the store holds a request for this node.
  void check_drain_request();

  MetaStore& store_;
  const Clock& clock_;
  const MembershipOptions options_;
  LoadSampler sampler_;
  const std::int64_t started_at_;

  mutable std::mutex mu_;
  std::string advertise_;
  LeaseId lease_ = 0;
  std::vector<Member> members_;
  std::optional<std::string> leader_;
  std::function<void()> on_rejoin_;
  std::function<void()> on_drain_requested_;
  bool draining_ = false;
  bool drain_requested_ = false;  // the callback ran (or draining began)
  std::uint64_t last_bytes_ = 0;
  std::int64_t last_sample_ms_ = 0;
  std::int64_t bytes_per_second_ = 0;
  double last_cpu_seconds_ = 0;
  double cpu_ = 0;
  bool renew_failing_ = false;

  std::mutex renew_mu_;  // one renewal at a time
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hifi::cluster
