// Cluster-wide room presence: two RoomService + RoomHub pairs sharing one
// SQLite MetaStore stand for two nodes of a cluster, each with its own lease.
// Nothing here sleeps for a fixed time: every wait is for a condition, with a
// deadline.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/room_hub.h"
#include "server/test_server.h"
#include "store/meta_store.h"

namespace hifi::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Names = std::vector<std::string>;

constexpr auto kDeadline = 10s;
constexpr std::int64_t kLeaseTtlSeconds = 30;  // never expires on its own during a test

// Records what the hub delivers, for tests to wait on.
class RecordingSubscriber : public RoomSubscriber {
 public:
  void deliver(SharedMessage message) override {
    std::lock_guard lock(mu_);
    messages_.push_back(json::parse(*message).as_object());
    changed_.notify_all();
  }
  void close(CloseReason why) override {
    std::lock_guard lock(mu_);
    closed_ = why;
  }
  std::optional<CloseReason> closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // Waits until the latest presence message lists exactly these usernames.
  bool wait_for_presence(const Names& expected) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kDeadline, [&] { return latest_presence_locked() == expected; });
  }
  std::optional<Names> latest_presence() const {
    std::lock_guard lock(mu_);
    return latest_presence_locked();
  }
  json::object first_message() const {
    std::lock_guard lock(mu_);
    return messages_.empty() ? json::object{} : messages_.front();
  }
  std::optional<json::object> latest_presence_message() const {
    std::lock_guard lock(mu_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      if (it->at("type").as_string() == "presence") return *it;
    }
    return std::nullopt;
  }
  // Waits for the first message of this type.
  std::optional<json::object> wait_for_type(const std::string& type) {
    std::unique_lock lock(mu_);
    std::optional<json::object> found;
    changed_.wait_for(lock, kDeadline, [&] {
      for (const auto& m : messages_) {
        if (m.at("type").as_string() == type) {
          found = m;
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::optional<Names> latest_presence_locked() const {
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      if (it->at("type").as_string() != "presence") continue;
      Names names;
      for (const auto& l : it->at("listeners").as_array()) {
        names.emplace_back(l.at("username").as_string());
      }
      return names;
    }
    return std::nullopt;
  }

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<json::object> messages_;
  std::optional<CloseReason> closed_;
};

Names usernames(const std::vector<ListenerInfo>& listeners) {
  Names out;
  for (const auto& l : listeners) out.push_back(l.username);
  return out;
}

// One node: its rooms, its hub and its lease.
struct Node {
  Node(MetaStore& store, std::string id)
      : id(std::move(id)), store(store), rooms(store, SystemClock::instance(), options()) {
    rooms.set_listener([this](const room::RoomEvent& e) { hub.on_event(e); });
    EXPECT_TRUE(rooms.start());
    auto granted = store.lease_grant(kLeaseTtlSeconds);
    EXPECT_TRUE(granted) << granted.status().to_string();
    if (granted) lease = *granted;
  }
  ~Node() { rooms.stop(); }  // no more events into the hub while it is destroyed

  static room::RoomServiceOptions options() {
    room::RoomServiceOptions o;
    o.auto_advance = false;
    return o;
  }
  void start_cluster_presence() {
    hub.start_cluster_presence(store, id, [this] { return lease.load(); });
  }
  std::shared_ptr<RecordingSubscriber> join(const std::string& room_id, const std::string& user_id,
                                            const std::string& username) {
    auto subscriber = std::make_shared<RecordingSubscriber>();
    EXPECT_TRUE(hub.join(room_id, subscriber, {user_id, username}, std::nullopt));
    return subscriber;
  }
  Names listeners(const std::string& room_id) const { return usernames(hub.listeners(room_id).listed); }

  const std::string id;
  MetaStore& store;
  std::atomic<LeaseId> lease{0};
  room::RoomService rooms;
  RoomHub hub{rooms};
};

class RoomHubClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);
    dir_ = fresh_dir("presence");
    auto store = open_sqlite_meta_store((dir_ / "meta.db").string());
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
    a_ = std::make_unique<Node>(*store_, "node-a");
    b_ = std::make_unique<Node>(*store_, "node-b");
    auto room = a_->rooms.create("Living room", "u-owner");
    ASSERT_TRUE(room) << room.status().to_string();
    room_ = room->id;
    // Node B learns of the room through its own watch.
    ASSERT_TRUE(eventually([&] { return b_->rooms.get(room_).is_ok(); }));
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
    spdlog::set_level(previous_level_);
  }

  void start_both() {
    a_->start_cluster_presence();
    b_->start_cluster_presence();
  }
  std::optional<json::value> stored_presence(const Node& node) {
    auto kv = store_->get("presence/" + room_ + "/" + node.id);
    if (!kv) return std::nullopt;
    return json::parse(kv->value);
  }

  spdlog::level::level_enum previous_level_ = spdlog::level::info;
  std::filesystem::path dir_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<Node> a_;
  std::unique_ptr<Node> b_;
  std::string room_;
};

TEST_F(RoomHubClusterTest, RemoteJoinAndLeaveReachLocalSubscribers) {
  start_both();
  auto alice = a_->join(room_, "u-alice", "alice");
  auto bob = b_->join(room_, "u-bob", "bob");

  ASSERT_TRUE(alice->wait_for_presence({"alice", "bob"}))
      << ::testing::PrintToString(alice->latest_presence());
  EXPECT_EQ(a_->listeners(room_), (Names{"alice", "bob"}));
  ASSERT_TRUE(bob->wait_for_presence({"alice", "bob"}))
      << ::testing::PrintToString(bob->latest_presence());
  EXPECT_EQ(b_->listeners(room_), (Names{"alice", "bob"}));

  b_->hub.leave(room_, bob.get());
  ASSERT_TRUE(alice->wait_for_presence({"alice"}))
      << ::testing::PrintToString(alice->latest_presence());
  EXPECT_EQ(a_->listeners(room_), (Names{"alice"}));
  // B has nobody left in the room: its key is gone, not left empty.
  EXPECT_TRUE(eventually([&] { return !stored_presence(*b_); }));
}

TEST_F(RoomHubClusterTest, PresenceKeyHoldsTheNodesUsersAndConnections) {
  start_both();
  auto first = b_->join(room_, "u-bob", "bob");
  auto second = b_->join(room_, "u-bob", "bob");
  auto carol = b_->join(room_, "u-carol", "carol");
  const json::value expected =
      json::parse(R"({"users":[{"user_id":"u-bob","username":"bob","connections":2},)"
                  R"({"user_id":"u-carol","username":"carol","connections":1}],"count":2})");
  ASSERT_TRUE(eventually([&] { return stored_presence(*b_) == expected; }))
      << json::serialize(stored_presence(*b_).value_or(nullptr));
  auto kv = store_->get("presence/" + room_ + "/" + b_->id);
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->lease, b_->lease.load());
}

// A listener's command leads reach the other node with the presence key,
// so a command taken there lands late enough for it; they go when the
// listener does. Each lead is the largest of its kind, whoever reports it.
TEST_F(RoomHubClusterTest, TheLargestLeadOnAnyNodeIsTheRoomsLead) {
  using room::CommandLeads;
  start_both();
  auto bob = b_->join(room_, "u-bob", "bob");
  auto alice = a_->join(room_, "u-alice", "alice");
  a_->hub.report_lead(room_, alice.get(), {40, 300});
  b_->hub.report_lead(room_, bob.get(), {150, 200});
  const CommandLeads both{150, 300};
  ASSERT_TRUE(eventually([&] { return a_->hub.command_leads(room_) == both; }))
      << a_->hub.command_leads(room_).held_ms << " " << a_->hub.command_leads(room_).fetched_ms;
  ASSERT_TRUE(eventually([&] { return b_->hub.command_leads(room_) == both; }));
  auto stored = stored_presence(*b_);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->at("lead_ms").as_int64(), 150);
  EXPECT_EQ(stored->at("fetch_lead_ms").as_int64(), 200);
  // A change of less than 10 ms is not worth a write.
  b_->hub.report_lead(room_, bob.get(), {152, 200});
  EXPECT_EQ(b_->hub.command_leads(room_), (CommandLeads{152, 300}));
  // A fetch lead below the lead counts as the lead.
  b_->hub.report_lead(room_, bob.get(), {152, 0});
  EXPECT_EQ(b_->hub.command_leads(room_), (CommandLeads{152, 300}));
  b_->hub.leave(room_, bob.get());
  const CommandLeads alices{40, 300};
  ASSERT_TRUE(eventually([&] { return a_->hub.command_leads(room_) == alices; }))
      << a_->hub.command_leads(room_).held_ms;
  EXPECT_TRUE(eventually([&] { return b_->hub.command_leads(room_) == alices; }));
}

// The node's own leads are counted as listeners report them and leave: the
// largest of each kind, also when the one who had it lowers it or goes.
TEST_F(RoomHubClusterTest, TheLocalLeadsFollowEveryReportAndLeave) {
  using room::CommandLeads;
  start_both();
  auto x = a_->join(room_, "u-x", "x");
  auto y = a_->join(room_, "u-y", "y");
  auto z = a_->join(room_, "u-z", "z");
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{0, 0}));
  a_->hub.report_lead(room_, x.get(), {100, 200});
  a_->hub.report_lead(room_, y.get(), {150, 150});
  a_->hub.report_lead(room_, z.get(), {150, 400});
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{150, 400}));
  a_->hub.report_lead(room_, z.get(), {50, 50});  // z had the largest fetch lead
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{150, 200}));
  a_->hub.leave(room_, y.get());  // y had the largest lead
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{100, 200}));
  a_->hub.report_lead(room_, y.get(), {900, 900});  // gone: not counted
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{100, 200}));
  a_->hub.leave(room_, x.get());
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{50, 50}));
  a_->hub.leave(room_, z.get());
  EXPECT_EQ(a_->hub.command_leads(room_), (CommandLeads{0, 0}));
}

TEST_F(RoomHubClusterTest, AUserOnBothNodesCountsOnce) {
  start_both();
  auto alice_on_a = a_->join(room_, "u-alice", "alice");
  auto alice_on_b = b_->join(room_, "u-alice", "alice");
  auto alice_again_on_b = b_->join(room_, "u-alice", "alice");
  auto bob = b_->join(room_, "u-bob", "bob");

  // Once A has seen bob, it has merged B's alice too: she is listed once.
  ASSERT_TRUE(alice_on_a->wait_for_presence({"alice", "bob"}))
      << ::testing::PrintToString(alice_on_a->latest_presence());
  EXPECT_EQ(a_->listeners(room_), (Names{"alice", "bob"}));
  EXPECT_TRUE(eventually([&] {
    return b_->listeners(room_) == Names{"alice", "bob"};
  })) << ::testing::PrintToString(b_->listeners(room_));

  // Alice leaving A entirely keeps her listed: she is still on B.
  a_->hub.leave(room_, alice_on_a.get());
  auto dave = a_->join(room_, "u-dave", "dave");
  ASSERT_TRUE(dave->wait_for_presence({"alice", "bob", "dave"}))
      << ::testing::PrintToString(dave->latest_presence());
  EXPECT_EQ(a_->listeners(room_), (Names{"alice", "bob", "dave"}));
}

TEST_F(RoomHubClusterTest, ADeadNodesUsersDisappearAndReturnWhenItRepublishes) {
  start_both();
  auto alice = a_->join(room_, "u-alice", "alice");
  auto bob = b_->join(room_, "u-bob", "bob");
  ASSERT_TRUE(alice->wait_for_presence({"alice", "bob"}))
      << ::testing::PrintToString(alice->latest_presence());

  // B stops renewing: its lease ends and takes B's presence keys with it.
  ASSERT_TRUE(store_->lease_revoke(b_->lease.load()));
  ASSERT_TRUE(alice->wait_for_presence({"alice"}))
      << ::testing::PrintToString(alice->latest_presence());
  EXPECT_EQ(a_->listeners(room_), (Names{"alice"}));

  // B gets a new lease and publishes its listeners again.
  auto renewed = store_->lease_grant(kLeaseTtlSeconds);
  ASSERT_TRUE(renewed) << renewed.status().to_string();
  b_->lease = *renewed;
  b_->hub.republish_presence();
  ASSERT_TRUE(alice->wait_for_presence({"alice", "bob"}))
      << ::testing::PrintToString(alice->latest_presence());
  EXPECT_EQ(a_->listeners(room_), (Names{"alice", "bob"}));
  auto kv = store_->get("presence/" + room_ + "/" + b_->id);
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->lease, *renewed);
}

TEST_F(RoomHubClusterTest, ListenersFromBeforeTheStartAndWithoutLocalSubscribersCount) {
  // Bob joined B before cluster presence started: he is published all the same.
  auto bob = b_->join(room_, "u-bob", "bob");
  start_both();
  // A has no subscriber of the room; the REST API still lists B's users.
  ASSERT_TRUE(eventually([&] { return a_->listeners(room_) == Names{"bob"}; }))
      << ::testing::PrintToString(a_->listeners(room_));
  // A subscriber joining A afterwards gets them in its snapshot.
  auto alice = a_->join(room_, "u-alice", "alice");
  const auto snapshot = alice->first_message();
  ASSERT_EQ(snapshot.at("type").as_string(), "snapshot");
  Names in_snapshot;
  for (const auto& l : snapshot.at("state").at("listeners").as_array()) {
    in_snapshot.emplace_back(l.at("username").as_string());
  }
  EXPECT_EQ(in_snapshot, (Names{"alice", "bob"}));
  ASSERT_TRUE(bob->wait_for_presence({"alice", "bob"}))
      << ::testing::PrintToString(bob->latest_presence());
}

TEST_F(RoomHubClusterTest, ARestartedNodeReplacesThePresenceItLeftBehind) {
  // An earlier run of B, whose lease is still alive, had a listener here.
  auto old_lease = store_->lease_grant(kLeaseTtlSeconds);
  ASSERT_TRUE(old_lease);
  ASSERT_TRUE(store_->put("presence/" + room_ + "/" + b_->id,
                          R"({"users":[{"user_id":"u-ghost","username":"ghost","connections":1}]})",
                          *old_lease));
  a_->start_cluster_presence();
  auto alice = a_->join(room_, "u-alice", "alice");
  ASSERT_TRUE(alice->wait_for_presence({"alice", "ghost"}))
      << ::testing::PrintToString(alice->latest_presence());

  // B starts again with nobody listening: the ghost goes.
  b_->start_cluster_presence();
  ASSERT_TRUE(alice->wait_for_presence({"alice"}))
      << ::testing::PrintToString(alice->latest_presence());
  EXPECT_FALSE(stored_presence(*b_));
  EXPECT_TRUE(eventually([&] { return b_->listeners(room_) == Names{"alice"}; }))
      << ::testing::PrintToString(b_->listeners(room_));
}

// Counts what a listener of a big room gets, without keeping it.
class CountingSubscriber : public RoomSubscriber {
 public:
  void deliver(SharedMessage message) override {
    messages.fetch_add(1);
    std::size_t seen = largest.load();
    while (message->size() > seen && !largest.compare_exchange_weak(seen, message->size())) {
    }
  }
  void close(CloseReason) override {}
  std::atomic<std::size_t> messages{0};
  std::atomic<std::size_t> largest{0};  // bytes
};

std::string numbered(const char* prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%05d", prefix, i);
  return buf;
}

// A room of 10,000 distinct users: every message stays the size it has in
// a small room, and says how many listen.
TEST_F(RoomHubClusterTest, ARoomOfTenThousandUsersSendsMessagesOfBoundedSize) {
  constexpr int kUsers = 10'000;
  constexpr std::size_t kBound = 8 * 1024;  // bytes: 50 names and a queue of one
  auto observer = a_->join(room_, "u-observer", "zz-observer");
  std::vector<std::shared_ptr<CountingSubscriber>> crowd;
  for (int i = 0; i < kUsers; ++i) {
    crowd.push_back(std::make_shared<CountingSubscriber>());
    ASSERT_TRUE(a_->hub.join(room_, crowd.back(), {numbered("u-", i), numbered("user", i)}, std::nullopt));
  }
  auto counted = [&](std::size_t n) {
    return [&, n] {
      auto m = observer->latest_presence_message();
      return m && m->at("listener_count").as_int64() == static_cast<std::int64_t>(n);
    };
  };
  ASSERT_TRUE(eventually(counted(kUsers + 1)));
  const auto presence = *observer->latest_presence_message();
  const auto& listed = presence.at("listeners").as_array();
  ASSERT_EQ(listed.size(), kListedListeners);
  EXPECT_EQ(listed.front().at("username").as_string(), "user00000");
  EXPECT_EQ(listed.back().at("username").as_string(), numbered("user", kListedListeners - 1));
  EXPECT_EQ(a_->hub.listeners(room_).count, static_cast<std::size_t>(kUsers + 1));

  // A command reaches all of them as one state message of bounded size.
  room::Command repeat;
  repeat.type = room::Command::Type::kRepeat;
  repeat.mode = room::RepeatMode::kAll;
  repeat.by = "u-observer";
  ASSERT_TRUE(a_->rooms.execute(room_, repeat));
  auto state = observer->wait_for_type("state");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->at("state").at("listener_count").as_int64(), kUsers + 1);
  EXPECT_EQ(state->at("state").at("listeners").as_array().size(), kListedListeners);
  std::size_t largest = 0;
  for (const auto& sub : crowd) largest = std::max(largest, sub->largest.load());
  EXPECT_LT(largest, kBound) << "the largest message any listener got";
  EXPECT_LT(json::serialize(*state).size(), kBound);

  // A late joiner's snapshot is bounded too.
  auto late = std::make_shared<CountingSubscriber>();
  ASSERT_TRUE(a_->hub.join(room_, late, {"u-late", "late"}, std::nullopt));
  EXPECT_GE(late->messages.load(), 1u);
  EXPECT_LT(late->largest.load(), kBound);

  // Half of them leave: the count follows.
  for (int i = 0; i < kUsers / 2; ++i) a_->hub.leave(room_, crowd[static_cast<std::size_t>(i)].get());
  ASSERT_TRUE(eventually(counted(kUsers / 2 + 2)));
  const auto after = *observer->latest_presence_message();
  EXPECT_EQ(after.at("listeners").as_array().at(0).at("username").as_string(), "late");
  EXPECT_EQ(after.at("listeners").as_array().at(1).at("username").as_string(), numbered("user", kUsers / 2));
}

// Each node publishes its first users and its count, so a node's presence
// key stays small however many listen through it, and the room's listing
// is still the first users across nodes.
TEST_F(RoomHubClusterTest, ManyListenersOnTwoNodesAreCountedAndTheFirstListedAcrossNodes) {
  start_both();
  std::vector<std::shared_ptr<RecordingSubscriber>> on_a, on_b;
  // Even numbers on A, odd ones on B: the first 50 names alternate.
  for (int i = 0; i < 300; ++i) {
    auto& node = i % 2 == 0 ? *a_ : *b_;
    (i % 2 == 0 ? on_a : on_b).push_back(node.join(room_, numbered("u-", i), numbered("user", i)));
  }
  Names first;
  for (int i = 0; i < static_cast<int>(kListedListeners); ++i) first.push_back(numbered("user", i));
  ASSERT_TRUE(eventually([&] {
    auto l = a_->hub.listeners(room_);
    return l.count == 300 && usernames(l.listed) == first;
  })) << a_->hub.listeners(room_).count;
  ASSERT_TRUE(eventually([&] {
    auto l = b_->hub.listeners(room_);
    return l.count == 300 && usernames(l.listed) == first;
  })) << b_->hub.listeners(room_).count;
  ASSERT_TRUE(on_a.front()->wait_for_presence(first));
  auto stored = stored_presence(*b_);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->at("count").as_int64(), 150);
  EXPECT_EQ(stored->at("users").as_array().size(), kListedListeners);
  EXPECT_EQ(stored->at("users").as_array().front().at("username").as_string(), "user00001");
}

TEST_F(RoomHubClusterTest, DeletingTheRoomDeletesItsPresence) {
  start_both();
  auto bob = b_->join(room_, "u-bob", "bob");
  ASSERT_TRUE(eventually([&] { return stored_presence(*b_).has_value(); }));
  ASSERT_TRUE(a_->rooms.remove(room_, User{"u-owner", "owner", "user", false, 0}));
  EXPECT_TRUE(eventually([&] { return !stored_presence(*b_); }));
}

// A draining node tells its listeners where to go. A listener whose
// handshake was still under way when it did joins afterwards: it is told
// the same at once, rather than staying on the leaving node until it stops.
TEST_F(RoomHubClusterTest, AListenerThatJoinsAfterTheMoveIsToldToMoveToo) {
  auto before = a_->join(room_, "u-1", "ann");
  a_->hub.move_all("http://127.0.0.1:4002");
  auto move = before->wait_for_type("move");
  ASSERT_TRUE(move);
  EXPECT_EQ(move->at("to").as_string(), "http://127.0.0.1:4002");
  EXPECT_EQ(before->closed(), CloseReason::kMoved);

  auto late = a_->join(room_, "u-2", "bob");
  auto late_move = late->wait_for_type("move");
  ASSERT_TRUE(late_move);
  EXPECT_EQ(late_move->at("to").as_string(), "http://127.0.0.1:4002");
  EXPECT_EQ(late->closed(), CloseReason::kMoved);
  // The snapshot still comes first: the client has the room when it moves.
  EXPECT_EQ(late->first_message().at("type").as_string(), "snapshot");

  // The other node is not draining: its joiners stay.
  auto elsewhere = b_->join(room_, "u-3", "cid");
  ASSERT_TRUE(elsewhere->wait_for_type("snapshot"));
  EXPECT_FALSE(elsewhere->closed());
}

}  // namespace
}  // namespace hifi::testing
