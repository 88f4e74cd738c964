// Integration tests of personal listening: each user's private personal
// room (GET /api/v1/me/room), "play these now" (add with replace and play),
// shuffle, and the devices a user has open on a room with the one chosen to
// play (speaker). Against the real in-process server.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "library/annotations.h"
#include "server/node.h"
#include "server/play_counter.h"
#include "server/room_test_fixture.h"

namespace hifi::testing {
namespace {

using namespace std::chrono_literals;

class PersonalRoomTest : public RoomsTest {
 protected:
  std::string personal_room(const std::string& token) {
    auto r = get("/api/v1/me/room", token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? str(r.json().at("id")) : std::string();
  }
  std::string device_target(const std::string& room, const std::string& device, const std::string& name) {
    return ws_target(room) + "?device=" + device + "&device_name=" + name;
  }
  // A listener on `device`, its snapshot read.
  std::unique_ptr<WsClient> join_as(const std::string& token, const std::string& room,
                                    const std::string& device, const std::string& name) {
    auto ws = std::make_unique<WsClient>();
    ws->open(server_->port(), device_target(room, device, name), token);
    auto first = ws->read();
    EXPECT_TRUE(first && first->at("type").as_string() == "snapshot");
    return ws;
  }
  // Reads presence messages until one lists exactly these device ids for
  // the only listener; false at the deadline.
  static bool wait_for_devices(WsClient& ws, const std::vector<std::string>& want) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = ws.read_type("presence", 10s);
      if (!m) return false;
      const auto& listeners = m->at("listeners").as_array();
      if (listeners.size() != 1) continue;
      std::vector<std::string> got;
      for (const auto& d : listeners[0].at("devices").as_array()) got.push_back(str(d.at("id")));
      if (got == want) return true;
    }
    return false;
  }
};

TEST_F(PersonalRoomTest, EachUserHasOnePrivateRoomMadeOnFirstUse) {
  auto alice = register_and_login("alice");  // the first account: an admin
  auto bob = register_and_login("bob");
  // Several devices asking at once get the same room.
  std::vector<std::string> ids(4);
  std::vector<std::thread> threads;
  for (auto& id : ids) threads.emplace_back([&] { id = personal_room(bob); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
  const auto room = ids.front();
  auto full = get("/api/v1/rooms/" + room, bob).json().as_object();
  EXPECT_EQ(full.at("private"), true);
  EXPECT_EQ(full.at("name"), "bob's music");
  EXPECT_EQ(str(full.at("owner")), user_id(bob));
  EXPECT_EQ(full.at("state").at("speaker"), "");
  EXPECT_NE(personal_room(alice), room);

  // To everyone else, even an admin, it does not exist.
  EXPECT_TRUE(get("/api/v1/rooms", alice).json().at("items").as_array().empty());
  EXPECT_TRUE(get("/api/v1/rooms", bob).json().at("items").as_array().empty());
  expect_problem(get("/api/v1/rooms/" + room, alice), 404, "not-found");
  expect_problem(command(alice, room, {{"type", "play"}}), 404, "not-found");
  WsClient ws;
  EXPECT_TRUE(ws.connect(server_->port(), ws_target(room), alice));
  EXPECT_EQ(ws.response().result_int(), 404);
  auto carol = register_and_login("carol");
  expect_problem(del("/api/v1/rooms/" + room, carol), 404, "not-found");

  // An admin may delete it (say, to clean up); the next use makes it anew.
  auto song = upload_song(bob, 440);
  ok_command(bob, room, {{"type", "add"}, {"song_ids", json::array{json::value(song)}}});
  EXPECT_EQ(del("/api/v1/rooms/" + room, alice).status, 204);
  EXPECT_EQ(personal_room(bob), room);
  EXPECT_TRUE(room_state(bob, room).at("queue").as_array().empty());
}

TEST_F(PersonalRoomTest, PlayTheseNowShuffleAndTheirErrors) {
  auto alice = register_and_login("alice");
  const auto room = personal_room(alice);
  std::vector<std::string> songs;
  json::array ids;
  for (int i = 0; i < 12; ++i) {
    songs.push_back(upload_song(alice, 300 + 20 * i, 2));
    ids.push_back(json::value(songs.back()));
  }
  ok_command(alice, room, {{"type", "add"}, {"song_ids", json::array{ids[0], ids[1]}}});
  // "Play these now": the queue becomes exactly these songs, the first plays.
  auto state = ok_command(alice, room, {{"type", "add"}, {"song_ids", ids}, {"replace", true}, {"play", true}});
  ASSERT_EQ(state.at("queue").as_array().size(), 12u);
  EXPECT_EQ(state.at("playing"), true);
  EXPECT_EQ(state.at("current"), state.at("queue").as_array()[0].at("id"));
  EXPECT_EQ(str(state.at("queue").as_array()[0].at("song_id")), songs[0]);

  auto order = [](const json::object& s) {
    std::vector<std::string> out;
    for (const auto& item : s.at("queue").as_array()) out.push_back(str(item.at("song_id")));
    return out;
  };
  auto shuffled = ok_command(alice, room, {{"type", "shuffle"}});
  auto after = order(shuffled);
  EXPECT_EQ(after.front(), songs[0]) << "the current song stays first";
  EXPECT_EQ(shuffled.at("current"), state.at("current"));
  EXPECT_EQ(std::multiset<std::string>(after.begin(), after.end()),
            std::multiset<std::string>(songs.begin(), songs.end()));
  // Two shuffles of eleven songs giving the same order: about 1 in 40 million.
  EXPECT_NE(order(ok_command(alice, room, {{"type", "shuffle"}})), after);

  expect_problem(command(alice, room, {{"type", "add"}, {"song_ids", ids}, {"play", "yes"}}), 400,
                 "invalid-request");
  expect_problem(command(alice, room, {{"type", "speaker"}}), 400, "invalid-request");
  expect_problem(command(alice, room, {{"type", "speaker"}, {"device", "not a device!"}}), 400, "invalid-request");
  expect_problem(command(alice, room, {{"type", "speaker"}, {"device", std::string(65, 'a')}}), 400,
                 "invalid-request");
}

TEST_F(PersonalRoomTest, DevicesAreListedAndOneIsChosenToPlay) {
  auto alice = register_and_login("alice");
  const auto room = personal_room(alice);
  auto laptop = join_as(alice, room, "laptop-1", "Firefox%20on%20Linux");
  ASSERT_TRUE(wait_for_devices(*laptop, {"laptop-1"}));
  auto phone = join_as(alice, room, "phone-7", "Phone");
  ASSERT_TRUE(wait_for_devices(*laptop, {"laptop-1", "phone-7"}));
  auto listeners = room_state(alice, room).at("listeners").as_array();
  ASSERT_EQ(listeners.size(), 1u);
  const auto& devices = listeners[0].at("devices").as_array();
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0].at("name"), "Firefox on Linux");
  EXPECT_EQ(devices[1].at("name"), "Phone");

  // The phone becomes the speaker: every device hears of it.
  auto chosen = ok_command(alice, room, {{"type", "speaker"}, {"device", "phone-7"}});
  EXPECT_EQ(chosen.at("speaker"), "phone-7");
  auto seen = laptop->read_type("state", 10s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("state").at("speaker"), "phone-7");
  EXPECT_EQ(seen->at("command").at("type"), "speaker");

  // A second connection of the same device counts once; closing the
  // phone's connection takes it off the list.
  auto laptop_again = join_as(alice, room, "laptop-1", "Firefox%20on%20Linux");
  phone->close();
  ASSERT_TRUE(wait_for_devices(*laptop, {"laptop-1"}));
  laptop_again->close();
  auto still = room_state(alice, room).at("listeners").as_array();
  ASSERT_EQ(still.size(), 1u);
  EXPECT_EQ(still[0].at("devices").as_array().size(), 1u);

  // A malformed device is refused before the upgrade.
  WsClient bad;
  EXPECT_TRUE(bad.connect(server_->port(), device_target(room, "no%20spaces", "x"), alice));
  EXPECT_EQ(bad.response().result_int(), 400);
  WsClient unnamed;
  EXPECT_FALSE(unnamed.connect(server_->port(), ws_target(room) + "?device=tablet", alice));
  ASSERT_TRUE(wait_for_devices(*laptop, {"laptop-1", "tablet"}));
}

TEST_F(PersonalRoomTest, APlayIsRecordedWithTheDeviceThatPlayedIt) {
  auto alice = register_and_login("alice");
  const auto alice_id = user_id(alice);
  const auto room = personal_room(alice);
  auto song = upload_song(alice, 440, 20, 4000);
  auto laptop = join_as(alice, room, "laptop-1", "Laptop");
  auto phone = join_as(alice, room, "phone-7", "Phone");
  ASSERT_TRUE(wait_for_devices(*laptop, {"laptop-1", "phone-7"}));
  ok_command(alice, room, {{"type", "speaker"}, {"device", "phone-7"}});
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}, {"play", true}});
  auto& counter = server_->node().play_counter();
  server_->clock().advance_ms(11'000);
  counter.check_now();
  auto history = server_->node().annotations().history(alice_id, 10);
  ASSERT_TRUE(history.is_ok());
  ASSERT_EQ(history->items.size(), 1u);
  EXPECT_EQ(history->items[0].client, "Phone");
  EXPECT_EQ(history->items[0].room_id, room);

  // With every device playing and more than one of them, the room is named.
  ok_command(alice, room, {{"type", "speaker"}, {"device", ""}});
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}, {"replace", true}, {"play", true}});
  server_->clock().advance_ms(11'000);
  counter.check_now();
  history = server_->node().annotations().history(alice_id, 10);
  ASSERT_TRUE(history.is_ok());
  ASSERT_EQ(history->items.size(), 2u);
  EXPECT_EQ(history->items[0].client, "HiFi room");
}

TEST_F(PersonalRoomTest, DeletingTheAccountDeletesItsPersonalRoom) {
  auto admin = register_and_login("alice");
  auto bob = register_and_login("bob");
  const auto room = personal_room(bob);
  const auto bob_id = user_id(bob);
  ASSERT_EQ(del("/api/v1/users/" + bob_id, admin).status, 204);
  auto again = register_and_login("bob");
  // The new bob is a new account: a new id, and so another room.
  EXPECT_NE(personal_room(again), room);
  EXPECT_EQ(server_->node().rooms().get(room).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace hifi::testing
