#include "store/watched_view.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <utility>

namespace hifi {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

constexpr std::size_t kTrimAfterBytes = 4 << 20;

void release_free_memory() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

}  // namespace

WatchedView::WatchedView(MetaStore& store, std::string prefix, ResetFn reset, ApplyFn apply,
                         WatchedViewOptions options)
    : store_(store),
      prefix_(std::move(prefix)),
      reset_(std::move(reset)),
      apply_(std::move(apply)),
      options_(std::move(options)),
      backoff_(options_.min_backoff) {}

WatchedView::~WatchedView() { stop(); }

Status WatchedView::start() {
  if (Status s = load(); !s) return s;
  if (Status s = watch_from(applied_revision() + 1); !s) return s;
  restarter_ = std::thread([this] { restart_loop(); });
  return Status::ok();
}

void WatchedView::start_async() {
  {
    std::lock_guard lock(mu_);
    broken_ = true;
    need_reload_ = true;
    stale_since_ = retry_at_ = SteadyClock::now();
  }
  restarter_ = std::thread([this] { restart_loop(); });
}

void WatchedView::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  restart_cv_.notify_all();
  applied_cv_.notify_all();
  if (restarter_.joinable()) restarter_.join();
  // Not under mu_: cancel() waits for a running callback, which takes mu_.
  if (watch_) {
    watch_->cancel();
    watch_.reset();
  }
}

Status WatchedView::load() {
  Revision revision = 0;
  std::size_t bytes = 0;
  {
    auto snapshot = store_.range(prefix_);
    if (!snapshot) return snapshot.status();
    reset_(*snapshot);
    revision = snapshot->revision;
    for (const auto& kv : snapshot->kvs) bytes += kv.key.size() + kv.value.size();
  }
  // A big snapshot (the catalog's: some 700 bytes of record a song) leaves
  // its pages free but resident below what the owner built from it; give
  // them back.
  if (bytes >= kTrimAfterBytes) release_free_memory();
  {
    std::lock_guard lock(mu_);
    applied_ = revision;
    if (loaded_) ++reloads_;  // counted with the reset, so waiters released by it see it
    loaded_ = true;
    need_reload_ = false;
  }
  applied_cv_.notify_all();
  return Status::ok();
}

Status WatchedView::watch_from(Revision from) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    generation = ++generation_;
  }
  auto watch = store_.watch(prefix_, from,
                            [this, generation](const Status& status, const WatchResponse& response) {
                              on_watch(generation, status, response);
                            });
  if (!watch) return watch.status();
  watch_ = std::move(*watch);
  std::lock_guard lock(mu_);
  // The new watch may have ended already; then it stays broken.
  if (ended_generation_ != generation) {
    broken_ = false;
    watch_started_ = SteadyClock::now();
    applied_cv_.notify_all();  // wait_until_following()
  }
  return Status::ok();
}

Status WatchedView::restart(bool reload) {
  if (watch_) {
    watch_->cancel();
    watch_.reset();
  }
  bool initial = false;
  {
    std::lock_guard lock(mu_);
    initial = !loaded_;
  }
  if (reload) {
    if (Status s = load(); !s) return s;
  }
  const Revision from = applied_revision() + 1;
  if (Status s = watch_from(from); !s) return s;
  std::lock_guard lock(mu_);
  if (initial) {
    spdlog::info("{} view: loaded at revision {}", options_.name, from - 1);
    return Status::ok();
  }
  ++restarts_;
  spdlog::info("{} view: watching again from revision {} ({}, after {} ms stale)", options_.name,
               from, reload ? "reloaded" : "resumed", millis(SteadyClock::now() - stale_since_));
  return Status::ok();
}

void WatchedView::restart_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!broken_) {
      restart_cv_.wait(lock, [&] { return stopping_ || broken_; });
      continue;
    }
    if (restart_cv_.wait_until(lock, retry_at_, [&] { return stopping_; })) break;
    const bool reload = need_reload_;
    lock.unlock();
    Status status = restart(reload);
    lock.lock();
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    if (status) continue;
    if (status.code() == Code::kCompacted) need_reload_ = true;
    last_error_ = status;
    retry_at_ = SteadyClock::now() + backoff_;
    spdlog::warn("{} view: cannot {} ({}); retrying in {} ms", options_.name,
                 !reload ? "resume" : loaded_ ? "reload" : "load", status.to_string(),
                 backoff_.count());
  }
}

void WatchedView::on_watch(std::uint64_t generation, const Status& status,
                           const WatchResponse& response) {
  if (status) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || generation != generation_ || response.revision <= applied_) return;
    }
    apply_(response);
    {
      std::lock_guard lock(mu_);
      applied_ = std::max(applied_, response.revision);
    }
    applied_cv_.notify_all();
    if (options_.after_apply) options_.after_apply();
    return;
  }
  std::lock_guard lock(mu_);
  if (stopping_ || generation != generation_) return;
  const auto now = SteadyClock::now();
  ended_generation_ = generation;
  if (!broken_) stale_since_ = now;
  broken_ = true;
  last_error_ = status;
  need_reload_ = status.code() == Code::kCompacted;
  // A watch that lived long ended for a new reason: start the back-off over.
  if (now - watch_started_ >= options_.max_backoff) backoff_ = options_.min_backoff;
  retry_at_ = now + backoff_;
  if (need_reload_) {
    spdlog::warn("{} view: watch ended ({}); reloading after compaction in {} ms", options_.name,
                 status.to_string(), backoff_.count());
  } else {
    spdlog::warn("{} view: watch ended ({}); resuming from revision {} in {} ms", options_.name,
                 status.to_string(), applied_ + 1, backoff_.count());
  }
  restart_cv_.notify_all();
}

Status WatchedView::wait_for_revision(Revision revision, SteadyTime deadline) const {
  std::unique_lock lock(mu_);
  applied_cv_.wait_until(lock, deadline, [&] { return applied_ >= revision || stopping_; });
  if (applied_ >= revision) return Status::ok();
  if (stopping_) return unavailable(message("stopped"));
  if (broken_ || !loaded_) {
    return unavailable(message("not following the store (" + last_error_.to_string() + ")"));
  }
  return unavailable(message("not keeping up with the store"));
}

Status WatchedView::wait_until_following(SteadyTime deadline) const {
  std::unique_lock lock(mu_);
  applied_cv_.wait_until(lock, deadline, [&] { return (loaded_ && !broken_) || stopping_; });
  if (stopping_) return unavailable(message("stopped"));
  if (broken_ || !loaded_) return unavailable(message("not following the store (" + last_error_.to_string() + ")"));
  return Status::ok();
}

bool WatchedView::stale() const {
  std::lock_guard lock(mu_);
  return broken_ || !loaded_;
}

Revision WatchedView::applied_revision() const {
  std::lock_guard lock(mu_);
  return applied_;
}

ViewStatus WatchedView::status() const {
  std::lock_guard lock(mu_);
  ViewStatus out;
  out.stale = broken_ || !loaded_;
  out.applied_revision = applied_;
  out.restarts = restarts_;
  out.reloads = reloads_;
  out.last_error = last_error_;
  if (out.stale) {
    out.stale_for = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() -
                                                                          stale_since_);
  }
  return out;
}

std::string WatchedView::message(const std::string& text) const {
  return options_.name + " view: " + text;
}

}  // namespace hifi
