// The caller's sessions (/api/v1/me/sessions): listed with the device and
// the last use, ended one by one or all but the current one, and revoked
// through the per-user index on every password change; the server settings
// an admin changes at run time (/api/v1/settings); what each account
// uploaded, in the admin's list of users; artist pages.
#include "server/api_fixture.h"
#include "server/housekeeping.h"
#include "server/node.h"

namespace hifi::testing {
namespace {

class SessionsTest : public ApiTest {
 protected:
  HttpResult send(V verb, const std::string& target, const std::string& token, const std::string& body = {}) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return server_->request(verb, target, body, headers);
  }
  // Signs in as `name`, as a client with this User-Agent (and device name).
  std::string sign_in(const std::string& name, const std::string& user_agent, const std::string& device_name = {}) {
    json::object body{{"username", name}, {"password", "correct horse"}};
    if (!device_name.empty()) body["device_name"] = device_name;
    auto r = server_->request(V::post, "/api/v1/auth/login", json::serialize(body),
                              {{"Content-Type", "application/json"}, {"User-Agent", user_agent}});
    EXPECT_EQ(r.status, 200) << r.body;
    return std::string(r.json().at("token").as_string());
  }
  json::array sessions(const std::string& token) {
    auto r = send(V::get, "/api/v1/me/sessions", token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json().at("sessions").as_array() : json::array{};
  }
};

constexpr char kFirefox[] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
constexpr char kPhone[] =
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";

TEST_F(SessionsTest, ListedWithTheirDeviceAndLastUseAndEndedOneByOne) {
  register_and_login("alice");  // a first session, from the test client
  const auto laptop = sign_in("alice", kFirefox);
  server_->clock().advance_ms(60 * 1000);
  const auto phone = sign_in("alice", kPhone, "Alice's phone");
  auto list = sessions(laptop);
  ASSERT_EQ(list.size(), 3u);
  // Most recently used first; the asking one is marked.
  EXPECT_EQ(list[0].at("device"), "Alice's phone");
  EXPECT_EQ(list[0].at("current"), false);
  EXPECT_EQ(list[0].at("address"), "127.0.0.1");
  const auto mine = std::find_if(list.begin(), list.end(), [](const json::value& s) { return s.at("current") == true; });
  ASSERT_NE(mine, list.end());
  EXPECT_EQ(mine->at("device"), "Firefox on Linux");
  const std::string phone_id(list[0].at("id").as_string());
  EXPECT_EQ(phone_id.size(), 24u);
  EXPECT_EQ(json::serialize(list).find(phone), std::string::npos) << "a token is never shown";

  // Using a session moves it up, at a resolution of minutes.
  server_->clock().advance_ms(10 * 60 * 1000);
  ASSERT_EQ(get("/api/v1/me", laptop).status, 200);
  list = sessions(laptop);
  EXPECT_EQ(list[0].at("device"), "Firefox on Linux");
  EXPECT_EQ(list[1].at("device"), "Alice's phone");
  EXPECT_EQ(list[0].at("last_used_at").as_int64(), server_->clock().now_ms());

  // Ending the phone's session ends its token, at once.
  EXPECT_EQ(send(V::delete_, "/api/v1/me/sessions/" + phone_id, laptop).status, 204);
  EXPECT_EQ(get("/api/v1/me", phone).status, 401);
  EXPECT_EQ(sessions(laptop).size(), 2u);
  expect_problem(send(V::delete_, "/api/v1/me/sessions/" + phone_id, laptop), 404, "not-found");
  expect_problem(send(V::delete_, "/api/v1/me/sessions/nonsense", laptop), 404, "not-found");

  // Nobody else sees or ends alice's sessions.
  const auto bob = register_and_login("bob");
  EXPECT_EQ(sessions(bob).size(), 1u);
  const std::string laptop_id(sessions(laptop)[0].at("id").as_string());
  expect_problem(send(V::delete_, "/api/v1/me/sessions/" + laptop_id, bob), 404, "not-found");
  EXPECT_EQ(get("/api/v1/me", laptop).status, 200);

  // "Sign out everywhere else" keeps only the asking session.
  const auto tablet = sign_in("alice", "curl/8.0");
  EXPECT_EQ(send(V::delete_, "/api/v1/me/sessions", laptop).status, 204);
  EXPECT_EQ(get("/api/v1/me", tablet).status, 401);
  EXPECT_EQ(get("/api/v1/me", laptop).status, 200);
  list = sessions(laptop);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("current"), true);
  EXPECT_EQ(get("/api/v1/me", bob).status, 200);
}

TEST_F(SessionsTest, ExpiredSessionsLeaveTheListAndPasswordChangesEndTheOthers) {
  const auto first = register_and_login("alice");
  server_->clock().advance_ms(29LL * 24 * 3600 * 1000);
  const auto later = sign_in("alice", kFirefox);
  server_->clock().advance_ms(2LL * 24 * 3600 * 1000);  // the first is 31 days old: expired
  auto list = sessions(later);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("current"), true);
  EXPECT_EQ(get("/api/v1/me", first).status, 401);

  const auto other = sign_in("alice", kPhone);
  auto changed = send(V::post, "/api/v1/me/password", later,
                      R"({"current_password":"correct horse","new_password":"battery staple"})");
  ASSERT_EQ(changed.status, 204) << changed.body;
  EXPECT_EQ(get("/api/v1/me", other).status, 401);
  EXPECT_EQ(get("/api/v1/me", later).status, 200);
  EXPECT_EQ(sessions(later).size(), 1u);
}

TEST_F(SessionsTest, HousekeepingSweepsSessionsNobodyPresentsAgain) {
  const auto lost_phone = register_and_login("alice");
  server_->clock().advance_ms(31LL * 24 * 3600 * 1000);
  const auto laptop = sign_in("alice", kFirefox);
  auto tokens = [&] { return server_->node().store().range("tokens/")->kvs.size(); };
  EXPECT_EQ(tokens(), 2u);
  auto report = server_->node().housekeeping().run_now();
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_EQ(report->tokens, 1);
  EXPECT_EQ(tokens(), 1u);
  EXPECT_EQ(get("/api/v1/me", laptop).status, 200);
  EXPECT_EQ(get("/api/v1/me", lost_phone).status, 401);
}

TEST_F(SessionsTest, AnAdminSetsTheRegistrationModeForEveryNodeAndRestart) {
  const auto admin = register_and_login("alice");
  const auto bob = register_and_login("bob");
  auto settings = send(V::get, "/api/v1/settings", admin);
  ASSERT_EQ(settings.status, 200) << settings.body;
  EXPECT_EQ(settings.json().at("registration"), "open");
  expect_problem(send(V::get, "/api/v1/settings", bob), 403, "forbidden");
  expect_problem(send(V::patch, "/api/v1/settings", bob, R"({"registration":"closed"})"), 403, "forbidden");
  expect_problem(send(V::patch, "/api/v1/settings", admin, R"({"registration":"sometimes"})"), 400, "invalid-request");
  expect_problem(send(V::patch, "/api/v1/settings", admin, R"({})"), 400, "invalid-request");

  auto closed = send(V::patch, "/api/v1/settings", admin, R"({"registration":"closed"})");
  ASSERT_EQ(closed.status, 200) << closed.body;
  EXPECT_EQ(closed.json().at("registration"), "closed");
  EXPECT_EQ(get("/healthz", "").json().at("registration"), "closed");
  auto refused = post_json("/api/v1/auth/register", {{"username", "carol"}, {"password", "correct horse"}});
  expect_problem(refused, 403, "forbidden");

  ASSERT_EQ(send(V::patch, "/api/v1/settings", admin, R"({"registration":"invite"})").status, 200);
  auto invite = send(V::post, "/api/v1/invites", admin);
  ASSERT_EQ(invite.status, 201) << invite.body;
  expect_problem(post_json("/api/v1/auth/register", {{"username", "carol"}, {"password", "correct horse"}}), 403,
                 "forbidden");
  auto invited = post_json("/api/v1/auth/register", {{"username", "carol"},
                                                      {"password", "correct horse"},
                                                      {"invite_code", invite.json().at("code")}});
  EXPECT_EQ(invited.status, 201) << invited.body;

  // Kept in the store: a restarted server keeps the admin's choice.
  server_->restart();
  EXPECT_EQ(send(V::get, "/api/v1/settings", admin).json().at("registration"), "invite");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "dave"}, {"password", "correct horse"}}), 403,
                 "forbidden");
}

TEST_F(SessionsTest, TheAdminsListOfUsersCountsWhatEachUploaded) {
  const auto admin = register_and_login("alice");
  const auto bob = register_and_login("bob");
  const auto a = upload(bob, make_tagged_wav(440, "One", "Band", "Record"), "one.wav");
  const auto b = upload(bob, make_tagged_wav(550, "Two", "Band", "Record"), "two.wav");
  ASSERT_EQ(a.status, 201);
  ASSERT_EQ(b.status, 201);
  const auto users = send(V::get, "/api/v1/users", admin).json().at("items").as_array();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].at("username"), "alice");
  EXPECT_EQ(users[0].at("song_count"), 0);
  EXPECT_EQ(users[0].at("storage_bytes"), 0);
  EXPECT_EQ(users[1].at("song_count"), 2);
  EXPECT_EQ(users[1].at("storage_bytes").as_int64(), a.json().at("size").as_int64() + b.json().at("size").as_int64());

  // The artist's page: the artist and their albums; songs name both ids.
  const auto song = a.json().as_object();
  auto artist = get("/api/v1/artists/" + std::string(song.at("artist_id").as_string()), bob);
  ASSERT_EQ(artist.status, 200) << artist.body;
  EXPECT_EQ(artist.json().at("name"), "Band");
  ASSERT_EQ(artist.json().at("albums").as_array().size(), 1u);
  EXPECT_EQ(artist.json().at("albums").as_array()[0].at("id"), song.at("album_id"));
  EXPECT_EQ(artist.json().at("albums").as_array()[0].at("artist_id"), song.at("artist_id"));
  const auto top = artist.json().at("top_songs").as_array();
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].at("plays"), 0);
  expect_problem(get("/api/v1/artists/0000000000000000", bob), 404, "not-found");
  auto recent = get("/api/v1/albums?sort=recent&limit=1", bob);
  ASSERT_EQ(recent.status, 200) << recent.body;
  EXPECT_EQ(recent.json().at("items").as_array().size(), 1u);
  expect_problem(get("/api/v1/albums?sort=sideways", bob), 400, "invalid-request");
}

}  // namespace
}  // namespace hifi::testing
