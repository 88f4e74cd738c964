// Subsonic authentication: the account password (plain and enc:), token
// authentication with app passwords (fixed and fresh salts), API keys, each
// error code, and what ends access: revocation, disabling, a password change;
// plus the management API under /api/v1/me.
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

std::string hex_of(const std::string& text) { return to_hex(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()); }

class SubsonicAuthTest : public SubsonicTest {
 protected:
  int ping_code(const std::string& credentials) {
    auto root = response_of(rest("ping", credentials + "&f=json"));
    if (json::serialize(root["status"]) == "\"ok\"") return -1;
    return root.contains("error") ? static_cast<int>(root["error"].at("code").as_int64()) : -2;
  }
  static constexpr int kOk = -1;
};

TEST_F(SubsonicAuthTest, AccountPasswordPlainAndHexEncoded) {
  EXPECT_EQ(ping_code("u=alice&p=" + q(kPassword)), kOk);
  EXPECT_EQ(ping_code("u=alice&p=enc:" + hex_of(kPassword)), kOk);
  EXPECT_EQ(ping_code("u=ALICE&p=enc:" + hex_of(kPassword)), kOk);
  EXPECT_EQ(ping_code("u=alice&p=" + q(app_password_)), kOk);  // an app password works as p too
  EXPECT_EQ(ping_code("u=alice&p=wrong-password"), 40);
  EXPECT_EQ(ping_code("u=alice&p=enc:zz"), 40);
  EXPECT_EQ(ping_code("u=nobody&p=" + q(kPassword)), 40);
  // The XML error names the code too.
  auto xml = rest("ping", "u=alice&p=wrong-password");
  EXPECT_NE(xml.body.find("status=\"failed\""), std::string::npos);
  EXPECT_NE(xml.body.find("<error code=\"40\" message=\"wrong username or password\"/>"), std::string::npos) << xml.body;
}

TEST_F(SubsonicAuthTest, TokenWithAppPasswordFixedAndFreshSalts) {
  EXPECT_EQ(ping_code(token_auth("alice", app_password_, "fixed-salt")), kOk);
  EXPECT_EQ(ping_code(token_auth("alice", app_password_, "fixed-salt")), kOk);  // the same salt again
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ping_code(token_auth("alice", app_password_, random_hex(8))), kOk);
  // Upper-case hex digits are the same token.
  auto t = md5_hex(app_password_ + "abcdef");
  for (auto& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(ping_code("u=alice&t=" + t + "&s=abcdef"), kOk);
  EXPECT_EQ(ping_code(token_auth("alice", app_password_ + "x", "abcdef")), 40);
  // The account password cannot make tokens: HiFi keeps only its hash.
  EXPECT_EQ(ping_code(token_auth("alice", kPassword, "abcdef")), 40);
}

TEST_F(SubsonicAuthTest, EachAuthenticationErrorCode) {
  EXPECT_EQ(ping_code("v=1"), 10);                                              // nothing at all
  EXPECT_EQ(ping_code("u=alice"), 10);                                          // u alone
  EXPECT_EQ(ping_code("u=alice&t=" + md5_hex("x")), 10);                        // t without s
  EXPECT_EQ(ping_code("u=alice&t=sha1-is-not-md5&s=abc"), 42);                  // not an MD5 token
  EXPECT_EQ(ping_code("u=alice&p=x&" + token_auth("alice", app_password_).substr(8)), 43);  // p and t
  EXPECT_EQ(ping_code("apiKey=abc&u=alice"), 43);                               // apiKey with u
  EXPECT_EQ(ping_code("apiKey=hifi_nonsense"), 44);
  // bob has no app password: token authentication cannot work for him.
  register_and_login("bob", kPassword);
  EXPECT_EQ(ping_code(token_auth("bob", kPassword)), 41);
  EXPECT_EQ(ping_code(token_auth("nobody", kPassword)), 41);  // the same for names that do not exist
}

TEST_F(SubsonicAuthTest, ApiKeyAuthAndTokenInfo) {
  const auto key = create_credential(token_, "api-keys", "Feishin", "key");
  auto r = rest("tokenInfo", "apiKey=" + q(key) + "&f=json");
  auto root = response_of(r);
  ASSERT_EQ(json::serialize(root["status"]), "\"ok\"") << r.body;
  EXPECT_EQ(root["tokenInfo"].at("username"), "alice");
  EXPECT_NE(rest("tokenInfo", "apiKey=" + q(key)).body.find("<tokenInfo username=\"alice\"/>"), std::string::npos);
  EXPECT_EQ(ping_code("apiKey=" + q(key)), kOk);
}

TEST_F(SubsonicAuthTest, RevokedAppPasswordAndApiKeyStopWorkingAtOnce) {
  const auto key = create_credential(token_, "api-keys", "Feishin", "key");
  auto apps = get("/api/v1/me/app-passwords", token_).json().at("items").as_array();
  auto keys = get("/api/v1/me/api-keys", token_).json().at("items").as_array();
  ASSERT_EQ(apps.size(), 1u);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(ping_code(auth()), kOk);
  EXPECT_EQ(ping_code("apiKey=" + q(key)), kOk);
  auto del = server_->request(V::delete_, "/api/v1/me/app-passwords/" + std::string(apps[0].at("id").as_string()), {},
                              {{"Authorization", "Bearer " + token_}});
  EXPECT_EQ(del.status, 204);
  del = server_->request(V::delete_, "/api/v1/me/api-keys/" + std::string(keys[0].at("id").as_string()), {},
                         {{"Authorization", "Bearer " + token_}});
  EXPECT_EQ(del.status, 204);
  EXPECT_EQ(ping_code(auth()), 41);  // alice has no app password left
  EXPECT_EQ(ping_code("u=alice&p=" + q(app_password_)), 40);
  EXPECT_EQ(ping_code("apiKey=" + q(key)), 44);
}

TEST_F(SubsonicAuthTest, DisabledUserLosesEveryWayIn) {
  const auto bob_token = register_and_login("bob", kPassword);
  const auto bob_app = create_credential(bob_token, "app-passwords", "Phone", "password");
  const auto bob_key = create_credential(bob_token, "api-keys", "Desktop", "key");
  const std::string bob_password = "u=bob&p=" + q(kPassword);
  ASSERT_EQ(ping_code(bob_password), kOk);  // remembered for a while now
  ASSERT_EQ(ping_code(token_auth("bob", bob_app)), kOk);
  auto bob_id = std::string(get("/api/v1/me", bob_token).json().at("id").as_string());
  auto patch = server_->request(V::patch, "/api/v1/users/" + bob_id, "{\"disabled\":true}",
                                {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/json"}});
  ASSERT_EQ(patch.status, 200) << patch.body;
  EXPECT_EQ(ping_code(bob_password), 40);
  EXPECT_EQ(ping_code(token_auth("bob", bob_app)), 40);
  EXPECT_EQ(ping_code("apiKey=" + q(bob_key)), 44);
}

TEST_F(SubsonicAuthTest, PasswordChangeEndsAccess) {
  const auto key = create_credential(token_, "api-keys", "Feishin", "key");
  ASSERT_EQ(ping_code("u=alice&p=" + q(kPassword)), kOk);  // remembered for a while now
  auto r = post_json("/api/v1/me/password", {{"current_password", kPassword}, {"new_password", "battery staple"}},
                     token_);
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(ping_code("u=alice&p=" + q(kPassword)), 40);
  EXPECT_EQ(ping_code(auth()), 41);
  EXPECT_EQ(ping_code("apiKey=" + q(key)), 44);
  EXPECT_EQ(ping_code("u=alice&p=" + q("battery staple")), kOk);
  EXPECT_TRUE(get("/api/v1/me/app-passwords", token_).json().at("items").as_array().empty());
}

TEST_F(SubsonicAuthTest, FailedSignInsAreRateLimited) {
  AccountOptions limits;
  limits.max_failures_per_account = 3;
  make_server({}, limits);
  token_ = register_and_login("carol", kPassword);
  app_password_ = create_credential(token_, "app-passwords", "Phone", "password");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ping_code(token_auth("carol", "guess")), 40);
  auto r = rest("ping", token_auth("carol", app_password_) + "&f=json");
  expect_error(r, 0);
  EXPECT_NE(r.body.find("too many"), std::string::npos) << r.body;
  server_->clock().advance_ms(limits.rate_window_ms + 1);
  EXPECT_EQ(ping_code(token_auth("carol", app_password_)), kOk);
}

TEST_F(SubsonicAuthTest, ManagementApiShowsSecretsOnceAndListsLastUse) {
  auto created = post_json("/api/v1/me/app-passwords", {{"name", "Laptop"}}, token_);
  ASSERT_EQ(created.status, 201);
  auto body = created.json().as_object();
  EXPECT_EQ(body.size(), 3u);
  EXPECT_EQ(body.at("name"), "Laptop");
  EXPECT_TRUE(body.contains("id") && body.contains("password"));
  auto key = post_json("/api/v1/me/api-keys", {{"name", "Script"}}, token_).json().as_object();
  EXPECT_TRUE(key.contains("id") && key.contains("key") && key.contains("name"));

  EXPECT_EQ(ping_code(auth()), kOk);
  auto list = get("/api/v1/me/app-passwords", token_).json().at("items").as_array();
  ASSERT_EQ(list.size(), 2u);
  for (const auto& item : list) {
    const auto& o = item.as_object();
    EXPECT_EQ(o.size(), 4u);
    EXPECT_FALSE(o.contains("password"));
    EXPECT_TRUE(o.at("created_at").is_int64());
    // Phone signed in above; Laptop never did.
    EXPECT_EQ(o.at("last_used_at").is_int64(), o.at("name") == "Phone") << json::serialize(o);
    EXPECT_EQ(o.at("last_used_at").is_null(), o.at("name") == "Laptop") << json::serialize(o);
  }
  expect_problem(post_json("/api/v1/me/api-keys", {{"name", ""}}, token_), 400, "invalid-request");
  expect_problem(post_json("/api/v1/me/api-keys", json::object{}, token_), 400, "invalid-request");
  expect_problem(server_->request(V::delete_, "/api/v1/me/api-keys/nope", {}, {{"Authorization", "Bearer " + token_}}),
                 404, "not-found");
  expect_problem(get("/api/v1/me/api-keys", ""), 401, "unauthenticated");
  // Another user sees none of alice's, and cannot revoke them.
  const auto bob = register_and_login("bob", kPassword);
  EXPECT_TRUE(get("/api/v1/me/app-passwords", bob).json().at("items").as_array().empty());
  expect_problem(server_->request(V::delete_, "/api/v1/me/app-passwords/" + std::string(body.at("id").as_string()), {},
                                  {{"Authorization", "Bearer " + bob}}),
                 404, "not-found");
}

TEST_F(SubsonicAuthTest, AppPasswordsSurviveARestart) {
  server_->restart();
  EXPECT_EQ(ping_code(auth()), kOk);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "credentials-key"));
}

}  // namespace
}  // namespace hifi::testing
