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

// holders[sha256] = node ids with a record, from one read of the index.
// Records whose key does not name a sha256 are skipped.
Result<std::map<ContentHash, std::set<std::string>>> read_index(MetaStore& store) {
  auto range = store.range(kReplicasPrefix);
  if (!range) return range.status();
  std::map<ContentHash, std::set<std::string>> holders;
  const std::size_t prefix = std::string(kReplicasPrefix).size();
  for (const auto& kv : range->kvs) {
    auto slash = kv.key.find('/', prefix);
    if (slash == std::string::npos) continue;
    auto sha = ContentHash::parse(std::string_view(kv.key).substr(prefix, slash - prefix));
    if (!sha) continue;
    holders[*sha].insert(kv.key.substr(slash + 1));
  }
  return holders;
}

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
                         const PeerClient& peers, const Clock& clock, MaintenanceOptions options)
    : store_(store),
      blobs_(blobs),
      catalog_(catalog),
      membership_(membership),
      replicator_(replicator),
      peers_(peers),
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

RepairReport Maintenance::repair_pass() {
  std::lock_guard pass(repair_mu_);
  RepairReport report;
  if (!membership_.is_leader()) return report;
  auto index = read_index(store_);
  if (!index) {
    spdlog::warn("repair: cannot read the replica index: {}", index.status().to_string());
    return report;
  }
  ++counters_.repair_passes;
  const auto live = membership_.members();
  std::map<std::string, Member> live_by_id;
  for (const auto& m : live) live_by_id.emplace(m.id, m);
  const int wanted = replicator_.copies_wanted(live.size());
  const auto& self = membership_.self_id();
  auto referenced = catalog_.referenced_blobs();
  if (!referenced) {
    spdlog::warn("repair: skipped, the library view is stale: {}", referenced.status().to_string());
    return report;
  }
  int still_under = 0;
  for (const auto& sha : *referenced) {
    ++report.checked;
    std::vector<std::string> holders, candidates;
    for (const auto& node : (*index)[sha]) {
      if (live_by_id.count(node)) holders.push_back(node);
    }
    if (static_cast<int>(holders.size()) >= wanted) continue;
    ++report.under_replicated;
    if (holders.empty()) {
      ++report.without_live_copy;
      spdlog::warn("repair: no live node holds blob {}; waiting for a holder to come back",
                   sha.short_hex());
      ++still_under;
      continue;
    }
    for (const auto& m : live) {
      if (std::find(holders.begin(), holders.end(), m.id) == holders.end()) candidates.push_back(m.id);
    }
    candidates = rendezvous_rank(sha, std::move(candidates));
    // The source: this node when it holds a copy (no extra hop), else the
    // least loaded live holder.
    std::string source = holders.front();
    for (const auto& h : holders) {
      if (h == self || (source != self && less_loaded(live_by_id[h], live_by_id[source]))) source = h;
    }
    int have = static_cast<int>(holders.size());
    for (const auto& target : candidates) {
      if (have >= wanted) break;
      Status s = source == self ? replicator_.push_to(sha, target)
                                : peers_.request_push(live_by_id[source].advertise, sha, target);
      if (s) {
        ++have;
        ++report.copies_made;
        ++counters_.repair_copies_ok;
        spdlog::info("repair: copied blob {} from node {} to node {} ({} of {} copies)", sha.short_hex(),
                     source, target, have, wanted);
      } else {
        ++report.copies_failed;
        ++counters_.repair_copies_failed;
        spdlog::warn("repair: copying blob {} from node {} to node {} failed: {}", sha.short_hex(),
                     source, target, s.message());
      }
    }
    if (have < wanted) ++still_under;
  }
  counters_.under_replicated = still_under;
  counters_.without_live_copy = report.without_live_copy;
  if (report.under_replicated > 0) {
    spdlog::info("repair: {} blobs checked, {} had fewer than {} live copies, {} copies made, {} failed",
                 report.checked, report.under_replicated, wanted, report.copies_made, report.copies_failed);
  }
  return report;
}

void Maintenance::index_pass() {
  std::lock_guard pass(index_mu_);
  auto index = read_index(store_);
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
