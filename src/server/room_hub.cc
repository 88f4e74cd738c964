#include "server/room_hub.h"

#include "server/api_json.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string_view>
#include <tuple>

namespace hifi {
namespace json = boost::json;

namespace {

SharedMessage share(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

constexpr std::string_view kPresencePrefix = "presence/";

std::string presence_key(const std::string& room_id, const std::string& node_id) {
  return std::string(kPresencePrefix) + room_id + "/" + node_id;
}

struct PresenceKey {
  std::string room_id;
  std::string node_id;
};

// presence/<room-id>/<node-id>; nullopt for anything else under the prefix.
std::optional<PresenceKey> parse_presence_key(const std::string& key) {
  if (!key.starts_with(kPresencePrefix)) return std::nullopt;
  const auto slash = key.rfind('/');
  if (slash < kPresencePrefix.size() + 1 || slash + 1 == key.size()) return std::nullopt;
  return PresenceKey{key.substr(kPresencePrefix.size(), slash - kPresencePrefix.size()),
                     key.substr(slash + 1)};
}

// What another node publishes of a room: its first listeners by username,
// how many it has, and the command lead they need.
struct PresenceValue {
  std::vector<ListenerInfo> users;
  std::size_t count = 0;
  room::CommandLeads leads;
};

bool by_username(const ListenerInfo& a, const ListenerInfo& b) {
  return std::tie(a.username, a.user_id) < std::tie(b.username, b.user_id);
}

// A presence value; nullopt when it is malformed.
std::optional<PresenceValue> parse_presence_value(const std::string& value) {
  boost::system::error_code ec;
  auto parsed = json::parse(value, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  PresenceValue out;
  // Absent in values written before leads were published (and the fetch
  // lead before it was): no lead, the same lead.
  if (const auto* lead = parsed.as_object().if_contains("lead_ms"); lead && lead->is_int64()) {
    out.leads.held_ms = std::clamp<std::int64_t>(lead->as_int64(), 0, RoomHub::kMaxReportedLeadMs);
  }
  out.leads.fetched_ms = out.leads.held_ms;
  if (const auto* lead = parsed.as_object().if_contains("fetch_lead_ms"); lead && lead->is_int64()) {
    out.leads.fetched_ms = std::clamp<std::int64_t>(lead->as_int64(), out.leads.held_ms, RoomHub::kMaxReportedLeadMs);
  }
  const auto* users = parsed.as_object().if_contains("users");
  if (users == nullptr || !users->is_array()) return std::nullopt;
  for (const auto& user : users->as_array()) {
    const auto* o = user.if_object();
    if (o == nullptr) return std::nullopt;
    const auto* id = o->if_contains("user_id");
    const auto* name = o->if_contains("username");
    if (id == nullptr || !id->is_string() || name == nullptr || !name->is_string()) {
      return std::nullopt;
    }
    ListenerInfo info{std::string(id->as_string()), std::string(name->as_string()), {}};
    if (const auto* devices = o->if_contains("devices"); devices && devices->is_array()) {
      for (const auto& d : devices->as_array()) {
        const auto* device = d.if_object();
        if (device == nullptr || info.devices.size() >= kMaxDevicesPerListener) continue;
        const auto* did = device->if_contains("id");
        const auto* dname = device->if_contains("name");
        if (did == nullptr || !did->is_string() || dname == nullptr || !dname->is_string()) continue;
        info.devices.push_back({std::string(did->as_string()), std::string(dname->as_string())});
      }
    }
    out.users.push_back(std::move(info));
  }
  // Values written before counts were published list every user.
  out.count = out.users.size();
  if (const auto* count = parsed.as_object().if_contains("count"); count && count->is_int64()) {
    out.count = std::max<std::size_t>(out.count, static_cast<std::size_t>(std::max<std::int64_t>(count->as_int64(), 0)));
  }
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
  publisher_cv_.notify_all();
  presence_flusher_.join();
  if (presence_publisher_.joinable()) presence_publisher_.join();
  // Not under mu_: stop() waits for a running callback, which takes mu_.
  if (presence_view_) presence_view_->stop();
}

void RoomHub::flush_presence_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, kPresenceInterval);
    for (auto& [id, channel] : channels_) {
      if (channel.presence_pending) presence_changed_locked(id, channel);
    }
  }
}

void RoomHub::LocalUser::refresh_devices() {
  info.devices.clear();
  for (const auto& [id, entry] : devices) {
    if (info.devices.size() == kMaxDevicesPerListener) break;
    info.devices.push_back({id, entry.first});
  }
}

RoomListeners RoomHub::merged_listeners_locked(const std::string& room_id,
                                              const std::map<std::string, LocalUser>* local_users) const {
  // By user id, so a user listening on several nodes counts once (this
  // node's name for the user wins), with the devices of every node.
  std::map<std::string, ListenerInfo> by_user;
  if (local_users != nullptr) {
    for (const auto& [id, entry] : *local_users) by_user.emplace_hint(by_user.end(), id, entry.info);
  }
  // Users another node has but does not list: counted, not named.
  std::size_t unlisted = 0;
  if (auto remote = remote_presence_.find(room_id); remote != remote_presence_.end()) {
    for (const auto& [node, listeners] : remote->second) {
      unlisted += listeners.count - std::min(listeners.count, listeners.users.size());
      for (const auto& user : listeners.users) {
        auto [it, added] = by_user.emplace(user.user_id, user);
        if (added) continue;
        auto& devices = it->second.devices;
        for (const auto& device : user.devices) {
          if (devices.size() >= kMaxDevicesPerListener) break;
          if (std::none_of(devices.begin(), devices.end(), [&](const DeviceInfo& d) { return d.id == device.id; })) {
            devices.push_back(device);
          }
        }
      }
    }
  }
  // The first kListedListeners by username: each node lists its own first
  // ones, so the room's first ones are among the users gathered here.
  std::vector<const ListenerInfo*> order;
  order.reserve(by_user.size());
  for (const auto& [id, info] : by_user) order.push_back(&info);
  const auto listed = std::min(order.size(), kListedListeners);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(listed), order.end(),
                    [](const ListenerInfo* a, const ListenerInfo* b) { return by_username(*a, *b); });
  RoomListeners out;
  out.count = by_user.size() + unlisted;
  out.listed.reserve(listed);
  for (std::size_t i = 0; i < listed; ++i) {
    out.listed.push_back(*order[i]);
    auto& devices = out.listed.back().devices;
    std::sort(devices.begin(), devices.end(), [](const DeviceInfo& a, const DeviceInfo& b) { return a.id < b.id; });
  }
  return out;
}

bool RoomHub::refresh_listeners_locked(const std::string& room_id, Channel& channel) {
  if (!channel.listeners_stale) return false;
  channel.listeners_stale = false;
  auto merged = merged_listeners_locked(room_id, &channel.users);
  if (merged == channel.listeners) return false;
  channel.listeners = std::move(merged);
  return true;
}

void RoomHub::broadcast_locked(Channel& channel, const SharedMessage& message) {
  for (auto* subscriber : channel.fanout) subscriber->deliver(message);
}

SharedMessage RoomHub::presence_message_locked(const Channel& channel, const RoomListeners* listeners) const {
  const auto& shown = listeners != nullptr ? *listeners : channel.listeners;
  return share({{"type", "presence"},
                {"revision", channel.room ? channel.room->revision : 0},
                {"listener_count", shown.count},
                {"listeners", api_json::listeners(shown.listed)}});
}

RoomListeners RoomHub::with_joiner(const RoomListeners& listeners, const ListenerInfo& joiner) {
  RoomListeners out = listeners;
  auto& listed = out.listed;
  auto it = std::find_if(listed.begin(), listed.end(), [&](const ListenerInfo& l) { return l.user_id == joiner.user_id; });
  if (it != listed.end()) {
    *it = joiner;  // maybe with a new device
    return out;
  }
  // Unlisted users may include the joiner (on another node): then this
  // counts them twice until the next presence.
  out.count += 1;
  listed.insert(std::upper_bound(listed.begin(), listed.end(), joiner, by_username), joiner);
  if (listed.size() > kListedListeners) listed.pop_back();
  return out;
}

bool RoomHub::presence_turn_locked(Channel& channel) {
  const auto now = std::chrono::steady_clock::now();
  channel.presence_pending = now - channel.last_presence < kPresenceInterval;  // the flusher's then
  if (!channel.presence_pending) channel.last_presence = now;
  return !channel.presence_pending;
}

void RoomHub::presence_changed_locked(const std::string& room_id, Channel& channel) {
  if (presence_turn_locked(channel) && refresh_listeners_locked(room_id, channel)) {
    broadcast_locked(channel, presence_message_locked(channel));
  }
}

void RoomHub::on_event(const room::RoomEvent& event) {
  // Planned before the lock is taken (it decodes); sent right before the
  // state, so that a player has the bytes when it hears of the jump.
  const auto seek_data = event.type == room::RoomEvent::Type::kUpdated
                             ? plan_seek_data(event.room)
                             : std::vector<std::pair<SeekDataKey, SharedMessage>>{};
  std::lock_guard lock(mu_);
  auto it = channels_.find(event.room.id);
  if (event.type == room::RoomEvent::Type::kDeleted) {
    if (it == channels_.end()) return;
    broadcast_locked(it->second, share({{"type", "deleted"}, {"revision", event.room.revision}}));
    for (auto& [ptr, sub] : it->second.subscribers) sub.subscriber->close(CloseReason::kRoomDeleted);
    channels_.erase(it);
    mark_presence_dirty_locked(event.room.id);
    return;
  }
  // Only rooms somebody listens to on this node need a channel.
  if (it == channels_.end()) return;
  auto& channel = it->second;
  if (channel.room && channel.room->revision >= event.room.revision) return;  // already sent
  channel.room = event.room;
  // A state shows the listeners as they are (once per command at most; the
  // presence due for the same change then has nothing new to say).
  refresh_listeners_locked(event.room.id, channel);
  auto message = share({{"type", "state"},
                        {"revision", event.room.revision},
                        {"command", {{"type", event.room.last_command}, {"by", event.room.last_command_by}}},
                        {"state", api_json::room_state(event.room, channel.listeners)}});
  channel.history.emplace_back(event.room.revision, message);
  while (channel.history.size() > history_per_room_) {
    channel.history_floor = channel.history.front().first;
    channel.history.pop_front();
  }
  for (const auto& [key, data] : seek_data) {
    for (auto& [ptr, sub] : channel.subscribers) {
      if (SeekDataKey{sub.seek_data.rate, sub.seek_data.behind_frames} == key) sub.subscriber->deliver_binary(data);
    }
  }
  broadcast_locked(channel, message);
}

Status RoomHub::join(const std::string& room_id, const std::shared_ptr<RoomSubscriber>& subscriber,
                     const ListenerInfo& who, std::optional<Revision> since, std::string token_hash) {
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
  auto [entry, added] = channel.subscribers.try_emplace(subscriber.get());
  if (added) {
    entry->second.fanout_index = channel.fanout.size();
    channel.fanout.push_back(subscriber.get());
  } else {
    count_needs_locked(channel, entry->second, -1);
  }
  const auto fanout_index = entry->second.fanout_index;
  entry->second = Subscription{subscriber, who, std::move(token_hash)};
  entry->second.fanout_index = fanout_index;
  count_needs_locked(channel, entry->second, +1);
  auto& user = channel.users[who.user_id];
  const bool new_user = user.connections++ == 0;
  user.info.user_id = who.user_id;
  user.info.username = who.username;
  bool new_device = false;
  for (const auto& device : who.devices) {
    auto& [name, count] = user.devices[device.id];
    new_device = new_device || count == 0 || name != device.name;
    name = device.name;
    ++count;
  }
  if (new_device) user.refresh_devices();
  mark_presence_dirty_locked(room_id);
  // The listing is refreshed now when the presence interval allows (so a
  // user's first connection finds itself listed in its snapshot), else by
  // the flusher, which then tells everyone.
  bool listeners_changed = false;
  if (new_user || new_device) {
    channel.listeners_stale = true;
    // A user new to this node may already be listening on another one.
    listeners_changed = presence_turn_locked(channel) && refresh_listeners_locked(room_id, channel);
  }
  const bool can_resume = since && *since >= channel.history_floor && *since <= room.revision;
  // The listing this subscriber is shown first: the joiner is in it even
  // when the presence that lists them for everyone is still to come.
  const auto shown = channel.listeners_stale ? with_joiner(channel.listeners, user.info) : channel.listeners;
  if (can_resume) {
    for (const auto& [rev, message] : channel.history) {
      if (rev > *since) subscriber->deliver(message);
    }
    // A reconnecting user gets no broadcast below unless the listing
    // changed now; tell them who is here.
    if (!listeners_changed) subscriber->deliver(presence_message_locked(channel, &shown));
  } else {
    json::object snapshot{{"type", "snapshot"},
                          {"revision", room.revision},
                          {"room", api_json::room_ref(room)},
                          {"state", api_json::room_state(room, shown)}};
    subscriber->deliver(share(snapshot));
  }
  if (listeners_changed) broadcast_locked(channel, presence_message_locked(channel));
  if (move_message_) {
    subscriber->deliver(move_message_);
    subscriber->close(CloseReason::kMoved);
  }
  return Status::ok();
}

void RoomHub::leave(const std::string& room_id, const RoomSubscriber* subscriber) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return;
  auto& channel = it->second;
  auto sub = channel.subscribers.find(subscriber);
  if (sub == channel.subscribers.end()) return;
  const auto who = std::move(sub->second.who);
  // Out of the fan-out list: the last one takes its place.
  const auto index = sub->second.fanout_index;
  channel.fanout[index] = channel.fanout.back();
  channel.fanout.pop_back();
  if (index < channel.fanout.size()) channel.subscribers.at(channel.fanout[index]).fanout_index = index;
  count_needs_locked(channel, sub->second, -1);
  channel.subscribers.erase(sub);
  channel.leads = local_leads_locked(channel);
  mark_presence_dirty_locked(room_id);
  if (channel.subscribers.empty()) {
    channels_.erase(it);
    return;
  }
  auto user = channel.users.find(who.user_id);
  if (user == channel.users.end()) return;
  bool changed = false;
  for (const auto& device : who.devices) {
    auto d = user->second.devices.find(device.id);
    if (d != user->second.devices.end() && --d->second.second == 0) {
      user->second.devices.erase(d);
      changed = true;
    }
  }
  if (changed) user->second.refresh_devices();
  if (--user->second.connections == 0) {
    channel.users.erase(user);
    changed = true;
  }
  if (changed) {
    channel.listeners_stale = true;
    presence_changed_locked(room_id, channel);
  }
}

namespace {

room::CommandLeads max_of(room::CommandLeads a, const room::CommandLeads& b) {
  a.held_ms = std::max(a.held_ms, b.held_ms);
  a.fetched_ms = std::max(a.fetched_ms, b.fetched_ms);
  return a;
}

}  // namespace

room::CommandLeads RoomHub::needed_locked(const Subscription& sub) const {
  auto needed = sub.leads;
  // A listener whose seek data this node sends with the news needs no
  // time to fetch it.
  if (holds_every_song_ && seek_planner_ && sub.seek_data.rate > 0) {
    needed.fetched_ms = std::clamp(sub.seek_data.lead_ms, needed.held_ms, needed.fetched_ms);
  }
  return needed;
}

void RoomHub::count_needs_locked(Channel& channel, Subscription& sub, int by) const {
  auto count = [by](auto& counts, const auto& key) {
    if (by > 0) {
      ++counts[key];
      return;
    }
    auto it = counts.find(key);
    if (it != counts.end() && --it->second == 0) counts.erase(it);
  };
  // Uncounted as they were counted, whatever changed since.
  if (by > 0) sub.counted = needed_locked(sub);
  count(channel.held_leads, sub.counted.held_ms);
  count(channel.fetched_leads, sub.counted.fetched_ms);
  if (sub.seek_data.rate > 0) count(channel.seek_wishes, SeekDataKey{sub.seek_data.rate, sub.seek_data.behind_frames});
}

room::CommandLeads RoomHub::local_leads_locked(const Channel& channel) const {
  room::CommandLeads leads;
  if (!channel.held_leads.empty()) leads.held_ms = channel.held_leads.rbegin()->first;
  if (!channel.fetched_leads.empty()) leads.fetched_ms = channel.fetched_leads.rbegin()->first;
  return leads;
}

void RoomHub::report_lead(const std::string& room_id, const RoomSubscriber* subscriber, room::CommandLeads leads,
                          SeekDataWish wish) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return;
  auto sub = it->second.subscribers.find(subscriber);
  if (sub == it->second.subscribers.end()) return;
  leads.held_ms = std::clamp<std::int64_t>(leads.held_ms, 0, kMaxReportedLeadMs);
  leads.fetched_ms = std::clamp<std::int64_t>(leads.fetched_ms, leads.held_ms, kMaxReportedLeadMs);
  wish.lead_ms = std::clamp<std::int64_t>(wish.lead_ms, 0, kMaxReportedLeadMs);
  count_needs_locked(it->second, sub->second, -1);
  sub->second.leads = leads;
  sub->second.seek_data = wish;
  count_needs_locked(it->second, sub->second, +1);
  // Other nodes learn of a change in the room's leads with this node's
  // presence key; changes under 10 ms are not worth a write (clients report
  // in 5 ms steps, and a lead sitting on a step would flap).
  const auto local = local_leads_locked(it->second);
  if (std::abs(local.held_ms - it->second.leads.held_ms) >= 10 ||
      std::abs(local.fetched_ms - it->second.leads.fetched_ms) >= 10) {
    it->second.leads = local;
    mark_presence_dirty_locked(room_id);
  }
}

room::CommandLeads RoomHub::command_leads(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  room::CommandLeads leads;
  if (auto it = channels_.find(room_id); it != channels_.end()) leads = local_leads_locked(it->second);
  if (auto it = remote_leads_.find(room_id); it != remote_leads_.end()) {
    for (const auto& [node, node_leads] : it->second) leads = max_of(leads, node_leads);
  }
  return leads;
}

RoomListeners RoomHub::listeners(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return merged_listeners_locked(room_id, nullptr);
  // Not stored: the presence message that tells everyone of the change
  // compares against what was last sent.
  if (it->second.listeners_stale) return merged_listeners_locked(room_id, &it->second.users);
  return it->second.listeners;
}

std::size_t RoomHub::connection_count() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, channel] : channels_) n += channel.subscribers.size();
  return n;
}

std::vector<RoomHub::LocalRoom> RoomHub::local_rooms() const {
  std::vector<LocalRoom> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, channel] : channels_) {
    if (!channel.room || channel.users.empty()) continue;
    LocalRoom local{*channel.room, {}};
    for (const auto& [user_id, entry] : channel.users) local.users.push_back(entry.info);
    out.push_back(std::move(local));
  }
  return out;
}

void RoomHub::clear() {
  std::lock_guard lock(mu_);
  for (const auto& [id, channel] : channels_) mark_presence_dirty_locked(id);
  channels_.clear();
}

void RoomHub::end_access(const AccessEnded& ended) {
  const auto why = ended.why == AccessEnded::Why::kDisabled  ? CloseReason::kAccountDisabled
                   : ended.why == AccessEnded::Why::kDeleted ? CloseReason::kAccountDeleted
                                                             : CloseReason::kSignedOut;
  std::lock_guard lock(mu_);
  // The subscriptions stay until their connections leave(), as for a
  // deleted room.
  for (auto& [id, channel] : channels_) {
    if (!channel.users.contains(ended.user_id)) continue;
    for (auto& [ptr, sub] : channel.subscribers) {
      if (sub.who.user_id != ended.user_id) continue;
      if (!ended.token_hash.empty() && sub.token_hash != ended.token_hash) continue;
      sub.subscriber->close(why);
    }
  }
}

void RoomHub::move_all(const std::string& to) {
  auto message = std::make_shared<const std::string>(
      boost::json::serialize(boost::json::object{{"type", "move"}, {"to", to}, {"reason", "draining"}}));
  std::lock_guard lock(mu_);
  move_message_ = message;
  for (auto& [id, channel] : channels_) {
    for (auto& [ptr, sub] : channel.subscribers) {
      sub.subscriber->deliver(message);
      sub.subscriber->close(CloseReason::kMoved);
    }
  }
}

void RoomHub::close_all() {
  std::lock_guard lock(mu_);
  for (auto& [id, channel] : channels_) {
    for (auto& [ptr, sub] : channel.subscribers) sub.subscriber->close(CloseReason::kShuttingDown);
  }
}

// --- cluster presence --------------------------------------------------------

void RoomHub::start_cluster_presence(MetaStore& store, std::string node_id,
                                     std::function<LeaseId()> current_lease) {
  std::lock_guard lock(mu_);
  if (presence_store_ != nullptr) {
    spdlog::error("presence: cluster presence started twice; ignoring the second start");
    return;
  }
  presence_store_ = &store;
  node_id_ = std::move(node_id);
  current_lease_ = std::move(current_lease);
  // Listeners who joined before now were never published.
  for (const auto& [id, channel] : channels_) mark_presence_dirty_locked(id);
  presence_publisher_ = std::thread([this] { publish_presence_loop(); });
  presence_view_ = std::make_unique<WatchedView>(
      store, std::string(kPresencePrefix),
      [this](const RangeResult& snapshot) { reset_presence(snapshot); },
      [this](const WatchResponse& response) { apply_presence(response); },
      WatchedViewOptions{.name = "presence"});
  // Loads on the view's thread, which waits for mu_ (held here).
  presence_view_->start_async();
}

void RoomHub::republish_presence() {
  std::lock_guard lock(mu_);
  for (const auto& [id, channel] : channels_) mark_presence_dirty_locked(id);
}

std::optional<ViewStatus> RoomHub::presence_view_status() const {
  std::lock_guard lock(mu_);
  if (!presence_view_) return std::nullopt;
  return presence_view_->status();
}

Status RoomHub::wait_presence_loaded(std::chrono::steady_clock::time_point deadline) const {
  const WatchedView* view = nullptr;
  {
    std::lock_guard lock(mu_);
    view = presence_view_.get();
  }
  if (view == nullptr) return failed_precondition("cluster presence is not started");
  // Not under mu_: the view's reset callback takes it.
  return view->wait_until_following(deadline);
}

void RoomHub::mark_presence_dirty_locked(const std::string& room_id) {
  if (presence_store_ == nullptr) return;
  auto& state = publishing_[room_id];
  if (state.dirty) return;  // the publisher already knows
  state.dirty = true;
  publisher_cv_.notify_one();
}

std::optional<std::string> RoomHub::presence_value_locked(const std::string& room_id) const {
  auto it = channels_.find(room_id);
  if (it == channels_.end() || it->second.users.empty()) return std::nullopt;
  // The first kListedListeners users by username, and how many there are:
  // the value stays small however many listen through this node.
  std::vector<const LocalUser*> order;
  order.reserve(it->second.users.size());
  for (const auto& [id, entry] : it->second.users) order.push_back(&entry);
  const auto listed = std::min(order.size(), kListedListeners);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(listed), order.end(),
                    [](const LocalUser* a, const LocalUser* b) { return by_username(a->info, b->info); });
  order.resize(listed);
  json::array users;
  for (const LocalUser* local : order) {
    const auto& entry = *local;
    const auto& id = entry.info.user_id;
    json::object user{{"user_id", id}, {"username", entry.info.username}, {"connections", entry.connections}};
    if (!entry.info.devices.empty()) {
      json::array devices;
      for (const auto& d : entry.info.devices) devices.push_back({{"id", d.id}, {"name", d.name}});
      user["devices"] = std::move(devices);
    }
    users.push_back(std::move(user));
  }
  json::object value{{"users", std::move(users)}, {"count", it->second.users.size()}};
  if (const auto leads = local_leads_locked(it->second); leads.fetched_ms > 0) {
    value["lead_ms"] = leads.held_ms;
    value["fetch_lead_ms"] = leads.fetched_ms;
  }
  return json::serialize(value);
}

void RoomHub::publish_presence_loop() {
  using Clock = std::chrono::steady_clock;
  // To log an outage once, not once per attempt.
  bool write_failing = false;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = Clock::now();
    // Take every dirty room whose throttle allows a write now; the values
    // are taken here, under the lock, and written after it is released.
    std::vector<std::pair<std::string, std::optional<std::string>>> writes;
    std::optional<Clock::time_point> wake;
    for (auto it = publishing_.begin(); it != publishing_.end();) {
      auto& [room_id, state] = *it;
      if (state.not_before > now) {
        if (state.dirty && (!wake || state.not_before < *wake)) wake = state.not_before;
        ++it;
      } else if (state.dirty) {
        writes.emplace_back(room_id, presence_value_locked(room_id));
        state.dirty = false;
        state.not_before = now + kPresenceInterval;
        ++it;
      } else {
        it = publishing_.erase(it);  // written long enough ago: nothing to remember
      }
    }
    if (writes.empty()) {
      if (wake) {
        publisher_cv_.wait_until(lock, *wake);
      } else {
        publisher_cv_.wait(lock);
      }
      continue;
    }

    lock.unlock();
    std::vector<std::pair<std::string, Status>> failed;
    for (const auto& [room_id, value] : writes) {
      auto status = write_presence(room_id, value);
      if (!status) failed.emplace_back(room_id, std::move(status));
    }
    lock.lock();
    if (!failed.empty() && !write_failing) {
      spdlog::warn("presence: cannot publish the listeners of room {}: {}; retrying every {} ms",
                   failed.front().first, failed.front().second.to_string(),
                   kPresenceRetryDelay.count());
    } else if (failed.empty() && write_failing) {
      spdlog::info("presence: publishing again");
    }
    write_failing = !failed.empty();
    const auto retry_at = Clock::now() + kPresenceRetryDelay;
    for (const auto& [room_id, status] : failed) {
      auto& state = publishing_[room_id];
      state.dirty = true;
      state.not_before = std::max(state.not_before, retry_at);
    }
  }
}

Status RoomHub::write_presence(const std::string& room_id,
                               const std::optional<std::string>& value) {
  const auto key = presence_key(room_id, node_id_);
  if (!value) return presence_store_->del(key).status();
  const LeaseId lease = current_lease_();
  if (lease == 0) return Status(Code::kUnavailable, "the node has no lease");
  return presence_store_->put(key, *value, lease).status();
}

void RoomHub::reset_presence(const RangeResult& snapshot) {
  RemotePresence loaded;
  std::map<std::string, std::map<std::string, room::CommandLeads>> leads;
  // This node's keys as the store has them, maybe left by an earlier run
  // whose lease has not ended yet: rewritten from the local state.
  std::vector<std::string> own_rooms;
  for (const auto& kv : snapshot.kvs) {
    auto key = parse_presence_key(kv.key);
    if (!key) continue;
    if (key->node_id == node_id_) {
      own_rooms.push_back(key->room_id);
      continue;
    }
    auto parsed = parse_presence_value(kv.value);
    if (!parsed) {
      spdlog::warn("presence: ignoring malformed {}", kv.key);
      continue;
    }
    loaded[key->room_id][key->node_id] = {std::move(parsed->users), parsed->count};
    if (parsed->leads.fetched_ms > 0) leads[key->room_id][key->node_id] = parsed->leads;
  }
  std::lock_guard lock(mu_);
  if (stopping_) return;
  remote_leads_ = std::move(leads);
  std::set<std::string> rooms;
  for (const auto& [room_id, nodes] : remote_presence_) rooms.insert(room_id);
  for (const auto& [room_id, nodes] : loaded) rooms.insert(room_id);
  remote_presence_ = std::move(loaded);
  for (const auto& room_id : rooms) remote_presence_changed_locked(room_id);
  for (const auto& room_id : own_rooms) mark_presence_dirty_locked(room_id);
}

void RoomHub::apply_presence(const WatchResponse& response) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  std::set<std::string> rooms;
  for (const auto& event : response.events) {
    auto key = parse_presence_key(event.kv.key);
    if (!key || key->node_id == node_id_) continue;
    std::optional<PresenceValue> parsed;
    if (event.type == WatchEvent::Type::kPut) {
      parsed = parse_presence_value(event.kv.value);
      if (!parsed) spdlog::warn("presence: ignoring malformed {}", event.kv.key);
    }
    auto& nodes = remote_presence_[key->room_id];
    auto& leads = remote_leads_[key->room_id];
    if (parsed) {
      nodes[key->node_id] = {std::move(parsed->users), parsed->count};
      if (parsed->leads.fetched_ms > 0) leads[key->node_id] = parsed->leads;
      else leads.erase(key->node_id);
    } else {
      nodes.erase(key->node_id);
      leads.erase(key->node_id);
    }
    if (nodes.empty()) remote_presence_.erase(key->room_id);
    if (leads.empty()) remote_leads_.erase(key->room_id);
    rooms.insert(key->room_id);
  }
  for (const auto& room_id : rooms) remote_presence_changed_locked(room_id);
}

void RoomHub::remote_presence_changed_locked(const std::string& room_id) {
  auto it = channels_.find(room_id);
  if (it == channels_.end()) return;  // nobody here to tell; listeners() merges on demand
  it->second.listeners_stale = true;
  presence_changed_locked(room_id, it->second);
}

}  // namespace hifi
