// Integration tests of listening rooms: the REST API under /api/v1/rooms and
// the per-room WebSocket, against the real in-process server (no mocks).
// Nothing here sleeps for a fixed time: every wait is for a message or a
// condition, with a deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <barrier>
#include <set>
#include <thread>

#include "library/annotations.h"
#include "server/node.h"
#include "server/play_counter.h"
#include "server/room_test_fixture.h"
#include "server/test_server.h"
#include "server/ws_client.h"

namespace hifi::testing {
namespace {

using V = http::verb;
namespace json = boost::json;
using namespace std::chrono_literals;

// Reads a listener's messages on its own thread (so the server never waits
// on it) until `done` says stop, or the connection ends or stalls.
class Collector {
 public:
  Collector(WsClient& ws, std::function<bool(const json::object&)> done) {
    thread_ = std::thread([this, &ws, done = std::move(done)] {
      for (;;) {
        auto m = ws.read(30s);
        if (!m) {
          error_ = ws.error().message();
          return;
        }
        messages_.push_back(*m);
        if (done(*m)) return;
      }
    });
  }
  ~Collector() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // Valid after join().
  const std::vector<json::object>& messages() const { return messages_; }
  const std::string& error() const { return error_; }
  std::vector<json::object> states() const {
    std::vector<json::object> out;
    for (const auto& m : messages_) {
      if (m.at("type").as_string() == "state") out.push_back(m);
    }
    return out;
  }

 private:
  std::thread thread_;
  std::vector<json::object> messages_;
  std::string error_;
};

// --- REST ------------------------------------------------------------------

TEST_F(RoomsTest, CreateListGetDelete) {
  auto admin = register_and_login("root");  // the first account is the admin
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  const auto alice_id = user_id(alice);

  auto created = post_json("/api/v1/rooms", {{"name", "Kitchen"}}, alice);
  ASSERT_EQ(created.status, 201) << created.body;
  const auto room = str(created.json().at("id"));
  EXPECT_EQ(created.header("location"), "/api/v1/rooms/" + room);
  EXPECT_EQ(created.json().at("name").as_string(), "Kitchen");
  EXPECT_EQ(created.json().at("owner").as_string(), alice_id);
  EXPECT_EQ(created.json().at("listener_count").as_int64(), 0);
  EXPECT_TRUE(created.json().at("now_playing").is_null());

  // Names: 1..100 characters, no control characters, a string.
  expect_problem(post_json("/api/v1/rooms", {{"name", ""}}, alice), 400, "invalid-request");
  expect_problem(post_json("/api/v1/rooms", {{"name", std::string(101, 'x')}}, alice), 400, "invalid-request");
  expect_problem(post_json("/api/v1/rooms", {{"name", "tab\there"}}, alice), 400, "invalid-request");
  expect_problem(post_json("/api/v1/rooms", {{"name", 42}}, alice), 400, "invalid-request");
  expect_problem(post_json("/api/v1/rooms", json::object{}, alice), 400, "invalid-request");
  expect_problem(post_raw("/api/v1/rooms", "{\"name\": ", alice), 400, "invalid-request");
  EXPECT_EQ(post_json("/api/v1/rooms", {{"name", std::string(100, 'x')}}, bob).status, 201);
  expect_problem(post_json("/api/v1/rooms", {{"name", "Kitchen"}}), 401, "unauthenticated");

  // Something playing, for now_playing and the full state.
  auto song = upload_song(alice, 440);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  ok_command(alice, room, {{"type", "play"}});

  auto list = get("/api/v1/rooms", bob);
  ASSERT_EQ(list.status, 200) << list.body;
  const auto list_json = list.json();
  const auto& items = list_json.at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  // Oldest first; on the manual clock both rooms were created at the same time.
  const bool kitchen_first = items[0].at("id").as_string() == room;
  const auto& first = items[kitchen_first ? 0 : 1].as_object();
  ASSERT_EQ(first.at("id").as_string(), room);
  EXPECT_EQ(first.at("name").as_string(), "Kitchen");
  EXPECT_EQ(first.at("owner").as_string(), alice_id);
  EXPECT_EQ(first.at("listener_count").as_int64(), 0);
  ASSERT_TRUE(first.at("now_playing").is_object()) << list.body;
  EXPECT_EQ(first.at("now_playing").at("song_id").as_string(), song);
  EXPECT_EQ(first.at("now_playing").at("item_id").as_string(), "q1");
  EXPECT_EQ(first.at("now_playing").at("playing").as_bool(), true);
  EXPECT_TRUE(items[kitchen_first ? 1 : 0].at("now_playing").is_null());

  auto got = get("/api/v1/rooms/" + room, bob);
  ASSERT_EQ(got.status, 200) << got.body;
  const auto got_json = got.json();
  const auto& state = got_json.at("state").as_object();
  ASSERT_EQ(state.at("queue").as_array().size(), 1u);
  const auto& item = state.at("queue").as_array()[0].as_object();
  EXPECT_EQ(item.at("id").as_string(), "q1");
  EXPECT_EQ(item.at("song_id").as_string(), song);
  EXPECT_EQ(item.at("added_by").as_string(), alice_id);
  EXPECT_EQ(item.at("duration_ms").as_int64(), 5000);
  EXPECT_EQ(state.at("current").as_string(), "q1");
  EXPECT_EQ(state.at("playing").as_bool(), true);
  EXPECT_EQ(state.at("position_ms").as_int64(), 0);
  EXPECT_EQ(state.at("position_at").as_int64(), server_->clock().now_ms());
  EXPECT_EQ(state.at("repeat").as_string(), "off");
  EXPECT_TRUE(state.at("listeners").as_array().empty());
  EXPECT_EQ(state.at("revision").as_int64(), got.json().at("revision").as_int64());
  EXPECT_FALSE(state.contains("next_item_seq"));

  expect_problem(get("/api/v1/rooms/nosuchroom", bob), 404, "not-found");
  expect_problem(del("/api/v1/rooms/" + room, bob), 403, "forbidden");
  EXPECT_EQ(get("/api/v1/rooms/" + room, bob).status, 200);
  EXPECT_EQ(del("/api/v1/rooms/" + room, alice).status, 204);
  expect_problem(get("/api/v1/rooms/" + room, alice), 404, "not-found");
  expect_problem(del("/api/v1/rooms/" + room, alice), 404, "not-found");

  // An admin may delete anybody's room.
  auto other = create_room(bob, "Garage");
  EXPECT_EQ(del("/api/v1/rooms/" + other, admin).status, 204);
  expect_problem(get("/api/v1/rooms/" + other, bob), 404, "not-found");
  EXPECT_EQ(get("/api/v1/rooms", bob).json().at("items").as_array().size(), 1u);
}

TEST_F(RoomsTest, EveryCommandType) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  const auto bob_id = user_id(bob);
  std::vector<std::string> songs;
  for (int i = 0; i < 4; ++i) songs.push_back(upload_song(alice, 300 + 100 * i));
  auto room = create_room(alice);
  auto& clock = server_->clock();
  std::int64_t revision = room_state(alice, room).at("revision").as_int64();
  auto run = [&](const std::string& token, const json::object& c) {
    auto s = ok_command(token, room, c);
    if (s.empty()) return s;
    EXPECT_GT(s.at("revision").as_int64(), revision) << json::serialize(c);
    revision = s.at("revision").as_int64();
    EXPECT_EQ(s, room_state(alice, room)) << json::serialize(c);
    return s;
  };
  using Ids = std::vector<std::string>;

  // add: at the end (default and explicit), next, and at an index.
  auto s = run(bob, {{"type", "add"}, {"song_ids", {songs[0]}}});
  EXPECT_EQ(queue_ids(s), (Ids{"q1"}));
  EXPECT_EQ(s.at("current").as_string(), "q1");  // the first song is selected, paused
  EXPECT_FALSE(s.at("playing").as_bool());
  EXPECT_EQ(s.at("queue").as_array()[0].at("added_by").as_string(), bob_id);
  s = run(alice, {{"type", "add"}, {"song_ids", {songs[1], songs[2]}}, {"at", "end"}});
  EXPECT_EQ(queue_ids(s), (Ids{"q1", "q2", "q3"}));
  s = run(alice, {{"type", "add"}, {"song_ids", {songs[3]}}, {"at", "next"}});
  EXPECT_EQ(queue_ids(s), (Ids{"q1", "q4", "q2", "q3"}));
  s = run(alice, {{"type", "add"}, {"song_ids", {songs[0]}}, {"at", 0}});
  EXPECT_EQ(queue_ids(s), (Ids{"q5", "q1", "q4", "q2", "q3"}));
  EXPECT_EQ(s.at("queue").as_array()[0].at("song_id").as_string(), songs[0]);

  // remove, move.
  s = run(alice, {{"type", "remove"}, {"item_id", "q5"}});
  EXPECT_EQ(queue_ids(s), (Ids{"q1", "q4", "q2", "q3"}));
  s = run(alice, {{"type", "move"}, {"item_id", "q3"}, {"to", 0}});
  EXPECT_EQ(queue_ids(s), (Ids{"q3", "q1", "q4", "q2"}));
  EXPECT_EQ(s.at("current").as_string(), "q1");

  // play, pause, seek.
  s = run(alice, {{"type", "play"}});
  EXPECT_TRUE(s.at("playing").as_bool());
  EXPECT_EQ(s.at("position_at").as_int64(), clock.now_ms());
  clock.advance_ms(1500);
  s = run(bob, {{"type", "pause"}});
  EXPECT_FALSE(s.at("playing").as_bool());
  EXPECT_EQ(s.at("position_ms").as_int64(), 1500);
  s = run(bob, {{"type", "seek"}, {"position_ms", 4000}});
  EXPECT_EQ(s.at("position_ms").as_int64(), 4000);
  s = run(bob, {{"type", "seek"}, {"position_ms", 200}, {"item_id", "q1"}});
  EXPECT_EQ(s.at("position_ms").as_int64(), 200);
  s = run(alice, {{"type", "play"}});

  // skip, previous (with and without the item precondition).
  s = run(alice, {{"type", "skip"}, {"item_id", "q1"}});
  EXPECT_EQ(s.at("current").as_string(), "q4");
  EXPECT_TRUE(s.at("playing").as_bool());
  EXPECT_EQ(s.at("position_ms").as_int64(), 0);
  s = run(alice, {{"type", "skip"}});
  EXPECT_EQ(s.at("current").as_string(), "q2");
  s = run(alice, {{"type", "previous"}, {"item_id", "q2"}});
  EXPECT_EQ(s.at("current").as_string(), "q4");
  clock.advance_ms(3500);  // past the restart threshold: previous restarts the song
  s = run(alice, {{"type", "previous"}});
  EXPECT_EQ(s.at("current").as_string(), "q4");
  EXPECT_EQ(s.at("position_ms").as_int64(), 0);
  EXPECT_EQ(s.at("position_at").as_int64(), clock.now_ms());

  // select: jump to an item, at a position or the top, keeping play/pause.
  const bool was_playing = s.at("playing").as_bool();
  s = run(alice, {{"type", "select"}, {"item_id", "q2"}, {"position_ms", 100}});
  EXPECT_EQ(s.at("current").as_string(), "q2");
  EXPECT_EQ(s.at("position_ms").as_int64(), 100);
  EXPECT_EQ(s.at("playing").as_bool(), was_playing);
  s = run(alice, {{"type", "select"}, {"item_id", "q4"}});
  EXPECT_EQ(s.at("current").as_string(), "q4");
  EXPECT_EQ(s.at("position_ms").as_int64(), 0);

  // repeat.
  for (auto mode : {"all", "one", "off"}) {
    s = run(alice, {{"type", "repeat"}, {"mode", mode}});
    EXPECT_EQ(s.at("repeat").as_string(), mode);
  }

  // clear.
  s = run(bob, {{"type", "clear"}});
  EXPECT_TRUE(s.at("queue").as_array().empty());
  EXPECT_TRUE(s.at("current").is_null());
  EXPECT_FALSE(s.at("playing").as_bool());

  // A command that changes nothing is answered, but writes no new revision.
  auto r = command(alice, room, {{"type", "pause"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().at("revision").as_int64(), revision);
}

TEST_F(RoomsTest, BadCommandsAreProblems) {
  auto alice = register_and_login("alice");
  auto song = upload_song(alice, 440);
  auto room = create_room(alice);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song, song}}});
  const auto before = room_state(alice, room);

  auto bad = [&](const json::object& c) {
    SCOPED_TRACE(json::serialize(c));
    expect_problem(command(alice, room, c), 400, "invalid-request");
  };
  bad({{"type", "dance"}});
  bad({{"type", "advance"}, {"item_id", "q1"}});  // internal only
  bad({{"type", 5}});
  bad({{"type", nullptr}});
  bad(json::object{});
  bad({{"type", "add"}});
  bad({{"type", "add"}, {"song_ids", json::array{}}});
  bad({{"type", "add"}, {"song_ids", song}});
  bad({{"type", "add"}, {"song_ids", {5}}});
  bad({{"type", "add"}, {"song_ids", {song}}, {"at", "middle"}});
  bad({{"type", "add"}, {"song_ids", {song}}, {"at", -3}});
  bad({{"type", "add"}, {"song_ids", {song}}, {"at", 1.5}});
  bad({{"type", "add"}, {"song_ids", {song}}, {"at", 99}});  // outside the queue
  bad({{"type", "remove"}});
  bad({{"type", "remove"}, {"item_id", 1}});
  bad({{"type", "move"}, {"item_id", "q1"}});
  bad({{"type", "move"}, {"item_id", "q1"}, {"to", "first"}});
  bad({{"type", "move"}, {"item_id", "q1"}, {"to", 7}});
  bad({{"type", "seek"}});
  bad({{"type", "seek"}, {"position_ms", "10s"}});
  bad({{"type", "seek"}, {"position_ms", -1}});
  bad({{"type", "seek"}, {"position_ms", 10}, {"item_id", 1}});
  bad({{"type", "skip"}, {"item_id", true}});
  bad({{"type", "repeat"}});
  bad({{"type", "select"}});
  bad({{"type", "select"}, {"item_id", "q1"}, {"position_ms", -1}});
  bad({{"type", "repeat"}, {"mode", "sometimes"}});
  bad({{"type", "repeat"}, {"mode", 1}});
  expect_problem(post_raw("/api/v1/rooms/" + room + "/commands", "{\"type\":", alice), 400, "invalid-request");
  expect_problem(post_raw("/api/v1/rooms/" + room + "/commands", "[\"play\"]", alice), 400, "invalid-request");

  expect_problem(command(alice, room, {{"type", "add"}, {"song_ids", {song, "0123456789abcdef0123456789abcdef"}}}),
                 404, "not-found");
  expect_problem(command(alice, room, {{"type", "remove"}, {"item_id", "q99"}}), 404, "not-found");
  expect_problem(command(alice, room, {{"type", "select"}, {"item_id", "q99"}}), 404, "not-found");
  expect_problem(command(alice, room, {{"type", "move"}, {"item_id", "q99"}, {"to", 0}}), 404, "not-found");
  expect_problem(command(alice, "nosuchroom", {{"type", "play"}}), 404, "not-found");
  expect_problem(command("", room, {{"type", "play"}}), 401, "unauthenticated");
  expect_problem(command("bad-token", room, {{"type", "play"}}), 401, "unauthenticated");

  // None of these changed anything.
  EXPECT_EQ(room_state(alice, room), before);
}

TEST_F(RoomsTest, StaleSkipIsAConflictCarryingTheCurrentState) {
  auto alice = register_and_login("alice");
  auto song = upload_song(alice, 440);
  auto room = create_room(alice);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song, song, song}}});
  ok_command(alice, room, {{"type", "play"}});
  ok_command(alice, room, {{"type", "skip"}, {"item_id", "q1"}});
  const auto now = room_state(alice, room);

  for (const auto& c : {json::object{{"type", "skip"}, {"item_id", "q1"}},
                        json::object{{"type", "previous"}, {"item_id", "q3"}},
                        json::object{{"type", "seek"}, {"position_ms", 5}, {"item_id", "q1"}}}) {
    auto r = command(alice, room, c);
    expect_problem(r, 409, "precondition-failed");
    ASSERT_EQ(r.status, 409);
    auto body = r.json().as_object();
    ASSERT_TRUE(body.contains("state")) << r.body;
    EXPECT_EQ(body.at("state").as_object(), now) << r.body;
    EXPECT_EQ(body.at("state").at("current").as_string(), "q2");
  }
  EXPECT_EQ(room_state(alice, room), now);
}

TEST_F(RoomsTest, ConcurrentSkipsOfTheSameItemSkipOnce) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto song = upload_song(alice, 440);
  auto room = create_room(alice);
  constexpr int kRounds = 8;
  json::array ids;
  for (int i = 0; i <= kRounds; ++i) ids.push_back(json::value(song));
  ok_command(alice, room, {{"type", "add"}, {"song_ids", ids}});
  ok_command(alice, room, {{"type", "play"}});

  for (int round = 1; round <= kRounds; ++round) {
    const std::string item = "q" + std::to_string(round);
    ASSERT_EQ(room_state(alice, room).at("current").as_string(), item);
    std::barrier start(2);
    HttpResult results[2];
    auto press = [&](int who, const std::string& token) {
      start.arrive_and_wait();
      results[who] = command(token, room, {{"type", "skip"}, {"item_id", item}});
    };
    std::thread a(press, 0, alice), b(press, 1, bob);
    a.join();
    b.join();
    std::multiset<int> statuses{results[0].status, results[1].status};
    EXPECT_EQ(statuses, (std::multiset<int>{200, 409})) << results[0].body << "\n" << results[1].body;
    const auto& loser = results[0].status == 409 ? results[0] : results[1];
    if (loser.status == 409) {
      EXPECT_EQ(loser.json().at("state").at("current").as_string(), "q" + std::to_string(round + 1));
    }
    // Exactly one song skipped.
    EXPECT_EQ(room_state(alice, room).at("current").as_string(), "q" + std::to_string(round + 1));
  }
}

// --- WebSocket ------------------------------------------------------------

TEST_F(RoomsTest, WebSocketSnapshotStatesAndPresence) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto song = upload_song(alice, 440);
  auto room = create_room(alice);

  json::object snapshot;
  auto a = join(alice, room, &snapshot);
  const auto rev0 = snapshot.at("revision").as_int64();
  EXPECT_EQ(snapshot.at("room").at("id").as_string(), room);
  EXPECT_EQ(snapshot.at("room").at("name").as_string(), "Living room");
  EXPECT_EQ(snapshot.at("state").at("revision").as_int64(), rev0);
  EXPECT_TRUE(snapshot.at("state").at("queue").as_array().empty());
  EXPECT_EQ(usernames(snapshot.at("state").at("listeners").as_array()), (std::vector<std::string>{"alice"}));
  auto p = a->read();
  ASSERT_TRUE(p) << a->error().message();
  EXPECT_EQ(p->at("type").as_string(), "presence");
  EXPECT_EQ(usernames(p->at("listeners").as_array()), (std::vector<std::string>{"alice"}));

  // A REST command reaches the listener as a "state" message.
  auto after = ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  auto st = a->read();
  ASSERT_TRUE(st) << a->error().message();
  EXPECT_EQ(st->at("type").as_string(), "state");
  EXPECT_GT(st->at("revision").as_int64(), rev0);
  EXPECT_EQ(st->at("command").at("type").as_string(), "add");
  EXPECT_EQ(st->at("command").at("by").as_string(), user_id(alice));
  EXPECT_EQ(st->at("state").as_object(), after);
  EXPECT_EQ(st->at("state").at("revision").as_int64(), st->at("revision").as_int64());

  // Presence: bob joins, then leaves.
  auto b = join(bob, room, &snapshot);
  {
    auto state = snapshot.at("state").as_object();
    auto want = after;
    state.erase("listeners");
    want.erase("listeners");
    state.erase("listener_count");
    want.erase("listener_count");
    EXPECT_EQ(state, want);
  }
  EXPECT_EQ(usernames(snapshot.at("state").at("listeners").as_array()),
            (std::vector<std::string>{"alice", "bob"}));
  for (auto* ws : {a.get(), b.get()}) {
    auto m = ws->read();
    ASSERT_TRUE(m) << ws->error().message();
    EXPECT_EQ(m->at("type").as_string(), "presence");
    EXPECT_EQ(usernames(m->at("listeners").as_array()), (std::vector<std::string>{"alice", "bob"}));
  }
  auto listed = get("/api/v1/rooms", alice).json().at("items").as_array()[0];
  EXPECT_EQ(listed.at("listener_count").as_int64(), 2);
  EXPECT_EQ(get("/api/v1/rooms/" + room, bob).json().at("state").at("listeners").as_array().size(), 2u);

  // A second connection of the same user is one listener, and changes
  // nobody's presence (so it is not announced).
  auto a2 = join(alice, room);
  EXPECT_EQ(get("/api/v1/rooms/" + room, bob).json().at("state").at("listeners").as_array().size(), 2u);
  a2->close();

  b->close();
  auto m = a->read();
  ASSERT_TRUE(m) << a->error().message();
  EXPECT_EQ(m->at("type").as_string(), "presence");
  EXPECT_EQ(usernames(m->at("listeners").as_array()), (std::vector<std::string>{"alice"}));
  listed = get("/api/v1/rooms", alice).json().at("items").as_array()[0];
  EXPECT_EQ(listed.at("listener_count").as_int64(), 1);

  a->close();
  // Once nobody listens the count drops to zero (the leave is asynchronous).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::int64_t count = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    count = get("/api/v1/rooms", alice).json().at("items").as_array()[0].at("listener_count").as_int64();
    if (count == 0) break;
    std::this_thread::yield();
  }
  EXPECT_EQ(count, 0);
}

TEST_F(RoomsTest, FiftyListenersSeeTheSameSequence) {
  constexpr int kUsers = 5;
  constexpr int kListeners = 50;
  constexpr int kWriters = 50;
  std::vector<std::string> tokens;
  for (int i = 0; i < kUsers; ++i) tokens.push_back(register_and_login("user" + std::to_string(i)));
  std::vector<std::string> songs;
  for (int i = 0; i < 4; ++i) songs.push_back(upload_song(tokens[0], 500 + 50 * i));
  auto room = create_room(tokens[0]);
  ok_command(tokens[0], room, {{"type", "add"}, {"song_ids", {songs[0], songs[1], songs[2], songs[3], songs[0]}}});
  const auto initial_revision = room_state(tokens[0], room).at("revision").as_int64();

  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kListeners; ++i) clients.push_back(join(tokens[i % kUsers], room));
  ASSERT_EQ(get("/api/v1/rooms/" + room, tokens[0]).json().at("listener_count").as_int64(), kUsers);

  // The marker command (repeat one) is sent last and only once.
  auto is_marker = [](const json::object& m) {
    return m.at("type").as_string() == "state" && m.at("command").at("type").as_string() == "repeat";
  };
  std::vector<std::unique_ptr<Collector>> collectors;
  for (auto& c : clients) collectors.push_back(std::make_unique<Collector>(*c, is_marker));

  std::mutex mu;
  std::set<std::int64_t> command_revisions;
  std::atomic<int> failures{0};
  std::barrier start(kWriters);
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      const auto& token = tokens[i % kUsers];
      json::value at = i % 3 == 0 ? json::value("end") : i % 3 == 1 ? json::value("next") : json::value(0);
      const json::object commands[] = {
          {{"type", "add"}, {"song_ids", {songs[i % 4]}}, {"at", at}},
          {{"type", "move"}, {"item_id", "q" + std::to_string(1 + i % 5)}, {"to", 0}},
          {{"type", i % 2 ? "pause" : "play"}},
          {{"type", "seek"}, {"position_ms", 10 * i}},
      };
      start.arrive_and_wait();
      for (const auto& c : commands) {
        auto r = command(token, room, c);
        if (r.status != 200) {
          ++failures;
          ADD_FAILURE() << json::serialize(c) << " -> " << r.status << " " << r.body;
          continue;
        }
        std::lock_guard lock(mu);
        command_revisions.insert(r.json().at("revision").as_int64());
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures, 0);
  auto marker = ok_command(tokens[0], room, {{"type", "repeat"}, {"mode", "one"}});
  command_revisions.insert(marker.at("revision").as_int64());
  for (auto& c : collectors) c->join();

  const auto final_state = room_state(tokens[0], room);
  EXPECT_EQ(final_state, marker);
  // Every change a command made, and nothing else, in store order.
  std::vector<std::int64_t> expected;
  for (auto rev : command_revisions) {
    if (rev > initial_revision) expected.push_back(rev);
  }

  const auto reference = collectors[0]->states();
  ASSERT_FALSE(reference.empty()) << collectors[0]->error();
  std::vector<std::int64_t> revisions;
  for (const auto& m : reference) revisions.push_back(m.at("revision").as_int64());
  EXPECT_EQ(revisions, expected);
  for (std::size_t i = 1; i < revisions.size(); ++i) EXPECT_LT(revisions[i - 1], revisions[i]);
  EXPECT_EQ(reference.back().at("state").as_object(), final_state);
  EXPECT_GE(reference.size(), static_cast<std::size_t>(kWriters));  // at least every add
  for (std::size_t i = 0; i < collectors.size(); ++i) {
    ASSERT_EQ(collectors[i]->error(), "") << "listener " << i;
    EXPECT_TRUE(collectors[i]->states() == reference) << "listener " << i << " saw a different sequence";
  }
  for (auto& c : clients) c->close();
}

TEST_F(RoomsTest, ReconnectWithSinceGetsExactlyTheMissedChanges) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto song = upload_song(alice, 440);
  auto room = create_room(alice);
  // Bob keeps listening throughout, so this node keeps the room's history.
  json::object keeper_snapshot;
  auto keeper = join(bob, room, &keeper_snapshot);
  // The node's history of the room starts with the first listener.
  const auto history_floor = keeper_snapshot.at("revision").as_int64();

  auto a = join(alice, room);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song, song, song}}});
  auto st = a->read_type("state");
  ASSERT_TRUE(st) << a->error().message();
  const auto last_seen = st->at("revision").as_int64();
  a->close();
  a.reset();

  std::vector<json::object> missed;
  missed.push_back(ok_command(bob, room, {{"type", "play"}}));
  missed.push_back(ok_command(bob, room, {{"type", "skip"}}));
  missed.push_back(ok_command(bob, room, {{"type", "move"}, {"item_id", "q3"}, {"to", 0}}));

  a = std::make_unique<WsClient>();
  a->open(server_->port(), ws_target(room, alice, last_seen));
  for (const auto& expected : missed) {
    auto m = a->read();
    ASSERT_TRUE(m) << a->error().message();
    ASSERT_EQ(m->at("type").as_string(), "state") << json::serialize(*m);
    EXPECT_EQ(m->at("revision").as_int64(), expected.at("revision").as_int64());
    // Listeners in a historical message are as they were then (alice had left).
    auto state = m->at("state").as_object();
    auto want = expected;
    state.erase("listeners");
    want.erase("listeners");
    state.erase("listener_count");
    want.erase("listener_count");
    EXPECT_EQ(state, want);
  }
  // Then the presence change of this join; no snapshot, no fourth state.
  auto m = a->read();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("type").as_string(), "presence") << json::serialize(*m);
  EXPECT_EQ(usernames(m->at("listeners").as_array()), (std::vector<std::string>{"alice", "bob"}));
  // And live changes continue after the replay.
  auto next = ok_command(bob, room, {{"type", "pause"}});
  m = a->read();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("type").as_string(), "state");
  EXPECT_EQ(m->at("state").as_object(), next);
  a->close();

  // Up to date: nothing to replay, just the presence.
  WsClient current;
  current.open(server_->port(), ws_target(room, alice, next.at("revision").as_int64()));
  m = current.read();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("type").as_string(), "presence");
  current.close();

  // Too old (before this node's history) or unknown (in the future): a snapshot.
  for (std::int64_t since : {std::int64_t{0}, history_floor - 1, next.at("revision").as_int64() + 1000}) {
    WsClient c;
    c.open(server_->port(), ws_target(room, alice, since));
    m = c.read();
    ASSERT_TRUE(m) << c.error().message();
    EXPECT_EQ(m->at("type").as_string(), "snapshot") << "since=" << since;
    EXPECT_EQ(m->at("revision").as_int64(), next.at("revision").as_int64());
    auto state = m->at("state").as_object();
    state.erase("listeners");
    auto want = next;
    want.erase("listeners");
    EXPECT_EQ(state, want);
    c.close();
  }

  // A malformed since is refused before the upgrade.
  WsClient bad;
  EXPECT_TRUE(bad.connect(server_->port(), "/api/v1/rooms/" + room + "/ws?since=abc", alice));
  EXPECT_EQ(bad.response().result_int(), 400);
  keeper->close();
}

// A long absence: replaying every missed change must neither overflow the
// connection's bounded send queue (which would drop the client the moment
// it reconnects) nor cost more than a snapshot would.
TEST_F(RoomsTest, ReconnectAfterManyChangesStaysConnected) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto song = upload_song(alice, 440);
  auto room = create_room(alice);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  auto keeper = join(bob, room);
  Collector keeper_reader(*keeper, [](const json::object& m) {
    return m.at("type").as_string() == "state" && m.at("command").at("type").as_string() == "repeat";
  });

  std::int64_t position = 0;
  constexpr int kHistory = static_cast<int>(RoomHub::kDefaultHistoryPerRoom);
  for (int missed : {kHistory - 28, kHistory, 2 * kHistory}) {
    SCOPED_TRACE("missed " + std::to_string(missed));
    json::object snapshot;
    auto a = join(alice, room, &snapshot);
    const auto last_seen = snapshot.at("revision").as_int64();
    a->close();
    a.reset();
    json::object last;
    for (int i = 0; i < missed; ++i) last = ok_command(bob, room, {{"type", "seek"}, {"position_ms", ++position}});

    WsClient c;
    c.open(server_->port(), ws_target(room, alice, last_seen));
    auto m = c.read();
    ASSERT_TRUE(m) << c.error().message();
    if (missed <= kHistory) {
      // A replay: every missed change, in order.
      ASSERT_EQ(m->at("type").as_string(), "state");
      int replayed = 1;
      while (m->at("revision").as_int64() < last.at("revision").as_int64()) {
        m = c.read();
        ASSERT_TRUE(m) << "after " << replayed << " replayed: " << c.error().message();
        ASSERT_EQ(m->at("type").as_string(), "state");
        ++replayed;
      }
      EXPECT_EQ(replayed, missed);
    } else {
      EXPECT_EQ(m->at("type").as_string(), "snapshot");
      EXPECT_EQ(m->at("revision").as_int64(), last.at("revision").as_int64());
    }
    m = c.read();
    ASSERT_TRUE(m) << c.error().message();
    EXPECT_EQ(m->at("type").as_string(), "presence");
    // Still connected. (A presence may come first: alice's leave and
    // return changed the listing, and the flusher tells everyone of it up
    // to 250 ms later.)
    ASSERT_FALSE(c.send({{"type", "ping"}}));
    do {
      m = c.read();
      ASSERT_TRUE(m) << c.error().message();
    } while (m->at("type").as_string() == "presence");
    EXPECT_EQ(m->at("type").as_string(), "pong");
    c.close();
  }
  ok_command(bob, room, {{"type", "repeat"}, {"mode", "all"}});
  keeper_reader.join();
  EXPECT_EQ(keeper_reader.error(), "");
  keeper->close();
}

TEST_F(RoomsTest, PositionSurvivesARestartMidSong) {
  auto alice = register_and_login("alice");
  auto song = upload_song(alice, 440, 60, 4000);
  auto room = create_room(alice);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  auto played = ok_command(alice, room, {{"type", "play"}});
  ASSERT_EQ(played.at("queue").as_array()[0].at("duration_ms").as_int64(), 60000);
  server_->clock().advance_ms(10'000);
  server_->restart();
  server_->clock().advance_ms(5'000);

  auto s = room_state(alice, room);
  EXPECT_TRUE(s.at("playing").as_bool());
  EXPECT_EQ(s.at("current").as_string(), "q1");
  const auto now = server_->clock().now_ms();
  EXPECT_EQ(s.at("position_ms").as_int64() + (now - s.at("position_at").as_int64()), 15'000);
  EXPECT_EQ(s.at("revision").as_int64(), played.at("revision").as_int64());  // nothing happened meanwhile
  // Pausing freezes exactly that position.
  s = ok_command(alice, room, {{"type", "pause"}});
  EXPECT_EQ(s.at("position_ms").as_int64(), 15'000);
  EXPECT_EQ(s.at("position_at").as_int64(), now);
}

TEST_F(RoomsTest, AutoAdvanceOnTheRealClock) {
  server_->use_system_clock_for_rooms(true);
  server_->restart();
  auto alice = register_and_login("alice");
  auto first = upload_song(alice, 440, 0.3);
  auto second = upload_song(alice, 550, 0.3);
  auto room = create_room(alice);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {first, second}}});
  auto ws = join(alice, room);

  auto played = ok_command(alice, room, {{"type", "play"}});
  ASSERT_EQ(played.at("queue").as_array()[0].at("duration_ms").as_int64(), 300);
  const auto started = played.at("position_at").as_int64();
  std::vector<json::object> advances;
  for (;;) {
    auto m = ws->read(10s);
    ASSERT_TRUE(m) << ws->error().message();
    if (m->at("type").as_string() != "state") continue;
    if (m->at("command").at("type").as_string() == "play") continue;
    ASSERT_EQ(m->at("command").at("type").as_string(), "advance") << json::serialize(*m);
    EXPECT_EQ(m->at("command").at("by").as_string(), "");
    advances.push_back(m->at("state").as_object());
    if (!m->at("state").at("playing").as_bool()) break;
  }
  // Exactly one advance to the second song, which starts when the first one
  // ended; then one more at the end of the queue, which stops.
  ASSERT_EQ(advances.size(), 2u);
  EXPECT_EQ(advances[0].at("current").as_string(), "q2");
  EXPECT_TRUE(advances[0].at("playing").as_bool());
  EXPECT_EQ(advances[0].at("position_ms").as_int64(), 0);
  EXPECT_EQ(advances[0].at("position_at").as_int64(), started + 300);
  EXPECT_TRUE(advances[1].at("current").is_null());
  EXPECT_FALSE(advances[1].at("playing").as_bool());
  EXPECT_EQ(advances[1].at("position_ms").as_int64(), 0);

  // Nothing else is on its way: a ping's pong comes next.
  ASSERT_FALSE(ws->send({{"type", "ping"}}));
  auto m = ws->read();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("type").as_string(), "pong") << json::serialize(*m);
  auto s = room_state(alice, room);
  EXPECT_FALSE(s.at("playing").as_bool());
  EXPECT_TRUE(s.at("current").is_null());
  EXPECT_EQ(s.at("queue").as_array().size(), 2u);
  ws->close();
}

TEST_F(RoomsTest, BadFramesGetErrorsAndTheConnectionStaysUsable) {
  auto alice = register_and_login("alice");
  auto room = create_room(alice);
  auto ws = join(alice, room);
  ASSERT_TRUE(ws->read_type("presence"));

  auto expect_error = [&](const std::string& code) {
    auto m = ws->read();
    ASSERT_TRUE(m) << ws->error().message();
    EXPECT_EQ(m->at("type").as_string(), "error") << json::serialize(*m);
    EXPECT_EQ(m->at("code").as_string(), code) << json::serialize(*m);
    EXPECT_TRUE(m->contains("detail"));
    ASSERT_FALSE(ws->send({{"type", "ping"}}));
    m = ws->read();
    ASSERT_TRUE(m) << ws->error().message();
    EXPECT_EQ(m->at("type").as_string(), "pong");
  };
  ASSERT_FALSE(ws->send_text("{not json"));
  expect_error("invalid-json");
  ASSERT_FALSE(ws->send_text("[1, 2, 3]"));
  expect_error("invalid-json");
  ASSERT_FALSE(ws->send({{"type", "dance"}}));
  expect_error("unknown-type");
  ASSERT_FALSE(ws->send(json::object{{"type", "ping"}, {"padding", std::string(32 * 1024, 'x')}}));
  expect_error("too-large");
  // A message the server reads in several pieces is put back together.
  ASSERT_FALSE(ws->send(json::object{{"type", "ping"}, {"padding", std::string(12 * 1024, 'x')}}));
  auto pong = ws->read();
  ASSERT_TRUE(pong) << ws->error().message();
  EXPECT_EQ(pong->at("type").as_string(), "pong") << json::serialize(*pong);
  ASSERT_FALSE(ws->send_binary(std::string("\x00\x01\x02\xff", 4)));
  expect_error("binary-frame");
  ASSERT_FALSE(ws->send({{"type", 7}}));
  expect_error("invalid-message");
  ASSERT_FALSE(ws->send({{"kind", "ping"}}));
  expect_error("invalid-message");
  ASSERT_FALSE(ws->send({{"type", "time"}, {"t0", "now"}}));
  expect_error("invalid-message");

  EXPECT_EQ(get("/healthz", "").status, 200);
  ws->close();
}

TEST_F(RoomsTest, TimeSync) {
  auto alice = register_and_login("alice");
  auto room = create_room(alice);
  auto ws = join(alice, room);
  ASSERT_TRUE(ws->read_type("presence"));
  // The server shares this process's clock: its receive and send times must
  // lie between our send and our receive, in order.
  for (int i = 0; i < 5; ++i) {
    const double sent = system_now_ms();
    ASSERT_FALSE(ws->send_text(json::serialize(json::object{{"type", "time"}, {"t0", sent}})));
    auto m = ws->read();
    const double received = system_now_ms();
    ASSERT_TRUE(m) << ws->error().message();
    ASSERT_EQ(m->at("type").as_string(), "time") << json::serialize(*m);
    // Echoed as sent, up to the last bit a JSON parse may round (Boost.JSON
    // does not promise correctly rounded doubles).
    EXPECT_NEAR(m->at("t0").to_number<double>(), sent, 0.001);
    const double t1 = m->at("t1").to_number<double>();
    const double t2 = m->at("t2").to_number<double>();
    EXPECT_LE(sent, t1) << std::fixed << "t1 is " << sent - t1 << " ms before the request was sent";
    EXPECT_LE(t1, t2);
    EXPECT_LE(t2, received) << std::fixed << "t2 is " << t2 - received << " ms after the answer arrived";
  }
  ws->close();
}

// Listeners report the lead they need with their time requests; commands
// that change what is heard take effect that far ahead (the largest one,
// capped), queue edits at once; a listener leaving takes its lead along.
TEST_F(RoomsTest, PlaybackCommandsLandTheListenersLeadAhead) {
  auto alice = register_and_login("alice");
  auto room = create_room(alice);
  auto song = upload_song(alice, 440);
  auto a = join(alice, room);
  auto b = join(alice, room);
  ASSERT_TRUE(a->read_type("presence"));
  auto time_request = [](WsClient& ws, json::value lead) {
    json::object request{{"type", "time"}, {"t0", system_now_ms()}};
    if (!lead.is_null()) request["lead_ms"] = lead;
    ASSERT_FALSE(ws.send_text(json::serialize(request)));
    ASSERT_TRUE(ws.read_type("time"));  // handled in order: the lead is known now
  };
  auto lead_of = [&](const json::object& state) { return state.at("position_at").to_number<double>(); };
  // No lead reported: at once, as ever.
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  // Rooms run on the test server's manual clock.
  auto now = [&] { return static_cast<double>(server_->clock().now_ms()); };
  double before = now();
  auto played = ok_command(alice, room, {{"type", "play"}});
  EXPECT_EQ(lead_of(played), before);

  time_request(*a, 90);
  time_request(*b, 142.3);  // rounded up
  server_->clock().advance_ms(1000);
  auto paused = ok_command(alice, room, {{"type", "pause"}});
  EXPECT_EQ(lead_of(paused), now() + 143) << "the largest lead, rounded up to a whole ms";
  EXPECT_FALSE(paused.at("playing").as_bool());

  // A queue edit keeps the pending time; the next play lands after the pause.
  auto added = ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  EXPECT_EQ(lead_of(added), lead_of(paused));
  auto replayed = ok_command(alice, room, {{"type", "play"}});
  EXPECT_GE(lead_of(replayed), lead_of(paused));

  // Bounded; a lead that is not a number is ignored.
  time_request(*a, 5000);
  server_->clock().advance_ms(1000);
  auto sought = ok_command(alice, room, {{"type", "seek"}, {"position_ms", 1000}});
  EXPECT_EQ(lead_of(sought), now() + 400) << "a seek's audio must be fetched: the fetch lead's bound";
  server_->clock().advance_ms(1000);
  auto paused_again = ok_command(alice, room, {{"type", "pause"}});
  EXPECT_EQ(lead_of(paused_again), now() + 200);
  ok_command(alice, room, {{"type", "play"}});
  time_request(*a, "soon");
  // The listener with the large lead leaves: b's 143 ms remains.
  time_request(*a, 5000);
  a->close();
  a.reset();
  server_->clock().advance_ms(1000);
  ASSERT_TRUE(testing::eventually([&] {
    auto s = ok_command(alice, room, {{"type", "seek"}, {"position_ms", 2000}});
    return lead_of(s) == now() + 143;
  })) << "the lead did not fall back to the remaining listener's";
  // With a fetch lead as well: a seek (its audio must be fetched first)
  // takes that one, a pause the other.
  {
    json::object request{{"type", "time"}, {"t0", system_now_ms()}, {"lead_ms", 40}, {"fetch_lead_ms", 120}};
    ASSERT_FALSE(b->send_text(json::serialize(request)));
    ASSERT_TRUE(b->read_type("time"));
  }
  server_->clock().advance_ms(1000);
  auto fetched = ok_command(alice, room, {{"type", "seek"}, {"position_ms", 3000}});
  EXPECT_EQ(lead_of(fetched), now() + 120);
  server_->clock().advance_ms(1000);
  auto held = ok_command(alice, room, {{"type", "pause"}});
  EXPECT_EQ(lead_of(held), now() + 40);
  b->close();
}

TEST_F(RoomsTest, WebSocketAuthentication) {
  auto alice = register_and_login("alice");
  auto room = create_room(alice);

  // No token, or a bad one: 401 before any upgrade.
  for (const auto& [target, bearer] : std::vector<std::pair<std::string, std::string>>{
           {ws_target(room), ""},
           {ws_target(room), "not-a-token"},
           {ws_target(room, "not-a-token"), ""}}) {
    WsClient c;
    auto ec = c.connect(server_->port(), target, bearer);
    EXPECT_EQ(ec, boost::beast::websocket::error::upgrade_declined) << target << ": " << ec.message();
    EXPECT_EQ(c.response().result_int(), 401) << target;
    auto body = json::parse(c.response().body()).as_object();
    EXPECT_EQ(body.at("type").as_string(), "urn:hifi:problem:unauthenticated");
  }
  // The token as a query parameter (browsers), or as a header.
  {
    WsClient c;
    ASSERT_FALSE(c.connect(server_->port(), ws_target(room, alice)));
    auto m = c.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->at("type").as_string(), "snapshot");
    c.close();
  }
  {
    WsClient c;
    ASSERT_FALSE(c.connect(server_->port(), ws_target(room), alice));
    auto m = c.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->at("type").as_string(), "snapshot");
    c.close();
  }
  // An unknown room.
  {
    WsClient c;
    EXPECT_TRUE(c.connect(server_->port(), ws_target("nosuchroom", alice)));
    EXPECT_EQ(c.response().result_int(), 404);
  }
  // A plain GET without the upgrade.
  expect_problem(get(ws_target(room), alice), 426, "upgrade-required");
  expect_problem(get(ws_target(room, alice), ""), 426, "upgrade-required");
  EXPECT_EQ(get("/healthz", "").status, 200);
}

TEST_F(RoomsTest, DeletingTheRoomClosesItsListeners) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto room = create_room(alice);
  auto a = join(alice, room);
  auto b = join(bob, room);
  EXPECT_EQ(del("/api/v1/rooms/" + room, alice).status, 204);
  for (auto* ws : {a.get(), b.get()}) {
    auto m = ws->read_type("deleted");
    ASSERT_TRUE(m) << ws->error().message();
    EXPECT_TRUE(m->contains("revision"));
    // Then the server closes the connection.
    auto after = ws->read();
    EXPECT_FALSE(after) << json::serialize(*after);
    EXPECT_EQ(ws->error(), boost::beast::websocket::error::closed) << ws->error().message();
    EXPECT_EQ(ws->close_reason().code, boost::beast::websocket::close_code::going_away);
  }
  // Joining a deleted room is a 404.
  WsClient c;
  EXPECT_TRUE(c.connect(server_->port(), ws_target(room, alice)));
  EXPECT_EQ(c.response().result_int(), 404);
}

// A raw TCP WebSocket client that completes the handshake and then reads
// nothing, with a tiny receive buffer so the server's writes back up soon.
class SilentClient {
 public:
  SilentClient(std::uint16_t port, const std::string& target) : socket_(ioc_) {
    namespace asio = boost::asio;
    socket_.open(asio::ip::tcp::v4());
    socket_.set_option(asio::socket_base::receive_buffer_size(4096));
    socket_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::string request = "GET " + target +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    asio::write(socket_, asio::buffer(request));
    // Read the 101 response byte by byte, so nothing after it is consumed.
    std::string header;
    char c;
    while (header.find("\r\n\r\n") == std::string::npos) {
      asio::read(socket_, asio::buffer(&c, 1));
      header += c;
    }
    status_line_ = header.substr(0, header.find("\r\n"));
  }
  const std::string& status_line() const { return status_line_; }

  // Waits, without reading, until the server has sent something after the
  // 101: its first state message, which it sends only once the connection
  // is a listener of the room. False after `timeout`.
  bool wait_for_first_message(std::chrono::milliseconds timeout) {
    pollfd p{socket_.native_handle(), POLLIN, 0};
    for (;;) {
      int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  }

  // Reads everything until the server's end of the connection; false when
  // the connection is still open after `timeout` without new bytes.
  bool read_until_closed(std::chrono::milliseconds timeout, std::size_t* bytes) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<char> buf(1 << 16);
    for (;;) {
      auto n = ::recv(socket_.native_handle(), buf.data(), buf.size(), 0);
      if (n > 0) {
        *bytes += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0) return true;                                   // EOF
      if (errno == EINTR) continue;
      return errno != EAGAIN && errno != EWOULDBLOCK;            // reset: closed; timeout: open
    }
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string status_line_;
};

TEST_F(RoomsTest, SlowConsumerIsDroppedWhileOthersGetEverything) {
  auto alice = register_and_login("alice");
  auto slow_user = register_and_login("slowpoke");
  auto song = upload_song(alice, 440, 5, 2000);
  auto room = create_room(alice);
  // A queue of 100 makes every state message about 11 KB: big enough that
  // the kernel's socket buffers hold only a few hundred of them, small
  // enough to be quick to write.
  json::array ids;
  for (int i = 0; i < 100; ++i) ids.push_back(json::value(song));
  ok_command(alice, room, {{"type", "add"}, {"song_ids", ids}});
  ok_command(alice, room, {{"type", "repeat"}, {"mode", "all"}});

  auto normal = join(alice, room);
  SilentClient slow(server_->port(), ws_target(room, slow_user));
  ASSERT_EQ(slow.status_line(), "HTTP/1.1 101 Switching Protocols");
  ASSERT_TRUE(slow.wait_for_first_message(10s)) << "no state message after the handshake";
  auto listening = [&] {
    return usernames(get("/api/v1/rooms/" + room, alice).json().at("state").at("listeners").as_array());
  };
  ASSERT_EQ(listening(), (std::vector<std::string>{"alice", "slowpoke"}));

  auto is_marker = [](const json::object& m) {
    return m.at("type").as_string() == "state" && m.at("command").at("type").as_string() == "repeat";
  };
  Collector collector(*normal, is_marker);

  // Seeks (each a new state) from a few threads, until the server has
  // dropped the silent client: once its queue of 256 overflows, which takes
  // about 500 commands here. That must happen well before the WebSocket idle
  // timeout (20 s after the handshake) could have closed it anyway.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  constexpr int kThreads = 4;
  constexpr int kMaxCommands = 2000;
  std::atomic<int> sent{0};
  std::atomic<bool> dropped{false};
  std::mutex mu;
  std::vector<std::int64_t> revisions;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        int i = sent++;
        if (i >= kMaxCommands || dropped || std::chrono::steady_clock::now() > deadline) return;
        auto r = command(alice, room, {{"type", "seek"}, {"position_ms", 1 + i}});
        if (r.status != 200) {
          ADD_FAILURE() << r.status << " " << r.body.substr(0, 200);
          return;
        }
        {
          std::lock_guard lock(mu);
          revisions.push_back(r.json().at("revision").as_int64());
        }
        if (i % 10 == 0 && listening() == std::vector<std::string>{"alice"}) dropped = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!dropped) dropped = listening() == std::vector<std::string>{"alice"};
  EXPECT_TRUE(dropped) << "the silent client is still a listener after " << revisions.size() << " commands";
  EXPECT_EQ(get("/healthz", "").status, 200);

  auto marker = ok_command(alice, room, {{"type", "repeat"}, {"mode", "one"}});
  revisions.push_back(marker.at("revision").as_int64());
  collector.join();
  ASSERT_EQ(collector.error(), "");
  std::vector<std::int64_t> seen;
  for (const auto& m : collector.states()) seen.push_back(m.at("revision").as_int64());
  std::sort(revisions.begin(), revisions.end());
  EXPECT_EQ(seen, revisions) << "the normal listener missed messages";
  EXPECT_EQ(collector.states().back().at("state").as_object(), room_state(alice, room));

  // The silent client finally reads: what the kernel buffered, then the end.
  std::size_t bytes = 0;
  EXPECT_TRUE(slow.read_until_closed(5s, &bytes)) << "still open after " << bytes << " bytes";
  normal->close();
}

// Room messages go out as frames the server writes itself, around Beast,
// which still writes its pings, pongs and close. A listener that stops
// reading leaves the server holding the rest of a frame until its socket
// drains; a pong asked for meanwhile must wait for that frame's end, or the
// two would interleave on the wire and the listener would read garbage.
// (StreamRawWritesTest holds net::Stream to that with small socket buffers;
// this is the same end to end, through Beast on both sides.)
TEST_F(RoomsTest, ALateReaderGetsWholeFramesWithItsPongBetweenThem) {
  auto alice = register_and_login("alice");
  auto song = upload_song(alice, 440, 5, 2000);
  auto room = create_room(alice);
  // State messages of about 50 KB (a queue of 450): still written as frames
  // of their own (up to 64 KiB), and a hundred of them are more than the
  // socket buffers of both ends hold (the sender's may grow to 4 MiB).
  json::array ids;
  for (int i = 0; i < 90; ++i) ids.push_back(json::value(song));
  for (int i = 0; i < 5; ++i) ok_command(alice, room, {{"type", "add"}, {"song_ids", ids}});

  WsClient late;
  late.set_receive_buffer(4096);
  late.open(server_->port(), ws_target(room), alice);
  auto first = late.read();
  ASSERT_TRUE(first.has_value()) << late.error().message();
  ASSERT_EQ(first->at("type").as_string(), "snapshot");

  // Commands while the listener reads nothing: the server writes until the
  // socket takes no more and is left in the middle of a frame.
  std::vector<std::int64_t> revisions;
  auto seek = [&](int i) {
    revisions.push_back(ok_command(alice, room, {{"type", "seek"}, {"position_ms", 1 + i}}).at("revision").as_int64());
  };
  for (int i = 0; i < 110; ++i) seek(i);
  ASSERT_FALSE(late.ping("while-behind"));
  for (int i = 110; i < 115; ++i) seek(i);

  // Now it reads: every state, whole and in order, and the pong.
  std::vector<std::int64_t> seen;
  while (seen.size() < revisions.size()) {
    auto text = late.read_text();
    ASSERT_TRUE(text.has_value()) << "after " << seen.size() << " of " << revisions.size()
                                  << " states: " << late.error().message();
    auto m = json::parse(*text).as_object();
    if (m.at("type").as_string() != "state") continue;
    EXPECT_GT(text->size(), 40'000u);
    EXPECT_LT(text->size(), 64u * 1024) << "too large to go out as a frame of its own";
    seen.push_back(m.at("revision").as_int64());
  }
  EXPECT_EQ(seen, revisions);
  EXPECT_EQ(late.pongs(), std::vector<std::string>{"while-behind"});
  // The connection is still in order: a ping now gets its pong too.
  ASSERT_FALSE(late.ping("after"));
  ASSERT_FALSE(late.send({{"type", "ping"}}));
  auto pong = late.read_type("pong");
  ASSERT_TRUE(pong.has_value()) << late.error().message();
  EXPECT_EQ(late.pongs(), (std::vector<std::string>{"while-behind", "after"}));
  late.close();
}

}  // namespace
}  // namespace hifi::testing

namespace hifi::testing {
namespace {

// A room's song counts as a play for each of its listeners once it has
// played past half its length (or four minutes), once per selection.
TEST_F(RoomsTest, ListenersGetAPlayPastHalfTheSong) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto carol = register_and_login("carol");
  const auto alice_id = user_id(alice), bob_id = user_id(bob), carol_id = user_id(carol);
  auto song = upload_song(alice, 440, 60, 4000);
  auto room = create_room(alice);
  auto a = join(alice, room);
  auto b1 = join(bob, room);
  auto b2 = join(bob, room);  // a second device of Bob's: still one play
  auto& annotations = server_->node().annotations();
  auto plays = [&](const std::string& user) { return annotations.get(user, ItemKind::kSong, song).play_count; };
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  ok_command(alice, room, {{"type", "play"}});
  // The counter's thread checks every second; check_now() runs the same
  // check at once (and after it returns, whichever ran has recorded).
  auto& counter = server_->node().play_counter();
  server_->clock().advance_ms(29'000);
  counter.check_now();
  EXPECT_EQ(plays(alice_id), 0);
  server_->clock().advance_ms(2'000);
  counter.check_now();
  EXPECT_EQ(plays(alice_id), 1);
  EXPECT_EQ(plays(bob_id), 1);
  EXPECT_EQ(plays(carol_id), 0);  // not listening
  // A seek within the same selection does not count again; a restart does.
  ok_command(alice, room, {{"type", "seek"}, {"position_ms", 45'000}});
  ok_command(alice, room, {{"type", "previous"}});  // near the end: restarts it
  counter.check_now();
  EXPECT_EQ(plays(alice_id), 1);
  server_->clock().advance_ms(31'000);
  counter.check_now();
  EXPECT_EQ(plays(alice_id), 2);
  EXPECT_EQ(plays(bob_id), 2);
  auto history = annotations.history(bob_id, 10);
  ASSERT_TRUE(history.is_ok());
  ASSERT_EQ(history->items.size(), 2u);
  EXPECT_EQ(history->items[0].room_id, room);
}

}  // namespace
}  // namespace hifi::testing
