#include "cluster/autoscaler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

namespace hifi::cluster {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kFirstBackoff = 5s;
constexpr auto kMaxBackoff = std::chrono::milliseconds(5min);
// How often a node that does not lead re-reads the published decision, and
// the leader rewrites an unchanged one.
constexpr std::int64_t kRefreshMs = 5000;

std::int64_t int_of(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Autoscaler::Autoscaler(MetaStore& store, Membership& membership, const Clock& clock, AutoscalerOptions options,
                       std::unique_ptr<Provisioner> provisioner)
    : store_(store),
      membership_(membership),
      clock_(clock),
      options_(options),
      provisioner_(provisioner ? std::move(provisioner) : make_no_provisioner()),
      policy_(options.policy) {}

Autoscaler::~Autoscaler() { stop(); }

void Autoscaler::start() {
  if (!options_.policy.enabled() && std::string(provisioner_->kind()) == "none") return;
  thread_ = std::thread([this] { loop(); });
}

void Autoscaler::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Autoscaler::loop() {
  std::unique_lock lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, options_.interval, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

json::object Autoscaler::read_record() {
  auto kv = store_.get(kScaleKey);
  if (!kv) return {};
  boost::system::error_code ec;
  auto v = json::parse(kv->value, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

void Autoscaler::write_record(const json::object& record) {
  if (auto put = store_.put(kScaleKey, json::serialize(record)); !put) {
    spdlog::warn("scale: cannot publish the decision: {}", put.status().to_string());
    return;
  }
  last_written_ms_ = clock_.now_ms();
}

void Autoscaler::tick() {
  const auto now = clock_.now_ms();
  if (!membership_.is_leader() || membership_.draining()) {
    if (was_leader_) {
      policy_.reset();  // should it lead again, its windows start afresh
      was_leader_ = false;
    }
    // Follow the leader's published decision (for /api/v1/cluster here).
    if (now - last_written_ms_ >= kRefreshMs) {
      last_written_ms_ = now;
      auto record = read_record();
      if (!record.empty()) {
        counters_.wanted = int_of(record, "wanted");
        counters_.current = int_of(record, "current");
        std::lock_guard lock(mu_);
        published_ = std::move(record);
      }
    }
    return;
  }
  // The record: the store's when this node starts leading (an action the
  // last leader left pending), then its own, which nobody else writes.
  json::object record;
  if (!was_leader_) {
    spdlog::info("scale: this node decides the cluster's size now (it leads)");
    record = read_record();
  } else {
    std::lock_guard lock(mu_);
    if (published_) record = *published_;
  }
  was_leader_ = true;

  const auto members = membership_.current_members();
  const auto d = policy_.decide(members, steady_ms());
  const auto before_wanted = int_of(record, "wanted");
  const auto before_current = int_of(record, "current");

  // An action in flight (maybe the last leader's) holds further actions
  // until the member list shows it or it times out.
  bool pending = false;
  if (auto* p = record.if_contains("pending"); p && p->is_object()) {
    const auto& action = p->as_object();
    const auto target = int_of(action, "target");
    const bool adding = action.if_contains("action") && action.at("action") == "add";
    const bool reached = adding ? d.current >= target : d.current <= target;
    if (reached) {
      spdlog::info("scale: done: {} node(s) in service", d.current);
    } else if (now >= int_of(action, "until")) {
      spdlog::warn("scale: {} toward {} node(s) did not show within {} s; deciding again", adding ? "adding" : "draining",
                   target, options_.action_timeout.count() / 1000);
    } else {
      pending = true;
    }
  }
  const auto draining = std::count_if(members.begin(), members.end(), [](const Member& m) { return !in_service(m); });
  std::optional<json::object> action;
  if (!pending && std::string(provisioner_->kind()) != "none" && std::chrono::steady_clock::now() >= next_action_) {
    Status s;
    bool tried = false;
    if (d.wanted > d.current) {
      tried = true;
      s = provisioner_->add(d.wanted - d.current, d.wanted, d.current);
      (s ? counters_.adds_ok : counters_.adds_failed)++;
      if (s) action = json::object{{"action", "add"}, {"target", d.wanted}};
    } else if (d.wanted < d.current && draining == 0) {
      // The least loaded node in service other than this one (the newest
      // of equals): the fewest listeners and streams move.
      const Member* victim = nullptr;
      for (const auto& m : members) {
        if (!in_service(m) || m.id == membership_.self_id()) continue;
        auto weight = [](const Member& x) { return x.load.websockets + x.load.active_streams; };
        if (!victim || weight(m) < weight(*victim) ||
            (weight(m) == weight(*victim) && m.started_at > victim->started_at)) {
          victim = &m;
        }
      }
      if (victim) {
        tried = true;
        s = provisioner_->remove(*victim, d.wanted, d.current);
        (s ? counters_.removes_ok : counters_.removes_failed)++;
        if (s) action = json::object{{"action", "remove"}, {"target", d.current - 1}, {"node", victim->id}};
      }
    }
    if (tried && !s) {
      backoff_ = backoff_.count() == 0 ? std::chrono::duration_cast<std::chrono::milliseconds>(kFirstBackoff)
                                       : std::min(backoff_ * 2, kMaxBackoff);
      next_action_ = std::chrono::steady_clock::now() + backoff_;
      spdlog::error("scale: the {} provisioner failed: {}; trying again in {} s", provisioner_->kind(), s.message(),
                    backoff_.count() / 1000);
    } else if (tried) {
      backoff_ = 0ms;
    }
  }
  if (action) {
    (*action)["until"] = now + options_.action_timeout.count();
    (*action)["at"] = now;
    record["pending"] = std::move(*action);
  } else if (!pending) {
    record.erase("pending");
  }
  const bool changed = d.wanted != before_wanted || d.current != before_current;
  if (changed) {
    record["last_change"] = now;
    spdlog::info("scale: want {} node(s): {}", d.wanted, d.reason);
  }
  record["wanted"] = d.wanted;
  record["current"] = d.current;
  record["desired"] = d.desired;
  record["reason"] = d.reason;
  record["by"] = membership_.self_id();
  record["provisioner"] = provisioner_->kind();
  if (changed || action || now - last_written_ms_ >= kRefreshMs || (!pending && before_wanted == 0)) {
    write_record(record);
  }
  counters_.wanted = d.wanted;
  counters_.current = d.current;
  std::lock_guard lock(mu_);
  published_ = std::move(record);
}

std::optional<json::object> Autoscaler::published() const {
  std::lock_guard lock(mu_);
  return published_;
}

std::string Autoscaler::render_metrics() const {
  std::string out;
  out += "# HELP hifi_cluster_wanted_nodes Nodes the autoscaler wants (0: no decision yet).\n";
  out += "# TYPE hifi_cluster_wanted_nodes gauge\n";
  out += fmt::format("hifi_cluster_wanted_nodes {}\n", counters_.wanted.load());
  out += "# HELP hifi_cluster_nodes_in_service Members in service (not draining) at the last decision.\n";
  out += "# TYPE hifi_cluster_nodes_in_service gauge\n";
  out += fmt::format("hifi_cluster_nodes_in_service {}\n", counters_.current.load());
  out += "# HELP hifi_cluster_scale_actions_total Nodes the provisioner was asked to add or remove, by result.\n";
  out += "# TYPE hifi_cluster_scale_actions_total counter\n";
  out += fmt::format("hifi_cluster_scale_actions_total{{action=\"add\",result=\"ok\"}} {}\n", counters_.adds_ok.load());
  out += fmt::format("hifi_cluster_scale_actions_total{{action=\"add\",result=\"failed\"}} {}\n",
                     counters_.adds_failed.load());
  out += fmt::format("hifi_cluster_scale_actions_total{{action=\"remove\",result=\"ok\"}} {}\n",
                     counters_.removes_ok.load());
  out += fmt::format("hifi_cluster_scale_actions_total{{action=\"remove\",result=\"failed\"}} {}\n",
                     counters_.removes_failed.load());
  return out;
}

}  // namespace hifi::cluster
