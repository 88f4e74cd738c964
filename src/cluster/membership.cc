#include "cluster/membership.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <boost/json.hpp>

#include "common/cores.h"

namespace hifi::cluster {

namespace {

// A node below this much free disk says it is degraded, so clients and the
// repair leader can see why uploads to it may fail.
constexpr std::uint64_t kLowDiskBytes = 512ULL << 20;

std::chrono::milliseconds renew_period(std::chrono::milliseconds ttl) {
  return std::clamp(ttl / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

// CPU time (user + system) this process has used, in seconds.
double process_cpu_seconds() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::int64_t ttl_seconds(std::chrono::milliseconds ttl) {
  return std::max<std::int64_t>(1, (ttl.count() + 999) / 1000);
}

// The members a read of members/ found, with `self` added when its own
// record is missing (its lease is being renewed), sorted by id.
std::vector<Member> members_from(const RangeResult& range, const std::optional<Member>& self) {
  std::vector<Member> out;
  for (const auto& kv : range.kvs) {
    if (auto m = member_from_json(kv.value)) out.push_back(std::move(*m));
  }
  if (self && std::none_of(out.begin(), out.end(), [&](const Member& m) { return m.id == self->id; })) {
    out.push_back(*self);
  }
  std::sort(out.begin(), out.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
  return out;
}

}  // namespace

Membership::Membership(MetaStore& store, const Clock& clock, MembershipOptions options,
                       LoadSampler sampler)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      sampler_(std::move(sampler)),
      started_at_(clock.now_ms()) {}

Membership::~Membership() { stop(); }

std::string Membership::advertise() const {
  std::lock_guard lock(mu_);
  return advertise_;
}

LeaseId Membership::lease() const {
  std::lock_guard lock(mu_);
  return lease_;
}

std::vector<Member> Membership::members() const {
  std::lock_guard lock(mu_);
  return members_;
}

std::vector<Member> Membership::current_members() const {
  auto range = store_.range(kMembersPrefix);
  if (!range) return members();
  return members_from(*range, find(options_.node_id));
}

std::optional<Member> Membership::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  for (const auto& m : members_) {
    if (m.id == id) return m;
  }
  return std::nullopt;
}

std::optional<std::string> Membership::leader() const {
  std::lock_guard lock(mu_);
  return leader_;
}

bool Membership::is_leader() const {
  std::lock_guard lock(mu_);
  return leader_ == options_.node_id;
}

void Membership::set_on_rejoin(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  on_rejoin_ = std::move(callback);
}

Member Membership::self_record() {
  Member m;
  m.id = options_.node_id;
  m.version = options_.version;
  m.started_at = started_at_;
  m.updated_at = clock_.now_ms();
  const auto counters = sampler_ ? sampler_() : LoadCounters{};
  m.load.active_streams = counters.active_streams;
  m.load.connections = counters.connections;
  m.load.websockets = counters.websockets;
  struct statvfs fs {};
  if (::statvfs(options_.data_dir.c_str(), &fs) == 0) {
    m.disk_free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    m.disk_total_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
  }
  m.health = m.disk_free_bytes < kLowDiskBytes ? Health::kDegraded : Health::kLive;
  std::lock_guard lock(mu_);
  if (draining_) m.health = Health::kDraining;
  const double cpu_seconds = process_cpu_seconds();
  if (last_sample_ms_ > 0 && m.updated_at > last_sample_ms_ && counters.bytes_sent >= last_bytes_) {
    bytes_per_second_ = static_cast<std::int64_t>((counters.bytes_sent - last_bytes_) * 1000 /
                                                  static_cast<std::uint64_t>(m.updated_at - last_sample_ms_));
    const auto cores = static_cast<double>(usable_cores());
    cpu_ = std::clamp((cpu_seconds - last_cpu_seconds_) * 1000.0 / static_cast<double>(m.updated_at - last_sample_ms_) /
                          cores,
                      0.0, 1.0);
  }
  last_cpu_seconds_ = cpu_seconds;
  last_bytes_ = counters.bytes_sent;
  last_sample_ms_ = m.updated_at;
  m.load.bytes_per_second = bytes_per_second_;
  m.load.cpu = cpu_;
  m.advertise = advertise_;
  return m;
}

Status Membership::register_self() {
  auto lease = store_.lease_grant(ttl_seconds(options_.ttl));
  if (!lease) return lease.status();
  {
    std::lock_guard lock(mu_);
    lease_ = *lease;
  }
  auto record = self_record();
  auto put = store_.put(kMembersPrefix + options_.node_id,
                        boost::json::serialize(member_to_json(record)), *lease);
  if (!put) return put.status();
  return Status::ok();
}

Status Membership::start(const std::string& advertise) {
  {
    std::lock_guard lock(mu_);
    advertise_ = advertise;
  }
  if (auto s = register_self(); !s) return s;
  renew_now();
  spdlog::info("joined the cluster as node {} ({}), member lease {} s", options_.node_id, advertise,
               ttl_seconds(options_.ttl));
  thread_ = std::thread([this] { renew_loop(); });
  return Status::ok();
}

void Membership::stop() {
  {
    std::lock_guard lock(renew_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  LeaseId lease = this->lease();
  if (lease != 0) {
    if (auto s = store_.lease_revoke(lease); s) {
      spdlog::info("left the cluster (lease revoked)");
    } else {
      spdlog::warn("could not revoke the member lease ({}); the others will drop this node within {} ms",
                   s.to_string(), options_.ttl.count());
    }
  }
}

void Membership::renew_now() {
  std::lock_guard renew_lock(renew_mu_);
  LeaseId lease = this->lease();
  bool rejoined = false;
  auto alive = store_.lease_keepalive(lease);
  if (!alive && alive.code() == Code::kNotFound) {
    spdlog::warn("the member lease expired (this node was paused or cut off for longer than {} ms); "
                 "joining again", options_.ttl.count());
    if (auto s = register_self(); !s) {
      spdlog::warn("cannot join again yet: {}", s.to_string());
      return;
    }
    rejoined = true;
    lease = this->lease();
  } else if (!alive) {
    std::lock_guard lock(mu_);
    if (!renew_failing_) spdlog::warn("cannot renew the member lease: {}", alive.to_string());
    renew_failing_ = true;
    return;
  }

  auto record = self_record();
  auto put = store_.put(kMembersPrefix + options_.node_id,
                        boost::json::serialize(member_to_json(record)), lease);
  // Lead if nobody does (unless draining); the key lives and dies with
  // this node's lease.
  const bool leaving = draining();
  if (leaving) {
    // A draining node hands leadership on: the next renewal of another
    // node claims it.
    if (auto held = store_.get(kLeaderKey); held && held->value == options_.node_id) {
      if (auto released = store_.txn({Compare::mod_revision_equals(kLeaderKey, held->mod_revision)},
                                     {Op::del(kLeaderKey)});
          released && released->succeeded) {
        spdlog::info("draining: gave up leading the cluster");
      }
    }
  }
  auto claim = leaving ? store_.txn({Compare::exists(kLeaderKey)}, {})
                       : store_.txn({Compare::absent(kLeaderKey)}, {Op::put(kLeaderKey, options_.node_id, lease)});
  // Only a claim that failed leaves the leader to be read.
  std::optional<std::string> leader;
  Status leader_read;
  if (claim && claim->succeeded && !leaving) {
    leader = options_.node_id;
  } else if (claim) {
    auto leader_kv = store_.get(kLeaderKey);
    if (leader_kv) {
      leader = leader_kv->value;
    } else if (leader_kv.status().code() != Code::kNotFound) {
      leader_read = leader_kv.status();
    }
  }
  auto range = store_.range(kMembersPrefix);
  if (!put || !claim || !range || !leader_read) {
    std::lock_guard lock(mu_);
    if (!renew_failing_) spdlog::warn("cannot refresh the member list; keeping the last one");
    renew_failing_ = true;
    return;
  }
  auto members = members_from(*range, record);

  std::function<void()> on_rejoin;
  {
    std::lock_guard lock(mu_);
    if (renew_failing_) spdlog::info("member lease renewed again");
    renew_failing_ = false;
    auto names = [](const std::vector<Member>& list) {
      std::vector<std::string> ids;
      for (const auto& m : list) ids.push_back(m.id);
      return ids;
    };
    const auto before = names(members_), after = names(members);
    if (!members_.empty() && before != after) {
      for (const auto& id : after) {
        if (std::find(before.begin(), before.end(), id) == before.end()) spdlog::info("node {} joined", id);
      }
      for (const auto& id : before) {
        if (std::find(after.begin(), after.end(), id) == after.end()) spdlog::info("node {} left", id);
      }
    }
    if (leader != leader_) {
      if (leader == options_.node_id) {
        spdlog::info("this node is now the leader");
      } else if (leader_ == options_.node_id) {
        spdlog::info("this node is no longer the leader");
      }
    }
    members_ = std::move(members);
    leader_ = std::move(leader);
    if (rejoined) on_rejoin = on_rejoin_;
  }
  if (on_rejoin) on_rejoin();
  check_drain_request();
}

void Membership::check_drain_request() {
  std::function<void()> on_drain;
  {
    std::lock_guard lock(mu_);
    if (drain_requested_ || !on_drain_requested_) return;
  }
  auto request = store_.get(kDrainPrefix + options_.node_id);
  if (!request) return;  // none (kNotFound), or the store did not answer: next renewal
  {
    std::lock_guard lock(mu_);
    if (drain_requested_) return;
    drain_requested_ = true;
    on_drain = on_drain_requested_;
  }
  spdlog::info("a drain of this node was requested ({})", request->value);
  on_drain();
}

void Membership::start_draining() {
  {
    std::lock_guard lock(mu_);
    if (draining_) return;
    draining_ = true;
    drain_requested_ = true;
  }
  spdlog::info("draining: this node takes no new uploads, copies, listeners or redirects");
  renew_now();
}

bool Membership::draining() const {
  std::lock_guard lock(mu_);
  return draining_;
}

void Membership::set_on_drain_requested(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  on_drain_requested_ = std::move(callback);
}

Status Membership::request_drain(const std::string& id, const std::string& requested_by) {
  const auto members = current_members();
  const auto target = std::find_if(members.begin(), members.end(), [&](const Member& m) { return m.id == id; });
  if (target == members.end()) return not_found("node " + id + " is not a live member");
  const auto staying = std::count_if(members.begin(), members.end(),
                                     [&](const Member& m) { return m.id != id && in_service(m); });
  if (staying == 0) {
    return failed_precondition("node " + id + " is the only member in service; draining it would leave no node "
                               "to take its listeners and copies");
  }
  boost::json::object request{{"by", requested_by}, {"at", clock_.now_ms()}};
  auto put = store_.put(kDrainPrefix + id, boost::json::serialize(request));
  if (!put) return put.status();
  spdlog::info("asked node {} to drain (for {})", id, requested_by);
  return Status::ok();
}

void Membership::clear_drain_request() {
  if (auto del = store_.del(kDrainPrefix + options_.node_id); !del) {
    spdlog::warn("could not remove this node's drain request: {}", del.status().to_string());
  }
}

void Membership::renew_loop() {
  const auto period = renew_period(options_.ttl);
  std::unique_lock lock(renew_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, period, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    renew_now();
    lock.lock();
  }
}

}  // namespace hifi::cluster
