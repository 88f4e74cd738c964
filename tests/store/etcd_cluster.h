// A throwaway 3-member etcd cluster for tests: real `etcd` processes on
// 127.0.0.1 with free ports, each with its own data directory, bootstrapped
// statically (--initial-cluster). start() waits until every member reports
// healthy (polling, with a deadline); the destructor kills the members and
// removes their directories. Members die with the test process too
// (PR_SET_PDEATHSIG), so a crashed test leaves nothing running.
//
// etcd comes from Debian's etcd-server package (scripts/setup test); tests
// skip when it is missing, or fail when HIFI_REQUIRE_CLUSTER_DEPS=1. HIFI_ETCD overrides the binary's path.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hifi::store_test {

inline std::string etcd_binary() {
  const char* env = std::getenv("HIFI_ETCD");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/etcd";
}

inline bool etcd_available() { return ::access(etcd_binary().c_str(), X_OK) == 0; }

// HIFI_REQUIRE_CLUSTER_DEPS=1 (scripts/test sets it): a missing etcd fails
// the etcd tests instead of skipping them.
inline bool etcd_required() {
  const char* env = std::getenv("HIFI_REQUIRE_CLUSTER_DEPS");
  return env != nullptr && std::string(env) == "1";
}

// A minimal blocking HTTP/1.0 exchange with 127.0.0.1:port, for plumbing the
// MetaStore does not expose (health, status, compaction). Returns the body,
// or nullopt on any failure.
inline std::optional<std::string> local_http(int port, const std::string& method,
                                             const std::string& path, const std::string& body,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::optional<std::string> result;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" +
                                std::to_string(port) +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    bool ok = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
              static_cast<ssize_t>(request.size());
    std::string response;
    char buf[4096];
    while (ok) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0) ok = false;
      if (n <= 0) break;
      response.append(buf, static_cast<std::size_t>(n));
    }
    const auto split = response.find("\r\n\r\n");
    if (ok && response.rfind("HTTP/1.", 0) == 0 && split != std::string::npos) {
      result = response.substr(split + 4);
    }
  }
  ::close(fd);
  return result;
}

class EtcdCluster {
 public:
  static constexpr int kMembers = 3;

  EtcdCluster() = default;
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;
  ~EtcdCluster() { stop(); }

  // Starts the members and waits until all are healthy. On failure returns
  // false with the reason (and the log of a member that died) in *error.
  bool start(std::string* error) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (start_once(error)) return true;
      stop();
      // A port picked as free may have been taken meanwhile; try new ones.
      if (error->find("bind: address already in use") == std::string::npos) return false;
    }
    return false;
  }

  void stop() {
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) kill_member(i);
    members_.clear();
    if (!root_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(root_, ignored);
      root_.clear();
    }
  }

  std::string endpoint(int i) const {
    return "http://127.0.0.1:" + std::to_string(members_.at(i).client_port);
  }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) out.push_back(endpoint(i));
    return out;
  }
  int client_port(int i) const { return members_.at(i).client_port; }
  bool alive(int i) const { return members_.at(i).pid > 0; }

  // SIGKILL: no goodbye to clients or peers.
  void kill_member(int i) {
    Member& m = members_.at(i);
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    int status = 0;
    while (::waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
    }
    m.pid = -1;
  }

  // SIGSTOP / SIGCONT: a member that holds its connections open and
  // answers nothing, as a machine that hangs.
  void freeze_member(int i) {
    if (members_.at(i).pid > 0) ::kill(members_.at(i).pid, SIGSTOP);
  }
  void thaw_member(int i) {
    if (members_.at(i).pid > 0) ::kill(members_.at(i).pid, SIGCONT);
  }

  // Starts a member killed by kill_member() again, with its data, and waits
  // until it is healthy (it has rejoined the cluster).
  bool restart_member(int i, std::string* error) {
    Member& m = members_.at(i);
    if (m.pid > 0) return true;
    return spawn(m, error) && wait_healthy({i}, error);
  }

  // The index of the member that leads, or -1 if the live members do not
  // agree on one.
  int leader() const {
    std::vector<std::uint64_t> ids(members_.size(), 0);
    std::uint64_t leader = 0;
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) {
      if (!alive(i)) continue;
      auto body = local_http(members_[i].client_port, "POST", "/v3/maintenance/status", "{}");
      if (!body) continue;
      boost::system::error_code ec;
      auto v = boost::json::parse(*body, ec);
      if (ec || !v.is_object()) continue;
      const auto* header = v.get_object().if_contains("header");
      const auto* lead = v.get_object().if_contains("leader");
      if (header == nullptr || !header->is_object() || lead == nullptr || !lead->is_string()) {
        continue;
      }
      const auto* id = header->get_object().if_contains("member_id");
      if (id == nullptr || !id->is_string()) continue;
      ids[i] = std::stoull(std::string(id->get_string()));
      const std::uint64_t l = std::stoull(std::string(lead->get_string()));
      if (leader != 0 && l != leader) return -1;
      leader = l;
    }
    for (int i = 0; i < static_cast<int>(ids.size()); ++i) {
      if (ids[i] != 0 && ids[i] == leader) return i;
    }
    return -1;
  }

  // Compacts the history up to revision (inclusive of older ones), as an
  // operator or etcd's auto-compaction would.
  bool compact(std::int64_t revision) const {
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) {
      if (!alive(i)) continue;
      auto body = local_http(members_[i].client_port, "POST", "/v3/kv/compaction",
                             "{\"revision\":\"" + std::to_string(revision) + "\",\"physical\":true}",
                             std::chrono::seconds(10));
      if (body && body->find("\"header\"") != std::string::npos) return true;
    }
    return false;
  }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string dir;
    pid_t pid = -1;
  };

  static std::string temp_root() {
    const char* tmp = std::getenv("TMPDIR");
    return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }

  // Ports the kernel considers free right now; all are held open together
  // so that they are distinct.
  static std::vector<int> free_ports(int n) {
    std::vector<int> fds, ports;
    for (int i = 0; i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof(addr);
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) ::close(fd);
        break;
      }
      fds.push_back(fd);
      ports.push_back(ntohs(addr.sin_port));
    }
    for (int fd : fds) ::close(fd);
    return ports;
  }

  static std::string tail_of(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
  }

  // Starts the member's process (again: its data directory is kept, so a
  // killed member rejoins with what it had).
  bool spawn(Member& m, std::string* error) {
    const std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    const std::vector<std::string> args = {
        etcd_binary(), "--name", m.name, "--data-dir", m.dir, "--listen-client-urls", client,
        "--advertise-client-urls", client, "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer, "--initial-cluster", initial_cluster_,
        "--initial-cluster-state", "new", "--initial-cluster-token", token_,
        // Short timeouts make elections (and the lease minimum TTL, 1.5
        // election timeouts) quick; loopback round trips are far below.
        "--heartbeat-interval", "50", "--election-timeout", "500",
        "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string log = m.dir + ".log";
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      *error = "fork: " + std::string(std::strerror(errno));
      return false;
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    m.pid = pid;
    return true;
  }

  bool start_once(std::string* error) {
    std::string pattern = temp_root() + "/hifi-etcd-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      *error = "mkdtemp: " + std::string(std::strerror(errno));
      return false;
    }
    root_ = pattern;
    const std::vector<int> ports = free_ports(2 * kMembers);
    if (static_cast<int>(ports.size()) != 2 * kMembers) {
      *error = "cannot find free ports";
      return false;
    }
    std::string initial_cluster;
    members_.clear();
    for (int i = 0; i < kMembers; ++i) {
      Member m;
      m.name = "m" + std::to_string(i);
      m.client_port = ports[2 * i];
      m.peer_port = ports[2 * i + 1];
      m.dir = root_ + "/" + m.name;
      if (!initial_cluster.empty()) initial_cluster += ',';
      initial_cluster += m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
      members_.push_back(std::move(m));
    }
    initial_cluster_ = initial_cluster;
    token_ = "hifi-test-" + std::to_string(::getpid()) + "-" +
             std::filesystem::path(root_).filename().string();
    for (Member& m : members_) {
      if (!spawn(m, error)) return false;
    }

    std::vector<int> all;
    for (int i = 0; i < kMembers; ++i) all.push_back(i);
    return wait_healthy(all, error);
  }

  // Waits until each of the members `which` answers /health with true.
  bool wait_healthy(const std::vector<int>& which, std::string* error) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::vector<bool> healthy(members_.size(), false);
    for (;;) {
      bool all = true;
      for (int i : which) {
        Member& m = members_[i];
        int status = 0;
        if (::waitpid(m.pid, &status, WNOHANG) == m.pid) {
          m.pid = -1;
          *error = "etcd member " + m.name + " exited during startup; its log:\n" +
                   tail_of(m.dir + ".log");
          return false;
        }
        if (!healthy[i]) {
          auto body = local_http(m.client_port, "GET", "/health", "",
                                 std::chrono::milliseconds(500));
          healthy[i] = body && body->find("\"health\":\"true\"") != std::string::npos;
        }
        all = all && healthy[i];
      }
      if (all) return true;
      if (std::chrono::steady_clock::now() >= deadline) {
        *error = "etcd member " + members_[which.front()].name + " not healthy after 30 s; its log:\n" +
                 tail_of(members_[which.front()].dir + ".log");
        return false;
      }
      // Polling interval, not a wait for something to happen.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::string root_;
  std::string initial_cluster_;
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace hifi::store_test
