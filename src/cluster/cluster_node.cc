#include "cluster/cluster_node.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/random.h"

namespace hifi::cluster {

ClusterNode::ClusterNode(MetaStore& store, BlobStore& blobs, Catalog& catalog, const Clock& clock,
                         ClusterOptions options, Membership::LoadSampler sampler)
    : options_(std::move(options)),
      clock_(clock),
      auth_(options_.node_id, options_.secret),
      peers_(auth_, clock, options_.peer),
      membership_(store, clock,
                  MembershipOptions{options_.node_id, options_.version, options_.data_dir,
                                    options_.member_ttl},
                  std::move(sampler)),
      replicator_(store, blobs, membership_, peers_, clock, options_.replicas),
      staged_(clock, options_.staged),
      maintenance_(store, blobs, catalog, membership_, replicator_, peers_, staged_, clock,
                   options_.maintenance),
      store_(store) {}

ClusterNode::~ClusterNode() { stop(); }

Status ClusterNode::start(const std::string& advertise) {
  auto provisioner = make_provisioner(options_.provisioner, membership_);
  if (!provisioner) return provisioner.status();
  if (auto s = membership_.start(advertise); !s) return s;
  maintenance_.start();
  autoscaler_ = std::make_unique<Autoscaler>(store_, membership_, clock_, options_.scale, std::move(*provisioner));
  autoscaler_->start();
  return Status::ok();
}

void ClusterNode::stop() {
  if (autoscaler_) autoscaler_->stop();
  maintenance_.stop();
  membership_.stop();
}

std::string ClusterNode::render_metrics() const {
  const auto& m = maintenance_.counters();
  const auto& r = replicator_.counters();
  std::string out;
  auto gauge = [&](const char* name, const char* help, auto value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, value);
  };
  auto counter = [&](const char* name, const char* help, auto value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
  };
  // A counter with a `result` label and two values.
  auto by_result = [&](const char* name, const char* help, const char* first, auto first_value,
                       const char* second, auto second_value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0}{{result=\"{2}\"}} {3}\n{0}{{result=\"{4}\"}} {5}\n",
                       name, help, first, first_value, second, second_value);
  };
  gauge("hifi_cluster_members", "Live members of the cluster, as this node sees them.",
        membership_.members().size());
  gauge("hifi_is_leader", "1 when this node leads repair.", membership_.is_leader() ? 1 : 0);
  gauge("hifi_replication_factor", "Copies wanted of every song (R).", replicator_.replication_factor());
  gauge("hifi_under_replicated_blobs",
        "Referenced blobs with fewer live copies than wanted after the last repair pass (leader only).",
        m.under_replicated.load());
  gauge("hifi_blobs_without_live_copy", "Referenced blobs no live node holds (leader only).",
        m.without_live_copy.load());
  counter("hifi_replica_pushes_total", "Copies this node sent to another node.", r.pushes_ok.load());
  counter("hifi_replica_push_failures_total", "Copies to another node that failed.", r.pushes_failed.load());
  by_result("hifi_replica_streamed_copies_total",
            "Copies streamed to another node while an upload arrived, by whether that node could commit them "
            "(failed ones were sent again after the commit).",
            "ok", r.streamed_ok.load(), "failed", r.streamed_failed.load());
  gauge("hifi_staged_copies", "Copies of other nodes' uploads in progress held here, not yet committed.",
        staged_.size());
  counter("hifi_repair_passes_total", "Repair passes run as leader.", m.repair_passes.load());
  by_result("hifi_repair_copies_total", "Copies the repair leader arranged, by result.", "ok",
            m.repair_copies_ok.load(), "failed", m.repair_copies_failed.load());
  by_result("hifi_repair_trims_total", "Copies above R the repair leader had dropped, by result.", "ok",
            m.repair_trims_ok.load(), "failed", m.repair_trims_failed.load());
  counter("hifi_replica_records_forgotten_total",
          "Replica records of nodes gone longer than --forget-dead-after, dropped by the repair leader.",
          m.records_forgotten.load());
  by_result("hifi_scrub_blobs_total", "Copies re-hashed by the scrubber, by result.", "ok", m.scrubbed_ok.load(),
            "corrupt", m.scrubbed_corrupt.load());
  counter("hifi_gc_blobs_removed_total", "Unreferenced blobs removed from this node.", m.gc_removed.load());
  counter("hifi_replica_index_fixes_total", "Replica index records added or dropped by maintenance.",
          m.index_fixed.load());
  if (autoscaler_) out += autoscaler_->render_metrics();
  return out;
}

std::string load_or_create_node_id(const std::string& data_dir) {
  const std::string path = data_dir + "/node-id";
  std::ifstream in(path);
  if (in) {
    std::string id;
    in >> id;
    const bool valid = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (!valid) throw std::runtime_error(path + " does not hold a node id (letters, digits, - and _)");
    return id;
  }
  std::string id = random_hex(8);
  const std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const std::string line = id + "\n";
  bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot write " + path);
  }
  int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return id;
}

}  // namespace hifi::cluster
