#include "cluster/replicator.h"

#include <map>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <future>
#include <set>

namespace hifi::cluster {

Replicator::Replicator(MetaStore& store, BlobStore& blobs, const Membership& membership,
                       const PeerClient& peers, const Clock& clock, int replicas)
    : store_(store),
      blobs_(blobs),
      membership_(membership),
      peers_(peers),
      clock_(clock),
      replicas_(std::max(1, replicas)) {}

int Replicator::copies_wanted(std::size_t live) const {
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(replicas_), std::max<std::size_t>(1, live)));
}

Status Replicator::note_local_copy(const ContentHash& sha256) {
  std::shared_lock lock(local_copies_mu_);
  auto size = blobs_.size_of(sha256);
  if (!size) return size.status();
  boost::json::object record{{"size", *size}, {"at", clock_.now_ms()}};
  auto put = store_.put(replica_key(sha256, membership_.self_id()), boost::json::serialize(record));
  return put ? Status::ok() : put.status();
}

void Replicator::forget_local_copy(const ContentHash& sha256) {
  if (auto del = store_.del(replica_key(sha256, membership_.self_id())); !del) {
    spdlog::warn("could not drop the index record of {} ({}); maintenance will", sha256.short_hex(),
                 del.status().to_string());
  }
}

Result<std::vector<Replica>> Replicator::replicas(const ContentHash& sha256) const {
  const std::string prefix = std::string(kReplicasPrefix) + sha256.hex() + "/";
  auto range = store_.range(prefix);
  if (!range) return range.status();
  std::vector<Replica> out;
  for (const auto& kv : range->kvs) {
    Replica r;
    r.node_id = kv.key.substr(prefix.size());
    r.member = membership_.find(r.node_id);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Member> Replicator::holders(const ContentHash& sha256) const {
  std::vector<Member> out;
  auto records = replicas(sha256);
  if (!records) return out;
  for (const auto& r : *records) {
    if (r.member && r.node_id != membership_.self_id()) out.push_back(*r.member);
  }
  std::sort(out.begin(), out.end(), less_loaded);
  return out;
}

namespace {

// Of `live`, the members that may take a new copy: this node and the
// others in service. Draining members take no new copies (this node's own
// copy stays even while it drains: it hands it over before it leaves).
std::vector<Member> members_taking_copies(std::vector<Member> live, const std::string& self) {
  std::erase_if(live, [&](const Member& m) { return m.id != self && !in_service(m); });
  return live;
}

}  // namespace

std::vector<Member> Replicator::stream_targets(const ContentHash& key) const {
  // This node's view, with no store read (the caller is a network thread):
  // a node that joined since its last renewal gets its copy from
  // replicate(), which reads the store.
  const auto& self = membership_.self_id();
  auto live = members_taking_copies(membership_.members(), self);
  if (std::none_of(live.begin(), live.end(), [&](const Member& m) { return m.id == self; })) return {};
  std::vector<std::string> others;
  for (const auto& m : live) {
    if (m.id != self) others.push_back(m.id);
  }
  const auto wanted = static_cast<std::size_t>(copies_wanted(live.size()) - 1);
  std::vector<Member> out;
  for (const auto& id : rendezvous_rank(key, std::move(others))) {
    if (out.size() >= wanted) break;
    out.push_back(*std::find_if(live.begin(), live.end(), [&](const Member& m) { return m.id == id; }));
  }
  return out;
}

void Replicator::abort_staged(const std::vector<StagedCopy>& staged) {
  for (const auto& copy : staged) {
    auto member = membership_.find(copy.node_id);
    if (!member) continue;  // gone: its copies went with it, or expire
    if (auto s = peers_.abort_staged(*member, copy.upload_id); !s) {
      spdlog::info("could not drop the streamed copy of upload {} on node {} ({}); it expires", copy.upload_id,
                   copy.node_id, s.message());
    }
  }
}

Status Replicator::replicate(const ContentHash& sha256, const WaitForStagedCopies& staged_copies) {
  const auto& self = membership_.self_id();
  // The members as the store lists them now: a node that joined since this
  // node's last renewal gets its copy too (and counts in "every live node
  // if fewer").
  auto live = members_taking_copies(membership_.current_members(), self);
  // Copies other nodes received while the upload arrived: those that hash
  // to what this node received are committed there, first; the others
  // (their bytes were damaged on the way) are dropped at the end, with
  // those not needed.
  std::map<std::string, StagedCopy> staged;
  std::vector<StagedCopy> to_abort;
  for (auto& copy : staged_copies ? staged_copies() : std::vector<StagedCopy>{}) {
    if (!copy.answered) continue;  // the uploading side aborts it, not to delay this
    if (copy.sha256 == sha256) {
      staged.emplace(copy.node_id, std::move(copy));
    } else {
      spdlog::warn("the copy of upload {} streamed to node {} hashes to {}, not {}; sending it again",
                   copy.upload_id, copy.node_id, copy.sha256.short_hex(), sha256.short_hex());
      to_abort.push_back(std::move(copy));
    }
  }
  // (Without a membership there is no one to tell; streamed copies expire.)
  if (live.empty()) return unavailable("this node has not joined the cluster yet; try again");
  // This node's copy is durable already: its record is written while the
  // other copies are made (the index never names a copy before it is).
  auto local_record = std::async(std::launch::async, [this, sha256] { return note_local_copy(sha256); });
  int unreachable = 0;
  auto wanted = [&] { return copies_wanted(live.size() - static_cast<std::size_t>(unreachable)); };
  // Every target is sent the blob, even one whose record says it holds a
  // copy: that copy may be about to be garbage-collected (its song was
  // deleted), and a holder answers at once and marks it as wanted again.
  // The nodes holding a streamed copy come first.
  std::vector<std::string> ranked;
  std::vector<std::string> candidates;
  std::map<std::string, const Member*> by_id;
  for (const auto& m : live) {
    if (m.id == self) continue;
    by_id[m.id] = &m;
    (staged.count(m.id) ? candidates : ranked).push_back(m.id);
  }
  for (auto& id : rendezvous_rank(sha256, std::move(ranked))) candidates.push_back(std::move(id));
  // A copy streamed to a node that is no longer live and in service (it
  // began to drain meanwhile) is not committed there.
  for (auto it = staged.begin(); it != staged.end();) {
    if (by_id.count(it->first)) {
      ++it;
    } else {
      to_abort.push_back(std::move(it->second));
      it = staged.erase(it);
    }
  }
  int have = 1;  // this node's copy
  std::size_t next = 0;
  std::string last_error;
  // Make as many copies at once as are missing; replace each failed one
  // with the next in rank until none are left.
  while (have < wanted() && next < candidates.size()) {
    std::vector<std::pair<std::string, std::future<Status>>> round;
    while (static_cast<int>(round.size()) < wanted() - have && next < candidates.size()) {
      const auto target = candidates[next++];
      const Member& member = *by_id.at(target);
      const auto copy = staged.find(target);
      const StagedCopy* streamed = copy == staged.end() ? nullptr : &copy->second;
      round.emplace_back(target, std::async(std::launch::async, [this, sha256, &member, streamed] {
                           return streamed ? commit_streamed(*streamed, member) : push_to_member(sha256, member);
                         }));
    }
    for (auto& [target, result] : round) {
      auto s = result.get();
      if (s) {
        ++have;
      } else {
        // A member that cannot even be connected to is down and only its
        // lease has not run out yet, and one whose disk is full cannot hold
        // a copy: neither counts among the nodes that can (repair copies to
        // it once it can).
        if (s.code() == Code::kUnavailable || s.code() == Code::kResourceExhausted) ++unreachable;
        last_error = s.message();
        spdlog::warn("copy of {} to node {} failed: {}; trying another node", sha256.short_hex(),
                     target, s.message());
      }
    }
  }
  // Streamed copies not needed (enough copies were made before their turn).
  for (std::size_t i = next; i < candidates.size(); ++i) {
    if (auto copy = staged.find(candidates[i]); copy != staged.end()) to_abort.push_back(copy->second);
  }
  if (!to_abort.empty()) abort_staged(to_abort);
  if (auto s = local_record.get(); !s) return s;
  if (have < wanted()) {
    ++counters_.under_replicated_uploads;
    return unavailable("only " + std::to_string(have) + " of " + std::to_string(wanted()) +
                       " copies could be made durable" +
                       (last_error.empty() ? std::string() : " (last error: " + last_error + ")"));
  }
  return Status::ok();
}

Status Replicator::commit_streamed(const StagedCopy& copy, const Member& target) {
  auto s = peers_.commit_staged(target, copy);
  if (s) {
    ++counters_.streamed_ok;
    return s;
  }
  ++counters_.streamed_failed;
  // Down: no second try. Otherwise (the copy expired, the node restarted,
  // or its bytes differ) the whole blob goes again.
  if (s.code() == Code::kUnavailable) return s;
  spdlog::info("the streamed copy of {} on node {} could not be committed ({}); sending the blob again",
               copy.sha256.short_hex(), target.id, s.message());
  return push_to_member(copy.sha256, target);
}

Result<ReplicaIndex> read_replica_index(MetaStore& store) {
  auto range = store.range(kReplicasPrefix);
  if (!range) return range.status();
  ReplicaIndex index;
  const std::size_t prefix = std::string(kReplicasPrefix).size();
  for (const auto& kv : range->kvs) {
    auto slash = kv.key.find('/', prefix);
    if (slash == std::string::npos) continue;
    auto sha = ContentHash::parse(std::string_view(kv.key).substr(prefix, slash - prefix));
    if (!sha) continue;
    index[*sha][kv.key.substr(slash + 1)] = kv.mod_revision;
  }
  return index;
}

HandOverReport Replicator::hand_over_copies() {
  HandOverReport report;
  const auto& self = membership_.self_id();
  auto members = membership_.current_members();
  std::map<std::string, const Member*> staying;
  for (const auto& m : members) {
    if (m.id != self && in_service(m)) staying[m.id] = &m;
  }
  report.others_in_service = static_cast<int>(staying.size());
  const int wanted = copies_wanted(staying.size());
  auto index = read_replica_index(store_);
  if (!index) {
    report.error = "cannot read the replica index: " + index.status().message();
    return report;
  }
  for (const auto& [sha, holders] : *index) {
    if (!holders.count(self)) continue;
    ++report.checked;
    std::vector<std::string> have;
    std::vector<std::string> candidates;
    for (const auto& [id, member] : staying) {
      (holders.count(id) ? have : candidates).push_back(id);
    }
    for (const auto& target : rendezvous_rank(sha, std::move(candidates))) {
      if (static_cast<int>(have.size()) >= wanted) break;
      if (auto s = push_to_member(sha, *staying.at(target)); s) {
        have.push_back(target);
        ++report.copied;
      } else {
        spdlog::warn("drain: copy of {} to node {} failed: {}", sha.short_hex(), target, s.message());
      }
    }
    if (static_cast<int>(have.size()) < wanted) {
      ++report.short_of_copies;
      continue;
    }
    // This node's record goes only while the records of the copies counted
    // are all still there: the repair leader, its view of this node not yet
    // "draining", may have trimmed one of them as a surplus meanwhile (then
    // the next round hands the blob over again).
    std::vector<Compare> compares;
    for (const auto& id : have) compares.push_back(Compare::exists(replica_key(sha, id)));
    auto txn = store_.txn(compares, {Op::del(replica_key(sha, self))});
    if (!txn || !txn->succeeded) {
      spdlog::info("drain: a copy of {} went while it was handed over ({}); handing it over again",
                   sha.short_hex(), txn ? "dropped by another node" : txn.status().message());
      ++report.short_of_copies;
      continue;
    }
    ++report.released;
  }
  return report;
}

Status Replicator::push_to(const ContentHash& sha256, const std::string& target_id) {
  auto target = membership_.find(target_id);
  if (!target) {
    // Perhaps it joined since this node's last renewal (the repair leader
    // names the members it sees): ask the store.
    for (auto& m : membership_.current_members()) {
      if (m.id == target_id) target = std::move(m);
    }
  }
  if (!target) return not_found("node " + target_id + " is not a live member");
  return push_to_member(sha256, *target);
}

Status Replicator::push_to_member(const ContentHash& sha256, const Member& target) {
  if (!blobs_.exists(sha256)) return not_found("this node has no copy of " + sha256.hex());
  auto s = peers_.push_blob(target, sha256, blobs_.path_for(sha256));
  ++(s ? counters_.pushes_ok : counters_.pushes_failed);
  return s;
}

Status Replicator::drop_local_copy(const ContentHash& sha256) {
  std::unique_lock lock(local_copies_mu_);
  if (!blobs_.exists(sha256)) return not_found("this node has no copy of " + sha256.hex());
  auto records = replicas(sha256);
  if (!records) return records.status();
  const auto& self = membership_.self_id();
  // Only copies on members in service count: a draining one's copy is
  // about to go (it hands its copies over, then drops its records).
  const auto live = membership_.members();
  const int wanted = copies_wanted(static_cast<std::size_t>(std::count_if(live.begin(), live.end(), in_service)));
  std::vector<std::string> others;
  for (const auto& r : *records) {
    if (r.member && r.node_id != self && in_service(*r.member)) others.push_back(r.node_id);
  }
  if (static_cast<int>(others.size()) < wanted) {
    return failed_precondition("only " + std::to_string(others.size()) + " other live node(s) hold blob " +
                               sha256.hex() + " and " + std::to_string(wanted) +
                               " copies are wanted; this node keeps its copy");
  }
  // The records of the `wanted` others ranked first must still be there
  // when this node's record goes.
  others = rendezvous_rank(sha256, std::move(others));
  std::vector<Compare> compares;
  for (std::size_t i = 0; i < static_cast<std::size_t>(wanted); ++i) {
    compares.push_back(Compare::exists(replica_key(sha256, others[i])));
  }
  auto txn = store_.txn(compares, {Op::del(replica_key(sha256, self))});
  if (!txn) return txn.status();
  if (!txn->succeeded) {
    return failed_precondition("another copy of blob " + sha256.hex() +
                               " was dropped meanwhile; this node keeps its copy");
  }
  // The index no longer names this copy; a file left behind by a failure
  // here is recorded again by the index pass and trimmed again.
  if (auto s = blobs_.remove(sha256); !s && s.code() != Code::kNotFound) return s;
  spdlog::info("dropped this node's copy of blob {} ({} other live node(s) hold one, {} wanted)",
               sha256.short_hex(), others.size(), wanted);
  return Status::ok();
}

}  // namespace hifi::cluster
