// RoomHub: this node's live listeners of every room, and the fan-out of room
// changes to them.
//
// The hub turns each RoomEvent into one immutable JSON message shared by all
// of the room's subscribers (so a change to a room of 10,000 listeners is
// serialised once), keeps the last few messages of each room so a client
// that reconnects with its last revision gets exactly what it missed, and
// tracks presence: who is listening right now.
//
// Ordering: join() registers a subscriber and hands it its first messages
// under the same lock that on_event() broadcasts under, so a subscriber sees
// a gapless, duplicate-free sequence of revisions.
//
// Thread-safety: all methods are thread-safe. RoomSubscriber::deliver() is
// called with the hub's lock held and must not block or call back into the
// hub; it queues the message for the subscriber's own writer.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "room/room_service.h"

namespace hifi {

using SharedMessage = std::shared_ptr<const std::string>;

struct ListenerInfo {
  std::string user_id;
  std::string username;
};

class RoomSubscriber {
 public:
  virtual ~RoomSubscriber() = default;
  virtual void deliver(SharedMessage message) = 0;
  // The room is gone, or the server is stopping: close the connection.
  virtual void close(bool room_deleted) = 0;
};

class RoomHub {
 public:
  // Changes kept per room for reconnecting subscribers. join() may hand a
  // subscriber this many messages (plus a presence) at once, so it must stay
  // well below a subscriber's queue bound (256 for a WebSocket), or a client
  // that missed that many changes is dropped again the moment it reconnects.
  // A longer absence gets a snapshot, which is cheaper than the replay.
  static constexpr std::size_t kDefaultHistoryPerRoom = 128;

  // Presence changes reach a room's subscribers at most this often; joins
  // and leaves in between are coalesced into one message, so filling a room
  // with N listeners costs O(N) messages, not O(N^2).
  static constexpr std::chrono::milliseconds kPresenceInterval{250};

  explicit RoomHub(room::RoomService& rooms, std::size_t history_per_room = kDefaultHistoryPerRoom);
  ~RoomHub();

  // Feed from RoomService::set_listener.
  void on_event(const room::RoomEvent& event);

  // Subscribes to a room. With `since` (the last revision the client saw)
  // the subscriber gets the changes after it when the hub still has them,
  // else a snapshot. kNotFound for an unknown room.
  Status join(const std::string& room_id, const std::shared_ptr<RoomSubscriber>& subscriber,
              const ListenerInfo& who, std::optional<Revision> since);
  void leave(const std::string& room_id, const RoomSubscriber* subscriber);

  // Distinct users listening (one entry per user, however many connections).
  std::vector<ListenerInfo> listeners(const std::string& room_id) const;
  std::size_t connection_count() const;
  // Closes every subscriber (server shutdown).
  void close_all();
  // Forgets every subscriber without telling them; for after the network
  // threads have stopped, so that no session outlives its io_context.
  void clear();

  // The public JSON of a room's state: the state machine's fields plus
  // `listeners` and `revision`.
  static boost::json::object public_state(const room::Room& room,
                                          const std::vector<ListenerInfo>& listeners);

 private:
  struct Subscription {
    std::shared_ptr<RoomSubscriber> subscriber;
    ListenerInfo who;
  };
  struct Channel {
    std::optional<room::Room> room;  // the latest version seen
    std::deque<std::pair<Revision, SharedMessage>> history;
    Revision history_floor = 0;  // changes after this revision are all in history
    std::map<const RoomSubscriber*, Subscription> subscribers;
    // Connections per user, and the distinct listeners derived from it.
    std::map<std::string, std::pair<ListenerInfo, int>> users;
    std::vector<ListenerInfo> listeners;
    bool presence_pending = false;
    std::chrono::steady_clock::time_point last_presence{};
  };

  const std::vector<ListenerInfo>& listeners_locked(const Channel& channel) const;
  void broadcast_locked(Channel& channel, const SharedMessage& message);
  SharedMessage presence_message_locked(const Channel& channel) const;
  // Sends the pending presence now if the interval allows, else leaves it
  // for the flusher thread.
  void presence_changed_locked(Channel& channel);
  void flush_presence_loop();

  room::RoomService& rooms_;
  const std::size_t history_per_room_;
  mutable std::mutex mu_;
  std::map<std::string, Channel> channels_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread presence_flusher_;
};

}  // namespace hifi
