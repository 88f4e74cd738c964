#include "server/housekeeping.h"

#include <spdlog/spdlog.h>

namespace hifi {

Housekeeping::Housekeeping(AccountService& accounts, std::function<bool()> is_leader,
                           std::chrono::milliseconds period, std::chrono::milliseconds first_delay)
    : accounts_(accounts), is_leader_(std::move(is_leader)), period_(period), first_delay_(first_delay) {}

Housekeeping::~Housekeeping() { stop(); }

void Housekeeping::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Housekeeping::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<AccountService::SweepReport> Housekeeping::run_now() {
  std::lock_guard run(run_mu_);
  auto report = accounts_.sweep_expired();
  if (!report) {
    spdlog::warn("housekeeping: cannot sweep expired sessions and invites: {}", report.status().to_string());
  } else if (report->tokens > 0 || report->invites > 0) {
    spdlog::info("housekeeping: removed {} expired session token(s) and {} expired invite code(s)", report->tokens,
                 report->invites);
  }
  return report;
}

void Housekeeping::loop() {
  std::unique_lock lock(mu_);
  auto wait = first_delay_;
  while (!cv_.wait_for(lock, wait, [this] { return stopping_; })) {
    wait = period_;
    lock.unlock();
    if (is_leader_()) (void)run_now();
    lock.lock();
  }
}

}  // namespace hifi
