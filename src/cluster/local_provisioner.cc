// The `local` provisioner: hifi-server processes on this machine.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <filesystem>
#include <cstring>
#include <set>

#include "cluster/membership.h"
#include "cluster/provisioner.h"
#include "common/endpoint.h"

namespace hifi::cluster {
namespace {

// Whether nothing listens on host:port now (a bind succeeds).
bool port_free(const std::string& host, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_ANY);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class LocalProvisioner final : public Provisioner {
 public:
  LocalProvisioner(ProvisionerOptions options, Membership& membership)
      : options_(std::move(options)), membership_(membership) {}

  const char* kind() const override { return "local"; }

  Status add(int count, int wanted, int current) override {
    std::set<std::uint16_t> taken;
    for (const auto& m : membership_.current_members()) {
      if (auto ep = Endpoint::parse(m.advertise)) taken.insert(ep->port);
    }
    int started = 0;
    for (unsigned p = options_.first_port; p <= options_.last_port && started < count; ++p) {
      const auto port = static_cast<std::uint16_t>(p);
      if (taken.count(port) || !port_free(options_.listen_host, port)) continue;
      if (auto s = spawn(port); !s) return s;
      ++started;
      spdlog::info("scale: started a node on port {} ({} of {} wanted, {} in service)", port, current + started,
                   wanted, current);
    }
    if (started < count) {
      return resource_exhausted("no free port left in --scale-local-ports " + std::to_string(options_.first_port) +
                                "-" + std::to_string(options_.last_port) + " for " +
                                std::to_string(count - started) + " more node(s)");
    }
    return Status::ok();
  }

  Status remove(const Member& node, int wanted, int current) override {
    spdlog::info("scale: draining node {} ({}) to go from {} to {} nodes", node.id, node.advertise, current, wanted);
    return membership_.request_drain(node.id, "the autoscaler");
  }

 private:
  // Starts hifi-server on `port`, detached (its own session, reparented to
  // init), its output appended to <dir>/hifi-server.log and its pid in
  // <dir>/hifi-server.pid.
  Status spawn(std::uint16_t port) {
    const auto dir = options_.local_dir + "/node-" + std::to_string(port);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return io_error("cannot create " + dir + ": " + ec.message());
    const std::string host_port = options_.listen_host + ":" + std::to_string(port);
    std::vector<std::string> args{options_.executable};
    args.insert(args.end(), options_.node_args.begin(), options_.node_args.end());
    for (const auto& a : {std::string("--listen"), host_port, std::string("--data-dir"), dir, std::string("--advertise"),
                          std::string(options_.tls ? "https://" : "http://") + host_port}) {
      args.push_back(a);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = dir + "/hifi-server.log";
    const std::string pid_path = dir + "/hifi-server.pid";

    // Everything the children need is ready: after fork() they only make
    // async-signal-safe calls.
    const pid_t child = ::fork();
    if (child < 0) return io_error(std::string("cannot start a node: fork: ") + std::strerror(errno));
    if (child == 0) {
      ::setsid();
      const pid_t grandchild = ::fork();
      if (grandchild < 0) ::_exit(1);
      if (grandchild > 0) {
        const int pid_fd = ::open(pid_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (pid_fd >= 0) {
          char buf[24];
          int n = 0;
          for (pid_t v = grandchild; v > 0 && n < 20; v /= 10) buf[n++] = static_cast<char>('0' + v % 10);
          char out[24];
          for (int i = 0; i < n; ++i) out[i] = buf[n - 1 - i];
          out[n++] = '\n';
          (void)!::write(pid_fd, out, static_cast<std::size_t>(n));
          ::close(pid_fd);
        }
        ::_exit(0);
      }
      const int null_fd = ::open("/dev/null", O_RDONLY);
      const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      if (log_fd >= 0) {
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
      }
      ::close_range(3, ~0U, 0);
      // Signals the spawning node blocks (for its sigwait) must not stay
      // blocked in the new node, which blocks its own.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return io_error("cannot start a node on port " + host_port);
    return Status::ok();
  }

  const ProvisionerOptions options_;
  Membership& membership_;
};

}  // namespace

Result<std::unique_ptr<Provisioner>> make_local_provisioner(const ProvisionerOptions& options, Membership& membership) {
  if (options.first_port == 0 || options.last_port < options.first_port) {
    return invalid_argument("--scale-provisioner local needs --scale-local-ports FIRST-LAST (e.g. 8090-8099)");
  }
  if (options.local_dir.empty()) {
    return invalid_argument("--scale-provisioner local needs --scale-local-dir, where spawned nodes keep their data");
  }
  ProvisionerOptions o = options;
  if (o.executable.empty()) {
    std::error_code ec;
    o.executable = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) return invalid_argument("cannot find this program's own binary to start nodes with: " + ec.message());
  }
  if (::access(o.executable.c_str(), X_OK) != 0) return invalid_argument("cannot run " + o.executable);
  std::error_code ec;
  std::filesystem::create_directories(o.local_dir, ec);
  if (ec) return invalid_argument("cannot create --scale-local-dir " + o.local_dir + ": " + ec.message());
  o.local_dir = std::filesystem::canonical(o.local_dir, ec).string();
  return std::unique_ptr<Provisioner>(new LocalProvisioner(std::move(o), membership));
}

}  // namespace hifi::cluster
