#include "server/store_probe.h"

namespace hifi {

StoreProbe::StoreProbe(MetaStore& store, std::chrono::milliseconds ttl) : store_(store), ttl_(ttl) {}

std::optional<Result<Revision>> StoreProbe::cached() const {
  std::lock_guard lock(mu_);
  if (!last_ || std::chrono::steady_clock::now() - last_at_ >= ttl_) return std::nullopt;
  return last_;
}

Result<Revision> StoreProbe::check() {
  if (auto fresh = cached()) return *fresh;
  std::unique_lock asking(asking_, std::try_to_lock);
  if (!asking.owns_lock()) {
    {
      std::lock_guard lock(mu_);
      if (last_) return *last_;
    }
    asking.lock();  // the first answer of all: wait for it
    if (auto fresh = cached()) return *fresh;
  }
  auto answer = store_.current_revision();
  std::lock_guard lock(mu_);
  last_ = answer;
  last_at_ = std::chrono::steady_clock::now();
  return answer;
}

}  // namespace hifi
