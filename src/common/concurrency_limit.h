// ConcurrencyLimit: at most `limit` holders of a slot at once, for work that
// must be refused rather than queued when too much of it is asked for (a
// transcode answers 503 with Retry-After). try_acquire() never waits.
//
// Thread-safety: thread-safe; a Slot may be released on any thread.
#pragma once

#include <atomic>
#include <optional>
#include <utility>

namespace hifi {

class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(unsigned limit) : limit_(limit) {}
  ConcurrencyLimit(const ConcurrencyLimit&) = delete;
  ConcurrencyLimit& operator=(const ConcurrencyLimit&) = delete;

  // Holds one slot until destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->in_use_.fetch_sub(1);
    }

   private:
    friend class ConcurrencyLimit;
    explicit Slot(ConcurrencyLimit* owner) : owner_(owner) {}
    ConcurrencyLimit* owner_;
  };

  // A slot, or nullopt when all `limit` are held.
  std::optional<Slot> try_acquire() {
    unsigned n = in_use_.load();
    while (n < limit_) {
      if (in_use_.compare_exchange_weak(n, n + 1)) return Slot(this);
    }
    return std::nullopt;
  }
  unsigned in_use() const { return in_use_.load(); }
  unsigned limit() const { return limit_; }

 private:
  const unsigned limit_;
  std::atomic<unsigned> in_use_{0};
};

}  // namespace hifi
