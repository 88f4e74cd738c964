#include "room/room_service.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "common/random.h"
#include "common/sha256.h"
#include "common/text.h"
#include "store/cas_retry.h"

namespace hifi::room {
namespace json = boost::json;
namespace {

constexpr char kRoomsPrefix[] = "rooms/";
constexpr int kMaxCasRetries = 64;
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);
// A room's record is rewritten whole by every command, so it must stay far
// below etcd's request limit (1.5 MiB by default). The queue's bounds keep
// it under 736 KB (kMaxQueueItemsCeiling); this is the backstop should a
// field grow that the computation did not foresee: half the limit.
constexpr std::size_t kMaxRoomRecordBytes = 768 * 1024;

std::string record_of(const Room& r) {
  json::object o{{"id", r.id},
                 {"name", r.name},
                 {"owner", r.owner},
                 {"created_at", r.created_at},
                 {"private", r.is_private},
                 {"state", to_json(r.state)},
                 {"last_command", {{"type", r.last_command}, {"by", r.last_command_by}}}};
  return json::serialize(o);
}

Result<Room> room_of(const KeyValue& kv) {
  boost::system::error_code ec;
  auto v = json::parse(kv.value, ec);
  if (ec || !v.is_object()) return internal_error("corrupt room record " + kv.key);
  const auto& o = v.as_object();
  Room r;
  try {
    r.id = json::value_to<std::string>(o.at("id"));
    r.name = json::value_to<std::string>(o.at("name"));
    r.owner = json::value_to<std::string>(o.at("owner"));
    r.created_at = o.at("created_at").to_number<std::int64_t>();
    if (const auto* p = o.if_contains("private")) r.is_private = p->as_bool();
    auto state = state_from_json(o.at("state").as_object());
    if (!state) return internal_error("corrupt room state in " + kv.key + ": " + state.status().message());
    r.state = std::move(*state);
    const auto& last = o.at("last_command").as_object();
    r.last_command = json::value_to<std::string>(last.at("type"));
    r.last_command_by = json::value_to<std::string>(last.at("by"));
  } catch (const std::exception& e) {
    return internal_error("corrupt room record " + kv.key + ": " + e.what());
  }
  r.revision = kv.mod_revision;
  return r;
}

}  // namespace

Status validate_room_name(const std::string& name) {
  if (name.empty()) return invalid_argument("a room needs a name");
  if (!is_valid_utf8(name)) return invalid_argument("the room name must be valid UTF-8");
  std::size_t chars = 0;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return invalid_argument("the room name cannot contain control characters");
    if ((c & 0xC0) != 0x80) ++chars;
  }
  if (chars > 100) return invalid_argument("the room name can be at most 100 characters long");
  return Status::ok();
}

RoomService::RoomService(MetaStore& store, const Clock& clock, RoomServiceOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      view_(store, kRoomsPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
            [this](const WatchResponse& response) { apply_events(response); },
            WatchedViewOptions{.name = "rooms", .after_apply = [this] { notify(std::exchange(applied_events_, {})); }}) {}

RoomService::~RoomService() { stop(); }

void RoomService::set_listener(std::function<void(const RoomEvent&)> listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

void RoomService::set_command_lead(std::function<CommandLeads(const std::string& room_id)> lead) {
  std::lock_guard lock(mu_);
  command_lead_ = std::move(lead);
}

Status RoomService::start() {
  if (auto s = view_.start(); !s) return s;
  if (options_.auto_advance) scheduler_ = std::thread([this] { scheduler_loop(); });
  return Status::ok();
}

void RoomService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  view_.stop();
}

void RoomService::reset(const RangeResult& snapshot) {
  std::map<std::string, Room> rooms;
  for (const auto& kv : snapshot.kvs) {
    auto room = room_of(kv);
    if (!room) {
      spdlog::error("rooms: {}", room.status().message());
      continue;
    }
    rooms[room->id] = std::move(*room);
  }
  std::vector<RoomEvent> events;
  {
    std::lock_guard lock(mu_);
    if (loaded_) {
      // What the ended watch missed, as the events it would have delivered.
      for (const auto& [id, room] : rooms_) {
        if (rooms.contains(id)) continue;
        RoomEvent event;
        event.type = RoomEvent::Type::kDeleted;
        event.room.id = id;
        event.room.revision = snapshot.revision;
        events.push_back(std::move(event));
      }
      for (const auto& [id, room] : rooms) {
        auto old = rooms_.find(id);
        if (old != rooms_.end() && old->second.revision == room.revision) continue;
        events.push_back(RoomEvent{RoomEvent::Type::kUpdated, room});
      }
    }
    rooms_.swap(rooms);
    loaded_ = true;
  }
  changed_.notify_all();
  notify(events);
}

void RoomService::apply_events(const WatchResponse& response) {
  std::vector<RoomEvent> events;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : response.events) {
      RoomEvent event;
      if (e.type == WatchEvent::Type::kDelete) {
        event.type = RoomEvent::Type::kDeleted;
        event.room.id = e.kv.key.substr(sizeof(kRoomsPrefix) - 1);
        event.room.revision = response.revision;
        rooms_.erase(event.room.id);
      } else {
        auto room = room_of(e.kv);
        if (!room) {
          spdlog::error("rooms: {}", room.status().message());
          continue;
        }
        rooms_[room->id] = *room;
        event.room = std::move(*room);
      }
      events.push_back(std::move(event));
    }
  }
  changed_.notify_all();
  // The listener hears of them once the commands waiting for this revision
  // are released (the view's after_apply): a command's answer does not wait
  // for the fan-out of its change.
  applied_events_ = std::move(events);
}

void RoomService::notify(const std::vector<RoomEvent>& events) {
  if (events.empty()) return;
  std::function<void(const RoomEvent&)> listener;
  {
    std::lock_guard lock(mu_);
    listener = listener_;
  }
  if (listener) {
    for (const auto& e : events) listener(e);
  }
}

Status RoomService::wait_for_revision(Revision revision) {
  return view_.wait_for_revision(revision, std::chrono::steady_clock::now() + kCatchUpTimeout);
}

std::string personal_room_id(const std::string& user_id) {
  return to_hex(sha256("hifi personal room\n" + user_id)).substr(0, 16);
}

Result<bool> RoomService::insert(Room& room) {
  {
    std::lock_guard lock(mu_);
    if (rooms_.size() >= options_.max_rooms) {
      return resource_exhausted("this server holds at most " + std::to_string(options_.max_rooms) + " rooms");
    }
    if (!room.is_private) {
      const auto owned = std::count_if(rooms_.begin(), rooms_.end(), [&](const auto& entry) {
        return entry.second.owner == room.owner && !entry.second.is_private;
      });
      if (static_cast<std::size_t>(owned) >= options_.max_rooms_per_user) {
        return resource_exhausted("you own " + std::to_string(owned) + " rooms, the most one user may have; "
                                  "delete one to make another");
      }
    }
  }
  room.created_at = clock_.now_ms();
  room.state.position_at = room.created_at;
  room.last_command_by = room.owner;
  const auto key = kRoomsPrefix + room.id;
  auto txn = store_.txn({Compare::absent(key)}, {Op::put(key, record_of(room))});
  if (!txn) return txn.status();
  if (!txn->succeeded) return false;
  room.revision = txn->revision;
  if (auto s = wait_for_revision(txn->revision); !s) return s;
  return true;
}

Result<Room> RoomService::create(const std::string& name, const std::string& owner) {
  if (auto s = validate_room_name(name); !s) return s;
  Room room;
  room.id = random_hex(8);
  room.name = name;
  room.owner = owner;
  auto inserted = insert(room);
  if (!inserted) return inserted.status();
  if (!*inserted) return internal_error("room id collision");
  return room;
}

Result<Room> RoomService::personal_room(const User& user) {
  const auto id = personal_room_id(user.id);
  if (auto room = get(id); room) return room;
  Room room;
  room.id = id;
  room.name = user.username + "'s music";
  room.owner = user.id;
  room.is_private = true;
  auto inserted = insert(room);
  if (!inserted) return inserted.status();
  if (*inserted) return room;
  // Made meanwhile by another request (perhaps on another node): read it
  // from the store, which this node's view may not have caught up with.
  auto kv = store_.get(kRoomsPrefix + id);
  if (!kv) return kv.status();
  if (auto s = wait_for_revision(kv->mod_revision); !s) return s;
  return room_of(*kv);
}

Result<Room> RoomService::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(id);
  if (it == rooms_.end()) return not_found("no room with id '" + id + "'");
  return it->second;
}

Result<Room> RoomService::get_for(const std::string& id, const std::string& user_id) const {
  auto room = get(id);
  if (room && !may_use(*room, user_id)) return not_found("no room with id '" + id + "'");
  return room;
}

std::vector<Room> RoomService::list() const {
  std::lock_guard lock(mu_);
  std::vector<Room> out;
  for (const auto& [id, room] : rooms_) out.push_back(room);
  std::sort(out.begin(), out.end(), [](const Room& a, const Room& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

Status RoomService::remove(const std::string& id, const User& actor) {
  const auto key = kRoomsPrefix + id;
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) {
      if (kv.status().code() == Code::kNotFound) return not_found("no room with id '" + id + "'");
      return kv.status();
    }
    auto room = room_of(*kv);
    if (!room) return room.status();
    if (room->owner != actor.id && !actor.is_admin()) {
      return permission_denied("only the room's owner or an admin may delete it");
    }
    auto txn = store_.txn({Compare::mod_revision_equals(key, kv->mod_revision)}, {Op::del(key)});
    if (!txn) return txn.status();
    if (txn->succeeded) return wait_for_revision(txn->revision);
  }
  return unavailable("the room changes too often to delete it now; try again");
}

Result<Room> RoomService::execute(const std::string& room_id, const Command& requested, Room* current) {
  const auto key = kRoomsPrefix + room_id;
  Command resolved;
  const bool resolve = requested.type == Command::Type::kAdd && options_.song_lookup;
  if (resolve) {
    resolved = requested;
    for (auto& song : resolved.songs) {
      auto ref = options_.song_lookup(song.song_id);
      if (!ref) return ref.status();
      song = std::move(*ref);
    }
  }
  const Command& command = resolve ? resolved : requested;
  CommandLeads leads;
  {
    std::function<CommandLeads(const std::string&)> leads_of;
    {
      std::lock_guard lock(mu_);
      leads_of = command_lead_;
    }
    if (leads_of) {
      leads = leads_of(room_id);
      leads.held_ms = std::clamp<std::int64_t>(leads.held_ms, 0, kMaxCommandLeadMs);
      leads.fetched_ms = std::clamp<std::int64_t>(leads.fetched_ms, leads.held_ms, kMaxFetchCommandLeadMs);
    }
  }
  // Held around the read and the write only: not through a back-off, nor
  // through the wait for the view (rooms share turns).
  std::unique_lock turn(command_turns_.of(room_id));
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    if (attempt > 0) {
      turn.unlock();
      back_off_after_lost_compare(attempt);
      turn.lock();
    }
    auto kv = store_.get(key);
    if (!kv) {
      if (kv.status().code() == Code::kNotFound) return not_found("no room with id '" + room_id + "'");
      return kv.status();
    }
    auto room = room_of(*kv);
    if (!room) return room.status();
    // A command that changes what is heard takes effect `lead` from now;
    // no command takes effect before the room's pending change, so
    // commands keep their order.
    const bool timed = changes_playback(room->state, command);
    const auto lead = !timed ? 0 : needs_fetch(room->state, command) ? leads.fetched_ms : leads.held_ms;
    const auto at = std::max(clock_.now_ms() + lead, room->state.position_at);
    // A song that ends before the command lands has ended for everyone by
    // then: the room moves on first, exactly at its end (as auto-advance
    // would), and the command applies to what plays then.
    RoomState base = room->state;
    for (int i = 0; timed && i < 8; ++i) {
      const auto end = base.ends_at();
      if (!end || *end > at) break;
      Command advance;
      advance.type = Command::Type::kAdvance;
      advance.expected_item = base.current;
      auto advanced = apply(base, advance, *end, options_.limits);
      if (!advanced) break;
      base = std::move(*advanced);
    }
    auto next = apply(base, command, at, options_.limits);
    if (!next) {
      if (current) *current = *room;
      return next.status();
    }
    if (*next == room->state) return *room;  // nothing to change, nothing to write
    Room updated = *room;
    updated.state = std::move(*next);
    updated.last_command = command_type_name(command.type);
    updated.last_command_by = command.by;
    auto record = record_of(updated);
    if (record.size() > kMaxRoomRecordBytes) {
      if (current) *current = *room;
      return resource_exhausted("the room would take " + std::to_string(record.size()) +
                                " bytes, more than a room may (" + std::to_string(kMaxRoomRecordBytes) +
                                "); remove items from its queue");
    }
    auto txn = store_.txn({Compare::mod_revision_equals(key, kv->mod_revision)}, {Op::put(key, std::move(record))});
    if (!txn) return txn.status();
    if (!txn->succeeded) continue;  // another command got in first: apply to the newer state
    turn.unlock();
    updated.revision = txn->revision;
    if (auto s = wait_for_revision(txn->revision); !s) return s;
    return updated;
  }
  return Status(Code::kUnavailable, "too many concurrent commands on this room; try again");
}

int RoomService::advance_due_rooms() {
  std::vector<std::pair<std::string, std::string>> due;
  const auto now = clock_.now_ms();
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, room] : rooms_) {
      auto end = room.state.ends_at();
      if (end && *end <= now) due.emplace_back(id, room.state.current);
    }
  }
  int advanced = 0;
  for (const auto& [id, item] : due) {
    Command advance;
    advance.type = Command::Type::kAdvance;
    advance.expected_item = item;
    advance.by = "";
    auto r = execute(id, advance);
    if (r) {
      ++advanced;
    } else if (r.status().code() != Code::kFailedPrecondition && r.status().code() != Code::kNotFound) {
      spdlog::warn("rooms: auto-advance of {} failed: {}", id, r.status().to_string());
    }
  }
  return advanced;
}

void RoomService::scheduler_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::optional<std::int64_t> earliest;
    for (const auto& [id, room] : rooms_) {
      auto end = room.state.ends_at();
      if (end && (!earliest || *end < *earliest)) earliest = end;
    }
    if (!earliest) {
      changed_.wait(lock);
      continue;
    }
    auto delay = *earliest - clock_.now_ms();
    if (delay > 0) {
      changed_.wait_for(lock, std::chrono::milliseconds(delay));
      continue;
    }
    lock.unlock();
    int advanced = advance_due_rooms();
    lock.lock();
    if (advanced == 0 && !stopping_) {
      // Due but not advanced (store trouble, or another node is on it and
      // its write has not reached us yet): retry shortly, not in a spin.
      changed_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
}

}  // namespace hifi::room
