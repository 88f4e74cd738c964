#include "cluster/member.h"

#include <boost/json.hpp>

#include <algorithm>
#include <tuple>

#include "common/sha256.h"

namespace hifi::cluster {
namespace json = boost::json;

const char* to_string(Health health) {
  switch (health) {
    case Health::kLive: return "ok";
    case Health::kDegraded: return "degraded";
    case Health::kDraining: return "draining";
  }
  return "degraded";
}

Result<Health> parse_health(std::string_view text) {
  if (text == "ok") return Health::kLive;
  if (text == "degraded") return Health::kDegraded;
  if (text == "draining") return Health::kDraining;
  return invalid_argument("health must be ok, degraded or draining");
}

json::object member_to_json(const Member& m) {
  return {{"id", m.id},
          {"advertise", m.advertise},
          {"health", to_string(m.health)},
          {"load",
           {{"active_streams", m.load.active_streams},
            {"bytes_per_second", m.load.bytes_per_second},
            {"connections", m.load.connections},
            {"websockets", m.load.websockets},
            {"cpu", m.load.cpu}}},
          {"disk_free_bytes", m.disk_free_bytes},
          {"disk_total_bytes", m.disk_total_bytes},
          {"started_at", m.started_at},
          {"updated_at", m.updated_at},
          {"version", m.version}};
}

namespace {

std::int64_t int_field(const json::object& o, const char* name) {
  auto* v = o.if_contains(name);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}

std::string string_field(const json::object& o, const char* name) {
  auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

Result<Member> member_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return invalid_argument("a member record is a JSON object");
  const auto& o = value.as_object();
  Member m;
  m.id = string_field(o, "id");
  m.advertise = string_field(o, "advertise");
  if (m.id.empty() || m.advertise.empty()) {
    return invalid_argument("a member record needs an id and an advertised URL");
  }
  if (auto* health = o.if_contains("health"); health && health->is_string()) {
    auto known = parse_health(health->as_string());
    m.health = known ? *known : Health::kDegraded;
  }
  if (auto* load = o.if_contains("load"); load && load->is_object()) {
    const auto& l = load->as_object();
    m.load.active_streams = int_field(l, "active_streams");
    m.load.bytes_per_second = int_field(l, "bytes_per_second");
    m.load.connections = int_field(l, "connections");
    m.load.websockets = int_field(l, "websockets");
    if (auto* cpu = l.if_contains("cpu"); cpu && cpu->is_number()) m.load.cpu = cpu->to_number<double>();
  }
  m.disk_free_bytes = static_cast<std::uint64_t>(int_field(o, "disk_free_bytes"));
  m.disk_total_bytes = static_cast<std::uint64_t>(int_field(o, "disk_total_bytes"));
  m.started_at = int_field(o, "started_at");
  m.updated_at = int_field(o, "updated_at");
  m.version = string_field(o, "version");
  return m;
}

bool less_loaded(const Member& a, const Member& b) {
  const bool a_leaving = !in_service(a), b_leaving = !in_service(b);
  return std::tie(a_leaving, a.load.active_streams, a.load.connections, a.id) <
         std::tie(b_leaving, b.load.active_streams, b.load.connections, b.id);
}

std::vector<std::string> rendezvous_rank(const ContentHash& sha256,
                                         std::vector<std::string> node_ids) {
  std::vector<std::pair<std::string, std::string>> scored;  // (score, id)
  scored.reserve(node_ids.size());
  for (auto& id : node_ids) scored.emplace_back(to_hex(hifi::sha256(id + "\n" + sha256.hex())), std::move(id));
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  out.reserve(scored.size());
  for (auto& [score, id] : scored) out.push_back(std::move(id));
  return out;
}

std::string replica_key(const ContentHash& sha256, const std::string& node_id) {
  return std::string(kReplicasPrefix) + sha256.hex() + "/" + node_id;
}

}  // namespace hifi::cluster
