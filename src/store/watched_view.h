// WatchedView: an in-memory view of one key prefix, kept current by a watch
// that is restarted whenever it ends.
//
// The owner keeps the data (songs, rooms, presence); the view drives it
// through two callbacks:
//  - reset(snapshot): the prefix's whole content as of snapshot.revision.
//    Replaces whatever the owner held. Called on the first load and again
//    after the watch history the view needed was compacted.
//  - apply(response): the events of one revision, after those of every
//    earlier revision, with nothing left out since the last reset.
// After each returns, applied_revision() includes it, so a writer that waits
// for its revision (wait_for_revision) then reads its own write from the
// owner's data.
//
// Restarts. When the watch ends with an error the view is stale until it
// follows the store again. After kCompacted (etcd compacted past the next
// revision, or the SQLite watcher fell behind its buffer) it reloads the
// prefix (reset) and watches from the reload's revision + 1; after any other
// error it resumes watching from applied_revision() + 1. A failed attempt is
// retried after an exponential back-off (min_backoff doubling to
// max_backoff; it starts over once a watch has lived max_backoff). Each end
// and each restart is logged as "<name> view: ...", and counted in status().
//
// Threads. reset() runs on the thread that calls start() (first load) or on
// the view's own restart thread; apply() runs on the store's watch thread.
// They never run concurrently with each other and are called with no lock of
// the view held, so they may take the owner's locks; they must not call
// stop() or wait_for_revision(). The restart thread is the only one that
// calls the store after start(); it exists from start() to stop().
//
// Lifetime. Call start() or start_async() once. stop() before destroying
// anything the callbacks touch (the destructor also stops, but members the
// callbacks use may already be gone by then). stop() waits for a store call
// in progress on the restart thread and for a running callback to return.
//
// Memory. After a load whose records came to 4 MB or more, the view gives
// the heap pages the snapshot freed back to the system (glibc's
// malloc_trim), or they would stay resident below what the owner built.
//
// Thread-safety: wait_for_revision(), stale(), applied_revision() and
// status() may be called from any thread, concurrently with everything.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "store/meta_store.h"

namespace hifi {

struct WatchedViewOptions {
  std::string name = "store";  // for logs and errors: "<name> view: ..."
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // When set: called on the watch thread after each apply(), once the
  // writers waiting for that revision (wait_for_revision) are released, for
  // what the owner does with a change besides holding it (telling its
  // subscribers: a room's fan-out to 1,000 listeners), so that a writer's
  // answer does not wait for that too. Same rules as apply().
  std::function<void()> after_apply;
};

// The health of a view, for /healthz and /metrics.
struct ViewStatus {
  bool stale = true;             // not following the store now (or not loaded yet)
  Revision applied_revision = 0; // the store revision the owner's data reflects
  std::uint64_t restarts = 0;    // watches started again after one ended
  std::uint64_t reloads = 0;     // reloads of the whole prefix after a compaction
  Status last_error;             // why the watch last ended or a restart failed
  std::chrono::milliseconds stale_for{0};  // how long it has been stale
};

class WatchedView {
 public:
  using ResetFn = std::function<void(const RangeResult& snapshot)>;
  using ApplyFn = std::function<void(const WatchResponse& response)>;

  // `store` must outlive the view.
  WatchedView(MetaStore& store, std::string prefix, ResetFn reset, ApplyFn apply,
              WatchedViewOptions options = {});
  ~WatchedView();
  WatchedView(const WatchedView&) = delete;
  WatchedView& operator=(const WatchedView&) = delete;

  // Loads the prefix (reset() on this thread) and starts watching. On an
  // error nothing keeps running and the error is returned.
  Status start();
  // Returns at once; the restart thread does the first load, and retries it
  // with back-off until it succeeds. Stale until then.
  void start_async();
  // Ends the watch and the restart thread. Idempotent.
  void stop();

  // Waits until the owner's data reflects `revision`, the deadline passes
  // (kUnavailable, naming the watch's error while stale) or the view stops.
  // A view that restarts before the deadline catches up and returns OK.
  Status wait_for_revision(Revision revision,
                           std::chrono::steady_clock::time_point deadline) const;

  // Waits until the view is loaded and a watch feeds it (not stale), the
  // deadline passes or the view stops (kUnavailable for both).
  Status wait_until_following(std::chrono::steady_clock::time_point deadline) const;

  bool stale() const;
  Revision applied_revision() const;
  ViewStatus status() const;

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  void restart_loop();
  // Cancels the ended watch, reloads if asked, and watches again; blocks on
  // the store. The restart thread only (or start(), before it exists).
  Status restart(bool reload);
  Status load();
  Status watch_from(Revision from);
  void on_watch(std::uint64_t generation, const Status& status, const WatchResponse& response);
  std::string message(const std::string& text) const;

  MetaStore& store_;
  const std::string prefix_;
  const ResetFn reset_;
  const ApplyFn apply_;
  const WatchedViewOptions options_;

  mutable std::mutex mu_;
  mutable std::condition_variable applied_cv_;  // applied_ moved, or stopping_
  std::condition_variable restart_cv_;          // broken_ or stopping_
  Revision applied_ = 0;
  bool loaded_ = false;       // reset() ran at least once
  bool broken_ = true;        // no live watch feeds the view
  bool need_reload_ = true;   // the next restart must reload, not resume
  bool stopping_ = false;
  Status last_error_;
  SteadyTime stale_since_ = std::chrono::steady_clock::now();
  SteadyTime retry_at_{};
  SteadyTime watch_started_{};
  std::chrono::milliseconds backoff_;
  std::uint64_t generation_ = 0;        // of the current watch; older ones' callbacks are ignored
  std::uint64_t ended_generation_ = 0;  // the last watch that ended with an error
  std::uint64_t restarts_ = 0;
  std::uint64_t reloads_ = 0;

  // Touched by start() before the restart thread exists, then only by that
  // thread, then by stop() after joining it.
  std::unique_ptr<WatchHandle> watch_;
  std::thread restarter_;
};

}  // namespace hifi
