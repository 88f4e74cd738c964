#include "cluster/maintenance.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/sha256.h"

namespace hifi::cluster {
namespace {

// The file's SHA-256, read in large pieces; nullopt when it cannot be read.
std::optional<ContentHash> hash_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  Sha256 hash;
  std::vector<char> buf(1 << 20);
  bool ok = true;
  for (;;) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    hash.update(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return ContentHash::from_digest(hash.finish());
}

}  // namespace

Maintenance::Maintenance(MetaStore& store, BlobStore& blobs, const Catalog& catalog,
                         const Membership& membership, Replicator& replicator,
                         const PeerClient& peers, StagedCopies& staged, const Clock& clock,
                         MaintenanceOptions options)
    : store_(store),
      blobs_(blobs),
      catalog_(catalog),
      membership_(membership),
      replicator_(replicator),
      peers_(peers),
      staged_(staged),
      clock_(clock),
      options_(options) {}

Maintenance::~Maintenance() { stop(); }

void Maintenance::start() { thread_ = std::thread([this] { loop(); }); }

void Maintenance::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Maintenance::loop() {
  auto next_scrub = std::chrono::steady_clock::now() + options_.scrub_interval;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, options_.repair_interval, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    repair_pass();
    index_pass();
    if (options_.scrub_interval.count() > 0 && std::chrono::steady_clock::now() >= next_scrub) {
      scrub_pass();
      next_scrub = std::chrono::steady_clock::now() + options_.scrub_interval;
    }
    lock.lock();
  }
}

// One referenced blob as the repair pass sees it.
struct Maintenance::Copies {
  const ContentHash& sha;
  std::vector<std::string> holders;  // live members with a record
  int wanted;
  const std::vector<Member>& live;
  const std::map<std::string, Member>& live_by_id;
};

RepairReport Maintenance::repair_pass() {
  std::lock_guard pass(repair_mu_);
  RepairReport report;
  if (!membership_.is_leader()) {
    missing_since_.clear();  // should this node lead again, its clocks start afresh
    return report;
  }
  auto index = read_replica_index(store_);
  if (!index) {
    spdlog::warn("repair: cannot read the replica index: {}", index.status().to_string());
    return report;
  }
  ++counters_.repair_passes;
  const auto live = membership_.members();
  std::map<std::string, Member> live_by_id;
  for (const auto& m : live) live_by_id.emplace(m.id, m);
  // Draining members take no copies; a blob a draining member holds is
  // left to it (it hands its copies over before it leaves), so that the
  // two never make or trim copies of the same blob at once.
  const int wanted = replicator_.copies_wanted(
      static_cast<std::size_t>(std::count_if(live.begin(), live.end(), in_service)));
  forget_dead_records(*index, live_by_id, report);
  auto referenced = catalog_.referenced_blobs();
  if (!referenced) {
    spdlog::warn("repair: skipped, the library view is stale: {}", referenced.status().to_string());
    return report;
  }
  int still_under = 0;
  for (const auto& sha : *referenced) {
    ++report.checked;
    Copies copies{sha, {}, wanted, live, live_by_id};
    bool handed_over = false;
    if (auto it = index->find(sha); it != index->end()) {
      for (const auto& [node, revision] : it->second) {
        auto member = live_by_id.find(node);
        if (member == live_by_id.end()) continue;
        copies.holders.push_back(node);
        handed_over = handed_over || !in_service(member->second);
      }
    }
    if (handed_over) continue;
    const int have = static_cast<int>(copies.holders.size());
    if (have > wanted) {
      ++report.over_replicated;
      trim_surplus(copies, report);
      continue;
    }
    if (have == wanted) continue;
    ++report.under_replicated;
    if (copies.holders.empty()) {
      ++report.without_live_copy;
      spdlog::warn("repair: no live node holds blob {}; waiting for a holder to come back",
                   sha.short_hex());
      ++still_under;
      continue;
    }
    if (copy_missing(copies, report) < wanted) ++still_under;
  }
  counters_.under_replicated = still_under;
  counters_.without_live_copy = report.without_live_copy;
  if (report.under_replicated > 0) {
    spdlog::info("repair: {} blobs checked, {} had fewer than {} live copies, {} copies made, {} failed",
                 report.checked, report.under_replicated, wanted, report.copies_made, report.copies_failed);
  }
  if (report.over_replicated > 0) {
    spdlog::info("repair: {} blobs checked, {} had more than {} live copies, {} copies dropped, {} failed",
                 report.checked, report.over_replicated, wanted, report.copies_trimmed, report.trims_failed);
  }
  return report;
}

int Maintenance::copy_missing(const Copies& c, RepairReport& report) {
  const auto& self = membership_.self_id();
  std::vector<std::string> candidates;
  for (const auto& m : c.live) {
    if (in_service(m) && std::find(c.holders.begin(), c.holders.end(), m.id) == c.holders.end()) {
      candidates.push_back(m.id);
    }
  }
  candidates = rendezvous_rank(c.sha, std::move(candidates));
  // The source: this node when it holds a copy (no extra hop), else the
  // least loaded live holder.
  std::string source = c.holders.front();
  for (const auto& h : c.holders) {
    if (h == self || (source != self && less_loaded(c.live_by_id.at(h), c.live_by_id.at(source)))) source = h;
  }
  int have = static_cast<int>(c.holders.size());
  for (const auto& target : candidates) {
    if (have >= c.wanted) break;
    Status s = source == self ? replicator_.push_to(c.sha, target)
                              : peers_.request_push(c.live_by_id.at(source), c.sha, target);
    if (s) {
      ++have;
      ++report.copies_made;
      ++counters_.repair_copies_ok;
      spdlog::info("repair: copied blob {} from node {} to node {} ({} of {} copies)", c.sha.short_hex(),
                   source, target, have, c.wanted);
    } else {
      ++report.copies_failed;
      ++counters_.repair_copies_failed;
      spdlog::warn("repair: copying blob {} from node {} to node {} failed: {}", c.sha.short_hex(),
                   source, target, s.message());
    }
  }
  return have;
}

void Maintenance::trim_surplus(const Copies& c, RepairReport& report) {
  const auto& self = membership_.self_id();
  const auto ranked = rendezvous_rank(c.sha, c.holders);
  int have = static_cast<int>(ranked.size());
  // The holders ranked last are asked, last first; the first `wanted` keep
  // their copies. Each holder checks the index itself before it drops.
  for (auto i = ranked.size(); i-- > static_cast<std::size_t>(c.wanted);) {
    const auto& node = ranked[i];
    Status s = node == self ? replicator_.drop_local_copy(c.sha)
                            : peers_.request_drop(c.live_by_id.at(node), c.sha);
    if (s) {
      --have;
      ++report.copies_trimmed;
      ++counters_.repair_trims_ok;
      spdlog::info("repair: node {} dropped its copy of blob {}, above R ({} live copies left, {} wanted)",
                   node, c.sha.short_hex(), have, c.wanted);
    } else {
      ++report.trims_failed;
      ++counters_.repair_trims_failed;
      spdlog::warn("repair: asking node {} to drop its copy of blob {} (above R) failed: {}", node,
                   c.sha.short_hex(), s.message());
    }
  }
}

void Maintenance::forget_dead_records(const ReplicaIndex& index,
                                      const std::map<std::string, Member>& live_by_id,
                                      RepairReport& report) {
  std::map<std::string, std::vector<std::pair<ContentHash, Revision>>> records_of;  // not live
  for (const auto& [sha, nodes] : index) {
    for (const auto& [node, revision] : nodes) {
      if (!live_by_id.count(node)) records_of[node].emplace_back(sha, revision);
    }
  }
  // A node that is live again, or has no records left, starts afresh.
  std::erase_if(missing_since_, [&](const auto& entry) { return !records_of.count(entry.first); });
  const auto now = std::chrono::steady_clock::now();
  const auto seconds = [](auto d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); };
  for (const auto& [node, records] : records_of) {
    auto [since, first] = missing_since_.emplace(node, now);
    if (first) {
      spdlog::info("repair: node {} is not a live member and has {} replica record(s); they are dropped "
                   "if it stays away for {} s",
                   node, records.size(), seconds(options_.forget_dead_after));
      continue;
    }
    if (now - since->second < options_.forget_dead_after) continue;
    int dropped = 0;
    for (const auto& [sha, revision] : records) {
      // Unless the record changed since the read: the node is back.
      const auto key = replica_key(sha, node);
      auto txn = store_.txn({Compare::mod_revision_equals(key, revision)}, {Op::del(key)});
      if (!txn) {
        spdlog::warn("repair: cannot drop the replica record of blob {} on node {}: {}", sha.short_hex(), node,
                     txn.status().to_string());
      } else if (txn->succeeded) {
        ++dropped;
      }
    }
    report.records_forgotten += dropped;
    counters_.records_forgotten += static_cast<std::uint64_t>(dropped);
    spdlog::warn("repair: node {} has not been a live member for {} s; dropped {} of its {} replica "
                 "record(s) (should it come back, it records what it still holds)",
                 node, seconds(now - since->second), dropped, records.size());
  }
}

void Maintenance::index_pass() {
  std::lock_guard pass(index_mu_);
  if (auto expired = staged_.expire(); expired > 0) {
    spdlog::info("maintenance: dropped {} copies staged for uploads on other nodes that never decided on them",
                 expired);
  }
  auto index = read_replica_index(store_);
  if (!index) {
    spdlog::warn("maintenance: cannot read the replica index: {}", index.status().to_string());
    return;
  }
  const auto& self = membership_.self_id();
  const auto referenced_list = catalog_.referenced_blobs();
  if (!referenced_list) {
    spdlog::warn("maintenance: skipped, the library view is stale: {}", referenced_list.status().to_string());
    return;
  }
  const std::set<ContentHash> referenced(referenced_list->begin(), referenced_list->end());
  const auto now = clock_.now_ms();
  std::set<ContentHash> on_disk;
  for (auto& sha : blobs_.list()) {
    const bool recorded = (*index)[sha].count(self) > 0;
    if (!referenced.count(sha)) {
      auto modified = blobs_.modified_ms(sha);
      if (modified && now - *modified > options_.gc_grace.count()) {
        // Drop the record first: the index must never name a copy that is gone.
        if (recorded) replicator_.forget_local_copy(sha);
        if (blobs_.remove(sha)) {
          ++counters_.gc_removed;
          spdlog::info("gc: removed blob {} (no song references it)", sha.short_hex());
        }
        continue;
      }
    }
    on_disk.insert(sha);
    if (!recorded && referenced.count(sha)) {
      if (replicator_.note_local_copy(sha)) {
        ++counters_.index_fixed;
        spdlog::info("maintenance: recorded this node's copy of blob {}", sha.short_hex());
      }
    }
  }
  for (const auto& [sha, nodes] : *index) {
    if (nodes.count(self) && !on_disk.count(sha)) {
      replicator_.forget_local_copy(sha);
      ++counters_.index_fixed;
      spdlog::info("maintenance: dropped the record of blob {} (no copy on this node)", sha.short_hex());
    }
  }
}

void Maintenance::scrub_pass() {
  std::lock_guard pass(scrub_mu_);
  std::uint64_t ok = 0, corrupt = 0;
  for (const auto& sha : blobs_.list()) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto actual = hash_file(blobs_.path_for(sha));
    if (!actual) continue;  // removed meanwhile, or unreadable (counted by the next index pass)
    if (*actual == sha) {
      ++ok;
      ++counters_.scrubbed_ok;
      continue;
    }
    ++corrupt;
    ++counters_.scrubbed_corrupt;
    replicator_.forget_local_copy(sha);
    if (auto s = blobs_.quarantine(sha); !s) {
      spdlog::error("scrub: blob {} is corrupt and could not be quarantined: {}", sha.short_hex(),
                    s.to_string());
    } else {
      spdlog::error("scrub: blob {} is corrupt (its bytes hash to {}); moved to quarantine, "
                    "repair will replace it",
                    sha.short_hex(), actual->short_hex());
    }
  }
  spdlog::info("scrub: {} copies checked, {} corrupt", ok + corrupt, corrupt);
}

}  // namespace hifi::cluster
