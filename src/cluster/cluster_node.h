// ClusterNode: this node's part in a HiFi cluster, put together: membership
// (lease, member list, leader), the blob replica index and replication,
// node-to-node authentication, and the maintenance passes.
//
// A single node (embedded SQLite store) runs the same code: it is a cluster
// of one, so GET /api/v1/cluster and song replicas read the same way.
//
// Lifecycle: construct before the HTTP server (handlers hold a reference),
// start() once the server is bound (its URL is advertised), stop() after the
// server stopped. Thread-safety: all accessors are thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "blob/blob_store.h"
#include "cluster/autoscaler.h"
#include "cluster/maintenance.h"
#include "cluster/membership.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_client.h"
#include "cluster/replicator.h"
#include "cluster/staged_copies.h"
#include "library/catalog.h"
#include "store/meta_store.h"

namespace hifi::cluster {

struct ClusterOptions {
  std::string node_id;
  std::string version;
  std::string data_dir;
  std::string secret;  // empty: no peers can authenticate (single node)
  int replicas = 3;
  std::chrono::milliseconds member_ttl{5000};
  MaintenanceOptions maintenance;
  PeerClientOptions peer;
  // Dynamic scaling (decided on the leader; see Autoscaler).
  AutoscalerOptions scale;
  ProvisionerOptions provisioner;
  // Copies of uploads streamed here by other nodes, until they decide.
  StagedCopiesOptions staged;
};

class ClusterNode {
 public:
  ClusterNode(MetaStore& store, BlobStore& blobs, Catalog& catalog, const Clock& clock,
              ClusterOptions options, Membership::LoadSampler sampler);
  ~ClusterNode();

  // Joins (advertising this base URL) and starts maintenance and the
  // autoscaler. Fails when the store does not answer or the provisioner
  // cannot be used.
  Status start(const std::string& advertise);
  // Stops maintenance and leaves. Idempotent.
  void stop();

  const ClusterOptions& options() const { return options_; }
  Membership& membership() { return membership_; }
  const Membership& membership() const { return membership_; }
  Replicator& replicator() { return replicator_; }
  StagedCopies& staged_copies() { return staged_; }
  Maintenance& maintenance() { return maintenance_; }
  // Null before start().
  Autoscaler* autoscaler() { return autoscaler_.get(); }
  const Autoscaler* autoscaler() const { return autoscaler_.get(); }
  const PeerAuth& auth() const { return auth_; }
  const PeerClient& peers() const { return peers_; }
  // The clock peer headers are made and checked with.
  const Clock& clock() const { return clock_; }

  // Prometheus text for the cluster's gauges and counters.
  std::string render_metrics() const;

 private:
  const ClusterOptions options_;
  const Clock& clock_;
  PeerAuth auth_;
  PeerClient peers_;
  Membership membership_;
  Replicator replicator_;
  StagedCopies staged_;
  Maintenance maintenance_;
  MetaStore& store_;
  std::unique_ptr<Autoscaler> autoscaler_;
};

// This node's id: read from <data_dir>/node-id, or created there (16 random
// hex digits, fsynced) on first start. Throws std::runtime_error when the
// file cannot be read or written (a start-up failure).
std::string load_or_create_node_id(const std::string& data_dir);

}  // namespace hifi::cluster
