// Member: what a node of a cluster tells the others about itself, kept in
// the MetaStore under members/<node-id> for as long as its lease lives.
// Also the rendezvous ranking that places copies of a blob on members.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/content_hash.h"
#include "common/status.h"

namespace hifi::cluster {

inline constexpr const char* kMembersPrefix = "members/";
inline constexpr const char* kLeaderKey = "leader";
// replicas/<sha256>/<node-id>: the node holds a durable copy of the blob.
inline constexpr const char* kReplicasPrefix = "replicas/";
// drain/<node-id>: an admin (or the autoscaler) asked that node to drain;
// the node notices at its next renewal and removes the key when it leaves.
inline constexpr const char* kDrainPrefix = "drain/";

struct Load {
  std::int64_t active_streams = 0;
  std::int64_t bytes_per_second = 0;  // song bytes sent, averaged over the last renewal period
  std::int64_t connections = 0;
  std::int64_t websockets = 0;
  // CPU this node's process used over the last renewal period, as a
  // fraction of all the machine's cores (0..1).
  double cpu = 0;
};

// How a member says it is doing. Member records and GET /api/v1/cluster
// carry it as a string: "ok" for kLive, "degraded" for kDegraded,
// "draining" for kDraining.
enum class Health {
  kLive,      // in service
  kDegraded,  // in service, but short of something (e.g. disk almost full)
  kDraining,  // leaving: serves what it has begun, takes nothing new (no
              // uploads, copies, listeners or redirects), hands its copies
              // over, then deregisters
};
const char* to_string(Health health);
// "ok", "degraded" or "draining"; kInvalidArgument for anything else.
Result<Health> parse_health(std::string_view text);

struct Member {
  std::string id;
  std::string advertise;  // base URL, "http://host:port"
  Health health = Health::kLive;
  Load load;
  std::uint64_t disk_free_bytes = 0;
  std::uint64_t disk_total_bytes = 0;
  std::int64_t started_at = 0;  // Unix ms
  std::int64_t updated_at = 0;  // Unix ms
  std::string version;
};

boost::json::object member_to_json(const Member& member);
// kInvalidArgument when the text is not a member record (not a JSON object,
// or no id or advertised URL). A record without a health is kLive; one with
// a health this node does not know is kDegraded.
Result<Member> member_from_json(std::string_view text);

// Whether a member takes new work (not draining).
inline bool in_service(const Member& m) { return m.health != Health::kDraining; }

// True when a is less loaded than b: a member in service before a draining
// one, then fewer active streams, then fewer connections, then the smaller
// id (so every node breaks ties alike).
bool less_loaded(const Member& a, const Member& b);

// Rendezvous (highest random weight) ranking of the candidates for a blob:
// each node's score is a hash of (node id, sha256), so every node computes
// the same order, and a node joining or leaving moves only the blobs it
// ranks first for. Returns the ids best first.
std::vector<std::string> rendezvous_rank(const ContentHash& sha256,
                                         std::vector<std::string> node_ids);

std::string replica_key(const ContentHash& sha256, const std::string& node_id);

}  // namespace hifi::cluster
