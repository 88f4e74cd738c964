// The SQLite store's watches: WatchHub, the registry of watchers and the
// thread that calls them back, and the handle a watch() returns. Internal
// to the SQLite store.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/meta_store.h"

namespace hifi::sqlite_store {

// WatchHub: the registry of watchers and the thread that calls them back.
//
// Each watcher owns a FIFO backlog of responses already filtered by its
// prefix; one dispatcher thread delivers one response at a time, taking
// watchers round-robin so a busy one cannot starve the others. A watcher is
// therefore never called concurrently and sees revisions in the order they
// were queued.
class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  struct Watcher {
    Watcher(std::string p, Revision from, WatchCallback cb)
        : prefix(std::move(p)), min_revision(from), callback(std::move(cb)) {}

    const std::string prefix;
    // Live revisions below this are not delivered (they were replayed, or
    // precede the requested from_revision).
    const Revision min_revision;
    // Touched only by the dispatcher while it runs the watcher, or by
    // whoever ends the watcher when it is not running.
    WatchCallback callback;

    // Guarded by WatchHub::mu_.
    std::deque<WatchResponse> backlog;
    std::optional<Status> error;  // delivered after the backlog, then the watch ends
    bool queued = false;          // present in ready_
    bool done = false;            // cancelled or ended; never called again
  };

  explicit WatchHub(std::size_t max_backlog) : max_backlog_(max_backlog) {}

  void start() {
    std::lock_guard lock(mu_);
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
    thread_id_ = thread_.get_id();
  }

  // Stops the dispatcher. Undelivered responses are dropped. Called from a
  // callback (the store destroyed by its own watcher), the thread is
  // detached instead of joined; it holds a reference to the hub and exits
  // once that callback returns.
  void stop() {
    std::vector<std::shared_ptr<Watcher>> watchers;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& w : watchers_) w->done = true;
      watchers.swap(watchers_);
      ready_.clear();
    }
    work_cv_.notify_all();
    if (!thread_.joinable()) return;
    if (std::this_thread::get_id() == thread_id_) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  // Registers a watcher whose first deliveries are `replay` (or `error`);
  // live revisions >= min_revision follow. Must be called with the store's
  // mutex held so that no revision is published in between.
  std::shared_ptr<Watcher> add(std::string prefix, Revision min_revision,
                               std::deque<WatchResponse> replay, std::optional<Status> error,
                               WatchCallback callback) {
    auto w = std::make_shared<Watcher>(std::move(prefix), min_revision, std::move(callback));
    std::lock_guard lock(mu_);
    w->backlog = std::move(replay);
    w->error = std::move(error);
    if (stopping_) {
      w->done = true;
      return w;
    }
    if (!w->error) watchers_.push_back(w);
    if (!w->backlog.empty() || w->error) enqueue(w);
    return w;
  }

  // Queues the events of one committed revision (sorted by key) for every
  // interested watcher. Called with the store's mutex held, in revision order.
  void publish(Revision revision, const std::vector<WatchEvent>& events) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < watchers_.size();) {
      const auto& w = watchers_[i];
      if (revision < w->min_revision) {
        ++i;
        continue;
      }
      WatchResponse response;
      response.revision = revision;
      for (const auto& e : events) {
        if (e.kv.key.starts_with(w->prefix)) response.events.push_back(e);
      }
      if (response.events.empty()) {
        ++i;
        continue;
      }
      if (w->backlog.size() >= max_backlog_) {
        // Ending the watch is the only bounded option; the owner re-reads
        // and watches again, as it would after a compaction.
        w->backlog.clear();
        w->error = Status(Code::kCompacted,
                          "watch fell behind by more than " + std::to_string(max_backlog_) +
                              " revisions at revision " + std::to_string(revision));
        enqueue(w);
        watchers_.erase(watchers_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      w->backlog.push_back(std::move(response));
      enqueue(w);
      ++i;
    }
  }

  // Ends a watcher. Unless called from the dispatcher thread (i.e. from a
  // callback), waits until its callback is not running.
  void cancel(const std::shared_ptr<Watcher>& w) {
    WatchCallback dead;
    {
      std::unique_lock lock(mu_);
      w->done = true;
      w->backlog.clear();
      w->error.reset();
      auto it = std::find(watchers_.begin(), watchers_.end(), w);
      if (it != watchers_.end()) watchers_.erase(it);
      if (std::this_thread::get_id() == thread_id_) {
        // On the dispatcher: either this is the running watcher, which the
        // dispatcher cleans up after its callback returns, or another one,
        // which then cannot be running.
        if (running_ != w.get()) dead = std::move(w->callback);
      } else {
        idle_cv_.wait(lock, [&] { return running_ != w.get(); });
        dead = std::move(w->callback);
      }
    }
    // `dead` is destroyed here, outside the lock: the callback's captures may
    // do anything in their destructors.
  }

 private:
  // Marks w as having something to deliver. Called with mu_ held.
  void enqueue(const std::shared_ptr<Watcher>& w) {
    if (w->queued) return;
    w->queued = true;
    ready_.push_back(w);
    work_cv_.notify_one();
  }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      std::shared_ptr<Watcher> w = std::move(ready_.front());
      ready_.pop_front();
      w->queued = false;
      if (w->done) continue;

      Status status;
      WatchResponse response;
      if (!w->backlog.empty()) {
        response = std::move(w->backlog.front());
        w->backlog.pop_front();
      } else if (w->error) {
        status = std::move(*w->error);
        w->error.reset();
        w->done = true;
        auto it = std::find(watchers_.begin(), watchers_.end(), w);
        if (it != watchers_.end()) watchers_.erase(it);
      } else {
        continue;
      }
      if (!w->backlog.empty() || w->error) enqueue(w);

      running_ = w.get();
      lock.unlock();
      // Callbacks must not throw (the project does not use exceptions); one
      // that does terminates the process, which is the loudest failure.
      w->callback(status, response);
      WatchCallback dead;
      lock.lock();
      running_ = nullptr;
      if (w->done) dead = std::move(w->callback);
      idle_cv_.notify_all();
      if (dead) {
        lock.unlock();
        dead = nullptr;
        lock.lock();
      }
    }
  }

  const std::size_t max_backlog_;
  std::mutex mu_;
  std::condition_variable work_cv_;                 // ready_ non-empty or stopping_
  std::condition_variable idle_cv_;                 // running_ changed
  std::vector<std::shared_ptr<Watcher>> watchers_;  // live watchers
  std::deque<std::shared_ptr<Watcher>> ready_;      // watchers with something to deliver
  const Watcher* running_ = nullptr;                // whose callback runs now
  bool stopping_ = false;
  std::thread thread_;
  std::thread::id thread_id_;
};

class SqliteWatchHandle final : public WatchHandle {
 public:
  SqliteWatchHandle(std::shared_ptr<WatchHub> hub, std::shared_ptr<WatchHub::Watcher> watcher)
      : hub_(std::move(hub)), watcher_(std::move(watcher)) {}
  ~SqliteWatchHandle() override { cancel(); }

  // WatchHub::cancel is idempotent and synchronized, so the callback may
  // cancel through its handle while another thread does the same.
  void cancel() override { hub_->cancel(watcher_); }

 private:
  // The hub outlives the store if a handle does, so cancelling after the
  // store is gone is safe. The watcher stays allocated until the handle
  // dies, but cancel() releases its callback and backlog.
  const std::shared_ptr<WatchHub> hub_;
  const std::shared_ptr<WatchHub::Watcher> watcher_;
};

}  // namespace hifi::sqlite_store
