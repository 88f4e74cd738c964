#include "cluster/provisioner.h"

namespace hifi::cluster {
namespace {

class NoProvisioner final : public Provisioner {
 public:
  const char* kind() const override { return "none"; }
  Status add(int, int, int) override { return Status::ok(); }
  Status remove(const Member&, int, int) override { return Status::ok(); }
};

}  // namespace

std::unique_ptr<Provisioner> make_no_provisioner() { return std::make_unique<NoProvisioner>(); }

Result<std::unique_ptr<Provisioner>> make_provisioner(const ProvisionerOptions& options, Membership& membership) {
  if (options.kind == "none") return make_no_provisioner();
  if (options.kind == "local") return make_local_provisioner(options, membership);
  if (options.kind == "command") return make_command_provisioner(options, membership);
  return invalid_argument("--scale-provisioner must be none, local or command, not '" + options.kind + "'");
}

}  // namespace hifi::cluster
