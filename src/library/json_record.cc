#include "library/json_record.h"

#include <boost/json.hpp>
#include <mutex>

#include "store/cas_retry.h"

namespace hifi {
namespace json = boost::json;

std::string json_text(const json::object& o, std::string_view name) {
  const auto* p = o.if_contains(name);
  return p && p->is_string() ? std::string(p->as_string()) : std::string();
}

std::int64_t json_int(const json::object& o, std::string_view name) {
  const auto* p = o.if_contains(name);
  if (!p) return 0;
  if (p->is_int64()) return p->as_int64();
  if (p->is_uint64()) return static_cast<std::int64_t>(p->as_uint64());
  return 0;
}

bool json_bool(const json::object& o, std::string_view name) {
  const auto* p = o.if_contains(name);
  return p && p->is_bool() && p->as_bool();
}

std::vector<std::string> json_strings(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const auto* p = o.if_contains(name);
  if (!p || !p->is_array()) return out;
  for (const auto& v : p->as_array()) {
    if (v.is_string()) out.emplace_back(v.as_string());
  }
  return out;
}

json::array json_array_of(const std::vector<std::string>& items) {
  json::array a;
  a.reserve(items.size());
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

std::optional<json::object> parse_record(std::string_view value) {
  boost::system::error_code ec;
  auto v = json::parse(value, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

Result<RecordUpdate> update_json_record(MetaStore& store, const std::string& key, const RecordChange& change,
                                        const std::vector<Op>& also) {
  // Changes of one record through this process take turns (cas_retry.h).
  static CasTurns turns;
  std::unique_lock turn(turns.of(key));
  for (int attempt = 0; attempt < 16; ++attempt) {
    if (attempt > 0) {
      turn.unlock();  // keys share turns: not held through the pause
      back_off_after_lost_compare(attempt);
      turn.lock();
    }
    auto kv = store.get(key);
    std::optional<json::object> current;
    Revision seen = 0;
    if (kv) {
      current = parse_record(kv->value);
      seen = kv->mod_revision;
    } else if (kv.status().code() != Code::kNotFound) {
      return kv.status();
    }
    auto next = change(current);
    if (!next) return next.status();
    if (!*next && !current && seen == 0) {
      auto rev = store.current_revision();
      if (!rev) return rev.status();
      return RecordUpdate{false, *rev, std::nullopt};
    }
    std::vector<Op> ops;
    if (*next) {
      ops.push_back(Op::put(key, json::serialize(**next)));
    } else {
      ops.push_back(Op::del(key));
    }
    ops.insert(ops.end(), also.begin(), also.end());
    auto txn = store.txn({Compare::mod_revision_equals(key, seen)}, ops);
    if (!txn) return txn.status();
    if (txn->succeeded) return RecordUpdate{true, txn->revision, std::move(*next)};
  }
  return unavailable("too many concurrent changes to " + key + "; try again");
}

}  // namespace hifi
