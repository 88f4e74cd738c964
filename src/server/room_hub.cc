#include "server/room_hub.h"

#include <boost/json.hpp>
#include <set>

namespace hifi {
namespace json = boost::json;

namespace {

SharedMessage share(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

json::array listeners_json(const std::vector<ListenerInfo>& listeners) {
  json::array out;
  for (const auto& l : listeners) out.push_back({{"user_id", l.user_id}, {"username", l.username}});
  return out;
}

}  // namespace

RoomHub::RoomHub(room::RoomService& rooms, std::size_t history_per_room)
    : rooms_(rooms), history_per_room_(history_per_room) {}

json::object RoomHub::public_state(const room::Room& room, const std::vector<ListenerInfo>& listeners) {
  auto state = room::to_json(room.state);
  state.erase("next_item_seq");
  state["listeners"] = listeners_json(listeners);
  state["revision"] = room.revision;
  return state;
}

std::vector<ListenerInfo> RoomHub::listeners_locked(const Channel& channel) const {
  std::vector<ListenerInfo> out;
  std::set<std::string> seen;
  for (const auto& [ptr, sub] : channel.subscribers) {
    if (seen.insert(sub.who.user_id).second) out.push_back(sub.who);
  }
  std::sort(out.begin(), out.end(),
            [](const ListenerInfo& a, const ListenerInfo& b) { return a.username < b.username; });
  return out;
}

void RoomHub::broadcast_locked(Channel& channel, const SharedMessage& message) {
  for (auto& [ptr, sub] : channel.subscribers) sub.subscriber->deliver(message);
}

void RoomHub::broadcast_presence_locked(Channel& channel) {
  if (!channel.room) return;
  auto listeners = listeners_locked(channel);
  broadcast_locked(channel, share({{"type", "presence"},
                                   {"revision", channel.room->revision},
                                   {"listeners", listeners_json(listeners)}}));
}

void RoomHub::on_event(const room::RoomEvent& event) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(event.room.id);
  if (event.type == room::RoomEvent::Type::kDeleted) {
    if (it == channels_.end()) return;
    broadcast_locked(it->second, share({{"type", "deleted"}, {"revision", event.room.revision}}));
    for (auto& [ptr, sub] : it->second.subscribers) sub.subscriber->close(true);
    channels_.erase(it);
    return;
  }
  // Only rooms somebody listens to on this node need a channel.
  if (it == channels_.end()) return;
  auto& channel = it->second;
  if (channel.room && channel.room->revision >= event.room.revision) return;  // already sent
  channel.room = event.room;
  auto message = share({{"type", "state"},
                        {"revision", event.room.revision},
                        {"command", {{"type", event.room.last_command}, {"by", event.room.last_command_by}}},
                        {"state", public_state(event.room, listeners_locked(channel))}});
  channel.history.emplace_back(event.room.revision, message);
  while (channel.history.size() > history_per_room_) {
    channel.history_floor = channel.history.front().first;
    channel.history.pop_front();
  }
  broadcast_locked(channel, message);
}

Status RoomHub::join(const std::string& room_id, const std::shared_ptr<RoomSubscriber>& subscriber,
                     const ListenerInfo& who, std::optional<Revision> since) {
  std::lock_guard lock(mu_);
  auto& channel = channels_[room_id];
  if (!channel.room) {
    auto room = rooms_.get(room_id);
    if (!room) {
      channels_.erase(room_id);
      return room.status();
    }
    channel.room = *room;
    channel.history_floor = room->revision;
  }
  const auto& room = *channel.room;
  channel.subscribers[subscriber.get()] = {subscriber, who};
  const bool can_resume = since && *since >= channel.history_floor && *since <= room.revision;
  if (can_resume) {
    for (const auto& [rev, message] : channel.history) {
      if (rev > *since) subscriber->deliver(message);
    }
  } else {
    json::object snapshot{{"type", "snapshot"},
                          {"revision", room.revision},
                          {"room", {{"id", room.id}, {"name", room.name}, {"owner", room.owner},
                                    {"created_at", room.created_at}}},
                          {"state", public_state(room, listeners_locked(channel))}};
    subscriber->deliver(share(snapshot));
  }
  broadcast_presence_locked(channel);
  return Status::ok();
}

void RoomHub::leave(const std::string& room_id, const RoomSubscriber* subscriber) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return;
  if (it->second.subscribers.erase(subscriber) == 0) return;
  if (it->second.subscribers.empty()) {
    channels_.erase(it);
    return;
  }
  broadcast_presence_locked(it->second);
}

std::vector<ListenerInfo> RoomHub::listeners(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return {};
  return listeners_locked(it->second);
}

std::size_t RoomHub::connection_count() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, channel] : channels_) n += channel.subscribers.size();
  return n;
}

void RoomHub::close_all() {
  std::lock_guard lock(mu_);
  for (auto& [id, channel] : channels_) {
    for (auto& [ptr, sub] : channel.subscribers) sub.subscriber->close(false);
  }
}

}  // namespace hifi
