// PerKeyLimit: at most `limit` holders of a slot per key at once (a client
// address, a user id), so that one client cannot take every slot of a
// shared resource. try_acquire() never waits: what is over the limit is
// refused by the caller. Memory is one map entry per key with a holder.
//
// Thread-safety: thread-safe; a Slot may be released on any thread. The
// PerKeyLimit must outlive its slots.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace hifi {

class PerKeyLimit {
 public:
  explicit PerKeyLimit(std::size_t limit) : limit_(limit) {}
  PerKeyLimit(const PerKeyLimit&) = delete;
  PerKeyLimit& operator=(const PerKeyLimit&) = delete;

  // Holds one slot of its key until destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->release(key_);
    }

   private:
    friend class PerKeyLimit;
    Slot(PerKeyLimit* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    PerKeyLimit* owner_;
    std::string key_;
  };

  // A slot of `key`, or nullopt when `limit` of them are held.
  std::optional<Slot> try_acquire(const std::string& key) {
    std::lock_guard lock(mu_);
    auto& held = held_[key];
    if (held >= limit_) {
      if (held == 0) held_.erase(key);
      return std::nullopt;
    }
    ++held;
    return Slot(this, key);
  }

  // Slots of `key` held now.
  std::size_t held(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = held_.find(key);
    return it == held_.end() ? 0 : it->second;
  }
  std::size_t limit() const { return limit_; }

 private:
  void release(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = held_.find(key);
    if (it != held_.end() && --it->second == 0) held_.erase(it);
  }

  const std::size_t limit_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::size_t> held_;  // only keys with a holder
};

}  // namespace hifi
