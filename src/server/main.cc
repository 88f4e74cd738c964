// hifi-server: one HiFi node. See --help.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "blob/blob_store.h"
#include "common/random.h"
#include "library/accounts.h"
#include "library/catalog.h"
#include "server/config.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/room_hub.h"
#include "room/room_service.h"
#include "server/signed_url.h"
#include "store/meta_store.h"
#include "store/etcd/etcd_meta_store.h"

namespace {

// The web UI's folder when --web-root is not given: installed next to the
// binary (../share/hifi/web), or the source tree's web/ for a build tree.
std::string find_web_root() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& candidate : {exe.parent_path() / "../share/hifi/web", exe.parent_path() / "../../../web",
                                exe.parent_path() / "../../web"}) {
    if (std::filesystem::exists(candidate / "index.html", ec)) {
      return std::filesystem::canonical(candidate, ec).string();
    }
  }
  return {};
}

// The URL this node is reached at when --advertise is not given: the listen
// address, or this machine's name when listening on every address.
std::string default_advertise(const std::string& host, std::uint16_t port) {
  std::string name = host;
  if (host == "0.0.0.0" || host == "::") {
    char buf[256] = {};
    name = ::gethostname(buf, sizeof buf - 1) == 0 && buf[0] ? buf : "localhost";
  } else if (host.find(':') != std::string::npos) {
    name = "[" + host + "]";
  }
  return "http://" + name + ":" + std::to_string(port);
}

int run(hifi::ServerConfig config) {
  if (config.web_root.empty()) config.web_root = find_web_root();
  hifi::init_crypto();
  std::filesystem::create_directories(config.data_dir);
  const auto data_dir = std::filesystem::canonical(config.data_dir).string();

  // Signals are taken synchronously by this thread (sigwait below); block
  // them before any other thread starts so that none of them gets one.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  hifi::Metrics metrics;
  hifi::Result<std::unique_ptr<hifi::MetaStore>> store_or = hifi::internal_error("no store");
  if (config.etcd_endpoints.empty()) {
    store_or = hifi::open_sqlite_meta_store(data_dir + "/meta.db");
  } else {
    hifi::EtcdOptions etcd;
    etcd.key_namespace = config.etcd_namespace;
    store_or = hifi::open_etcd_meta_store(config.etcd_endpoints, etcd);
  }
  if (!store_or) {
    spdlog::critical("cannot open the metadata store: {}", store_or.status().to_string());
    return 1;
  }
  auto store = hifi::instrument_meta_store(std::move(*store_or), metrics);
  hifi::BlobStore blobs(data_dir);
  if (auto removed = blobs.cleanup_temporaries(); removed > 0) {
    spdlog::info("removed {} unfinished upload(s) left by an earlier run", removed);
  }
  // Nodes of a cluster must agree on the signing key.
  hifi::UrlSigner signer(config.cluster_secret.empty() ? hifi::load_or_create_secret(data_dir + "/url-secret")
                                                       : hifi::cluster_signing_key(config.cluster_secret));

  hifi::AccountOptions account_options;
  account_options.registration = config.registration;
  account_options.token_ttl_ms = config.token_ttl_ms;
  hifi::AccountService accounts(*store, hifi::SystemClock::instance(), account_options);
  hifi::Catalog catalog(*store, blobs, hifi::SystemClock::instance());
  if (auto s = catalog.start(); !s) {
    spdlog::critical("cannot load the library: {}", s.to_string());
    return 1;
  }

  hifi::cluster::ClusterOptions cluster_options;
  cluster_options.node_id = config.node_id.empty() ? hifi::cluster::load_or_create_node_id(data_dir) : config.node_id;
  cluster_options.version = "0.1.0";
  cluster_options.data_dir = data_dir;
  cluster_options.secret = config.cluster_secret;
  cluster_options.replicas = config.replicas;
  cluster_options.member_ttl = std::chrono::milliseconds(config.member_ttl_ms);
  cluster_options.maintenance.repair_interval = std::chrono::milliseconds(config.repair_interval_ms);
  cluster_options.maintenance.scrub_interval = std::chrono::milliseconds(config.scrub_interval_ms);
  cluster_options.maintenance.gc_grace = std::chrono::milliseconds(config.gc_grace_ms);
  hifi::cluster::ClusterNode cluster(*store, blobs, catalog, hifi::SystemClock::instance(), cluster_options,
                                     [&metrics] { return metrics.load_counters(); });
  catalog.set_replication(&cluster.replicator());

  hifi::room::RoomService rooms(*store, hifi::SystemClock::instance());
  hifi::RoomHub hub(rooms);
  rooms.set_listener([&hub](const hifi::room::RoomEvent& e) { hub.on_event(e); });
  if (auto s = rooms.start(); !s) {
    spdlog::critical("cannot load the rooms: {}", s.to_string());
    return 1;
  }

  hifi::Services services{*store,  blobs,  accounts, catalog, rooms, hub, metrics,
                          signer, hifi::SystemClock::instance(), cluster};
  hifi::HttpServer server(config, services);
  server.start();
  spdlog::info("hifi-server 0.1.0 listening on http://{}:{}", config.listen_host, server.port());
  const auto advertise =
      config.advertise.empty() ? default_advertise(config.listen_host, server.port()) : config.advertise;
  if (auto s = cluster.start(advertise); !s) {
    spdlog::critical("cannot join the cluster: {}", s.to_string());
    server.shutdown();
    server.wait();
    return 1;
  }
  hub.start_cluster_presence(*store, cluster.membership().self_id(),
                             [&cluster] { return cluster.membership().lease(); });
  cluster.membership().set_on_rejoin([&hub] { hub.republish_presence(); });
  spdlog::info("web UI {}", config.web_root.empty() ? "not found (give --web-root)" : "from " + config.web_root);
  spdlog::info("data in {} (store {}, {} songs, {} rooms), registration {}, {} threads", data_dir,
               store->describe(), catalog.size(), rooms.list().size(),
               hifi::registration_mode_name(config.registration), config.threads);
  spdlog::info("node {} advertised as {}, {} copies of every song, reads of songs held elsewhere: {}",
               cluster.membership().self_id(), advertise, config.replicas, config.read_mode);

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received {}: finishing in-flight requests (up to {} ms)",
               received == SIGINT ? "SIGINT" : "SIGTERM", config.shutdown_grace_ms);
  server.shutdown();
  server.wait();
  cluster.stop();
  rooms.stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  hifi::ServerConfig config;
  bool exit_now = false;
  int code = hifi::parse_server_config(argc, argv, config, exit_now);
  if (exit_now) return code;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  try {
    return run(config);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
