// The Subsonic API across the nodes of a cluster: three in-process nodes
// sharing one MetaStore (standing in for etcd) and a cluster secret. A
// credential made through one node signs an app in through another, and a
// revocation through one ends it on the other; a playlist made through one
// node, stars and a play through a second are there through the third.
#include "subsonic_fixture.h"
#include "support/eventually.h"

namespace hifi::testing {
namespace {

constexpr const char* kSecret = "subsonic-cluster-secret-0123456789";

class SubsonicClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fresh_dir("subsonic-cluster");
    auto store = open_sqlite_meta_store((root_ / "shared-meta.db").string());
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
    for (int i = 0; i < 3; ++i) {
      ServerConfig config;
      config.cluster_secret = kSecret;
      config.node_id = "node" + std::to_string(i);
      config.repair_interval_ms = 3600 * 1000;
      nodes_.push_back(std::make_unique<TestServer>(root_ / config.node_id, *store_, config));
    }
  }
  void TearDown() override {
    nodes_.clear();
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  static json::value call(TestServer& node, const std::string& method, const std::string& target,
                          const json::object& body, const std::string& token) {
    auto r = node.request(method == "POST" ? V::post : V::delete_, target, body.empty() ? "" : json::serialize(body),
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
    return r.body.empty() ? json::value(r.status) : json::parse(r.body);
  }

  // Registers alice through `node`; her session token.
  static std::string register_alice(TestServer& node) {
    const json::object account{{"username", "alice"}, {"password", "correct horse"}};
    node.request(V::post, "/api/v1/auth/register", json::serialize(account));
    return std::string(
        json::parse(node.request(V::post, "/api/v1/auth/login", json::serialize(account)).body).at("token").as_string());
  }

  static std::string status_of(TestServer& node, const std::string& query) {
    auto r = node.request(V::get, "/rest/ping?f=json&" + query);
    auto root = json::parse(r.body).at("subsonic-response").as_object();
    if (root.at("status") == "ok") return "ok";
    return std::to_string(root.at("error").at("code").as_int64());
  }

  std::filesystem::path root_;
  std::unique_ptr<MetaStore> store_;
  std::vector<std::unique_ptr<TestServer>> nodes_;
};

TEST_F(SubsonicClusterTest, CredentialsMadeOnOneNodeWorkAndEndOnTheOther) {
  auto& a = *nodes_[0];
  auto& b = *nodes_[1];
  const auto token = register_alice(a);
  auto app = call(a, "POST", "/api/v1/me/app-passwords", {{"name", "Phone"}}, token).as_object();
  auto key = call(a, "POST", "/api/v1/me/api-keys", {{"name", "Desktop"}}, token).as_object();
  const auto password = std::string(app.at("password").as_string());
  const auto api_key = std::string(key.at("key").as_string());

  // Both nodes derive the sealing key from the cluster secret: the app
  // password opens on either, and no credentials-key file is made.
  EXPECT_EQ(status_of(b, "u=alice&t=" + md5_hex(password + "salty") + "&s=salty"), "ok");
  EXPECT_EQ(status_of(a, "u=alice&t=" + md5_hex(password + "salty") + "&s=salty"), "ok");
  EXPECT_EQ(status_of(b, "apiKey=" + api_key), "ok");
  EXPECT_FALSE(std::filesystem::exists(root_ / "node0" / "credentials-key"));

  EXPECT_EQ(call(b, "DELETE", "/api/v1/me/app-passwords/" + std::string(app.at("id").as_string()), {}, token), 204);
  EXPECT_EQ(call(b, "DELETE", "/api/v1/me/api-keys/" + std::string(key.at("id").as_string()), {}, token), 204);
  EXPECT_EQ(status_of(a, "u=alice&t=" + md5_hex(password + "salty") + "&s=salty"), "41");
  EXPECT_EQ(status_of(a, "apiKey=" + api_key), "44");
}

TEST_F(SubsonicClusterTest, PlaylistsStarsAndPlaysMadeOnTwoNodesShowOnTheThird) {
  auto& a = *nodes_[0];
  auto& b = *nodes_[1];
  auto& c = *nodes_[2];
  const auto token = register_alice(a);
  const auto password =
      std::string(call(a, "POST", "/api/v1/me/app-passwords", {{"name", "Phone"}}, token).at("password").as_string());
  const auto auth = "u=alice&t=" + md5_hex(password + "salty") + "&s=salty&f=json&c=tests&v=1.16.1";
  auto up = a.request(V::post, "/api/v1/songs", make_tagged_wav(440, "Alpha", "The Testers", "Signals"),
                      {{"Authorization", "Bearer " + token}, {"Content-Type", "audio/wav"}, {"X-Filename", "a.wav"}});
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string song(json::parse(up.body).at("id").as_string());
  auto rest = [&](TestServer& node, const std::string& endpoint, const std::string& query) {
    auto r = node.request(V::get, "/rest/" + endpoint + "?" + auth + "&" + query);
    auto root = json::parse(r.body).at("subsonic-response").as_object();
    EXPECT_EQ(root.at("status"), "ok") << endpoint << ": " << r.body;
    return root;
  };

  // Each write right after the upload, through a node other than the one
  // that took the upload: nothing waits for the nodes to settle first.
  auto made = rest(b, "createPlaylist", "name=Shared&songId=" + song);
  const std::string playlist(made.at("playlist").at("id").as_string());
  // An app that made a playlist through one node opens it through another
  // at once (the playlist read through to the store when the view lags).
  for (auto* node : {&a, &c}) {
    EXPECT_EQ(rest(*node, "getPlaylist", "id=" + playlist).at("playlist").at("name"), "Shared");
  }
  rest(c, "star", "id=" + song);
  rest(c, "setRating", "id=" + song + "&rating=4");
  rest(c, "scrobble", "id=" + song);

  // Read through the third node each time: the writer waited for its own
  // view only, so these reads are what another node's user sees.
  auto check = [&](TestServer& node) {
    auto list = rest(node, "getPlaylist", "id=" + playlist).at("playlist").as_object();
    EXPECT_EQ(list.at("entry").as_array().at(0).at("id").as_string(), song);
    auto entry = rest(node, "getSong", "id=" + song).at("song").as_object();
    EXPECT_TRUE(entry.contains("starred")) << entry;
    EXPECT_EQ(entry.at("userRating"), 4) << entry;
    EXPECT_EQ(entry.at("playCount"), 1) << entry;
  };
  // The views of a and b follow the shared store's watch: wait for them to
  // apply the last write, as their users would after a moment.
  for (auto* node : {&a, &b}) {
    EXPECT_TRUE(eventually([&] {
      auto entry = json::parse(node->request(V::get, "/rest/getSong?" + auth + "&id=" + song).body)
                       .at("subsonic-response").at("song").as_object();
      return entry.contains("playCount");
    }));
    check(*node);
  }
  check(c);
}

}  // namespace
}  // namespace hifi::testing
