// HiFi's own API for admins managing accounts: create a user with a role,
// set another user's password, change a role, delete a user (sessions, app
// passwords and API keys go; songs stay; the name is free again); and the
// caller's jukebox choice under /api/v1/me/jukebox.
#include "server/api_fixture.h"

namespace hifi::testing {
namespace {

class UsersAdminTest : public ApiTest {
 protected:
  HttpResult send(V verb, const std::string& target, const std::string& body, const std::string& token) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return server_->request(verb, target, body, headers);
  }
  HttpResult login(const std::string& name, const std::string& password) {
    return post_json("/api/v1/auth/login", {{"username", name}, {"password", password}});
  }
  std::string id_of(const std::string& token) {
    return std::string(get("/api/v1/me", token).json().at("id").as_string());
  }
};

TEST_F(UsersAdminTest, AdminCreatesUsersWithARole) {
  const auto admin = register_and_login("admin");
  auto made = post_json("/api/v1/users", {{"username", "carol"}, {"password", "carol-pass-1"}, {"role", "admin"}}, admin);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.json().at("role"), "admin");
  EXPECT_EQ(made.header("location"), "/api/v1/users/" + std::string(made.json().at("id").as_string()));
  auto plain = post_json("/api/v1/users", {{"username", "dave"}, {"password", "dave-pass-1"}}, admin);
  ASSERT_EQ(plain.status, 201) << plain.body;
  EXPECT_EQ(plain.json().at("role"), "user");
  EXPECT_EQ(login("carol", "carol-pass-1").status, 200);

  expect_problem(post_json("/api/v1/users", {{"username", "Carol"}, {"password", "long-enough"}}, admin), 409,
                 "already-exists");
  expect_problem(post_json("/api/v1/users", {{"username", "erin"}, {"password", "short"}}, admin), 400,
                 "invalid-request");
  expect_problem(post_json("/api/v1/users", {{"username", "erin"}, {"password", "long-enough"}, {"role", "root"}},
                           admin),
                 400, "invalid-request");
  expect_problem(post_json("/api/v1/users", {{"username", "erin"}}, admin), 400, "invalid-request");
  const auto dave = std::string(login("dave", "dave-pass-1").json().at("token").as_string());
  expect_problem(post_json("/api/v1/users", {{"username", "erin"}, {"password", "long-enough"}}, dave), 403,
                 "forbidden");
  EXPECT_EQ(login("erin", "long-enough").status, 401);
}

TEST_F(UsersAdminTest, AdminSetsPasswordsAndRoles) {
  const auto admin = register_and_login("admin");
  const auto bob = register_and_login("bob");
  const auto bob_id = id_of(bob);
  auto app = post_json("/api/v1/me/app-passwords", {{"name", "Phone"}}, bob);
  ASSERT_EQ(app.status, 201) << app.body;
  const std::string app_password(app.json().at("password").as_string());

  auto set = send(V::put, "/api/v1/users/" + bob_id + "/password", R"({"password":"set by admin"})", admin);
  EXPECT_EQ(set.status, 204) << set.body;
  EXPECT_EQ(get("/api/v1/me", bob).status, 401);  // bob's sessions ended
  EXPECT_EQ(login("bob", "correct horse").status, 401);
  EXPECT_EQ(server_->request(V::get, "/rest/ping?u=bob&p=" + app_password + "&f=json").body.find("\"ok\""),
            std::string::npos);  // so did his app password
  const auto bob2 = std::string(login("bob", "set by admin").json().at("token").as_string());

  expect_problem(send(V::put, "/api/v1/users/" + id_of(admin) + "/password", R"({"password":"hijacked!"})", bob2),
                 403, "forbidden");
  expect_problem(send(V::put, "/api/v1/users/" + bob_id + "/password", R"({"password":"short"})", admin), 400,
                 "invalid-request");
  expect_problem(send(V::put, "/api/v1/users/nobody/password", R"({"password":"long enough"})", admin), 404,
                 "not-found");

  auto promoted = send(V::patch, "/api/v1/users/" + bob_id, R"({"role":"admin"})", admin);
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  EXPECT_EQ(promoted.json().at("role"), "admin");
  EXPECT_EQ(get("/api/v1/users", bob2).status, 200);  // at once, with the same session
  auto both = send(V::patch, "/api/v1/users/" + bob_id, R"({"role":"user","disabled":true})", admin);
  ASSERT_EQ(both.status, 200) << both.body;
  EXPECT_EQ(both.json().at("role"), "user");
  EXPECT_EQ(both.json().at("disabled"), true);
  expect_problem(send(V::patch, "/api/v1/users/" + id_of(admin), R"({"role":"user"})", admin), 409, "precondition-failed");
  expect_problem(send(V::patch, "/api/v1/users/" + bob_id, R"({"role":"owner"})", admin), 400, "invalid-request");
}

TEST_F(UsersAdminTest, DeletingAUserKeepsTheirSongsAndFreesTheName) {
  const auto admin = register_and_login("admin");
  const auto bob = register_and_login("bob");
  const auto bob_id = id_of(bob);
  auto up = upload(bob, make_wav(440), "bob.wav");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string song(up.json().at("id").as_string());
  ASSERT_EQ(post_json("/api/v1/me/api-keys", {{"name", "Feishin"}}, bob).status, 201);

  expect_problem(send(V::delete_, "/api/v1/users/" + id_of(admin), {}, bob), 403, "forbidden");
  expect_problem(send(V::delete_, "/api/v1/users/" + id_of(admin), {}, admin), 409, "precondition-failed");
  EXPECT_EQ(send(V::delete_, "/api/v1/users/" + bob_id, {}, admin).status, 204);
  expect_problem(send(V::delete_, "/api/v1/users/" + bob_id, {}, admin), 404, "not-found");
  EXPECT_EQ(get("/api/v1/me", bob).status, 401);
  EXPECT_EQ(login("bob", "correct horse").status, 401);
  EXPECT_EQ(get("/api/v1/songs/" + song, admin).status, 200);
  EXPECT_EQ(get("/api/v1/users", admin).json().at("items").as_array().size(), 1u);
  // A new bob is a new account, without the old one's credentials.
  const auto new_bob = register_and_login("bob");
  EXPECT_NE(id_of(new_bob), bob_id);
  EXPECT_TRUE(get("/api/v1/me/api-keys", new_bob).json().at("items").as_array().empty());
}

TEST_F(UsersAdminTest, JukeboxChoice) {
  const auto alice = register_and_login("alice");
  auto none = get("/api/v1/me/jukebox", alice);
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_TRUE(none.json().at("room_id").is_null());
  EXPECT_EQ(none.json().at("gain").to_number<double>(), 1.0);
  auto room = post_json("/api/v1/rooms", {{"name", "Living room"}}, alice);
  ASSERT_EQ(room.status, 201) << room.body;
  const std::string id(room.json().at("id").as_string());
  auto chosen = send(V::put, "/api/v1/me/jukebox", body_of({{"room_id", id}}), alice);
  ASSERT_EQ(chosen.status, 200) << chosen.body;
  EXPECT_EQ(chosen.json().at("room_id").as_string(), id);
  EXPECT_EQ(get("/api/v1/me/jukebox", alice).json().at("room_name"), "Living room");
  expect_problem(send(V::put, "/api/v1/me/jukebox", R"({"room_id":"nope"})", alice), 404, "not-found");
  expect_problem(send(V::put, "/api/v1/me/jukebox", R"({})", alice), 400, "invalid-request");
  EXPECT_EQ(server_->request(V::get, "/api/v1/me/jukebox").status, 401);
}

}  // namespace
}  // namespace hifi::testing
