// The cluster MetaStore backend: a client of an etcd (v3.4+) cluster that
// speaks the v3 API through etcd's HTTP/JSON gateway (/v3/kv/*, /v3/watch,
// /v3/lease/*), so no gRPC stack is needed.
//
// Mapping onto the MetaStore model (src/store/meta_store.h)
//  - Revisions, create/mod revisions, versions and leases are etcd's own.
//    etcd's revision counter is shared by the whole cluster (and by every
//    namespace in it) and starts at 1, not 0.
//  - txn(): the ops are first reduced to their net effect per key, because
//    etcd rejects a transaction that touches a key twice. As a consequence a
//    key that one txn deletes and then puts again keeps its create_revision
//    (etcd sees one overwrite), where the SQLite backend starts a new life.
//    etcd limits a txn to --max-txn-ops operations (default 128); a delete of
//    a prefix costs one operation plus one per key put under that prefix in
//    the same txn.
//  - watch(): one HTTP stream and one thread per watch. Events are delivered
//    one revision per response, sorted by key. When the member serving the
//    stream fails, the watch reconnects to another endpoint and resumes from
//    the revision after the last one delivered, so there are no gaps or
//    duplicates. It ends with kCompacted when etcd has compacted the history
//    it needs, and with kUnavailable when no endpoint accepted it for
//    EtcdOptions::watch_retry_limit.
//  - Unary calls go to the endpoint that last answered and fail over to the
//    others on network errors. A write whose request was sent but whose
//    answer was lost is not retried (it may have been applied); it returns
//    kUnavailable, as do etcd's own "request timed out" and "no leader".
//  - Leases: etcd raises a TTL below its minimum (1.5 election timeouts,
//    2 s with default settings) to that minimum.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "store/meta_store.h"

namespace hifi {

struct EtcdOptions {
  // Prepended to every key sent to etcd and stripped from every key
  // returned, so several stores can share one cluster. Usually ends in '/'.
  // Revisions and leases are not namespaced.
  std::string key_namespace;
  std::chrono::milliseconds connect_timeout{2000};
  // Deadline of one request to one member. etcd itself gives up on a write
  // after 5 s + 2 election timeouts (7 s with default settings).
  std::chrono::milliseconds request_timeout{10000};
  // A connection kept for the next request is closed once it has not been
  // used for this long (at the next request). Connections are kept only to
  // the member asked first; those to the others are closed when it changes.
  std::chrono::milliseconds idle_timeout{10000};
  // A watch that cannot reach any member for this long ends with kUnavailable.
  std::chrono::milliseconds watch_retry_limit{30000};
  // For https:// endpoints: the authority etcd's certificates chain to
  // (empty: the system's trust store), and the client certificate and key
  // for an etcd that asks for one (--client-cert-auth).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// Opens a client of the etcd cluster with these client URLs
// ("http://host:port", "https://host:port" or "host:port"). Fails with
// kInvalidArgument on a malformed endpoint and kUnavailable when no endpoint
// answers.
Result<std::unique_ptr<MetaStore>> open_etcd_meta_store(const std::vector<std::string>& endpoints,
                                                        const EtcdOptions& options);
Result<std::unique_ptr<MetaStore>> open_etcd_meta_store(const std::vector<std::string>& endpoints);

}  // namespace hifi
