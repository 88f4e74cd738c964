// RoomHub: the live listeners of every room, and the fan-out of room changes
// to this node's subscribers.
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
// Cluster presence (after start_cluster_presence()): a room's listeners are
// the distinct users listening on any node. Each node publishes its own
// listeners of a room to presence/<room-id>/<node-id> under its lease (so a
// dead node's listeners vanish with its lease) and watches presence/ for the
// other nodes' through a WatchedView (resumed, or reloaded after a
// compaction, when the watch ends). This node's own keys are never merged:
// its local state is authoritative, and own keys found when (re)loading
// presence/ (say, left by an earlier run whose lease is still alive) are
// rewritten from it. Without start_cluster_presence() only local listeners
// count.
//
// Thread-safety: all methods are thread-safe. None of them calls the store,
// so none blocks on the network or the disk: store calls happen on the hub's
// publisher thread and the presence view's restart thread (the destructor
// waits for one in progress to return). RoomSubscriber::deliver() is called
// with the hub's lock held (on the caller's thread, the hub's flusher thread,
// the store's watch thread or the presence view's restart thread) and must
// not block or call back into the hub; it queues the message for the
// subscriber's own writer.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "library/access_watch.h"
#include "room/room_service.h"
#include "store/meta_store.h"
#include "store/watched_view.h"

namespace hifi {

using SharedMessage = std::shared_ptr<const std::string>;

// One device a listener has open on a room (a browser, a CLI player), as
// its WebSocket named it (room::is_device_id; the name is free text).
struct DeviceInfo {
  std::string id;
  std::string name;
  friend bool operator==(const DeviceInfo&, const DeviceInfo&) = default;
};

struct ListenerInfo {
  std::string user_id;
  std::string username;
  // The user's named devices on the room, on every node, by id; at most
  // kMaxDevicesPerListener. Connections that named no device add none.
  std::vector<DeviceInfo> devices;

  friend bool operator==(const ListenerInfo&, const ListenerInfo&) = default;
};
inline constexpr std::size_t kMaxDevicesPerListener = 16;

// A room's listeners as messages and answers show them: how many distinct
// users listen, and the first kListedListeners of them by username, with
// their devices. Bounded, so that every `state` and `presence` message of a
// room of 10,000 users is as small as in a room of ten.
inline constexpr std::size_t kListedListeners = 50;
struct RoomListeners {
  std::size_t count = 0;
  std::vector<ListenerInfo> listed;  // sorted by username, then user id

  friend bool operator==(const RoomListeners&, const RoomListeners&) = default;
};

// Why the hub ends a subscription; a WebSocket says it in its close frame.
enum class CloseReason {
  kRoomDeleted,      // the room is gone
  kShuttingDown,     // the server is stopping
  kSignedOut,        // the session that opened it ended (logout, revoked, password changed)
  kAccountDisabled,  // an admin disabled the account
  kAccountDeleted,   // the account was deleted
  kMoved,            // this node is draining; the client was told where to go
};

class RoomSubscriber {
 public:
  virtual ~RoomSubscriber() = default;
  virtual void deliver(SharedMessage message) = 0;
  // A binary message (seek data); subscribers that never ask for it
  // (RoomHub::report_lead) need not take it.
  virtual void deliver_binary(SharedMessage message) { (void)message; }
  // Close the connection (after the messages already delivered), saying why.
  virtual void close(CloseReason why) = 0;
};

// Seek data (docs/protocol.md, "Seek data"): the bytes of a song a player
// reads to open it and start playing from a position, planned on this
// node's copy (media::plan_seek_bytes), as one multipart/byteranges body.
struct SeekData {
  std::string etag;          // the song file's strong ETag, quoted
  std::string content_type;  // multipart/byteranges; boundary=...
  std::string body;
};
// Plans seek data for output frame `frame` at `rate` Hz of a song; nullopt
// when this node cannot now (no copy, no transcode slot free, the song does
// not decode). Called without the hub's lock, on the thread that delivers
// the room's change; it decodes for a few milliseconds.
using SeekPlanner = std::function<std::optional<SeekData>(const std::string& song_id, std::uint64_t frame, int rate)>;

// What a listener asks of seek data: planned for `rate` Hz (0: none) from
// `behind_frames` before the position (where its decoder starts), and the
// lead it needs for a change whose data comes with the news.
struct SeekDataWish {
  int rate = 0;
  std::uint64_t behind_frames = 0;
  std::int64_t lead_ms = 0;
  friend bool operator==(const SeekDataWish&, const SeekDataWish&) = default;
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
  // with N listeners costs O(N) messages, not O(N^2). The listing itself is
  // recomputed at most this often too, so a join costs O(log N), and a
  // `state` message may show the listeners as of up to this long ago.
  static constexpr std::chrono::milliseconds kPresenceInterval{250};

  // How long the publisher waits before retrying a presence write that
  // failed. (The watch of presence/ restarts with the WatchedView back-off.)
  static constexpr std::chrono::milliseconds kPresenceRetryDelay{1000};

  explicit RoomHub(room::RoomService& rooms, std::size_t history_per_room = kDefaultHistoryPerRoom);
  // Stops the publisher thread and the watch of presence/ first, so neither
  // runs while the rest of the hub is torn down.
  ~RoomHub();

  // Makes presence cluster-wide (see the file comment); call once, after the
  // node has a lease. Starts the publisher thread, which writes this node's
  // listeners of a room at most once per kPresenceInterval under
  // current_lease() (called on that thread; 0 means "no lease now, retry
  // later"), and the presence view, which loads and watches the other
  // nodes' presence on its own thread. Failed writes are retried after
  // kPresenceRetryDelay. `store` must outlive the hub.
  void start_cluster_presence(MetaStore& store, std::string node_id,
                              std::function<LeaseId()> current_lease);
  // The node's lease was granted anew: the old one expired and took this
  // node's presence keys with it, so write every room with local listeners
  // again (under current_lease()). A no-op before start_cluster_presence().
  void republish_presence();

  // The health of the view of the other nodes' presence, for /healthz and
  // /metrics; nullopt before start_cluster_presence().
  std::optional<ViewStatus> presence_view_status() const;
  // Waits until the presence view is loaded and following the store;
  // kUnavailable at the deadline, kFailedPrecondition before
  // start_cluster_presence().
  Status wait_presence_loaded(std::chrono::steady_clock::time_point deadline) const;

  // Feed from RoomService::set_listener.
  void on_event(const room::RoomEvent& event);

  // Seek data for the listeners that ask for it: when a change jumps into
  // a song (seek, previous, select, add-and-play, to a position past its
  // start), each such listener gets, right before the change's `state`, a
  // binary message with the bytes its player reads to start there (at most
  // kMaxSeekDataRates distinct rates and starts per change). `holds_every_song`: this
  // node has a copy of every song (a single node), so such a listener's
  // seek-data lead stands in for its fetch lead. Call before the room
  // service delivers events.
  static constexpr std::size_t kMaxSeekDataRates = 2;
  void set_seek_planner(SeekPlanner planner, bool holds_every_song);

  // Subscribes to a room. With `since` (the last revision the client saw)
  // the subscriber gets the changes after it when the hub still has them,
  // else a snapshot. `token_hash` names the session that opened the
  // subscription (session_token_hash), so that end_access() can close it.
  // kNotFound for an unknown room.
  Status join(const std::string& room_id, const std::shared_ptr<RoomSubscriber>& subscriber,
              const ListenerInfo& who, std::optional<Revision> since, std::string token_hash = {});
  void leave(const std::string& room_id, const RoomSubscriber* subscriber);

  // Distinct users listening, on any node once cluster presence is on (a
  // user counts once however many connections they have). Up to date: what
  // the next presence message will say. Across nodes, the count is exact
  // while each node has at most kListedListeners users in the room; beyond
  // that a user listening through two nodes at once may count twice.
  RoomListeners listeners(const std::string& room_id) const;
  // This node's subscriptions.
  std::size_t connection_count() const;

  // The command leads a subscriber needs (docs/protocol.md, "Commands that
  // land on the same sample"): how long before a change takes effect it
  // must hear of it to play it at the right sample, for a change to audio
  // it holds and for one whose audio it must fetch first. Clients report
  // them with their time requests; values are clamped to
  // 0..kMaxReportedLeadMs (and fetched_ms to at least held_ms). Cheap:
  // subscribers report only when they change.
  // A subscriber that asks for seek data (set_seek_planner) says so with
  // `wish`; its lead is clamped like the others'.
  static constexpr std::int64_t kMaxReportedLeadMs = 1000;
  void report_lead(const std::string& room_id, const RoomSubscriber* subscriber, room::CommandLeads leads,
                   SeekDataWish wish = {});
  // The largest leads any listener of the room needs, on this node or (with
  // cluster presence, published with this node's presence key) on any
  // other; 0 when nobody reported one. RoomService bounds what it uses.
  room::CommandLeads command_leads(const std::string& room_id) const;
  // The rooms with listeners on this node, as the hub last saw them, each
  // with its distinct local users (by username).
  struct LocalRoom {
    room::Room room;
    std::vector<ListenerInfo> users;
  };
  std::vector<LocalRoom> local_rooms() const;
  // Closes every subscription of the user (opened with that session's
  // token, or any of the user's when ended.token_hash is empty), saying why.
  // Feed from AccountService's watch (AccessWatch); any thread.
  void end_access(const AccessEnded& ended);
  // Closes every subscriber (server shutdown).
  void close_all();
  // Tells every subscriber to move to the node at `to` (a "move" message,
  // docs/protocol.md), then closes it (kMoved). For a node that drains: a
  // listener whose handshake was under way joins after this and is told
  // the same at once, so none stays behind on the leaving node.
  void move_all(const std::string& to);
  // Forgets every subscriber without telling them; for after the network
  // threads have stopped, so that no session outlives its io_context. Their
  // presence keys are deleted if the publisher still gets to it; otherwise
  // they end with the node's lease.
  void clear();

 private:
  struct Subscription {
    std::shared_ptr<RoomSubscriber> subscriber;
    ListenerInfo who;  // with the one device of this connection, if named
    std::string token_hash;  // of the session that opened it
    room::CommandLeads leads;  // report_lead()
    SeekDataWish seek_data;    // report_lead()
    std::size_t fanout_index = 0;  // in Channel::fanout
    room::CommandLeads counted;    // its needs as counted in the Channel (count_needs_locked)
  };
  struct LocalUser {
    ListenerInfo info;  // info.devices: the keys of `devices`
    int connections = 0;
    std::map<std::string, std::pair<std::string, int>> devices;  // id -> (name, connections)
    void refresh_devices();
  };
  struct Channel {
    std::optional<room::Room> room;  // the latest version seen
    std::deque<std::pair<Revision, SharedMessage>> history;
    Revision history_floor = 0;  // changes after this revision are all in history
    std::map<const RoomSubscriber*, Subscription> subscribers;
    // The same subscribers in a flat list, for the fan-out of each message
    // (walking a map of 10,000 cost more than the deliveries' own work).
    std::vector<RoomSubscriber*> fanout;
    // This node's connections per user.
    std::map<std::string, LocalUser> users;
    // The distinct listeners of the room: `users` merged with the other
    // nodes' listeners, as of the last refresh; stale when a join, leave or
    // another node's presence changed them since.
    RoomListeners listeners;
    bool listeners_stale = false;
    bool presence_pending = false;
    std::chrono::steady_clock::time_point last_presence{};
    // The largest leads of `subscribers`, as last published.
    room::CommandLeads leads;
    // How many subscribers need each lead (needed_locked), and ask for each
    // kind of seek data, so that a command learns the largest and a seek
    // what to plan without walking 10,000 subscribers.
    std::map<std::int64_t, std::size_t> held_leads;
    std::map<std::int64_t, std::size_t> fetched_leads;
    std::map<std::pair<int, std::uint64_t>, std::size_t> seek_wishes;  // (rate, behind_frames) with rate > 0
  };
  // A room whose presence key the publisher has written lately or must write.
  struct PublishState {
    bool dirty = false;  // local listeners changed since the last write
    std::chrono::steady_clock::time_point not_before{};  // throttle and retry back-off
  };
  // What another node lists of a room: its first users by username and how
  // many it has in all.
  struct NodeListeners {
    std::vector<ListenerInfo> users;
    std::size_t count = 0;
  };
  // Other nodes' listeners: room id -> node id -> users.
  using RemotePresence = std::map<std::string, std::map<std::string, NodeListeners>>;

  // The largest leads of the channel's subscribers.
  room::CommandLeads local_leads_locked(const Channel& channel) const;
  // The leads a subscriber needs: what it reported, less the fetch where
  // this node sends its seek data with the news.
  room::CommandLeads needed_locked(const Subscription& sub) const;
  // Counts (by +1) or uncounts (by -1) a subscriber's needs in the channel.
  // (A subscriber is uncounted with what it was counted with; its seek
  // data wish must not change in between.)
  void count_needs_locked(Channel& channel, Subscription& sub, int by) const;
  // The seek data of a change that jumps into a song, per rate and start
  // its room's listeners asked for; empty for other changes. Takes mu_ briefly.
  using SeekDataKey = std::pair<int, std::uint64_t>;  // rate, behind_frames
  std::vector<std::pair<SeekDataKey, SharedMessage>> plan_seek_data(const room::Room& room);
  // Local users (if any) merged with the other nodes' users of the room.
  RoomListeners merged_listeners_locked(const std::string& room_id,
                                        const std::map<std::string, LocalUser>* local_users) const;
  // Recomputes channel.listeners if they are stale; true when they changed.
  bool refresh_listeners_locked(const std::string& room_id, Channel& channel);
  void broadcast_locked(Channel& channel, const SharedMessage& message);
  // The room's presence message, showing `listeners` (default: the channel's).
  SharedMessage presence_message_locked(const Channel& channel, const RoomListeners* listeners = nullptr) const;
  // `listeners` with `joiner` in them, where they sort.
  static RoomListeners with_joiner(const RoomListeners& listeners, const ListenerInfo& joiner);
  // The room's listeners are stale: refreshes them and sends a presence if
  // they changed, now if the interval allows, else leaves it for the
  // flusher thread.
  void presence_changed_locked(const std::string& room_id, Channel& channel);
  // Whether a presence may go out now (the interval since the last one has
  // passed: then it counts as sent now); else marks it pending for the flusher.
  bool presence_turn_locked(Channel& channel);
  void flush_presence_loop();

  // Cluster presence. Has the publisher (re)write this node's presence key
  // of the room; a no-op without cluster presence.
  void mark_presence_dirty_locked(const std::string& room_id);
  // The value of this node's presence key for the room; nullopt: delete it.
  std::optional<std::string> presence_value_locked(const std::string& room_id) const;
  void publish_presence_loop();
  // Writes one room's presence key; blocks on the store.
  Status write_presence(const std::string& room_id, const std::optional<std::string>& value);
  // The presence view's callbacks: all of presence/ (replacing what was
  // known), or one revision's changes of it.
  void reset_presence(const RangeResult& snapshot);
  void apply_presence(const WatchResponse& response);
  // Recomputes the room's listeners after the other nodes' changed and
  // tells its subscribers if they did.
  void remote_presence_changed_locked(const std::string& room_id);

  room::RoomService& rooms_;
  const std::size_t history_per_room_;
  SeekPlanner seek_planner_;  // set before events come; then read only
  bool holds_every_song_ = false;
  mutable std::mutex mu_;
  std::map<std::string, Channel> channels_;
  SharedMessage move_message_;  // set by move_all(): every later joiner moves too
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread presence_flusher_;

  // Set once by start_cluster_presence(); presence_store_ == nullptr means
  // local presence only.
  MetaStore* presence_store_ = nullptr;
  std::string node_id_;
  std::function<LeaseId()> current_lease_;
  std::map<std::string, PublishState> publishing_;
  RemotePresence remote_presence_;
  // Other nodes' command leads: room id -> node id -> leads.
  std::map<std::string, std::map<std::string, room::CommandLeads>> remote_leads_;
  // Wakes the publisher: a room became dirty, or stopping.
  std::condition_variable publisher_cv_;
  std::thread presence_publisher_;
  // Set once by start_cluster_presence(), under mu_; stopped (not under mu_,
  // its callbacks take it) in the destructor.
  std::unique_ptr<WatchedView> presence_view_;
};

}  // namespace hifi
