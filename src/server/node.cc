#include "server/node.h"

#include <sys/stat.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "blob/blob_store.h"
#include "cluster/cluster_node.h"
#include "common/byteranges.h"
#include "common/cores.h"
#include "common/random.h"
#include "library/catalog.h"
#include "library/client_credentials.h"
#include "library/annotations.h"
#include "library/play_queues.h"
#include "library/playlists.h"
#include "library/shares.h"
#include "media/seek_reads.h"
#include "server/http_server.h"
#include "server/housekeeping.h"
#include "server/play_counter.h"
#include "server/metrics.h"
#include "server/room_hub.h"
#include "server/signed_url.h"
#include "store/etcd/etcd_meta_store.h"
#include "store/sqlite/sqlite_meta_store.h"

namespace hifi {
using namespace std::chrono_literals;
namespace {

// The URL this node is reached at when --advertise is not given: the listen
// address, or this machine's name when listening on every address.
std::string default_advertise(const std::string& host, std::uint16_t port, bool tls) {
  std::string name = host;
  if (host == "0.0.0.0" || host == "::") {
    char buf[256] = {};
    name = ::gethostname(buf, sizeof buf - 1) == 0 && buf[0] ? buf : "localhost";
  } else if (host.find(':') != std::string::npos) {
    name = "[" + host + "]";
  }
  return (tls ? "https://" : "http://") + name + ":" + std::to_string(port);
}

// 127.0.0.0/8 and ::1: reached from this machine only.
bool is_loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

// The command line a node the local provisioner starts gets: this one's,
// without what must differ per node (it gets its own --listen, --data-dir
// and --advertise; its id comes from its data directory).
std::vector<std::string> spawned_node_args(const std::vector<std::string>& argv) {
  static const std::set<std::string> own = {"--listen", "--data-dir", "--advertise", "--node-id"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& a = argv[i];
    const auto name = a.substr(0, a.find('='));
    if (own.count(name)) {
      if (a.find('=') == std::string::npos) ++i;  // its value is the next argument
      continue;
    }
    out.push_back(a);
  }
  return out;
}

cluster::ClusterOptions cluster_options(const ServerConfig& config) {
  cluster::ClusterOptions options;
  options.node_id = config.node_id.empty() ? cluster::load_or_create_node_id(config.data_dir) : config.node_id;
  options.version = "0.1.0";
  options.data_dir = config.data_dir;
  options.secret = config.cluster_secret;
  options.replicas = config.replicas;
  options.member_ttl = std::chrono::milliseconds(config.member_ttl_ms);
  options.maintenance.repair_interval = std::chrono::milliseconds(config.repair_interval_ms);
  options.maintenance.scrub_interval = std::chrono::milliseconds(config.scrub_interval_ms);
  options.maintenance.gc_grace = std::chrono::milliseconds(config.gc_grace_ms);
  options.maintenance.forget_dead_after = std::chrono::milliseconds(config.forget_dead_after_ms);
  auto& scale = options.scale.policy;
  scale.min_nodes = config.scale_min;
  scale.max_nodes = config.scale_max;
  scale.target_listeners = config.scale_target_listeners;
  scale.target_streams = config.scale_target_streams;
  scale.target_cpu = config.scale_target_cpu;
  scale.up_window = std::chrono::milliseconds(config.scale_up_window_ms);
  scale.down_window = std::chrono::milliseconds(config.scale_down_window_ms);
  auto& p = options.provisioner;
  p.kind = config.scale_provisioner;
  p.first_port = config.scale_first_port;
  p.last_port = config.scale_last_port;
  p.listen_host = config.listen_host == "0.0.0.0" || config.listen_host == "::" ? "127.0.0.1" : config.listen_host;
  p.tls = !config.tls_cert_file.empty();
  p.local_dir = config.scale_local_dir;
  p.command = config.scale_command;
  p.node_args = spawned_node_args(config.argv);
  return options;
}

Result<std::unique_ptr<MetaStore>> open_store(const ServerConfig& config) {
  if (config.etcd_endpoints.empty()) {
    // Accounts and tokens live here: readable by this user only, whatever
    // the umask (SQLite gives its -wal and -shm files the same mode).
    const auto path = config.data_dir + "/meta.db";
    const bool created = !std::filesystem::exists(path);
    SqliteOptions options;
    options.history_bytes = static_cast<std::int64_t>(config.store_history_bytes);
    auto store = open_sqlite_meta_store(path, options);
    if (store && created) ::chmod(path.c_str(), 0600);
    return store;
  }
  EtcdOptions etcd;
  etcd.key_namespace = config.etcd_namespace;
  etcd.ca_file = config.etcd_ca_file;
  etcd.cert_file = config.etcd_cert_file;
  etcd.key_file = config.etcd_key_file;
  return open_etcd_meta_store(config.etcd_endpoints, etcd);
}

}  // namespace

// Members in construction order; destroyed in reverse.
struct Node::Parts {
  ServerConfig config;
  NodeOptions options;
  Metrics metrics;
  std::unique_ptr<MetaStore> owned_store;
  MetaStore* store = nullptr;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<TranscodeCache> transcodes;
  std::unique_ptr<ConcurrencyLimit> transcode_slots;
  std::unique_ptr<PerKeyLimit> websocket_slots;
  std::unique_ptr<UrlSigner> signer;
  std::unique_ptr<AccountService> accounts;
  std::unique_ptr<ClientCredentials> credentials;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<Annotations> annotations;
  std::unique_ptr<Playlists> playlists;
  std::unique_ptr<PlayQueues> play_queues;
  std::unique_ptr<Shares> shares;
  std::unique_ptr<cluster::ClusterNode> cluster;
  std::unique_ptr<room::RoomService> rooms;
  std::unique_ptr<RoomHub> hub;
  std::unique_ptr<PlayCounter> plays;
  std::unique_ptr<Housekeeping> housekeeping;
  std::unique_ptr<StoreProbe> store_probe;
  std::unique_ptr<HttpServer> server;
  std::string advertise;
  bool stopped = false;
  // Draining (Node::drain): once begun; asked to give up by stop(); the
  // thread of a drain asked through the store; what to do when it is done.
  std::atomic<bool> drain_begun{false};
  std::atomic<bool> drain_abort{false};
  std::thread drain_thread;
  std::mutex drain_mu;
  std::function<void()> on_drained;

  // The account watch calls into the hub, which goes first.
  ~Parts() {
    if (accounts) accounts->stop();
  }

  const Clock& clock() const { return options.clock ? *options.clock : SystemClock::instance(); }
  const Clock& room_clock() const { return options.room_clock ? *options.room_clock : clock(); }
};

Result<std::unique_ptr<Node>> Node::open(ServerConfig config, NodeOptions options) {
  auto p = std::make_unique<Parts>();
  std::error_code ec;
  // A data directory HiFi makes is private (0700), whatever the umask; one
  // that exists keeps the mode its operator gave it.
  const bool created = !std::filesystem::exists(config.data_dir, ec);
  std::filesystem::create_directories(config.data_dir, ec);
  if (created && !ec) {
    std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  auto canonical = std::filesystem::canonical(config.data_dir, ec);
  if (ec) return io_error("cannot use the data directory " + config.data_dir + ": " + ec.message());
  config.data_dir = canonical.string();
  p->config = std::move(config);
  p->options = std::move(options);
  const auto& cfg = p->config;

  if (p->options.shared_store != nullptr) {
    p->store = p->options.shared_store;
  } else {
    auto store = open_store(cfg);
    if (!store) return Status(store.status().code(), "cannot open the metadata store: " + store.status().message());
    p->owned_store = instrument_meta_store(std::move(*store), p->metrics);
    p->store = p->owned_store.get();
  }
  p->blobs = std::make_unique<BlobStore>(cfg.data_dir);
  if (auto removed = p->blobs->cleanup_temporaries(); removed > 0) {
    spdlog::info("removed {} unfinished upload(s) left by an earlier run", removed);
  }
  p->transcodes = std::make_unique<TranscodeCache>(cfg.data_dir + "/transcodes", cfg.transcode_cache_bytes);
  if (auto s = p->transcodes->open(); !s) return s;
  p->transcode_slots = std::make_unique<ConcurrencyLimit>(
      cfg.max_transcodes > 0 ? cfg.max_transcodes : usable_cores());
  p->websocket_slots = std::make_unique<PerKeyLimit>(cfg.max_websockets_per_user);
  // Nodes of a cluster must agree on the signing key.
  p->signer = std::make_unique<UrlSigner>(cfg.cluster_secret.empty()
                                              ? load_or_create_secret(cfg.data_dir + "/url-secret")
                                              : cluster_signing_key(cfg.cluster_secret));
  auto account_options = p->options.accounts;
  account_options.registration = cfg.registration;
  account_options.registrations_per_address_per_hour = cfg.registrations_per_hour;
  account_options.token_ttl_ms = cfg.token_ttl_ms;
  p->accounts = std::make_unique<AccountService>(*p->store, p->clock(), account_options);
  // App passwords are sealed with a key every node of a cluster can derive,
  // and that a copy of the store alone does not give.
  p->credentials = std::make_unique<ClientCredentials>(
      *p->store, *p->accounts, p->clock(),
      cfg.cluster_secret.empty() ? load_or_create_secret(cfg.data_dir + "/credentials-key") : cfg.cluster_secret,
      account_options);
  p->catalog = std::make_unique<Catalog>(*p->store, *p->blobs, p->clock());
  if (auto s = p->catalog->start(); !s) return Status(s.code(), "cannot load the library: " + s.message());
  p->annotations = std::make_unique<Annotations>(*p->store, p->clock());
  if (auto s = p->annotations->start(); !s) return Status(s.code(), "cannot load stars and plays: " + s.message());
  p->playlists = std::make_unique<Playlists>(*p->store, p->clock());
  if (auto s = p->playlists->start(); !s) return Status(s.code(), "cannot load the playlists: " + s.message());
  p->play_queues = std::make_unique<PlayQueues>(*p->store, p->clock());
  p->shares = std::make_unique<Shares>(*p->store, p->clock());
  p->cluster = std::make_unique<cluster::ClusterNode>(*p->store, *p->blobs, *p->catalog, SystemClock::instance(),
                                                      cluster_options(cfg),
                                                      [m = &p->metrics] { return m->load_counters(); });
  p->catalog->set_replication(&p->cluster->replicator());

  auto room_options = p->options.rooms;
  room_options.limits.max_queue = cfg.max_queue_items;
  room_options.max_rooms_per_user = cfg.max_rooms_per_user;
  // Reads through to the store for a song this node's catalog view has not
  // seen yet: one uploaded through another node a moment ago.
  room_options.song_lookup = [catalog = p->catalog.get()](const std::string& id)
      -> Result<room::SongRef> {
    auto song = catalog->get_or_read_through(id);
    if (!song) return song.status();
    return room::SongRef{song->id, song->duration_ms};
  };
  p->rooms = std::make_unique<room::RoomService>(*p->store, p->room_clock(), room_options);
  p->hub = std::make_unique<RoomHub>(*p->rooms);
  // Seek data for the players that take it: planned on this node's copy,
  // sharing the transcoders' bound. A single node holds every song.
  p->hub->set_seek_planner(
      [catalog = p->catalog.get(), blobs = p->blobs.get(), slots = p->transcode_slots.get()](
          const std::string& song_id, std::uint64_t frame, int rate) -> std::optional<SeekData> {
        auto song = catalog->get(song_id);
        if (!song || !blobs->open(song->sha256)) return std::nullopt;
        auto slot = slots->try_acquire();
        if (!slot) return std::nullopt;
        auto planned = media::plan_seek_bytes(blobs->path_for(song->sha256), frame, rate, /*with_open=*/true);
        if (!planned) {
          spdlog::debug("no seek data for song {}: {}", song_id, planned.status().message());
          return std::nullopt;
        }
        const std::string boundary = "hifi-" + random_hex(12);
        return SeekData{"\"" + song->sha256.hex() + "\"", byteranges_content_type(boundary),
                        format_byteranges(planned->parts, boundary,
                                          song->content_type.empty() ? "application/octet-stream" : song->content_type,
                                          planned->size)};
      },
      /*holds_every_song=*/cfg.etcd_endpoints.empty() && p->options.shared_store == nullptr);
  p->rooms->set_listener([hub = p->hub.get()](const room::RoomEvent& e) { hub->on_event(e); });
  // Commands that change what is heard land where every listener can play
  // them at the same sample: as far ahead as the slowest listener needs.
  p->rooms->set_command_lead([hub = p->hub.get()](const std::string& id) { return hub->command_leads(id); });
  if (auto s = p->rooms->start(); !s) return Status(s.code(), "cannot load the rooms: " + s.message());
  // Room WebSockets close, on every node, when the session or the account
  // that opened them ends.
  if (auto s = p->accounts->start([hub = p->hub.get()](const AccessEnded& e) { hub->end_access(e); }); !s) {
    return Status(s.code(), "cannot load the accounts: " + s.message());
  }
  p->plays = std::make_unique<PlayCounter>(*p->hub, *p->annotations, p->room_clock());
  p->store_probe = std::make_unique<StoreProbe>(*p->store);
  p->housekeeping = std::make_unique<Housekeeping>(
      *p->accounts, [cluster = p->cluster.get()] { return cluster->membership().is_leader(); });
  return std::unique_ptr<Node>(new Node(std::move(p)));
}

Node::Node(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Node::~Node() { stop(); }

Status Node::start() {
  auto& p = *parts_;
  Services services{*p.store,      *p.blobs,           *p.accounts, *p.credentials, *p.catalog,
                    *p.rooms,      *p.hub,             p.metrics,   *p.signer,      p.room_clock(),
                    *p.cluster,    *p.transcodes,      *p.transcode_slots, *p.annotations,
                    *p.playlists,  *p.play_queues,     *p.shares,      *p.websocket_slots, *p.store_probe};
  p.server = std::make_unique<HttpServer>(p.config, services);
  try {
    p.server->start();
  } catch (const std::exception& e) {
    return unavailable(e.what());
  }
  spdlog::info("hifi-server 0.1.0 listening on {}://{}:{}", p.server->tls() ? "https" : "http",
               p.config.listen_host, p.server->port());
  if (!p.server->tls() && !is_loopback(p.config.listen_host)) {
    spdlog::warn("serving HTTP without TLS on {}: passwords and tokens cross the network in the clear; "
                 "give --tls-cert and --tls-key, or put a TLS proxy in front", p.config.listen_host);
  }
  if (!p.config.advertise.empty() && (p.config.advertise.rfind("https://", 0) == 0) != p.server->tls()) {
    spdlog::warn("--advertise {} names {} while this node serves {} (right only behind a proxy that changes it)",
                 p.config.advertise, p.server->tls() ? "http" : "https", p.server->tls() ? "HTTPS" : "HTTP");
  }
  p.advertise = p.config.advertise.empty() ? default_advertise(p.config.listen_host, p.server->port(), p.server->tls())
                                           : p.config.advertise;
  if (auto s = p.cluster->start(p.advertise); !s) {
    stop();
    return Status(s.code(), "cannot join the cluster: " + s.message());
  }
  auto* cluster = p.cluster.get();
  p.hub->start_cluster_presence(*p.store, cluster->membership().self_id(),
                                [cluster] { return cluster->membership().lease(); });
  cluster->membership().set_on_rejoin([hub = p.hub.get()] { hub->republish_presence(); });
  // A drain asked through the store runs on a thread of its own (the
  // renewal thread that notices must keep renewing).
  cluster->membership().set_on_drain_requested([this] {
    auto& parts = *parts_;
    std::lock_guard lock(parts.drain_mu);
    if (parts.drain_thread.joinable() || parts.stopped) return;
    parts.drain_thread = std::thread([this] {
      auto& q = *parts_;
      auto s = drain(std::chrono::milliseconds(q.config.drain_grace_ms));
      if (!s) {
        spdlog::error("cannot drain: {}", s.message());
        if (s.code() == Code::kFailedPrecondition && !q.drain_begun) q.cluster->membership().clear_drain_request();
        return;
      }
      std::function<void()> done;
      {
        std::lock_guard lock(q.drain_mu);
        done = q.on_drained;
      }
      if (done) done();
    });
  });
  p.plays->start();
  p.housekeeping->start();
  // Listener counts are cluster-wide from the first request on; a store too
  // slow for that leaves the node serving, reported as degraded by /healthz.
  if (auto s = p.hub->wait_presence_loaded(std::chrono::steady_clock::now() + std::chrono::seconds(10)); !s) {
    spdlog::warn("the other nodes' listeners are not loaded yet: {}", s.message());
  }
  return Status::ok();
}

void Node::stop() {
  auto& p = *parts_;
  if (p.stopped) return;
  p.stopped = true;
  p.drain_abort = true;
  if (p.drain_thread.joinable()) {
    if (p.drain_thread.get_id() == std::this_thread::get_id()) {
      p.drain_thread.detach();  // stop() called from the on_drained callback
    } else {
      p.drain_thread.join();
    }
  }
  if (p.server) {
    p.server->shutdown();
    p.server->wait();
  }
  p.plays->stop();
  p.housekeeping->stop();
  p.cluster->stop();
  p.rooms->stop();
  p.annotations->stop();
  p.playlists->stop();
  p.accounts->stop();
}

std::uint16_t Node::port() const { return parts_->server->port(); }
const std::string& Node::advertise() const { return parts_->advertise; }

Status Node::reload_certificate() { return parts_->server->reload_certificate(); }

std::size_t Node::requests_in_flight() const { return parts_->server->in_flight(); }

void Node::set_on_drained(std::function<void()> callback) {
  std::lock_guard lock(parts_->drain_mu);
  parts_->on_drained = std::move(callback);
}

Status Node::drain(std::chrono::milliseconds grace) {
  auto& p = *parts_;
  auto& membership = p.cluster->membership();
  auto& replicator = p.cluster->replicator();
  const auto& self = membership.self_id();
  auto staying = membership.current_members();
  std::erase_if(staying, [&](const cluster::Member& m) { return m.id == self || !cluster::in_service(m); });
  if (staying.empty()) {
    return failed_precondition("no other node is in service: there is nowhere to move this node's listeners "
                               "and copies (start another node first)");
  }
  if (p.drain_begun.exchange(true)) return failed_precondition("this node is draining already");
  const auto began = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count(); };
  auto pause = [&](std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!p.drain_abort && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
    return !p.drain_abort;
  };

  membership.start_draining();
  // The member new work goes to instead: the least loaded one in service
  // as this node sees them now.
  auto alternative = [&p, self] {
    auto members = p.cluster->membership().members();
    std::erase_if(members, [&](const cluster::Member& m) { return m.id == self || !cluster::in_service(m); });
    if (members.empty()) return std::string();
    return std::min_element(members.begin(), members.end(), cluster::less_loaded)->advertise;
  };
  p.server->start_draining(alternative);
  std::sort(staying.begin(), staying.end(), cluster::less_loaded);
  const auto to = staying.front().advertise;
  p.hub->move_all(to);
  spdlog::info("draining: new requests are sent to other nodes, room listeners told to move to {}; "
               "requests in flight have {} s to finish", to, grace.count() / 1000.0);

  // Requests in flight (uploads, streams) finish, within the grace time.
  const auto deadline = began + grace;
  auto next_report = began + 5s;
  while (p.server->in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    if (!pause(50ms)) return unavailable("the drain was interrupted by a stop");
    if (std::chrono::steady_clock::now() >= next_report) {
      spdlog::info("draining: {} requests still in flight", p.server->in_flight());
      next_report += 5s;
    }
  }
  if (auto left = p.server->in_flight(); left > 0) {
    spdlog::warn("draining: the grace time is over with {} requests in flight; they end when the node stops", left);
  }

  // Every copy this node holds, on enough of the others.
  p.cluster->maintenance().stop();  // its index pass would record the copies again
  int handed_over = 0, pushed = 0;
  for (int round = 1;; ++round) {
    auto report = replicator.hand_over_copies();
    if (report.error.empty() && report.others_in_service == 0) {
      // Every other node is draining too (or gone): nobody can take the
      // copies, so they stay here, recorded, as after a plain stop.
      return failed_precondition("every other node is draining or gone; this node keeps its copies");
    }
    handed_over += report.released;
    pushed += report.copied;
    if (report.complete()) {
      // Done once a pass finds no record of this node left (one written
      // meanwhile, by an upload that outlived the grace time, is handed
      // over by the next pass).
      if (report.checked > 0) continue;
      spdlog::info("draining: {} blobs handed over, {} copies pushed; the other nodes hold enough copies of each, "
                   "and this node records none",
                   handed_over, pushed);
      break;
    }
    spdlog::warn("draining: {} of {} blobs are still short of copies on the other nodes{}; retrying (round {})",
                 report.short_of_copies, report.checked,
                 report.error.empty() ? std::string() : " (" + report.error + ")", round);
    if (!pause(std::chrono::milliseconds(std::min(5000, 500 * round)))) {
      return unavailable("the drain was interrupted by a stop");
    }
  }
  membership.clear_drain_request();
  spdlog::info("drained in {:.1f} s: the other nodes hold every song and serve every listener; this node can "
               "stop, and its data directory {} can be deleted safely", seconds(), p.config.data_dir);
  return Status::ok();
}
const ServerConfig& Node::config() const { return parts_->config; }
MetaStore& Node::store() { return *parts_->store; }
BlobStore& Node::blobs() { return *parts_->blobs; }
AccountService& Node::accounts() { return *parts_->accounts; }
ClientCredentials& Node::credentials() { return *parts_->credentials; }
Catalog& Node::catalog() { return *parts_->catalog; }
Annotations& Node::annotations() { return *parts_->annotations; }
Playlists& Node::playlists() { return *parts_->playlists; }
PlayQueues& Node::play_queues() { return *parts_->play_queues; }
Shares& Node::shares() { return *parts_->shares; }
room::RoomService& Node::rooms() { return *parts_->rooms; }
RoomHub& Node::hub() { return *parts_->hub; }
PlayCounter& Node::play_counter() { return *parts_->plays; }
Housekeeping& Node::housekeeping() { return *parts_->housekeeping; }
cluster::ClusterNode& Node::cluster() { return *parts_->cluster; }
Metrics& Node::metrics() { return parts_->metrics; }

}  // namespace hifi
