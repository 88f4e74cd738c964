// ServerConfig: every hifi-server setting, from (highest precedence first)
// the command line, HIFI_* environment variables, an optional TOML file
// (--config / HIFI_CONFIG, keys named like the long options), and defaults.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "library/accounts.h"

namespace hifi {

// How a node serves a song whose bytes it does not hold.
enum class ReadMode {
  kRedirect,  // "redirect": 307 to a signed URL on a node that holds it
  kProxy,     // "proxy": fetch it from a holder and pass the bytes on
};
const char* read_mode_name(ReadMode mode);
// "redirect" or "proxy"; kInvalidArgument for anything else.
Result<ReadMode> parse_read_mode(std::string_view text);

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string data_dir = "./hifi-data";
  unsigned threads = 0;  // 0: one per core this process may use (usable_cores)
  RegistrationMode registration = RegistrationMode::kOpen;
  int registrations_per_hour = 20;  // per client address; 0: no limit
  std::uint64_t max_upload_bytes = 512ULL << 20;
  std::uint64_t max_json_bytes = 64 << 10;
  std::uint32_t max_header_bytes = 16 << 10;
  std::int64_t header_timeout_ms = 30'000;   // to receive a request's header
  std::int64_t body_idle_timeout_ms = 60'000;  // between two pieces of a body, or of a response
  std::int64_t idle_timeout_ms = 60'000;     // keep-alive connection with no request
  std::int64_t token_ttl_ms = 30LL * 24 * 3600 * 1000;
  std::int64_t signed_url_ttl_ms = 3600LL * 1000;  // short: a URL leaks more easily than a token
  std::int64_t shutdown_grace_ms = 10'000;
  std::uint32_t max_connections = 10'000;
  // Open connections from one client address (WebSockets included); more
  // are refused with 503. High enough for a household behind one NAT.
  std::uint32_t max_connections_per_address = 256;
  // Room WebSockets one user may hold open on this node at once; more are
  // refused with 429 before the upgrade.
  std::uint32_t max_websockets_per_user = 32;
  // Rooms one user may own (their personal room not counted); more: 429.
  std::uint32_t max_rooms_per_user = 50;
  // Items in a room's queue; at most kMaxQueueItemsCeiling (room_state.h),
  // which keeps a room's record far below etcd's request limit.
  std::uint32_t max_queue_items = 2'000;
  // Bytes of song files a user may have in the library unless an admin set
  // their own quota; 0: no limit.
  std::uint64_t default_quota_bytes = 0;
  // Free space uploads leave on the data directory's file system: one that
  // would leave less is refused with 507, so the metadata store (logins,
  // room commands) always has room to write.
  std::uint64_t min_free_bytes = 256ULL << 20;
  // History the embedded store keeps for watches, in bytes of keys and
  // values (besides its count of revisions).
  std::uint64_t store_history_bytes = 64ULL << 20;
  std::string web_root;
  // Transcoding: finished transcodes kept on disk (data_dir/transcodes), and
  // how many may run at once (0: one per core); more get 503.
  std::uint64_t transcode_cache_bytes = 1ULL << 30;
  unsigned max_transcodes = 0;
  // Cluster: etcd client URLs (empty: the embedded SQLite store), the key
  // namespace in etcd, and the secret every node shares (signed URLs).
  std::vector<std::string> etcd_endpoints;
  std::string etcd_namespace = "hifi/";
  std::string cluster_secret;
  // Lets a scraper read /metrics without an account (empty: admins only).
  std::string metrics_token;
  // TLS: this node's certificate chain and key (PEM; both or neither), and
  // the authorities its peers' certificates chain to (empty: the system's
  // trust store). etcd through https:// endpoints: etcd's authority and a
  // client certificate for an etcd that asks for one.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
  // This node in the cluster (a single node is a cluster of one).
  std::string advertise;  // base URL for peers and clients; empty: http(s)://<listen host>:<bound port>
  std::string node_id;    // empty: <data-dir>/node-id, created on first start
  int replicas = 3;       // copies of every song (R)
  ReadMode read_mode = ReadMode::kRedirect;
  std::int64_t member_ttl_ms = 5'000;
  // Draining: how long requests in flight may take to finish, and whether
  // SIGTERM drains first (cluster mode only).
  std::int64_t drain_grace_ms = 60'000;
  bool drain_on_stop = true;
  // Dynamic scaling (decided on the leader): the node count's bounds, the
  // per-node targets (0: not a metric), the stabilization windows, and what
  // adds and removes nodes (none | local | command).
  int scale_min = 1;
  int scale_max = 1;
  double scale_target_listeners = 0;
  double scale_target_streams = 0;
  double scale_target_cpu = 0;
  std::int64_t scale_up_window_ms = 30'000;
  std::int64_t scale_down_window_ms = 300'000;
  std::string scale_provisioner = "none";
  std::uint16_t scale_first_port = 0;
  std::uint16_t scale_last_port = 0;
  std::string scale_local_dir;
  std::string scale_command;
  // The command line as given (without the program), for nodes the local
  // provisioner starts.
  std::vector<std::string> argv;
  std::int64_t repair_interval_ms = 30'000;
  std::int64_t scrub_interval_ms = 24LL * 3600 * 1000;  // 0: never
  std::int64_t gc_grace_ms = 3600LL * 1000;
  std::int64_t forget_dead_after_ms = 24LL * 3600 * 1000;  // then a gone node's replica records go
  std::string log_level = "info";
};

// Parses argv, the environment and the config file. Returns 0 with `config`
// filled, or an exit code (0 for --help/--version, 2 for usage errors) with
// `exit_now` set after printing to stdout/stderr.
int parse_server_config(int argc, char** argv, ServerConfig& config, bool& exit_now);

// "512MiB", "1G", "1048576" -> bytes. kInvalidArgument when malformed or
// too large for 64 bits.
Result<std::uint64_t> parse_size(std::string_view text);
// "30s", "15m", "6h", "30d", "250ms" -> milliseconds (no unit: seconds).
// kInvalidArgument when malformed or too large for 64 bits.
Result<std::int64_t> parse_duration(std::string_view text);

}  // namespace hifi

// Log lines name the mode.
template <>
struct fmt::formatter<hifi::ReadMode> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(hifi::ReadMode mode, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(hifi::read_mode_name(mode), ctx);
  }
};
