// StoreProbe: whether the metadata store answers, for /healthz, at the cost
// of at most one store round trip per `ttl` however often it is asked.
//
// Thread-safety: all methods are thread-safe. check() may block on the
// store (call it on a worker); cached() never does.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>

#include "common/status.h"
#include "store/meta_store.h"

namespace hifi {

class StoreProbe {
 public:
  static constexpr std::chrono::milliseconds kDefaultTtl{1000};

  // `store` must outlive the probe.
  explicit StoreProbe(MetaStore& store, std::chrono::milliseconds ttl = kDefaultTtl);

  // The last answer (the store's current revision, or why it did not
  // answer) while it is younger than ttl; nullopt when it is older.
  std::optional<Result<Revision>> cached() const;
  // The store's answer, asked now unless an answer younger than ttl is
  // cached. While one caller asks the store, the others get the previous
  // answer (or, when there is none yet, wait for that caller's).
  Result<Revision> check();

 private:
  using Time = std::chrono::steady_clock::time_point;

  MetaStore& store_;
  const std::chrono::milliseconds ttl_;
  std::mutex asking_;  // held by the one caller asking the store
  mutable std::mutex mu_;
  std::optional<Result<Revision>> last_;  // guarded by mu_
  Time last_at_{};                        // guarded by mu_
};

}  // namespace hifi
