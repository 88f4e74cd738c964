#include "room/jukebox.h"

#include <boost/json.hpp>

#include <algorithm>

namespace hifi::room {
namespace json = boost::json;
namespace {

constexpr char kPrefix[] = "jukebox/";
constexpr int kMaxCasRetries = 16;

}  // namespace

Result<JukeboxChoice> Jukeboxes::load(const std::string& user_id, Revision* revision) {
  *revision = 0;
  JukeboxChoice out;
  auto kv = store_.get(kPrefix + user_id);
  if (!kv) {
    if (kv.status().code() == Code::kNotFound) return out;
    return kv.status();
  }
  *revision = kv->mod_revision;
  boost::system::error_code ec;
  auto v = json::parse(kv->value, ec);
  if (ec || !v.is_object()) return out;  // a corrupt record is as good as none
  const auto& o = v.as_object();
  if (const auto* room = o.if_contains("room_id"); room && room->is_string()) out.room_id = room->as_string();
  if (const auto* gain = o.if_contains("gain"); gain && gain->is_number()) {
    out.gain = std::clamp(gain->to_number<double>(), 0.0, 1.0);
  }
  return out;
}

Result<bool> Jukeboxes::store_if(const std::string& user_id, const JukeboxChoice& choice, Revision revision) {
  json::object o;
  o["room_id"] = choice.room_id;
  o["gain"] = choice.gain;
  const auto key = kPrefix + user_id;
  auto r = store_.txn({Compare::mod_revision_equals(key, revision)}, {Op::put(key, json::serialize(o))});
  if (!r) return r.status();
  return r->succeeded;
}

Result<JukeboxChoice> Jukeboxes::update(const std::string& user_id,
                                       const std::function<Status(JukeboxChoice&)>& change) {
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    Revision revision = 0;
    auto choice = load(user_id, &revision);
    if (!choice) return choice.status();
    if (auto s = change(*choice); !s) return s;
    auto stored = store_if(user_id, *choice, revision);
    if (!stored) return stored.status();
    if (*stored) return choice;
  }
  return Status(Code::kUnavailable, "too much contention; try again");
}

Result<JukeboxChoice> Jukeboxes::choice(const std::string& user_id) {
  Revision ignored = 0;
  return load(user_id, &ignored);
}

Result<JukeboxChoice> Jukeboxes::choose(const User& user, const std::string& room_id) {
  if (auto room = rooms_.get_for(room_id, user.id); !room) return room.status();
  return update(user.id, [&](JukeboxChoice& c) {
    c.room_id = room_id;
    return Status::ok();
  });
}

Result<JukeboxChoice> Jukeboxes::set_gain(const User& user, double gain) {
  if (!(gain >= 0.0 && gain <= 1.0)) return invalid_argument("gain must be between 0.0 and 1.0");
  return update(user.id, [&](JukeboxChoice& c) {
    c.gain = gain;
    return Status::ok();
  });
}

Result<Room> Jukeboxes::room_of(const User& user) {
  auto choice = this->choice(user.id);
  if (!choice) return choice.status();
  if (!choice->room_id.empty()) {
    auto room = rooms_.get_for(choice->room_id, user.id);
    if (room || room.status().code() != Code::kNotFound) return room;
  }
  // None chosen, or the room is gone: the user's personal room.
  return rooms_.personal_room(user);
}

Status Jukeboxes::forget(const std::string& user_id) {
  auto r = store_.del(kPrefix + user_id);
  return r || r.status().code() == Code::kNotFound ? Status::ok() : r.status();
}

}  // namespace hifi::room
