// HttpServer: HiFi's HTTP/1.1 front end (Boost.Beast on Asio, C++20
// coroutines). Each connection is one coroutine on one network thread (an
// io_context per thread, so no strands); blocking
// work (SQLite, fsync, Argon2id, audio probing) runs on a separate worker
// pool so the network threads never wait on disk.
//
// Limits on every connection: header size, body size, time to send a header,
// idle time between body pieces, keep-alive idle time, one request at a time
// (pipelined requests wait in a bounded buffer), a cap on connections and one
// on the connections of each client address (over it: 503 and close).
//
// With --tls-cert and --tls-key every connection is TLS (HTTPS and WSS; a
// handshake within the header timeout), else in the clear.
//
// Lifecycle: start() binds and starts the threads; shutdown() (any thread,
// idempotent) stops accepting, lets in-flight requests finish for the grace
// period, then aborts the rest (an aborted upload leaves nothing behind);
// wait() returns when all threads are done.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "blob/blob_store.h"
#include "blob/transcode_cache.h"
#include "cluster/cluster_node.h"
#include "common/clock.h"
#include "common/concurrency_limit.h"
#include "common/per_key_limit.h"
#include "library/accounts.h"
#include "library/annotations.h"
#include "library/catalog.h"
#include "library/client_credentials.h"
#include "library/play_queues.h"
#include "library/playlists.h"
#include "library/shares.h"
#include "room/room_service.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/signed_url.h"
#include "server/store_probe.h"
#include "store/meta_store.h"

namespace hifi {

class RoomHub;

struct Services {
  MetaStore& store;
  BlobStore& blobs;
  AccountService& accounts;
  ClientCredentials& credentials;
  Catalog& catalog;
  room::RoomService& rooms;
  RoomHub& hub;
  Metrics& metrics;
  const UrlSigner& signer;
  const Clock& clock;
  cluster::ClusterNode& cluster;
  TranscodeCache& transcodes;
  ConcurrencyLimit& transcode_slots;
  // What users do with the library: stars, ratings, plays; playlists; saved
  // play queues and bookmarks; public shares.
  Annotations& annotations;
  Playlists& playlists;
  PlayQueues& play_queues;
  Shares& shares;
  // Room WebSockets open on this node per user id
  // (--max-websockets-per-user).
  PerKeyLimit& websocket_slots;
  // /healthz's view of whether the store answers (cached briefly).
  StoreProbe& store_probe;
};

class HttpServer {
 public:
  HttpServer(const ServerConfig& config, Services services);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Throws std::runtime_error when the address cannot be bound (start-up).
  void start();
  // The bound port (useful with port 0).
  std::uint16_t port() const;
  // Whether connections speak TLS (--tls-cert and --tls-key).
  bool tls() const;
  // Reads --tls-cert and --tls-key again (SIGHUP): new connections get the
  // new certificate, open ones keep theirs. On failure the current one
  // stays and the error says why. Without TLS: kFailedPrecondition.
  Status reload_certificate();

  // Draining (a node that leaves the cluster): requests that begin from now
  // on get 503 "draining" with `member`, the base URL of a node to use
  // instead (from `alternative`; omitted when it gives ""), except health,
  // metrics, the cluster view, the node-to-node API and the web app's
  // files. Requests in flight finish. Any thread; once.
  void start_draining(std::function<std::string()> alternative);
  // Requests being answered now (open WebSockets included).
  std::size_t in_flight() const;
  void shutdown();
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hifi
