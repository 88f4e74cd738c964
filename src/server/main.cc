// hifi-server: one HiFi node. See --help.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "cluster/cluster_node.h"
#include "common/random.h"
#include "library/catalog.h"
#include "net/tls.h"
#include "server/access_log.h"
#include "server/config.h"
#include "server/node.h"

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

int run(hifi::ServerConfig config) {
  if (config.web_root.empty()) config.web_root = find_web_root();
  hifi::init_crypto();

  // Signals are taken synchronously by this thread (sigwait below); block
  // them before any other thread starts so that none of them gets one.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);  // from this process: a drain asked through the cluster is done
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The trust this node's connections to https:// peers use.
  if (!config.tls_ca_file.empty()) {
    auto trust = hifi::net::make_client_context({config.tls_ca_file, "", ""});
    if (!trust) {
      spdlog::critical("--tls-ca: {}", trust.status().message());
      return 1;
    }
    hifi::net::set_default_client_context(std::move(*trust));
  }

  auto node_or = hifi::Node::open(config);
  if (!node_or) {
    spdlog::critical("{}", node_or.status().message());
    return 1;
  }
  auto& node = **node_or;
  if (auto s = node.start(); !s) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  const auto& cfg = node.config();
  spdlog::info("web UI {}", cfg.web_root.empty() ? "not found (give --web-root)" : "from " + cfg.web_root);
  spdlog::info("data in {} (store {}, {} songs, {} rooms), registration {}, {} threads", cfg.data_dir,
               node.store().describe(), node.catalog().size(), node.rooms().list().size(),
               hifi::registration_mode_name(cfg.registration), cfg.threads);
  if (cfg.etcd_endpoints.empty()) {
    // One node: one copy of every song, on this disk.
    spdlog::info("single node {} at {}: songs are kept on this node only", node.cluster().membership().self_id(),
                 node.advertise());
  } else {
    spdlog::info("node {} advertised as {}, up to {} copies of every song (fewer while fewer nodes are live), "
                 "reads of songs held elsewhere: {}",
                 node.cluster().membership().self_id(), node.advertise(), cfg.replicas,
                 hifi::read_mode_name(cfg.read_mode));
  }

  node.set_on_drained([] { ::kill(::getpid(), SIGUSR1); });

  int received = 0;
  for (;;) {
    sigwait(&signals, &received);
    if (received != SIGHUP) break;
    // SIGHUP: a renewed certificate, without a restart.
    if (auto s = node.reload_certificate(); !s) spdlog::error("SIGHUP: the certificate stays as it was: {}", s.message());
  }
  if (received == SIGUSR1) {
    spdlog::info("drained: stopping");
  } else if (received == SIGTERM && !cfg.etcd_endpoints.empty() && cfg.drain_on_stop) {
    spdlog::info("received SIGTERM: draining before stopping (--drain-on-stop)");
    if (auto s = node.drain(std::chrono::milliseconds(cfg.drain_grace_ms)); !s) {
      spdlog::warn("not drained ({}); stopping anyway: the others re-copy this node's songs", s.message());
    }
  } else {
    spdlog::info("received {}: finishing in-flight requests (up to {} ms)",
                 received == SIGINT ? "SIGINT" : "SIGTERM", cfg.shutdown_grace_ms);
  }
  node.stop();
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
  spdlog::set_pattern(hifi::kLogPattern);
  try {
    return run(config);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
