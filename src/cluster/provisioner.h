// Provisioner: what adds a node to the cluster and takes one away when the
// autoscaler asks (--scale-provisioner). One file per kind:
//
//  - none (the default): nothing; the decision is only published (in
//    /api/v1/cluster and /metrics) for an autoscaler outside HiFi, such as
//    Kubernetes' HorizontalPodAutoscaler.
//  - local (local_provisioner.cc): starts hifi-server processes on this
//    machine, on ports of --scale-local-ports with data directories under
//    --scale-local-dir; takes one away by draining it (it exits by itself).
//    Spawned nodes are detached: they outlive the node that started them.
//  - command (command_provisioner.cc): runs an operator's command (systemd,
//    ssh, kubectl) with what to do in its environment.
//
// Calls come from the autoscaler's thread, one at a time, and may block
// (a command runs with a deadline).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cluster/member.h"
#include "common/status.h"

namespace hifi::cluster {

class Membership;

class Provisioner {
 public:
  virtual ~Provisioner() = default;
  // "none", "local", "command".
  virtual const char* kind() const = 0;
  // Starts `count` nodes, the cluster wanting `wanted` in all (of which
  // `current` are in service now). An error says why; nothing half-started
  // stays behind.
  virtual Status add(int count, int wanted, int current) = 0;
  // Takes `node` away (the cluster wanting `wanted`), draining it.
  virtual Status remove(const Member& node, int wanted, int current) = 0;
};

struct ProvisionerOptions {
  std::string kind = "none";  // none | local | command
  // local: the ports spawned nodes listen on (inclusive), on `listen_host`;
  // where their data directories go; the arguments every spawned node gets
  // besides --listen, --data-dir and --advertise (this node's own, as given,
  // so that a spawned node that leads later scales alike).
  std::uint16_t first_port = 0;
  std::uint16_t last_port = 0;
  std::string listen_host = "127.0.0.1";
  bool tls = false;  // spawned nodes advertise https (they get the same --tls-* files)
  std::string local_dir;
  std::string executable;  // hifi-server (default: this process's own binary)
  std::vector<std::string> node_args;
  // command: run with /bin/sh -c, within `command_timeout`.
  std::string command;
  std::chrono::milliseconds command_timeout{120'000};
};

// The provisioner the options name. kInvalidArgument for an unknown kind or
// options it cannot work with (no ports, a command that does not exist);
// the message says what to give. `membership` (local: drains through it)
// must outlive the provisioner.
Result<std::unique_ptr<Provisioner>> make_provisioner(const ProvisionerOptions& options, Membership& membership);

std::unique_ptr<Provisioner> make_no_provisioner();
Result<std::unique_ptr<Provisioner>> make_local_provisioner(const ProvisionerOptions& options, Membership& membership);
Result<std::unique_ptr<Provisioner>> make_command_provisioner(const ProvisionerOptions& options, Membership& membership);

}  // namespace hifi::cluster
