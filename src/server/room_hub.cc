#include "server/room_hub.h"

#include <boost/json.hpp>

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
    : rooms_(rooms), history_per_room_(history_per_room) {
  presence_flusher_ = std::thread([this] { flush_presence_loop(); });
}

RoomHub::~RoomHub() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  presence_flusher_.join();
}

void RoomHub::flush_presence_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, kPresenceInterval);
    for (auto& [id, channel] : channels_) {
      if (channel.presence_pending) presence_changed_locked(channel);
    }
  }
}

json::object RoomHub::public_state(const room::Room& room, const std::vector<ListenerInfo>& listeners) {
  auto state = room::to_json(room.state);
  state.erase("next_item_seq");
  state["listeners"] = listeners_json(listeners);
  state["revision"] = room.revision;
  return state;
}

const std::vector<ListenerInfo>& RoomHub::listeners_locked(const Channel& channel) const {
  return channel.listeners;
}

void RoomHub::broadcast_locked(Channel& channel, const SharedMessage& message) {
  for (auto& [ptr, sub] : channel.subscribers) sub.subscriber->deliver(message);
}

SharedMessage RoomHub::presence_message_locked(const Channel& channel) const {
  return share({{"type", "presence"},
                {"revision", channel.room ? channel.room->revision : 0},
                {"listeners", listeners_json(channel.listeners)}});
}

void RoomHub::presence_changed_locked(Channel& channel) {
  channel.presence_pending = true;
  const auto now = std::chrono::steady_clock::now();
  if (now - channel.last_presence < kPresenceInterval) return;  // the flusher sends it
  channel.presence_pending = false;
  channel.last_presence = now;
  broadcast_locked(channel, presence_message_locked(channel));
}

namespace {

std::vector<ListenerInfo> distinct_listeners(const std::map<std::string, std::pair<ListenerInfo, int>>& users) {
  std::vector<ListenerInfo> out;
  for (const auto& [id, entry] : users) out.push_back(entry.first);
  std::sort(out.begin(), out.end(),
            [](const ListenerInfo& a, const ListenerInfo& b) { return a.username < b.username; });
  return out;
}

}  // namespace

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
  auto& user = channel.users[who.user_id];
  const bool new_user = user.second++ == 0;
  user.first = who;
  if (new_user) channel.listeners = distinct_listeners(channel.users);
  const bool can_resume = since && *since >= channel.history_floor && *since <= room.revision;
  if (can_resume) {
    for (const auto& [rev, message] : channel.history) {
      if (rev > *since) subscriber->deliver(message);
    }
    // A reconnecting user who was never away from the listener list gets
    // no broadcast below; tell them who is here.
    if (!new_user) subscriber->deliver(presence_message_locked(channel));
  } else {
    json::object snapshot{{"type", "snapshot"},
                          {"revision", room.revision},
                          {"room", {{"id", room.id}, {"name", room.name}, {"owner", room.owner},
                                    {"created_at", room.created_at}}},
                          {"state", public_state(room, listeners_locked(channel))}};
    subscriber->deliver(share(snapshot));
  }
  if (new_user) presence_changed_locked(channel);
  return Status::ok();
}

void RoomHub::leave(const std::string& room_id, const RoomSubscriber* subscriber) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return;
  auto& channel = it->second;
  auto sub = channel.subscribers.find(subscriber);
  if (sub == channel.subscribers.end()) return;
  const auto user_id = sub->second.who.user_id;
  channel.subscribers.erase(sub);
  if (channel.subscribers.empty()) {
    channels_.erase(it);
    return;
  }
  auto user = channel.users.find(user_id);
  if (user != channel.users.end() && --user->second.second == 0) {
    channel.users.erase(user);
    channel.listeners = distinct_listeners(channel.users);
    presence_changed_locked(channel);
  }
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

void RoomHub::clear() {
  std::lock_guard lock(mu_);
  channels_.clear();
}

void RoomHub::close_all() {
  std::lock_guard lock(mu_);
  for (auto& [id, channel] : channels_) {
    for (auto& [ptr, sub] : channel.subscribers) sub.subscriber->close(false);
  }
}

}  // namespace hifi
