#include "library/shares.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/random.h"
#include "common/text.h"
#include "library/json_record.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kPrefix[] = "shares/";
constexpr std::size_t kMaxSongIdBytes = 64;

json::object to_json(const Share& s) {
  json::object o;
  o["id"] = s.id;
  o["owner"] = s.owner;
  o["description"] = s.description;
  o["songs"] = json_array_of(s.songs);
  o["created_at"] = s.created_at;
  o["expires_at"] = s.expires_at;
  o["visit_count"] = s.visit_count;
  o["last_visited"] = s.last_visited;
  return o;
}

Share from_json(const json::object& o) {
  Share s;
  s.id = json_text(o, "id");
  s.owner = json_text(o, "owner");
  s.description = json_text(o, "description");
  s.songs = json_strings(o, "songs");
  s.created_at = json_int(o, "created_at");
  s.expires_at = json_int(o, "expires_at");
  s.visit_count = json_int(o, "visit_count");
  s.last_visited = json_int(o, "last_visited");
  return s;
}

bool valid_share_id(const std::string& id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status no_such_share() { return not_found("no such share, or it has expired"); }

}  // namespace

Shares::Shares(MetaStore& store, const Clock& clock) : store_(store), clock_(clock) {}

Result<Share> Shares::create(const User& owner, const std::vector<std::string>& songs, const std::string& description,
                             std::int64_t expires_at) {
  if (songs.empty()) return invalid_argument("a share needs at least one song");
  if (songs.size() > kMaxShareSongs) {
    return invalid_argument("a share holds at most " + std::to_string(kMaxShareSongs) + " songs");
  }
  for (const auto& id : songs) {
    if (id.empty() || id.size() > kMaxSongIdBytes) return invalid_argument("not a song id: '" + id.substr(0, 64) + "'");
  }
  auto clean = clean_user_text(description, kMaxShareDescriptionChars, "the description", true);
  if (!clean) return clean.status();
  const auto now = clock_.now_ms();
  if (expires_at != 0 && expires_at <= now) return invalid_argument("the expiry must be in the future");
  auto mine = list(owner);
  if (!mine) return mine.status();
  const auto owned = std::count_if(mine->begin(), mine->end(), [&](const Share& s) { return s.owner == owner.id; });
  if (static_cast<std::size_t>(owned) >= kMaxSharesPerUser) {
    return resource_exhausted("you have " + std::to_string(owned) + " shares, the most one user may have");
  }
  Share s;
  s.id = random_hex(16);
  s.owner = owner.id;
  s.description = *clean;
  s.songs = songs;
  s.created_at = now;
  s.expires_at = expires_at;
  const auto key = kPrefix + s.id;
  auto txn = store_.txn({Compare::absent(key)}, {Op::put(key, json::serialize(to_json(s)))});
  if (!txn) return txn.status();
  if (!txn->succeeded) return internal_error("a new share id collided; try again");
  return s;
}

Result<std::vector<Share>> Shares::list(const User& viewer) const {
  auto range = store_.range(kPrefix);
  if (!range) return range.status();
  std::vector<Share> out;
  for (const auto& kv : range->kvs) {
    auto o = parse_record(kv.value);
    if (!o) continue;
    auto s = from_json(*o);
    if (s.owner == viewer.id || viewer.is_admin()) out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Share& a, const Share& b) { return a.created_at > b.created_at; });
  return out;
}

Result<Share> Shares::get(const std::string& id, const User& viewer) const {
  if (!valid_share_id(id)) return no_such_share();
  auto kv = store_.get(kPrefix + id);
  if (!kv) return kv.status().code() == Code::kNotFound ? no_such_share() : kv.status();
  auto o = parse_record(kv->value);
  if (!o) return no_such_share();
  auto s = from_json(*o);
  if (s.owner != viewer.id && !viewer.is_admin()) return no_such_share();
  return s;
}

Result<Share> Shares::visit(const std::string& id, bool count_visit) {
  if (!valid_share_id(id)) return no_such_share();
  const auto now = clock_.now_ms();
  Share seen;
  auto update = update_json_record(
      store_, kPrefix + id, [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        if (!current) return no_such_share();
        seen = from_json(*current);
        if (seen.expired(now)) return no_such_share();
        if (!count_visit) return current;
        seen.visit_count += 1;
        seen.last_visited = now;
        return std::optional<json::object>(to_json(seen));
      });
  if (!update) return update.status();
  return seen;
}

Result<Share> Shares::update(const std::string& id, const User& actor, const ShareEdit& edit) {
  if (!valid_share_id(id)) return no_such_share();
  std::optional<std::string> description;
  if (edit.description) {
    auto clean = clean_user_text(*edit.description, kMaxShareDescriptionChars, "the description", true);
    if (!clean) return clean.status();
    description = *clean;
  }
  const auto now = clock_.now_ms();
  if (edit.expires_at && *edit.expires_at != 0 && *edit.expires_at <= now) {
    return invalid_argument("the expiry must be in the future");
  }
  Share result;
  auto update = update_json_record(
      store_, kPrefix + id, [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        if (!current) return no_such_share();
        result = from_json(*current);
        if (result.owner != actor.id && !actor.is_admin()) return no_such_share();
        if (description) result.description = *description;
        if (edit.expires_at) result.expires_at = *edit.expires_at;
        return std::optional<json::object>(to_json(result));
      });
  if (!update) return update.status();
  return result;
}

Status Shares::remove(const std::string& id, const User& actor) {
  if (!valid_share_id(id)) return no_such_share();
  auto update = update_json_record(
      store_, kPrefix + id, [&](const std::optional<json::object>& current) -> Result<std::optional<json::object>> {
        if (!current) return no_such_share();
        auto s = from_json(*current);
        if (s.owner != actor.id && !actor.is_admin()) return no_such_share();
        return std::optional<json::object>();
      });
  return update ? Status::ok() : update.status();
}

Status Shares::forget_user(const std::string& user_id) {
  auto range = store_.range(kPrefix);
  if (!range) return range.status();
  std::vector<Op> ops;
  for (const auto& kv : range->kvs) {
    auto o = parse_record(kv.value);
    if (o && json_text(*o, "owner") == user_id) ops.push_back(Op::del(kv.key));
  }
  if (ops.empty()) return Status::ok();
  auto txn = store_.txn({}, ops);
  return txn ? Status::ok() : txn.status();
}

}  // namespace hifi
