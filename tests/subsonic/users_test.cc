// Subsonic user management: getUsers, createUser, updateUser, deleteUser and
// changePassword, in XML and JSON, with each error code (10 missing
// parameter, 50 not an admin, 70 no such user), the honest roles, and what
// a password set by someone else ends (u+p requests, app passwords).
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

std::string hex_of(const std::string& text) {
  return to_hex(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

class SubsonicUsersTest : public SubsonicTest {
 protected:
  // Registers bob and gives him an app password.
  void add_bob() {
    bob_token_ = register_and_login("bob", kPassword);
    bob_app_ = create_credential(bob_token_, "app-passwords", "Phone", "password");
  }
  std::string bob_auth() const { return token_auth("bob", bob_app_); }

  // -1 when ping succeeds with these credentials, else the error code.
  int ping_code(const std::string& credentials) {
    auto root = response_of(rest("ping", credentials + "&f=json"));
    if (json::serialize(root["status"]) == "\"ok\"") return -1;
    return root.contains("error") ? static_cast<int>(root["error"].at("code").as_int64()) : -2;
  }

  HttpResult call(const std::string& endpoint, const std::string& query, const std::string& credentials) {
    return rest(endpoint, credentials + "&f=json&" + query);
  }

  std::string bob_token_;
  std::string bob_app_;
};

TEST_F(SubsonicUsersTest, GetUsersListsEveryAccountWithHonestRoles) {
  add_bob();
  auto users = ok_json("getUsers")["users"].at("user").as_array();
  ASSERT_EQ(users.size(), 2u);
  const auto& alice = users[0].as_object();
  const auto& bob = users[1].as_object();
  EXPECT_EQ(alice.at("username"), "alice");
  EXPECT_EQ(alice.at("adminRole"), true);
  EXPECT_EQ(bob.at("username"), "bob");
  EXPECT_EQ(bob.at("adminRole"), false);
  for (const char* role : {"streamRole", "downloadRole", "uploadRole", "playlistRole", "shareRole", "jukeboxRole",
                           "settingsRole"}) {
    EXPECT_EQ(bob.at(role), true) << role;
  }
  for (const char* role : {"coverArtRole", "podcastRole", "commentRole", "videoConversionRole"}) {
    EXPECT_EQ(bob.at(role), false) << role;
  }
  EXPECT_EQ(bob.at("folder"), json::array{1});
  auto xml = ok_xml("getUsers");
  EXPECT_NE(xml.find("<users><user username=\"alice\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<user username=\"bob\""), std::string::npos) << xml;

  // A disabled account can do nothing.
  auto users_list = get("/api/v1/users", token_).json().at("items").as_array();
  auto disabled = server_->request(V::patch, "/api/v1/users/" + std::string(users_list[1].at("id").as_string()),
                                   R"({"disabled": true})",
                                   {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}});
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  auto after = ok_json("getUsers")["users"].at("user").as_array();
  EXPECT_EQ(after[1].at("streamRole"), false);
  EXPECT_EQ(after[1].at("uploadRole"), false);
}

TEST_F(SubsonicUsersTest, OnlyAdminsListUsers) {
  add_bob();
  expect_error(call("getUsers", "", bob_auth()), 50);
  // getUser: oneself always; another user only for admins.
  EXPECT_EQ(response_of(call("getUser", "username=bob", bob_auth()))["user"].at("jukeboxRole"), true);
  expect_error(call("getUser", "username=alice", bob_auth()), 50);
  expect_error(call("getUser", "", bob_auth()), 10);
}

TEST_F(SubsonicUsersTest, AdminCreatesUsersWithPlainAndEncodedPasswords) {
  auto xml = rest("createUser", auth() + "&username=carol&password=carol-pass-1&email=carol%40example.org");
  EXPECT_NE(xml.body.find("status=\"ok\""), std::string::npos) << xml.body;
  ok_json("createUser", "username=dave&password=enc:" + hex_of("dave pass 1") +
                            "&email=d%40example.org&adminRole=true&streamRole=true&podcastRole=true");
  EXPECT_EQ(ping_code("u=carol&p=carol-pass-1"), -1);
  EXPECT_EQ(ping_code("u=dave&p=" + q("dave pass 1")), -1);
  auto users = ok_json("getUsers")["users"].at("user").as_array();
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[1].at("username"), "carol");
  EXPECT_EQ(users[1].at("adminRole"), false);
  EXPECT_EQ(users[2].at("adminRole"), true);
  // HiFi's own API sees the same accounts.
  auto login = post_json("/api/v1/auth/login", {{"username", "carol"}, {"password", "carol-pass-1"}});
  EXPECT_EQ(login.status, 200) << login.body;

  expect_error(rest("createUser", auth() + "&f=json&password=long-enough"), 10);
  expect_error(rest("createUser", auth() + "&f=json&username=erin"), 10);
  expect_error(rest("createUser", auth() + "&f=json&username=CAROL&password=long-enough"), 0);  // taken
  expect_error(rest("createUser", auth() + "&f=json&username=erin&password=short"), 0);
  expect_error(rest("createUser", auth() + "&f=json&username=erin&password=enc:zz"), 0);
  expect_error(rest("createUser", auth() + "&f=json&username=erin&password=long-enough&adminRole=maybe"), 0);
  EXPECT_EQ(ping_code("u=erin&p=long-enough"), 40);
  add_bob();
  expect_error(call("createUser", "username=erin&password=long-enough", bob_auth()), 50);
}

TEST_F(SubsonicUsersTest, UpdateUserChangesTheRoleAndAPasswordEndsOldCredentials) {
  add_bob();
  EXPECT_EQ(ping_code("u=bob&p=" + q(kPassword)), -1);  // checked once: now remembered
  EXPECT_EQ(ping_code(bob_auth()), -1);
  ok_json("updateUser", "username=bob&adminRole=true&streamRole=false");
  EXPECT_EQ(response_of(call("getUser", "username=bob", bob_auth()))["user"].at("adminRole"), true);
  EXPECT_EQ(ping_code(bob_auth()), -1);  // a role change leaves credentials alone
  ok_json("updateUser", "username=bob&adminRole=false&password=enc:" + hex_of("bob's new password"));
  EXPECT_EQ(ping_code("u=bob&p=" + q(kPassword)), 40);
  EXPECT_EQ(ping_code(bob_auth()), 41);  // no app password left to check a token against
  EXPECT_EQ(ping_code("u=bob&p=" + q(app_password_)), 40);
  EXPECT_EQ(get("/api/v1/me", bob_token_).status, 401);
  EXPECT_EQ(ping_code("u=bob&p=" + q("bob's new password")), -1);
  EXPECT_EQ(ok_json("getUsers")["users"].at("user").as_array()[1].at("adminRole"), false);

  expect_error(rest("updateUser", auth() + "&f=json&adminRole=true"), 10);
  expect_error(rest("updateUser", auth() + "&f=json&username=nobody&adminRole=true"), 70);
  expect_error(rest("updateUser", auth() + "&f=json&username=bob&password=short&adminRole=true"), 0);
  EXPECT_EQ(ok_json("getUsers")["users"].at("user").as_array()[1].at("adminRole"), false);  // nothing changed
  expect_error(rest("updateUser", auth() + "&f=json&username=alice&adminRole=false"), 0);  // the last admin
  const auto bob_app2 = create_credential(
      std::string(post_json("/api/v1/auth/login", {{"username", "bob"}, {"password", "bob's new password"}})
                      .json().at("token").as_string()),
      "app-passwords", "Laptop", "password");
  expect_error(call("updateUser", "username=alice&adminRole=false", token_auth("bob", bob_app2)), 50);
}

TEST_F(SubsonicUsersTest, DeleteUserEndsTheAccountAndKeepsItsSongs) {
  add_bob();
  const auto key = create_credential(bob_token_, "api-keys", "Feishin", "key");
  auto up = upload(bob_token_, make_tagged_wav(330, "Bob's Song", "Bob", "Bob's Album"), "bob.wav");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string song_id(up.json().at("id").as_string());

  expect_error(call("deleteUser", "username=alice", bob_auth()), 50);
  expect_error(rest("deleteUser", auth() + "&f=json"), 10);
  expect_error(rest("deleteUser", auth() + "&f=json&username=nobody"), 70);
  expect_error(rest("deleteUser", auth() + "&f=json&username=alice"), 0);  // not oneself
  EXPECT_NE(rest("deleteUser", auth() + "&username=bob").body.find("status=\"ok\""), std::string::npos);

  EXPECT_EQ(ping_code(bob_auth()), 41);
  EXPECT_EQ(ping_code("apiKey=" + q(key)), 44);
  EXPECT_EQ(ping_code("u=bob&p=" + q(kPassword)), 40);
  EXPECT_EQ(get("/api/v1/me", bob_token_).status, 401);
  EXPECT_EQ(ok_json("getUsers")["users"].at("user").as_array().size(), 1u);
  EXPECT_EQ(ok_json("getSong", "id=" + song_id)["song"].at("title"), "Bob's Song");
  // The name is free again.
  ok_json("createUser", "username=bob&password=another-bob-1");
  EXPECT_EQ(ping_code("u=bob&p=another-bob-1"), -1);
}

TEST_F(SubsonicUsersTest, ChangePasswordOwnOrAnyoneForAdmins) {
  add_bob();
  EXPECT_NE(rest("changePassword", bob_auth() + "&username=bob&password=enc:" + hex_of("bob's own new one"))
                .body.find("status=\"ok\""),
            std::string::npos);
  EXPECT_EQ(ping_code(bob_auth()), 41);  // the app password ended with the old password
  EXPECT_EQ(ping_code("u=bob&p=" + q("bob's own new one")), -1);
  const std::string bob_new = "u=bob&p=" + q("bob's own new one");
  expect_error(call("changePassword", "username=alice&password=taken-over-1", bob_new), 50);
  expect_error(call("changePassword", "username=bob", bob_new), 10);
  expect_error(call("changePassword", "password=long-enough", bob_new), 10);
  expect_error(call("changePassword", "username=bob&password=short", bob_new), 0);

  ok_json("changePassword", "username=bob&password=" + q("set by alice"));
  EXPECT_EQ(ping_code(bob_new), 40);
  EXPECT_EQ(ping_code("u=bob&p=" + q("set by alice")), -1);
  expect_error(rest("changePassword", auth() + "&f=json&username=nobody&password=long-enough"), 70);
  EXPECT_EQ(ping_code("u=alice&p=" + q(kPassword)), -1);  // alice's own password is untouched
}

}  // namespace
}  // namespace hifi::testing
