// Node: one HiFi node, assembled once from its configuration: metadata
// store, blob store, accounts, catalog, rooms, the room hub, cluster
// membership and maintenance, and the HTTP server, in the order they depend
// on each other. hifi-server runs it, and so do the integration tests, so
// the tests run what production runs (cluster presence and the rejoin hook
// included). Features that plug into every node (TLS, the transcoder, the
// autoscaler) plug in here.
//
// Lifecycle: open() builds and loads everything but does not listen;
// start() listens and joins the cluster; stop() (idempotent, also run by the
// destructor) finishes in-flight requests within the grace period and
// leaves. Not thread-safe itself: open, start and stop from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "library/accounts.h"
#include "room/room_service.h"
#include "server/config.h"
#include "store/meta_store.h"

namespace hifi {

class AccountService;
class Annotations;
class Playlists;
class PlayQueues;
class Shares;
class BlobStore;
class Catalog;
class ClientCredentials;
class HttpServer;
class Metrics;
class RoomHub;
class PlayCounter;
class Housekeeping;
class UrlSigner;
namespace cluster {
class ClusterNode;
}

struct NodeOptions {
  // Not owned. When set the node keeps its metadata here instead of opening
  // the store the config names (in-process clusters in tests share one).
  MetaStore* shared_store = nullptr;
  // The clock of accounts and the catalog; nullptr: the system clock.
  const Clock* clock = nullptr;
  // The clock of rooms, auto-advance and signed URLs; nullptr: `clock`.
  const Clock* room_clock = nullptr;
  // Login rate limits and invite lifetime. Registration mode and token
  // lifetime always come from the ServerConfig.
  AccountOptions accounts;
  // Auto-advance; song_lookup, the queue length and rooms per user are set
  // by the node from the ServerConfig.
  room::RoomServiceOptions rooms;
};

class Node {
 public:
  // Creates the data directory, opens the stores and loads the library and
  // the rooms. An error names what could not be opened.
  static Result<std::unique_ptr<Node>> open(ServerConfig config, NodeOptions options = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Listens (an error when the address cannot be bound or the TLS
  // certificate cannot be used),
  // joins the cluster advertising config.advertise (default: the listen
  // address and bound port, or the host name when listening on every
  // address) and starts cluster presence.
  Status start();
  // Stops accepting, lets in-flight requests finish, leaves the cluster and
  // stops the rooms. Idempotent.
  void stop();

  std::uint16_t port() const;           // after start()
  const std::string& advertise() const;  // after start()
  const ServerConfig& config() const;   // data_dir made absolute
  // Reads --tls-cert and --tls-key again (see HttpServer::reload_certificate).
  Status reload_certificate();

  // Leaves the cluster without anyone losing a song or a beat: the node
  // says "draining" (no new uploads, copies, listeners or redirects; it
  // stops leading), answers new requests 503 naming another member, tells
  // its room listeners to move there, lets requests in flight finish within
  // `grace`, hands every copy it holds over until the members in service
  // have copies_wanted of each, and drops its replica records. Blocks until
  // then (it keeps retrying copies that fail); afterwards stop() and
  // deleting the data directory lose nothing. kFailedPrecondition when no
  // other member is in service or a drain already began; kUnavailable when
  // stop() interrupted it.
  Status drain(std::chrono::milliseconds grace);
  // Called on the drain's own thread once a drain asked through the store
  // (POST /api/v1/cluster/members/{id}/drain, the autoscaler) finished.
  void set_on_drained(std::function<void()> callback);
  // HTTP requests being answered now (open WebSockets included).
  std::size_t requests_in_flight() const;

  MetaStore& store();
  BlobStore& blobs();
  AccountService& accounts();
  ClientCredentials& credentials();
  Catalog& catalog();
  Annotations& annotations();
  Playlists& playlists();
  PlayQueues& play_queues();
  Shares& shares();
  room::RoomService& rooms();
  RoomHub& hub();
  PlayCounter& play_counter();
  Housekeeping& housekeeping();
  cluster::ClusterNode& cluster();
  Metrics& metrics();

 private:
  struct Parts;
  explicit Node(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace hifi
