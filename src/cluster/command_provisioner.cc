// The `command` provisioner: an operator's command adds and removes nodes
// (systemctl, ssh, kubectl). It runs with /bin/sh -c and these variables:
//
//   HIFI_SCALE_ACTION   add | remove
//   HIFI_SCALE_COUNT    nodes to add (add)
//   HIFI_SCALE_WANTED   the node count the cluster wants
//   HIFI_SCALE_CURRENT  the nodes in service now
//   HIFI_SCALE_NODE, HIFI_SCALE_NODE_URL   the node to take away (remove)
//
// Its output goes to the log; a command that fails (exit status, or
// running past its deadline, when it is killed) is an error the
// autoscaler retries with backoff.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "cluster/provisioner.h"

extern char** environ;

namespace hifi::cluster {
namespace {

// Whether the command's program (its first word) can be run: a path that is
// executable, or a name found on PATH. Shell syntax beyond that is the
// operator's business.
bool program_exists(const std::string& command) {
  std::istringstream words(command);
  std::string program;
  words >> program;
  if (program.empty()) return false;
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

class CommandProvisioner final : public Provisioner {
 public:
  explicit CommandProvisioner(ProvisionerOptions options) : options_(std::move(options)) {}

  const char* kind() const override { return "command"; }

  Status add(int count, int wanted, int current) override {
    return run({{"HIFI_SCALE_ACTION", "add"},
                {"HIFI_SCALE_COUNT", std::to_string(count)},
                {"HIFI_SCALE_WANTED", std::to_string(wanted)},
                {"HIFI_SCALE_CURRENT", std::to_string(current)}});
  }

  Status remove(const Member& node, int wanted, int current) override {
    return run({{"HIFI_SCALE_ACTION", "remove"},
                {"HIFI_SCALE_NODE", node.id},
                {"HIFI_SCALE_NODE_URL", node.advertise},
                {"HIFI_SCALE_WANTED", std::to_string(wanted)},
                {"HIFI_SCALE_CURRENT", std::to_string(current)}});
  }

 private:
  Status run(const std::vector<std::pair<std::string, std::string>>& vars) {
    // The environment: this process's, without older HIFI_SCALE_ values,
    // then the action's.
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      if (std::strncmp(*e, "HIFI_SCALE_", 11) != 0) env.emplace_back(*e);
    }
    std::string action;
    for (const auto& [k, v] : vars) {
      env.push_back(k + "=" + v);
      action += (action.empty() ? "" : " ") + k + "=" + v;
    }
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string shell = "/bin/sh", dash_c = "-c", command = options_.command;
    char* argv[] = {shell.data(), dash_c.data(), command.data(), nullptr};

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return io_error(std::string("scale command: pipe: ") + std::strerror(errno));
    spdlog::info("scale: running the scale command ({})", action);
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out[0]);
      ::close(out[1]);
      return io_error(std::string("scale command: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::setpgid(0, 0);  // its own process group, so a timeout kills all of it
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execve(argv[0], argv, envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // Its output, logged line by line (at most 64 KiB kept), until it ends
    // or the deadline passes.
    constexpr std::size_t kMaxOutput = 64 * 1024;
    std::string output, last_line;
    const auto deadline = std::chrono::steady_clock::now() + options_.command_timeout;
    bool timed_out = false;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      pollfd pfd{out[0], POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000))) <= 0) continue;
      char buf[4096];
      const auto n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;  // the command (and whatever holds its output) is done
      if (output.size() < kMaxOutput) output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (timed_out) ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      spdlog::info("scale command: {}", line);
      last_line = line;
    }
    if (timed_out) {
      return unavailable("the scale command ran longer than " + std::to_string(options_.command_timeout.count() / 1000) +
                         " s and was killed");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      const auto how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                                         : "was killed by signal " + std::to_string(WTERMSIG(status));
      return unavailable("the scale command " + how + (last_line.empty() ? "" : ": " + last_line));
    }
    return Status::ok();
  }

  const ProvisionerOptions options_;
};

}  // namespace

Result<std::unique_ptr<Provisioner>> make_command_provisioner(const ProvisionerOptions& options, Membership&) {
  if (options.command.empty()) {
    return invalid_argument("--scale-provisioner command needs --scale-command, the command that adds and removes "
                            "nodes (see docs/operations.md)");
  }
  if (!program_exists(options.command)) {
    return invalid_argument("--scale-command: cannot find the program of '" + options.command + "'");
  }
  return std::unique_ptr<Provisioner>(new CommandProvisioner(options));
}

}  // namespace hifi::cluster
