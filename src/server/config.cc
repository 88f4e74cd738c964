#include "server/config.h"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <map>
#include <optional>

#include "cluster/scale_policy.h"
#include "common/cores.h"
#include "common/endpoint.h"
#include "room/room_state.h"

namespace hifi {
namespace {

// A secret from the environment variable `env` when set, else from `file`
// (trailing whitespace dropped; "" when neither is given); nullopt when the
// file cannot be read.
std::optional<std::string> read_secret(const char* env, const std::string& file) {
  if (const char* secret = std::getenv(env); secret && *secret) return std::string(secret);
  if (file.empty()) return std::string();
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return std::nullopt;
  auto secret = text.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  return secret;
}

bool parse_number_with_suffix(const std::string& text, std::uint64_t& number, std::string& suffix) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 18) return false;
  number = std::stoull(text.substr(0, i));
  suffix = text.substr(i);
  return true;
}

bool parse_listen(const std::string& text, ServerConfig& config) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::uint64_t port = 0;
  std::string rest;
  if (!parse_number_with_suffix(text.substr(colon + 1), port, rest) || !rest.empty() ||
      port > 65535 || host.empty()) {
    return false;
  }
  config.listen_host = host;
  config.listen_port = static_cast<std::uint16_t>(port);
  return true;
}

// The config file's path, looked up before the full parse so that its values
// can become the options' defaults.
std::string find_config_path(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.rfind("--config=", 0) == 0) return arg.substr(9);
  }
  if (const char* env = std::getenv("HIFI_CONFIG")) return env;
  return {};
}

std::map<std::string, std::string> load_toml(const std::string& path) {
  std::map<std::string, std::string> values;
  if (path.empty()) return values;
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw CLI::ValidationError("--config", "cannot read " + path + ": " +
                                               std::string(e.description()));
  }
  for (const auto& [key, node] : table) {
    std::string value;
    if (auto s = node.value<std::string>()) value = *s;
    else if (auto n = node.value<std::int64_t>()) value = std::to_string(*n);
    else if (auto b = node.value<bool>()) value = *b ? "true" : "false";
    else throw CLI::ValidationError("--config", "unsupported value for '" + std::string(key.str()) + "' in " + path);
    values[std::string(key.str())] = value;
  }
  return values;
}

}  // namespace

const char* read_mode_name(ReadMode mode) {
  switch (mode) {
    case ReadMode::kRedirect: return "redirect";
    case ReadMode::kProxy: return "proxy";
  }
  return "redirect";
}

Result<ReadMode> parse_read_mode(std::string_view text) {
  if (text == "redirect") return ReadMode::kRedirect;
  if (text == "proxy") return ReadMode::kProxy;
  return invalid_argument("read mode must be redirect or proxy");
}

Result<std::uint64_t> parse_size(std::string_view text) {
  const auto malformed = [&] { return invalid_argument("not a size: '" + std::string(text) + "'"); };
  std::uint64_t n = 0;
  std::string suffix;
  if (!parse_number_with_suffix(std::string(text), n, suffix)) return malformed();
  std::uint64_t unit = 1;
  if (suffix.empty() || suffix == "B") unit = 1;
  else if (suffix == "K" || suffix == "KiB" || suffix == "k") unit = 1ULL << 10;
  else if (suffix == "M" || suffix == "MiB" || suffix == "m") unit = 1ULL << 20;
  else if (suffix == "G" || suffix == "GiB" || suffix == "g") unit = 1ULL << 30;
  else return malformed();
  if (n > (UINT64_MAX / unit)) return malformed();
  return n * unit;
}

Result<std::int64_t> parse_duration(std::string_view text) {
  const auto malformed = [&] { return invalid_argument("not a duration: '" + std::string(text) + "'"); };
  std::uint64_t n = 0;
  std::string suffix;
  if (!parse_number_with_suffix(std::string(text), n, suffix)) return malformed();
  std::int64_t unit;
  if (suffix == "ms") unit = 1;
  else if (suffix == "s" || suffix.empty()) unit = 1000;
  else if (suffix == "m") unit = 60'000;
  else if (suffix == "h") unit = 3'600'000;
  else if (suffix == "d") unit = 86'400'000;
  else return malformed();
  if (n > static_cast<std::uint64_t>(INT64_MAX / unit)) return malformed();
  return static_cast<std::int64_t>(n) * unit;
}

int parse_server_config(int argc, char** argv, ServerConfig& config, bool& exit_now) {
  exit_now = false;
  config.argv.assign(argv + std::min(argc, 1), argv + argc);
  CLI::App app{
      "hifi-server: a node of HiFi, the self-hosted music sharing service.\n"
      "Serves the REST API, streams and stores songs. Alone it is a complete\n"
      "single-node service on its embedded SQLite store in --data-dir.\n\n"
      "Every option can also be set by the environment variable shown with it,\n"
      "or in a TOML file given by --config (keys named like the long options,\n"
      "e.g.  listen = \"0.0.0.0:8080\"). The command line wins over the\n"
      "environment, which wins over the file.\n\n"
      "Examples:\n"
      "  hifi-server\n"
      "  hifi-server --listen 0.0.0.0:8080 --data-dir /var/lib/hifi\n"
      "  HIFI_REGISTRATION=invite hifi-server --config /etc/hifi/hifi.toml",
      "hifi-server"};
  app.set_version_flag("--version", "hifi-server 0.1.0");
  // An option given twice takes its last value (scripts that add to a
  // command line override what came before).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(38);

  std::string listen = config.listen_host + ":" + std::to_string(config.listen_port);
  std::string registration = registration_mode_name(config.registration);
  std::string read_mode = read_mode_name(config.read_mode);
  std::string max_upload = "512MiB";
  std::string transcode_cache = "1GiB";
  std::string header_timeout = "30s", body_idle_timeout = "60s", idle_timeout = "60s";
  std::string token_ttl = "30d", signed_url_ttl = "1h", shutdown_grace = "10s";
  std::string config_path;

  std::vector<CLI::Option*> options;
  options.push_back(app.add_option("--config", config_path, "TOML file with settings")
                        ->envname("HIFI_CONFIG"));
  options.push_back(app.add_option("--listen", listen, "Address and port to listen on (ADDR:PORT; port 0 picks a free one)")
                        ->envname("HIFI_LISTEN")->capture_default_str());
  options.push_back(app.add_option("--data-dir", config.data_dir, "Where songs and metadata live")
                        ->envname("HIFI_DATA_DIR")->capture_default_str());
  options.push_back(app.add_option("--threads", config.threads, "Network threads (0: one per core this process may use)")
                        ->envname("HIFI_THREADS")->capture_default_str());
  options.push_back(app.add_option("--registration", registration,
                                   "Who may create accounts: open, invite (admin-issued codes) or closed")
                        ->envname("HIFI_REGISTRATION")->check(CLI::IsMember({"open", "invite", "closed"}))
                        ->capture_default_str());
  options.push_back(app.add_option("--registrations-per-hour", config.registrations_per_hour,
                                   "Registrations one client address may attempt per hour (0: no limit)")
                        ->envname("HIFI_REGISTRATIONS_PER_HOUR")->check(CLI::NonNegativeNumber)->capture_default_str());
  options.push_back(app.add_option("--max-upload-size", max_upload, "Largest accepted song file (e.g. 512MiB, 2G)")
                        ->envname("HIFI_MAX_UPLOAD_SIZE")->capture_default_str());
  options.push_back(app.add_option("--max-header-size", config.max_header_bytes, "Largest accepted request header, bytes")
                        ->envname("HIFI_MAX_HEADER_SIZE")->capture_default_str());
  options.push_back(app.add_option("--header-timeout", header_timeout, "Time allowed to send a request header")
                        ->envname("HIFI_HEADER_TIMEOUT")->capture_default_str());
  options.push_back(app.add_option("--body-idle-timeout", body_idle_timeout,
                                   "Longest pause while a body is sent or received")
                        ->envname("HIFI_BODY_IDLE_TIMEOUT")->capture_default_str());
  options.push_back(app.add_option("--idle-timeout", idle_timeout, "Keep-alive connections idle longer are closed")
                        ->envname("HIFI_IDLE_TIMEOUT")->capture_default_str());
  options.push_back(app.add_option("--max-connections", config.max_connections, "Open connections allowed at once")
                        ->envname("HIFI_MAX_CONNECTIONS")->capture_default_str());
  options.push_back(app.add_option("--max-connections-per-address", config.max_connections_per_address,
                                   "Open connections one client address may have (WebSockets included); more "
                                   "are answered 503 and closed")
                        ->envname("HIFI_MAX_CONNECTIONS_PER_ADDRESS")->check(CLI::PositiveNumber)
                        ->capture_default_str());
  options.push_back(app.add_option("--max-websockets-per-user", config.max_websockets_per_user,
                                   "Room connections one user may have open on this node; more get 429")
                        ->envname("HIFI_MAX_WEBSOCKETS_PER_USER")->check(CLI::PositiveNumber)
                        ->capture_default_str());
  options.push_back(app.add_option("--max-rooms-per-user", config.max_rooms_per_user,
                                   "Rooms one user may own (their personal room not counted); more get 429")
                        ->envname("HIFI_MAX_ROOMS_PER_USER")->check(CLI::PositiveNumber)->capture_default_str());
  options.push_back(app.add_option("--max-queue-items", config.max_queue_items,
                                   "Items a room's queue may hold (1-" + std::to_string(room::kMaxQueueItemsCeiling) +
                                       "); adding more gets 429")
                        ->envname("HIFI_MAX_QUEUE_ITEMS")
                        ->check(CLI::Range(std::uint32_t{1}, static_cast<std::uint32_t>(room::kMaxQueueItemsCeiling)))
                        ->capture_default_str());
  std::string default_quota = "0", min_free_space = "256MiB", store_history_size = "64MiB";
  options.push_back(app.add_option("--default-quota", default_quota,
                                   "Song files one user may store, unless an admin set their own quota "
                                   "(e.g. 20GiB; 0: no limit)")
                        ->envname("HIFI_DEFAULT_QUOTA")->capture_default_str());
  options.push_back(app.add_option("--min-free-space", min_free_space,
                                   "Free disk space uploads must leave on the data directory's file system "
                                   "(more get 507), so logins and rooms can always write")
                        ->envname("HIFI_MIN_FREE_SPACE")->capture_default_str());
  options.push_back(app.add_option("--store-history-size", store_history_size,
                                   "Bytes of past changes the embedded store keeps for watches (without --etcd); "
                                   "older ones are dropped first")
                        ->envname("HIFI_STORE_HISTORY_SIZE")->capture_default_str());
  options.push_back(app.add_option("--token-ttl", token_ttl, "How long a login stays valid (e.g. 30d, 12h)")
                        ->envname("HIFI_TOKEN_TTL")->capture_default_str());
  options.push_back(app.add_option("--signed-url-ttl", signed_url_ttl, "How long a signed stream URL stays valid (players ask for a fresh one as it nears its end)")
                        ->envname("HIFI_SIGNED_URL_TTL")->capture_default_str());
  options.push_back(app.add_option("--shutdown-grace", shutdown_grace,
                                   "On SIGINT/SIGTERM, how long in-flight requests may take to finish")
                        ->envname("HIFI_SHUTDOWN_GRACE")->capture_default_str());
  options.push_back(app.add_option("--transcode-cache-size", transcode_cache,
                                   "Disk kept for finished transcodes, least recently used dropped first "
                                   "(e.g. 1GiB; 0 keeps none)")
                        ->envname("HIFI_TRANSCODE_CACHE_SIZE")->capture_default_str());
  options.push_back(app.add_option("--max-transcodes", config.max_transcodes,
                                   "Transcodes running at once, beyond which requests get 503 (0: one per core)")
                        ->envname("HIFI_MAX_TRANSCODES")->capture_default_str());
  options.push_back(app.add_option("--web-root", config.web_root, "Folder of the web UI's static files")
                        ->envname("HIFI_WEB_ROOT"));
  options.push_back(app.add_option("--etcd", config.etcd_endpoints,
                                   "etcd client URLs (comma-separated): keep accounts, the catalog and rooms "
                                   "in an etcd cluster shared with other nodes instead of the embedded store")
                        ->envname("HIFI_ETCD")->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll));
  options.push_back(app.add_option("--etcd-namespace", config.etcd_namespace, "Key prefix of this HiFi in etcd")
                        ->envname("HIFI_ETCD_NAMESPACE")->capture_default_str());
  std::string cluster_secret_file;
  options.push_back(app.add_option("--cluster-secret-file", cluster_secret_file,
                                   "File holding the secret all nodes of a cluster share "
                                   "(or set HIFI_CLUSTER_SECRET)")
                        ->envname("HIFI_CLUSTER_SECRET_FILE"));
  std::string metrics_token_file;
  options.push_back(app.add_option("--metrics-token-file", metrics_token_file,
                                   "File holding a token that lets a scraper read /metrics with "
                                   "'Authorization: Bearer <token>' (or set HIFI_METRICS_TOKEN); "
                                   "admins' sessions may read it too")
                        ->envname("HIFI_METRICS_TOKEN_FILE"));
  options.push_back(app.add_option("--advertise", config.advertise,
                                   "Base URL other nodes and clients reach this node at, e.g. "
                                   "https://10.0.0.5:8443 (default: http(s)://<listen address>)")
                        ->envname("HIFI_ADVERTISE"));
  options.push_back(app.add_option("--tls-cert", config.tls_cert_file,
                                   "Serve HTTPS and WSS with this certificate chain (PEM, the node's own "
                                   "certificate first); SIGHUP reads it and the key again")
                        ->envname("HIFI_TLS_CERT"));
  options.push_back(app.add_option("--tls-key", config.tls_key_file, "The private key of --tls-cert (PEM)")
                        ->envname("HIFI_TLS_KEY"));
  options.push_back(app.add_option("--tls-ca", config.tls_ca_file,
                                   "Certificate authorities (PEM) that other nodes' https:// certificates "
                                   "chain to (default: the system's)")
                        ->envname("HIFI_TLS_CA"));
  options.push_back(app.add_option("--etcd-ca", config.etcd_ca_file,
                                   "Certificate authorities (PEM) of https:// etcd endpoints (default: the "
                                   "system's)")
                        ->envname("HIFI_ETCD_CA"));
  options.push_back(app.add_option("--etcd-cert", config.etcd_cert_file,
                                   "Client certificate (PEM) for an etcd that asks for one (--client-cert-auth)")
                        ->envname("HIFI_ETCD_CERT"));
  options.push_back(app.add_option("--etcd-key", config.etcd_key_file, "The private key of --etcd-cert (PEM)")
                        ->envname("HIFI_ETCD_KEY"));
  options.push_back(app.add_option("--node-id", config.node_id,
                                   "This node's name in the cluster (default: kept in <data-dir>/node-id)")
                        ->envname("HIFI_NODE_ID"));
  options.push_back(app.add_option("--replicas", config.replicas,
                                   "Nodes that hold a copy of every song; an upload is acknowledged once "
                                   "that many (or every live node, if fewer) have it on disk")
                        ->envname("HIFI_REPLICAS")->check(CLI::Range(1, 16))->capture_default_str());
  options.push_back(app.add_option("--read-mode", read_mode,
                                   "For a song this node lacks: redirect the client (307 to a signed URL "
                                   "on a holder) or proxy the bytes through this node")
                        ->envname("HIFI_READ_MODE")->check(CLI::IsMember({"redirect", "proxy"}))
                        ->capture_default_str());
  std::string member_ttl = "5s", repair_interval = "30s", scrub_interval = "24h", gc_grace = "1h",
              forget_dead_after = "24h", drain_grace = "60s", scale_up_window = "30s", scale_down_window = "5m";
  std::string scale_ports;
  options.push_back(app.add_option("--member-ttl", member_ttl,
                                   "A node that stops renewing its membership for this long leaves the cluster")
                        ->envname("HIFI_MEMBER_TTL")->capture_default_str());
  options.push_back(app.add_option("--drain-grace", drain_grace,
                                   "A draining node lets requests in flight (uploads, streams) run this long "
                                   "before it goes on to hand its copies over")
                        ->envname("HIFI_DRAIN_GRACE")->capture_default_str());
  options.push_back(app.add_option("--drain-on-stop", config.drain_on_stop,
                                   "In a cluster, SIGTERM drains the node first (listeners move, copies are "
                                   "handed over) and then stops it; false: SIGTERM stops at once")
                        ->envname("HIFI_DRAIN_ON_STOP")->capture_default_str());
  options.push_back(app.add_option("--scale-min", config.scale_min, "Autoscaling: the fewest nodes the cluster keeps")
                        ->envname("HIFI_SCALE_MIN")->capture_default_str());
  options.push_back(app.add_option("--scale-max", config.scale_max, "Autoscaling: the most nodes the cluster grows to")
                        ->envname("HIFI_SCALE_MAX")->capture_default_str());
  options.push_back(app.add_option("--scale-target-listeners", config.scale_target_listeners,
                                   "Autoscaling: room listeners (WebSockets) per node the cluster aims at "
                                   "(0: not a scaling metric)")
                        ->envname("HIFI_SCALE_TARGET_LISTENERS")->capture_default_str());
  options.push_back(app.add_option("--scale-target-streams", config.scale_target_streams,
                                   "Autoscaling: active streams per node the cluster aims at (0: not a metric)")
                        ->envname("HIFI_SCALE_TARGET_STREAMS")->capture_default_str());
  options.push_back(app.add_option("--scale-target-cpu", config.scale_target_cpu,
                                   "Autoscaling: CPU use per node the cluster aims at, a fraction of the cores "
                                   "(e.g. 0.6; 0: not a metric)")
                        ->envname("HIFI_SCALE_TARGET_CPU")->capture_default_str());
  options.push_back(app.add_option("--scale-up-window", scale_up_window,
                                   "Autoscaling: load must stay above target this long before nodes are added")
                        ->envname("HIFI_SCALE_UP_WINDOW")->capture_default_str());
  options.push_back(app.add_option("--scale-down-window", scale_down_window,
                                   "Autoscaling: load must stay below target this long before a node is drained")
                        ->envname("HIFI_SCALE_DOWN_WINDOW")->capture_default_str());
  options.push_back(app.add_option("--scale-provisioner", config.scale_provisioner,
                                   "What adds and removes nodes: none (only publish the decision, for an outside "
                                   "autoscaler), local (hifi-server processes on this machine) or command "
                                   "(--scale-command)")
                        ->envname("HIFI_SCALE_PROVISIONER")
                        ->check(CLI::IsMember({"none", "local", "command"}))
                        ->capture_default_str());
  options.push_back(app.add_option("--scale-local-ports", scale_ports,
                                   "local provisioner: the ports new nodes listen on, FIRST-LAST (e.g. 8090-8099)")
                        ->envname("HIFI_SCALE_LOCAL_PORTS"));
  options.push_back(app.add_option("--scale-local-dir", config.scale_local_dir,
                                   "local provisioner: where new nodes keep their data (one directory each)")
                        ->envname("HIFI_SCALE_LOCAL_DIR"));
  options.push_back(app.add_option("--scale-command", config.scale_command,
                                   "command provisioner: run with /bin/sh -c to add or remove a node, with "
                                   "HIFI_SCALE_ACTION (add|remove), HIFI_SCALE_COUNT, HIFI_SCALE_WANTED, "
                                   "HIFI_SCALE_CURRENT, HIFI_SCALE_NODE and HIFI_SCALE_NODE_URL set")
                        ->envname("HIFI_SCALE_COMMAND"));
  options.push_back(app.add_option("--repair-interval", repair_interval,
                                   "How often the leader re-copies songs that have too few copies, and every "
                                   "node checks its copies against the replica index")
                        ->envname("HIFI_REPAIR_INTERVAL")->capture_default_str());
  options.push_back(app.add_option("--scrub-interval", scrub_interval,
                                   "How often a node re-hashes all its copies (0 turns scrubbing off)")
                        ->envname("HIFI_SCRUB_INTERVAL")->capture_default_str());
  options.push_back(app.add_option("--gc-grace", gc_grace,
                                   "Song files no song references are removed once older than this")
                        ->envname("HIFI_GC_GRACE")->capture_default_str());
  options.push_back(app.add_option("--forget-dead-after", forget_dead_after,
                                   "The leader drops the replica records of a node that has been gone this "
                                   "long (it records its copies again if it comes back)")
                        ->envname("HIFI_FORGET_DEAD_AFTER")->capture_default_str());
  options.push_back(app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
                        ->envname("HIFI_LOG_LEVEL")->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
                        ->capture_default_str());

  try {
    for (const auto& [key, value] : load_toml(find_config_path(argc, argv))) {
      auto it = std::find_if(options.begin(), options.end(),
                             [&](CLI::Option* o) { return o->get_name() == "--" + key; });
      if (it == options.end() || key == "config") {
        throw CLI::ValidationError("--config", "unknown setting '" + key + "'");
      }
      (*it)->default_val(value);
    }
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_now = true;
    // --help and --version exit with 0; every other parse error is a usage
    // error (CLI11's own codes, e.g. 105 or 109, are not part of our contract).
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto usage_error = [&](const std::string& message) {
    std::cerr << "hifi-server: " << message << "\nRun with --help for more information.\n";
    exit_now = true;
    return 2;
  };
  if (!parse_listen(listen, config)) return usage_error("--listen must look like 127.0.0.1:8080");
  // CLI11 has already checked that the modes are among the names.
  if (auto mode = parse_registration_mode(registration)) config.registration = *mode;
  if (auto mode = parse_read_mode(read_mode)) config.read_mode = *mode;
  auto max_upload_bytes = parse_size(max_upload);
  if (!max_upload_bytes || *max_upload_bytes == 0) {
    return usage_error("--max-upload-size must be a size like 512MiB");
  }
  config.max_upload_bytes = *max_upload_bytes;
  auto transcode_cache_bytes = parse_size(transcode_cache);
  if (!transcode_cache_bytes) return usage_error("--transcode-cache-size must be a size like 1GiB");
  config.transcode_cache_bytes = *transcode_cache_bytes;
  struct { const std::string& text; std::uint64_t& bytes; const char* name; } sizes[] = {
      {default_quota, config.default_quota_bytes, "--default-quota"},
      {min_free_space, config.min_free_bytes, "--min-free-space"},
      {store_history_size, config.store_history_bytes, "--store-history-size"},
  };
  for (auto& size : sizes) {
    auto bytes = parse_size(size.text);
    if (!bytes) return usage_error(std::string(size.name) + " must be a size like 20GiB, 512MiB or 0");
    size.bytes = *bytes;
  }
  if (config.store_history_bytes < (1ULL << 20)) return usage_error("--store-history-size must be at least 1MiB");
  struct { const std::string& text; std::int64_t& ms; const char* name; } durations[] = {
      {header_timeout, config.header_timeout_ms, "--header-timeout"},
      {body_idle_timeout, config.body_idle_timeout_ms, "--body-idle-timeout"},
      {idle_timeout, config.idle_timeout_ms, "--idle-timeout"},
      {token_ttl, config.token_ttl_ms, "--token-ttl"},
      {signed_url_ttl, config.signed_url_ttl_ms, "--signed-url-ttl"},
      {shutdown_grace, config.shutdown_grace_ms, "--shutdown-grace"},
      {member_ttl, config.member_ttl_ms, "--member-ttl"},
      {drain_grace, config.drain_grace_ms, "--drain-grace"},
      {scale_up_window, config.scale_up_window_ms, "--scale-up-window"},
      {scale_down_window, config.scale_down_window_ms, "--scale-down-window"},
      {repair_interval, config.repair_interval_ms, "--repair-interval"},
      {scrub_interval, config.scrub_interval_ms, "--scrub-interval"},
      {gc_grace, config.gc_grace_ms, "--gc-grace"},
      {forget_dead_after, config.forget_dead_after_ms, "--forget-dead-after"},
  };
  for (auto& d : durations) {
    auto ms = parse_duration(d.text);
    if (!ms) return usage_error(std::string(d.name) + " must be a duration like 30s, 15m, 6h or 30d");
    d.ms = *ms;
  }
  auto cluster_secret = read_secret("HIFI_CLUSTER_SECRET", cluster_secret_file);
  if (!cluster_secret) return usage_error("cannot read --cluster-secret-file " + cluster_secret_file);
  config.cluster_secret = std::move(*cluster_secret);
  auto metrics_token = read_secret("HIFI_METRICS_TOKEN", metrics_token_file);
  if (!metrics_token) return usage_error("cannot read --metrics-token-file " + metrics_token_file);
  config.metrics_token = std::move(*metrics_token);
  if (!config.metrics_token.empty() &&
      (config.metrics_token.size() < 16 || config.metrics_token.size() > 256 ||
       !std::all_of(config.metrics_token.begin(), config.metrics_token.end(), [](char c) {
         return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-._~+/=", c) != nullptr;
       }))) {
    return usage_error("the metrics token must be 16 to 256 letters, digits or -._~+/= "
                       "(e.g. from: head -c 32 /dev/urandom | base64)");
  }
  if (!config.cluster_secret.empty() && config.cluster_secret.size() < 16) {
    return usage_error("the cluster secret must be at least 16 characters long");
  }
  if (!config.etcd_endpoints.empty() && config.cluster_secret.empty()) {
    return usage_error("--etcd needs the cluster secret all nodes share: set HIFI_CLUSTER_SECRET or "
                       "--cluster-secret-file (e.g. from: head -c 32 /dev/urandom | base64)");
  }
  const bool wildcard = config.listen_host == "0.0.0.0" || config.listen_host == "::";
  if (!config.etcd_endpoints.empty() && wildcard && config.advertise.empty()) {
    return usage_error("listening on " + config.listen_host +
                       " in a cluster needs --advertise with the URL other nodes reach this one at");
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return usage_error("TLS needs both --tls-cert and --tls-key");
  }
  if (config.etcd_cert_file.empty() != config.etcd_key_file.empty()) {
    return usage_error("an etcd client certificate needs both --etcd-cert and --etcd-key");
  }
  if (!config.advertise.empty()) {
    auto advertised = Endpoint::parse(config.advertise);
    if (!advertised) {
      return usage_error("--advertise must be an http:// or https:// URL, e.g. https://10.0.0.5:8443: " +
                         advertised.status().message());
    }
    while (!config.advertise.empty() && config.advertise.back() == '/') config.advertise.pop_back();
  }
  if (!config.node_id.empty() &&
      (config.node_id.size() > 64 || !std::all_of(config.node_id.begin(), config.node_id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      }))) {
    return usage_error("--node-id may hold only letters, digits, '-' and '_' (at most 64)");
  }
  if (config.member_ttl_ms < 1000) return usage_error("--member-ttl must be at least 1s");
  if (!scale_ports.empty()) {
    unsigned first = 0, last = 0;
    char extra = 0;
    if (std::sscanf(scale_ports.c_str(), "%u-%u%c", &first, &last, &extra) != 2 || first == 0 || last > 65535 ||
        last < first) {
      return usage_error("--scale-local-ports must be FIRST-LAST, e.g. 8090-8099");
    }
    config.scale_first_port = static_cast<std::uint16_t>(first);
    config.scale_last_port = static_cast<std::uint16_t>(last);
  }
  {
    cluster::ScaleOptions scale;
    scale.min_nodes = config.scale_min;
    scale.max_nodes = config.scale_max;
    scale.target_listeners = config.scale_target_listeners;
    scale.target_streams = config.scale_target_streams;
    scale.target_cpu = config.scale_target_cpu;
    if (auto why = cluster::validate(scale); !why.empty()) return usage_error(why);
    // Left out, a target is not a scaling metric; given, it must be one.
    for (const auto& [flag, value] : {std::pair<const char*, double>{"--scale-target-listeners", config.scale_target_listeners},
                                      {"--scale-target-streams", config.scale_target_streams},
                                      {"--scale-target-cpu", config.scale_target_cpu}}) {
      if (app.count(flag) > 0 && value <= 0) {
        return usage_error(std::string(flag) + " must be above 0 (leave it out to not scale on it)");
      }
    }
  }
  if (config.scale_provisioner != "none" && config.etcd_endpoints.empty()) {
    return usage_error("--scale-provisioner " + config.scale_provisioner + " needs a cluster (--etcd)");
  }
  if (config.repair_interval_ms < 100) return usage_error("--repair-interval must be at least 100ms");
  if (config.forget_dead_after_ms < 60'000) return usage_error("--forget-dead-after must be at least 1m");
  if (config.threads == 0) config.threads = static_cast<unsigned>(usable_cores());
  return 0;
}

}  // namespace hifi
