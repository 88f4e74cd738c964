// Housekeeping: the store's clean-up that no request triggers. Expired
// session tokens and invite codes are deleted when presented, but one that
// nobody presents again (a lost phone, an invite never used) would stay in
// the store for ever; this sweeps them (AccountService::sweep_expired).
//
// Only the cluster's leader sweeps (one pass is enough; the deletes compare
// what they read, so a second node sweeping at once would do no harm), a
// minute after start and then every `period`. What a pass removed is
// logged.
//
// Thread-safety: start(), stop() and run_now() may be called from any
// thread; run_now() blocks on the store.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "library/accounts.h"

namespace hifi {

class Housekeeping {
 public:
  Housekeeping(AccountService& accounts, std::function<bool()> is_leader,
               std::chrono::milliseconds period = std::chrono::hours(1),
               std::chrono::milliseconds first_delay = std::chrono::minutes(1));
  ~Housekeeping();

  void start();
  void stop();
  // One pass now, leader or not.
  Result<AccountService::SweepReport> run_now();

 private:
  void loop();

  AccountService& accounts_;
  const std::function<bool()> is_leader_;
  const std::chrono::milliseconds period_;
  const std::chrono::milliseconds first_delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::mutex run_mu_;  // one pass at a time
  std::thread thread_;
};

}  // namespace hifi
