// Signed stream URLs are their user's: they end when the account is
// disabled or deleted, when it signs out everywhere else or changes its
// password (its sessions epoch grows), and not when one other session logs
// out; a share page's links live on the owner's account the same way.
#include "server/api_fixture.h"

namespace hifi::testing {
namespace {

class SignedStreamGrantTest : public ApiTest {
 protected:
  std::string login(const std::string& name, const std::string& password = "correct horse") {
    auto l = post_json("/api/v1/auth/login", {{"username", name}, {"password", password}});
    EXPECT_EQ(l.status, 200) << l.body;
    return std::string(l.json().at("token").as_string());
  }
  std::string stream_url(const std::string& token, const std::string& song) {
    auto r = get("/api/v1/songs/" + song + "/stream-url", token);
    EXPECT_EQ(r.status, 200) << r.body;
    return std::string(r.json().at("url").as_string());
  }
  std::string user_id(const std::string& token) {
    return std::string(get("/api/v1/me", token).json().at("id").as_string());
  }
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = register_and_login("admin");
    bob_ = register_and_login("bob");
    song_ = std::string(upload(admin_, make_wav(440), "a.wav").json().at("id").as_string());
  }
  std::string admin_, bob_, song_;
};

TEST_F(SignedStreamGrantTest, NamesItsUserAndOutlivesAnotherSessionsLogout) {
  const auto url = stream_url(bob_, song_);
  EXPECT_NE(url.find("&user=" + user_id(bob_) + "&epoch="), std::string::npos) << url;
  const auto phone = login("bob");
  ASSERT_EQ(send(V::post, "/api/v1/auth/logout", phone).status, 204);
  EXPECT_EQ(get(url, "").status, 200);
  // The user and epoch are signed: another user's id does not pass.
  auto forged = url;
  forged.replace(forged.find(user_id(bob_)), 24, user_id(admin_));
  expect_problem(get(forged, ""), 403, "bad-signature");
  auto unbound = url.substr(0, url.find("&user=")) + url.substr(url.find("&signature="));
  expect_problem(get(unbound, ""), 403, "bad-signature");
}

TEST_F(SignedStreamGrantTest, EndsWhenTheUserIsDisabled) {
  const auto url = stream_url(bob_, song_);
  const auto bob_id = user_id(bob_);
  ASSERT_EQ(get(url, "").status, 200);
  ASSERT_EQ(send(V::patch, "/api/v1/users/" + bob_id, admin_, {{"disabled", true}}).status, 200);
  expect_problem(get(url, ""), 403, "bad-signature");
  // Enabled again, the old URL stays dead; a new sign-in gets a working one.
  ASSERT_EQ(send(V::patch, "/api/v1/users/" + bob_id, admin_, {{"disabled", false}}).status, 200);
  expect_problem(get(url, ""), 403, "bad-signature");
  EXPECT_EQ(get(stream_url(login("bob"), song_), "").status, 200);
}

TEST_F(SignedStreamGrantTest, EndsWhenTheUserSignsOutEverywhereElse) {
  const auto url = stream_url(bob_, song_);
  ASSERT_EQ(get(url, "").status, 200);
  ASSERT_EQ(send(V::delete_, "/api/v1/me/sessions", bob_).status, 204);
  auto refused = get(url, "");
  expect_problem(refused, 403, "bad-signature");
  EXPECT_NE(refused.body.find("/stream-url"), std::string::npos) << "says where to get a new one: " << refused.body;
  // The session that asked is still signed in and gets a new URL.
  EXPECT_EQ(get(stream_url(bob_, song_), "").status, 200);
}

TEST_F(SignedStreamGrantTest, EndsWithAPasswordChangeOrTheAccount) {
  const auto url = stream_url(bob_, song_);
  ASSERT_EQ(send(V::post, "/api/v1/me/password", bob_,
                 {{"current_password", "correct horse"}, {"new_password", "battery staple"}})
                .status,
            204);
  expect_problem(get(url, ""), 403, "bad-signature");

  const auto after = stream_url(bob_, song_);
  ASSERT_EQ(get(after, "").status, 200);
  const auto bob_id = user_id(bob_);
  ASSERT_EQ(send(V::delete_, "/api/v1/users/" + bob_id, admin_).status, 204);
  expect_problem(get(after, ""), 403, "bad-signature");
}

TEST_F(SignedStreamGrantTest, ASharePagesLinksEndWithItsOwner) {
  auto share = send(V::post, "/api/v1/shares", bob_, {{"song_ids", json::array{song_}}});
  ASSERT_EQ(share.status, 201) << share.body;
  const std::string page_path = "/share/" + std::string(share.json().at("id").as_string());
  auto page = get(page_path, "");
  ASSERT_EQ(page.status, 200) << page.body;
  const auto start = page.body.find("/api/v1/songs/" + song_ + "/stream?");
  ASSERT_NE(start, std::string::npos) << page.body;
  auto link = page.body.substr(start, page.body.find('"', start) - start);
  for (auto at = link.find("&amp;"); at != std::string::npos; at = link.find("&amp;")) link.replace(at, 5, "&");
  ASSERT_EQ(get(link, "").status, 200) << link;

  ASSERT_EQ(send(V::patch, "/api/v1/users/" + user_id(bob_), admin_, {{"disabled", true}}).status, 200);
  expect_problem(get(link, ""), 403, "bad-signature");
  EXPECT_EQ(get(page_path, "").status, 404);
}

}  // namespace
}  // namespace hifi::testing
