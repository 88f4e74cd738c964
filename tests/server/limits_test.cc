// Integration tests of the per-client limits: connections per address,
// WebSockets per user, rooms per user, and a room's queue (whose record must
// stay far below etcd's request limit), against the real in-process server.
// Loopback clients count like any other address. No fixed sleeps: every
// wait is for a condition, with a deadline.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <vector>

#include "server/metrics.h"
#include "server/room_test_fixture.h"
#include "server/test_server.h"
#include "server/ws_client.h"

namespace hifi::testing {
namespace {

using V = http::verb;
namespace json = boost::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;

class LimitsTest : public RoomsTest {
 protected:
  // A fresh server whose config has `limit` set to `value`.
  void restart_with(std::uint32_t ServerConfig::*limit, std::uint32_t value) {
    ServerConfig config;
    config.*limit = value;
    server_.reset();
    std::filesystem::remove_all(dir_);
    server_ = std::make_unique<TestServer>(dir_, std::move(config));
  }

  // A connection that only connects and sends nothing.
  std::unique_ptr<asio::ip::tcp::socket> idle_connection() {
    auto socket = std::make_unique<asio::ip::tcp::socket>(ioc_);
    socket->connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    return socket;
  }

  // The connections the server holds open now (every client here is on
  // 127.0.0.1, so this is also the address's count).
  std::int64_t open_connections() { return server_->node().metrics().load_counters().connections; }

  // Waits until the server holds exactly `n` connections: one a client
  // closed is not given back, and one it opened not counted, until the
  // server has seen it.
  bool server_holds(std::int64_t n) {
    return eventually([&] { return open_connections() == n; });
  }

  asio::io_context ioc_;
};

TEST_F(LimitsTest, ConnectionsPerAddressAreCapped) {
  restart_with(&ServerConfig::max_connections_per_address, 3);
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
  for (int i = 0; i < 3; ++i) held.push_back(idle_connection());
  ASSERT_TRUE(server_holds(3)) << open_connections();

  // The fourth from the same address is refused with a problem it can read.
  auto refused = server_->request(V::get, "/healthz");
  expect_problem(refused, 503, "too-many-connections");
  EXPECT_EQ(refused.header("retry-after"), "1");

  // Once one of the three goes, the address may connect again.
  held.pop_back();
  EXPECT_TRUE(eventually([&] { return server_->request(V::get, "/healthz").status == 200; }));
}

TEST_F(LimitsTest, AnOpenWebSocketCountsAgainstItsAddress) {
  restart_with(&ServerConfig::max_connections_per_address, 3);
  auto alice = register_and_login("alice");
  const auto room = create_room(alice);
  auto first = join(alice, room);
  auto second = join(alice, room);
  // The connections of the requests above are gone once only the two
  // WebSockets are left.
  ASSERT_TRUE(server_holds(2)) << open_connections();

  // Two WebSockets and one idle connection fill the address's three: the
  // WebSockets still count after their HTTP upgrade has ended. (Were they
  // not counted, at most the idle one and the last request's could be.)
  auto idle = idle_connection();
  ASSERT_TRUE(server_holds(3)) << open_connections();
  expect_problem(server_->request(V::get, "/healthz"), 503, "too-many-connections");

  // A WebSocket that closes gives its place back.
  second->close();
  EXPECT_TRUE(eventually([&] { return server_->request(V::get, "/healthz").status == 200; }));
}

TEST_F(LimitsTest, WebSocketsPerUserAreCapped) {
  restart_with(&ServerConfig::max_websockets_per_user, 2);
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  const auto room = create_room(alice);
  auto first = join(alice, room);
  auto second = join(alice, room);

  // The third of Alice's is refused before the upgrade, with a problem.
  WsClient third;
  EXPECT_TRUE(third.connect(server_->port(), ws_target(room), alice));
  EXPECT_EQ(third.response().result_int(), 429);
  EXPECT_EQ(third.response()[http::field::content_type], "application/problem+json");
  EXPECT_NE(third.response().body().find("urn:hifi:problem:too-many-websockets"), std::string::npos)
      << third.response().body();

  // Someone else is not held back by Alice's connections.
  auto bobs = join(bob, room);

  // A closed connection gives its place back.
  second->close();
  EXPECT_TRUE(eventually([&] {
    WsClient again;
    if (again.connect(server_->port(), ws_target(room), alice)) return false;
    again.close();
    return true;
  }));
}

TEST_F(LimitsTest, RoomsPerUserAreCapped) {
  restart_with(&ServerConfig::max_rooms_per_user, 2);
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  create_room(alice, "One");
  const auto two = create_room(alice, "Two");
  expect_problem(post_json("/api/v1/rooms", {{"name", "Three"}}, alice), 429, "too-many-requests");
  // The personal room is not one of them, and others may still make rooms.
  EXPECT_EQ(get("/api/v1/me/room", alice).status, 200);
  create_room(bob, "Bob's");
  // Deleting one makes room for another.
  EXPECT_EQ(del("/api/v1/rooms/" + two, alice).status, 204);
  create_room(alice, "Three");
}

TEST_F(LimitsTest, QueueLengthIsConfigurable) {
  restart_with(&ServerConfig::max_queue_items, 3);
  auto alice = register_and_login("alice");
  const auto song = upload_song(alice, 440, 1);
  const auto room = create_room(alice);
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song, song, song}}});
  expect_problem(command(alice, room, {{"type", "add"}, {"song_ids", {song}}}), 429, "too-many-requests");
}

// A full queue at the default limit keeps the room's record far below etcd's
// 1.5 MiB request limit (docs/architecture.md, Limits).
TEST_F(LimitsTest, AFullQueueStaysFarBelowTheStoreRequestLimit) {
  auto alice = register_and_login("alice");
  const auto song = upload_song(alice, 440, 1);
  const auto room = create_room(alice);
  const std::size_t max_items = ServerConfig{}.max_queue_items;
  json::array ids;
  for (std::size_t i = 0; i < 1000; ++i) ids.push_back(json::value(song));
  for (std::size_t added = 0; added < max_items; added += 1000) {
    json::array some(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(1000, max_items - added)));
    ok_command(alice, room, {{"type", "add"}, {"song_ids", some}});
  }
  auto full = command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  expect_problem(full, 429, "too-many-requests");
  EXPECT_NE(full.body.find(std::to_string(max_items)), std::string::npos) << full.body;
  auto record = server_->node().store().get("rooms/" + room);
  ASSERT_TRUE(record);
  EXPECT_LT(record->value.size(), 512u * 1024) << "a full room's record takes " << record->value.size() << " bytes";
}

}  // namespace
}  // namespace hifi::testing
