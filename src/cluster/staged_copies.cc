#include "cluster/staged_copies.h"

#include <algorithm>
#include <vector>

namespace hifi::cluster {

StagedCopies::StagedCopies(const Clock& clock, StagedCopiesOptions options) : clock_(clock), options_(options) {}

bool StagedCopies::valid_id(const std::string& id) {
  return id.size() == 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status StagedCopies::add(const std::string& from, const std::string& id, std::unique_ptr<BlobWriter> writer) {
  std::vector<std::unique_ptr<BlobWriter>> expired;  // removed outside the lock
  std::lock_guard lock(mu_);
  const auto now = clock_.now_ms();
  expire_locked(now, expired);
  if (copies_.size() >= options_.max_copies) {
    return resource_exhausted("this node holds " + std::to_string(copies_.size()) +
                              " copies of uploads in progress already");
  }
  if (aborted_.count({from, id})) {
    return failed_precondition("node " + from + " gave upload " + id + " up before its copy arrived");
  }
  auto [it, inserted] = copies_.try_emplace({from, id});
  if (!inserted) return already_exists("upload " + id + " already has a copy here");
  it->second.writer = std::move(writer);
  it->second.added_ms = now;
  return Status::ok();
}

std::unique_ptr<BlobWriter> StagedCopies::take(const std::string& from, const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = copies_.find({from, id});
  if (it == copies_.end()) return nullptr;
  auto writer = std::move(it->second.writer);
  const bool expired = clock_.now_ms() - it->second.added_ms >= options_.time_to_live.count();
  copies_.erase(it);
  if (expired) return nullptr;  // destroyed here: its temporary goes
  return writer;
}

bool StagedCopies::abort(const std::string& from, const std::string& id) {
  std::unique_ptr<BlobWriter> dropped;  // removed outside the lock
  std::lock_guard lock(mu_);
  const auto now = clock_.now_ms();
  if (auto it = copies_.find({from, id}); it != copies_.end()) {
    dropped = std::move(it->second.writer);
    copies_.erase(it);
    return true;
  }
  if (aborted_.size() >= kMaxAborted) {
    aborted_.erase(std::min_element(aborted_.begin(), aborted_.end(),
                                    [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  aborted_[{from, id}] = now;
  return false;
}

std::size_t StagedCopies::expire() {
  std::vector<std::unique_ptr<BlobWriter>> expired;  // removed outside the lock
  std::lock_guard lock(mu_);
  expire_locked(clock_.now_ms(), expired);
  return expired.size();
}

void StagedCopies::expire_locked(std::int64_t now_ms, std::vector<std::unique_ptr<BlobWriter>>& out) {
  std::erase_if(aborted_, [&](const auto& entry) { return now_ms - entry.second >= options_.time_to_live.count(); });
  for (auto it = copies_.begin(); it != copies_.end();) {
    if (now_ms - it->second.added_ms >= options_.time_to_live.count()) {
      out.push_back(std::move(it->second.writer));
      it = copies_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t StagedCopies::size() const {
  std::lock_guard lock(mu_);
  return copies_.size();
}

}  // namespace hifi::cluster
