// A room WebSocket lives no longer than the access that opened it: a logout,
// a revoked session, signing out everywhere else, a password change, a
// disabled or a deleted account closes it at once with close code 1008 and
// a reason, while the other connections stay.
#include "server/room_test_fixture.h"

namespace hifi::testing {
namespace {

namespace websocket = boost::beast::websocket;

class RoomAccessTest : public RoomsTest {
 protected:
  void SetUp() override {
    RoomsTest::SetUp();
    admin_ = register_and_login("admin");
  }
  // Bob signed in n times, each session listening to the admin's room.
  struct Listening {
    std::string room;
    std::vector<std::string> tokens;
    std::vector<std::unique_ptr<WsClient>> sockets;
  };
  Listening bob_listening(int sessions) {
    Listening out{create_room(admin_), {register_and_login("bob")}, {}};
    while (static_cast<int>(out.tokens.size()) < sessions) out.tokens.push_back(login("bob"));
    for (const auto& token : out.tokens) out.sockets.push_back(join(token, out.room));
    return out;
  }

  std::string login(const std::string& name) {
    auto l = post_json("/api/v1/auth/login", {{"username", name}, {"password", "correct horse"}});
    EXPECT_EQ(l.status, 200) << l.body;
    return str(l.json().at("token"));
  }
  HttpResult send(V verb, const std::string& target, const std::string& token, const json::object& body = {}) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return server_->request(verb, target, body.empty() ? std::string() : json::serialize(body), headers);
  }
  // The id of the session a token signed in (as GET /me/sessions lists it).
  std::string session_id(const std::string& token) {
    auto r = send(V::get, "/api/v1/me/sessions", token);
    EXPECT_EQ(r.status, 200) << r.body;
    const auto sessions = r.json().at("sessions").as_array();
    for (const auto& s : sessions) {
      if (s.at("current") == true) return str(s.at("id"));
    }
    ADD_FAILURE() << "no current session in " << r.body;
    return {};
  }

  // Reads until the server closes the connection (skipping presence and
  // state messages), within 5 s; then checks the close frame.
  static void expect_closed(WsClient& ws, const std::string& reason) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (!ws.read(left)) break;
    }
    EXPECT_EQ(ws.error(), websocket::error::closed) << "not closed by the server: " << ws.error().message();
    EXPECT_EQ(ws.close_reason().code, websocket::close_code::policy_error);
    EXPECT_EQ(std::string(ws.close_reason().reason.c_str()), reason);
  }
  // The connection still answers.
  static void expect_open(WsClient& ws) {
    ASSERT_FALSE(ws.send({{"type", "ping"}})) << "the connection was closed";
    auto pong = ws.read_type("pong");
    EXPECT_TRUE(pong.has_value()) << ws.error().message();
  }

  std::string admin_;
};

TEST_F(RoomAccessTest, LoggingOutClosesThatSessionsSocketsOnly) {
  auto bob = bob_listening(2);
  ASSERT_EQ(send(V::post, "/api/v1/auth/logout", bob.tokens[0]).status, 204);
  expect_closed(*bob.sockets[0], "signed out");
  expect_open(*bob.sockets[1]);
}

TEST_F(RoomAccessTest, RevokingASessionClosesItsSockets) {
  auto bob = bob_listening(2);
  ASSERT_EQ(send(V::delete_, "/api/v1/me/sessions/" + session_id(bob.tokens[1]), bob.tokens[0]).status, 204);
  expect_closed(*bob.sockets[1], "signed out");
  expect_open(*bob.sockets[0]);
}

TEST_F(RoomAccessTest, SigningOutEverywhereElseClosesTheOtherSessionsSockets) {
  auto bob = bob_listening(3);
  ASSERT_EQ(send(V::delete_, "/api/v1/me/sessions", bob.tokens[0]).status, 204);
  expect_closed(*bob.sockets[1], "signed out");
  expect_closed(*bob.sockets[2], "signed out");
  expect_open(*bob.sockets[0]);
}

TEST_F(RoomAccessTest, APasswordChangeClosesTheOtherSessionsSockets) {
  auto bob = bob_listening(2);
  ASSERT_EQ(send(V::post, "/api/v1/me/password", bob.tokens[0],
                 {{"current_password", "correct horse"}, {"new_password", "battery staple"}})
                .status,
            204);
  expect_closed(*bob.sockets[1], "signed out");
  expect_open(*bob.sockets[0]);
}

TEST_F(RoomAccessTest, DisablingAnAccountClosesEveryOneOfItsSockets) {
  auto bob = bob_listening(2);
  auto admins = join(admin_, bob.room);
  ASSERT_EQ(send(V::patch, "/api/v1/users/" + user_id(bob.tokens[0]), admin_, {{"disabled", true}}).status, 200);
  expect_closed(*bob.sockets[0], "account disabled");
  expect_closed(*bob.sockets[1], "account disabled");
  expect_open(*admins);
  // And nobody gets in again with the old tokens.
  WsClient again;
  EXPECT_TRUE(again.connect(server_->port(), ws_target(bob.room), bob.tokens[0]));
  EXPECT_EQ(again.response().result_int(), 401);
}

TEST_F(RoomAccessTest, DeletingAnAccountClosesItsSockets) {
  auto bob = bob_listening(1);
  auto admins = join(admin_, bob.room);
  ASSERT_EQ(send(V::delete_, "/api/v1/users/" + user_id(bob.tokens[0]), admin_).status, 204);
  expect_closed(*bob.sockets[0], "account deleted");
  expect_open(*admins);
}

}  // namespace
}  // namespace hifi::testing
