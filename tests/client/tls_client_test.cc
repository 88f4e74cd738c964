// HTTPS end to end in process: in-process nodes serving TLS with
// certificates made at test time, the ApiClient and the RoomClient speaking
// https:// and wss:// to them, and nodes pushing copies to each other
// through TLS (a node whose certificate is not trusted gets none).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "client/api_client.h"
#include "client/room_client.h"
#include "net/tls.h"
#include "server/test_server.h"
#include "store/sqlite/sqlite_meta_store.h"
#include "support/eventually.h"
#include "support/test_pki.h"

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using hifi::testing::PemPair;
using hifi::testing::TestPki;
using hifi::testing::TestServer;
namespace http = boost::beast::http;

class TlsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = hifi::testing::fresh_dir("tls-client");
    pki_ = std::make_unique<TestPki>(dir_ / "pki");
    ca_ = pki_->authority("ca");
    node_ = pki_->certificate("node", ca_, "IP:127.0.0.1,DNS:localhost");
  }
  void TearDown() override {
    servers_.clear();
    store_.reset();
    net::set_default_client_context(nullptr);
    fs::remove_all(dir_);
  }

  ServerConfig tls_config(const PemPair& cert) const {
    ServerConfig config;
    config.tls_cert_file = cert.cert;
    config.tls_key_file = cert.key;
    return config;
  }
  static std::string url(const TestServer& s) { return "https://127.0.0.1:" + std::to_string(s.port()); }
  static ClientOptions options(std::string server, std::string token = "") {
    ClientOptions o;
    o.servers = {std::move(server)};
    o.token = std::move(token);
    o.connect_timeout_ms = 2000;
    o.request_timeout_ms = 10000;
    return o;
  }
  // Registers alice through `client` and keeps her token in it.
  void sign_in(ApiClient& client) {
    json::value creds = json::object{{"username", "alice"}, {"password", "correct horse"}};
    ASSERT_TRUE(client.json("POST", "/api/v1/auth/register", &creds));
    auto login = client.json("POST", "/api/v1/auth/login", &creds);
    ASSERT_TRUE(login) << login.error.message();
    client.set_token(std::string(login->at("token").as_string()));
  }
  std::string write_song(const std::string& name, double hz) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << hifi::testing::make_wav(hz, 2.0);
    return path;
  }

  fs::path dir_;
  std::unique_ptr<TestPki> pki_;
  PemPair ca_, node_;
  std::unique_ptr<MetaStore> store_;
  std::vector<std::unique_ptr<TestServer>> servers_;
};

TEST_F(TlsClientTest, TheApiOverHttpsNeedsTheServersAuthority) {
  servers_.push_back(std::make_unique<TestServer>(dir_ / "node", tls_config(node_)));
  auto& server = *servers_[0];
  EXPECT_EQ(server.node().advertise(), url(server));  // the default advertised URL says https

  ApiClient stranger(options(url(server)));
  auto refused = stranger.request("GET", "/healthz");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error.status, 0);
  EXPECT_NE(refused.error.detail.find("certificate is not trusted"), std::string::npos) << refused.error.detail;

  ASSERT_EQ(trust_ca_file(ca_.cert), "");
  ApiClient client(options(url(server)));
  sign_in(client);
  const auto song = write_song("song.wav", 440);
  auto up = client.upload_song(song, sha256_file(song), nullptr);
  ASSERT_TRUE(up) << up.error.message();
  const std::string id(up->at("id").as_string());
  // The song's bytes leave through TLS (read and encrypted piece by piece,
  // not sendfile) and arrive whole, ranges included.
  const auto copy = (dir_ / "copy.wav").string();
  auto got = client.download("/api/v1/songs/" + id + "/stream", copy, nullptr);
  ASSERT_TRUE(got) << got.error.message();
  EXPECT_EQ(sha256_file(copy), sha256_file(song));
  auto part = client.request("GET", "/api/v1/songs/" + id + "/stream", "", {{"Range", "bytes=100-199"}});
  ASSERT_TRUE(part) << part.error.message();
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body.size(), 100u);
  // Links this node hands out name https.
  json::value share_body = json::object{{"song_ids", json::array{json::value(id)}}};
  auto share = client.json("POST", "/api/v1/shares", &share_body);
  ASSERT_TRUE(share) << share.error.message();
  EXPECT_EQ(std::string(share->at("url").as_string()).rfind("https://127.0.0.1:", 0), 0u) << share->at("url");
}

TEST_F(TlsClientTest, PlainHttpToTheHttpsPortGetsA400ThatSaysSo) {
  servers_.push_back(std::make_unique<TestServer>(dir_ / "node", tls_config(node_)));
  auto res = servers_[0]->request(http::verb::get, "/healthz");
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.json().at("type"), "urn:hifi:problem:https-required");
  // The port still speaks TLS to the next client.
  ASSERT_EQ(trust_ca_file(ca_.cert), "");
  ApiClient client(options(url(*servers_[0])));
  auto ok = client.request("GET", "/healthz");
  EXPECT_TRUE(ok) << ok.error.message();
}

TEST_F(TlsClientTest, TrustIsCheckedAgainstTheCaFileGiven) {
  EXPECT_NE(trust_ca_file((dir_ / "missing.pem").string()).find("missing.pem"), std::string::npos);
  auto stranger = pki_->authority("stranger");
  servers_.push_back(std::make_unique<TestServer>(dir_ / "node", tls_config(node_)));
  ASSERT_EQ(trust_ca_file(stranger.cert), "");
  ApiClient client(options(url(*servers_[0])));
  auto refused = client.request("GET", "/healthz");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error.detail.find("certificate is not trusted"), std::string::npos) << refused.error.detail;
}

TEST_F(TlsClientTest, ARoomClientListensOverWss) {
  servers_.push_back(std::make_unique<TestServer>(dir_ / "node", tls_config(node_)));
  ASSERT_EQ(trust_ca_file(ca_.cert), "");
  ApiClient client(options(url(*servers_[0])));
  sign_in(client);
  json::value room_body = json::object{{"name", "secure"}};
  auto room = client.json("POST", "/api/v1/rooms", &room_body);
  ASSERT_TRUE(room) << room.error.message();
  const std::string room_id(room->at("id").as_string());

  RoomClient listener({url(*servers_[0])}, client.token(), room_id);
  listener.start();
  EXPECT_TRUE(hifi::testing::eventually([&] { return listener.connected() && listener.view().valid; },
                                        std::chrono::seconds(10)))
      << listener.status();
  EXPECT_EQ(listener.view().name, "secure");
  // A change made through the API reaches the listener through WSS.
  const auto song = write_song("song.wav", 440);
  auto up = client.upload_song(song, sha256_file(song), nullptr);
  ASSERT_TRUE(up) << up.error.message();
  json::value add = json::object{{"type", "add"}, {"song_ids", json::array{up->at("id")}}};
  ASSERT_TRUE(client.json("POST", "/api/v1/rooms/" + room_id + "/commands", &add));
  EXPECT_TRUE(hifi::testing::eventually([&] { return listener.view().queue.size() == 1; }, std::chrono::seconds(10)));
  listener.stop();
}

TEST_F(TlsClientTest, NodesPushCopiesThroughTlsOnlyToPeersTheyTrust) {
  auto store = open_sqlite_meta_store((dir_ / "shared.db").string());
  ASSERT_TRUE(store) << store.status().to_string();
  store_ = std::move(*store);
  auto stranger_ca = pki_->authority("stranger");
  auto impostor = pki_->certificate("impostor", stranger_ca, "IP:127.0.0.1");
  // Every node (and this test's client) trusts the cluster's authority.
  ASSERT_EQ(trust_ca_file(ca_.cert), "");
  for (int i = 0; i < 3; ++i) {
    auto config = tls_config(i == 2 ? impostor : node_);
    config.cluster_secret = "tls-cluster-secret-0123456789";
    config.node_id = "node" + std::to_string(i);
    config.replicas = 3;
    config.repair_interval_ms = 3600 * 1000;
    servers_.push_back(std::make_unique<TestServer>(dir_ / config.node_id, *store_, config));
  }
  for (auto& s : servers_) s->cluster().membership().renew_now();

  ApiClient client(options(url(*servers_[0])));
  sign_in(client);
  const auto song = write_song("song.wav", 523.25);
  auto up = client.upload_song(song, sha256_file(song), nullptr);
  ASSERT_TRUE(up) << up.error.message();
  const auto sha = ContentHash::parse(std::string(up->at("sha256").as_string()));
  ASSERT_TRUE(sha);
  EXPECT_TRUE(servers_[0]->blobs().exists(*sha));
  EXPECT_TRUE(servers_[1]->blobs().exists(*sha)) << "pushed to the trusted peer through TLS";
  EXPECT_FALSE(servers_[2]->blobs().exists(*sha)) << "not to the peer whose certificate is not trusted";
}

}  // namespace
}  // namespace hifi::client
