// Three in-process nodes sharing one MetaStore (the SQLite store standing in
// for etcd): replication on upload, replicas in song JSON, reads of songs a
// node lacks (redirect and proxy), the node-to-node API's authentication,
// and the maintenance passes (repair, trimming copies above R, dropping a
// dead node's records, scrub, garbage collection).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/url.hpp>

#include <fstream>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "server/digest_header.h"
#include "server/test_server.h"
#include "server/ws_client.h"
#include "support/forwarding_meta_store.h"

namespace hifi::testing {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using V = http::verb;
constexpr const char* kSecret = "cluster-test-secret-0123456789";

// A node's view of the shared store whose watches of songs/ never deliver:
// that node's catalog stays as it was at start-up, as a lagging node's
// would in the moment after another node published a song.
class SongsWatchWithheld final : public ForwardingMetaStore {
 public:
  using ForwardingMetaStore::ForwardingMetaStore;
  Result<std::unique_ptr<WatchHandle>> watch(const std::string& prefix, Revision from_revision,
                                             WatchCallback callback) override {
    if (prefix.rfind("songs/", 0) == 0) return inner_.watch(prefix, from_revision, [](const Status&, const WatchResponse&) {});
    return inner_.watch(prefix, from_revision, std::move(callback));
  }
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fresh_dir("cluster");
    auto store = open_sqlite_meta_store((root_ / "shared-meta.db").string());
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
  }
  void TearDown() override {
    nodes_.clear();
    lagging_view_.reset();
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  // Node i's configuration: the fixture's replica count, read mode and
  // period after which a dead node's replica records are dropped.
  ServerConfig config_for(int i) const {
    ServerConfig config;
    config.cluster_secret = kSecret;
    config.replicas = replicas_;
    config.read_mode = read_mode_;
    config.max_upload_bytes = 1 << 20;
    config.node_id = "node" + std::to_string(i);
    // The passes run when a test asks, not on a timer.
    config.repair_interval_ms = 3600 * 1000;
    config.gc_grace_ms = 3600 * 1000;
    config.forget_dead_after_ms = forget_dead_after_ms_;
    if (i == full_node_) config.min_free_bytes = 1ULL << 62;
    return config;
  }

  // Starts n nodes; the first one leads (it claims the leader key first).
  void start_nodes(int n, int replicas = 3, ReadMode read_mode = ReadMode::kRedirect) {
    replicas_ = replicas;
    read_mode_ = read_mode;
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<TestServer>(root_ / ("node" + std::to_string(i)), *store_, config_for(i)));
    }
    renew_all();
  }

  // Node i, stopped earlier (nodes_[i].reset()), starts again with its data
  // directory and id.
  void restart_node(int i) {
    nodes_.at(static_cast<std::size_t>(i)) =
        std::make_unique<TestServer>(root_ / ("node" + std::to_string(i)), *store_, config_for(i));
    renew_all();
  }

  void renew_all() {
    for (auto& n : nodes_) {
      if (n) n->cluster().membership().renew_now();
    }
  }

  TestServer& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }
  // The index of the node listening on `port` (a URL's); -1 when none is.
  int node_on_port(std::string_view port) {
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      if (std::to_string(node(i).port()) == port) return i;
    }
    return -1;
  }

  std::string login(TestServer& server) {
    json::object body{{"username", "alice"}, {"password", "correct horse"}};
    server.request(V::post, "/api/v1/auth/register", json::serialize(body));
    auto l = server.request(V::post, "/api/v1/auth/login", json::serialize(body));
    EXPECT_EQ(l.status, 200) << l.body;
    return std::string(l.json().at("token").as_string());
  }

  HttpResult upload(TestServer& server, const std::string& token, const std::string& bytes) {
    return server.request(V::post, "/api/v1/songs", bytes,
                          {{"Authorization", "Bearer " + token}, {"Content-Type", "audio/wav"}});
  }

  HttpResult get(TestServer& server, const std::string& target, const std::string& token,
                 std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return server.request(V::get, target, {}, headers);
  }

  // Every node's library view follows the store on its own; wait until all
  // of them show the song.
  void wait_until_every_node_knows(const std::string& song_id) {
    for (auto& server : nodes_) {
      ASSERT_TRUE(!server || eventually([&] { return server->catalog().get(song_id).is_ok(); }))
          << "a node's library view never showed " << song_id;
    }
  }

  // The ids of the running nodes with the blob on disk.
  std::set<std::string> nodes_holding(const ContentHash& sha) {
    std::set<std::string> out;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i] && nodes_[i]->blobs().exists(sha)) out.insert("node" + std::to_string(i));
    }
    return out;
  }
  int holders_on_disk(const ContentHash& sha) { return static_cast<int>(nodes_holding(sha).size()); }

  // The ids of the nodes the replica index says hold the blob.
  std::set<std::string> recorded_holders(const ContentHash& sha) {
    const std::string prefix = std::string(cluster::kReplicasPrefix) + sha.hex() + "/";
    auto range = store_->range(prefix);
    EXPECT_TRUE(range) << range.status().to_string();
    std::set<std::string> out;
    if (range) {
      for (const auto& kv : range->kvs) out.insert(kv.key.substr(prefix.size()));
    }
    return out;
  }

  // A song whose rendezvous order over node0..node2 puts `last` last (or,
  // with `last` empty, anything but node0), so that a test knows which
  // copy a trim removes.
  std::string wav_ranking_last(const std::string& last, double from_hz) {
    for (double hz = from_hz;; hz += 1) {
      auto wav = make_wav(hz);
      auto order = cluster::rendezvous_rank(ContentHash::of(wav), {"node0", "node1", "node2"});
      if (last.empty() ? order.back() != "node0" : order.back() == last) return wav;
    }
  }

  // The nodes a trim keeps: the first `wanted` of node0..node2 by rank.
  static std::set<std::string> ranked_first(const ContentHash& sha, int wanted) {
    auto order = cluster::rendezvous_rank(sha, {"node0", "node1", "node2"});
    return {order.begin(), order.begin() + wanted};
  }

  std::string metrics(int i) { return node(i).cluster().render_metrics(); }

  // Files in a node's tmp/: writes in progress and staged copies.
  static std::size_t temporaries(TestServer& server) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(server.dir() / "tmp")) ++n;
    return n;
  }

  std::filesystem::path root_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<MetaStore> lagging_view_;  // of store_, for a node whose library view lags
  std::vector<std::unique_ptr<TestServer>> nodes_;
  int replicas_ = 3;
  ReadMode read_mode_ = ReadMode::kRedirect;
  std::int64_t forget_dead_after_ms_ = 24LL * 3600 * 1000;
  int full_node_ = -1;  // this node's disk is "full": it keeps more free space than any disk has
};

TEST_F(ClusterTest, ClusterRouteListsEveryLiveMemberAndTheLeader) {
  start_nodes(3);
  // An admin's view: with the leader, load and disk.
  auto r = get(node(1), "/api/v1/cluster", login(node(0)));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = r.json().as_object();
  EXPECT_EQ(j.at("self").as_string(), "node1");
  EXPECT_EQ(j.at("leader").as_string(), "node0");
  EXPECT_EQ(j.at("replication_factor").as_int64(), 3);
  auto& members = j.at("members").as_array();
  ASSERT_EQ(members.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto& m = members[static_cast<std::size_t>(i)].as_object();
    EXPECT_EQ(m.at("id").as_string(), "node" + std::to_string(i));
    EXPECT_EQ(m.at("advertise").as_string(), "http://127.0.0.1:" + std::to_string(node(i).port()));
    EXPECT_EQ(m.at("leader").as_bool(), i == 0);
    EXPECT_TRUE(m.at("load").as_object().contains("active_streams"));
    EXPECT_TRUE(m.at("load").as_object().contains("connections"));
    EXPECT_TRUE(m.at("load").as_object().contains("bytes_per_second"));
    EXPECT_TRUE(m.at("disk_free_bytes").is_number());
  }
}

TEST_F(ClusterTest, UploadIsAcknowledgedWithACopyOnEveryNode) {
  start_nodes(3);
  auto token = login(node(0));
  auto wav = make_wav(440);
  auto r = upload(node(1), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.json().at("id").as_string());
  const auto sha = ContentHash::of(wav);
  EXPECT_EQ(holders_on_disk(sha), 3);
  wait_until_every_node_knows(id);
  auto song = get(node(2), "/api/v1/songs/" + id, token);
  ASSERT_EQ(song.status, 200) << song.body;
  auto replicas = song.json().at("replicas").as_array();
  ASSERT_EQ(replicas.size(), 3u);
  for (auto& rep : replicas) EXPECT_TRUE(rep.at("live").as_bool());
}

TEST_F(ClusterTest, WithFewerCopiesWantedTheOthersRedirectToAHolder) {
  start_nodes(3, /*replicas=*/2);
  auto token = login(node(0));
  auto wav = make_wav(523);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.json().at("id").as_string());
  const auto sha = ContentHash::of(wav);
  ASSERT_EQ(holders_on_disk(sha), 2);
  wait_until_every_node_knows(id);
  int lacking = 0;
  while (node(lacking).blobs().exists(sha)) ++lacking;

  auto redirect = get(node(lacking), "/api/v1/songs/" + id + "/stream?download=1", token);
  ASSERT_EQ(redirect.status, 307) << redirect.body;
  auto location = redirect.header("location");
  ASSERT_NE(location.find("signature="), std::string::npos) << location;
  ASSERT_NE(location.find("download=1"), std::string::npos) << location;
  // The signed URL works on the holder without any Authorization header.
  auto url = boost::urls::parse_uri(location);
  ASSERT_TRUE(url);
  const int holder = node_on_port(url->port());
  ASSERT_GE(holder, 0);
  ASSERT_NE(holder, lacking);
  auto followed = get(node(holder), std::string(url->encoded_resource()), "");
  ASSERT_EQ(followed.status, 200) << followed.body;
  EXPECT_EQ(followed.body, wav);

  // A transcode is redirected the same way, its query kept, and done there.
  auto transcode = get(node(lacking), "/api/v1/songs/" + id + "/stream?format=mp3&bitrate=64", token);
  ASSERT_EQ(transcode.status, 307) << transcode.body;
  const std::string transcode_location = transcode.header("location");  // the view below points into it
  auto to = boost::urls::parse_uri(transcode_location);
  ASSERT_TRUE(to);
  EXPECT_NE(std::string(to->encoded_query()).find("&format=mp3&bitrate=64"), std::string::npos);
  const int to_node = node_on_port(to->port());
  ASSERT_GE(to_node, 0);
  ASSERT_NE(to_node, lacking);
  auto transcoded = get(node(to_node), std::string(to->encoded_resource()), "");
  ASSERT_EQ(transcoded.status, 200) << transcoded.body;
  EXPECT_EQ(transcoded.header("content-type"), "audio/mpeg");
  EXPECT_EQ(transcoded.header("x-hifi-transcode"), "mp3 64 kbit/s");

  // A seek plan too: only a holder can make one.
  auto seek = get(node(lacking), "/api/v1/songs/" + id + "/stream?seek_frame=2000&seek_rate=48000", token);
  ASSERT_EQ(seek.status, 307) << seek.body;
  const std::string seek_location = seek.header("location");
  auto seek_to = boost::urls::parse_uri(seek_location);
  ASSERT_TRUE(seek_to);
  EXPECT_NE(std::string(seek_to->encoded_query()).find("&seek_frame=2000&seek_rate=48000"), std::string::npos);
  const int seek_node = node_on_port(seek_to->port());
  ASSERT_GE(seek_node, 0);
  ASSERT_NE(seek_node, lacking);
  auto planned = get(node(seek_node), std::string(seek_to->encoded_resource()), "");
  ASSERT_EQ(planned.status, 206) << planned.body;
  EXPECT_EQ(planned.header("content-type").rfind("multipart/byteranges; boundary=", 0), 0u);
}

TEST_F(ClusterTest, ARedirectedSignedUrlIsItsUsersAndEndsWithThemOnTheHolder) {
  start_nodes(3, /*replicas=*/2);
  const auto admin = login(node(0));
  json::object bob_body{{"username", "bob"}, {"password", "correct horse"}};
  ASSERT_EQ(node(1).request(V::post, "/api/v1/auth/register", json::serialize(bob_body)).status, 201);
  const std::string bob(node(1).request(V::post, "/api/v1/auth/login", json::serialize(bob_body)).json().at("token").as_string());
  const std::string bob_id(get(node(0), "/api/v1/me", bob).json().at("id").as_string());
  auto wav = make_wav(587);
  auto r = upload(node(0), admin, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.json().at("id").as_string());
  wait_until_every_node_knows(id);
  int lacking = 0;
  while (node(lacking).blobs().exists(ContentHash::of(wav))) ++lacking;

  // Bob's own signed URL, used on the node without the song: the 307 it
  // gets carries Bob's grant, which the holder checks.
  const std::string own(get(node(lacking), "/api/v1/songs/" + id + "/stream-url", bob).json().at("url").as_string());
  auto redirect = get(node(lacking), own, "");
  ASSERT_EQ(redirect.status, 307) << redirect.body;
  const std::string location = redirect.header("location");  // the view below points into it
  auto url = boost::urls::parse_uri(location);
  ASSERT_TRUE(url);
  EXPECT_NE(std::string(url->encoded_query()).find("user=" + bob_id), std::string::npos) << url->buffer();
  const int holder = node_on_port(url->port());
  ASSERT_GE(holder, 0);
  const std::string resource(url->encoded_resource());
  auto followed = get(node(holder), resource, "");
  ASSERT_EQ(followed.status, 200) << followed.body;
  EXPECT_EQ(followed.body, wav);

  // Bob is disabled through yet another node: every node refuses the URL.
  const int other = 3 - lacking - holder;
  ASSERT_EQ(node(other).request(V::patch, "/api/v1/users/" + bob_id, R"({"disabled":true})",
                                {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}})
                .status,
            200);
  // (Each node learns of it through its watch of the accounts, within moments.)
  HttpResult refused;
  EXPECT_TRUE(eventually([&] { return (refused = get(node(holder), resource, "")).status == 403; })) << refused.body;
  EXPECT_NE(refused.body.find("bad-signature"), std::string::npos) << refused.body;
  EXPECT_TRUE(eventually([&] { return get(node(lacking), own, "").status == 403; }));
}

TEST_F(ClusterTest, ARoomSocketOnOneNodeClosesWhenItsSessionEndsOnAnother) {
  start_nodes(2);
  const auto token = login(node(0));
  auto room = node(0).request(V::post, "/api/v1/rooms", R"({"name":"Kitchen"})",
                              {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}});
  ASSERT_EQ(room.status, 201) << room.body;
  const std::string room_id(room.json().at("id").as_string());
  ASSERT_TRUE(eventually([&] { return node(1).rooms().get(room_id).is_ok(); }));
  WsClient ws;
  ws.open(node(1).port(), "/api/v1/rooms/" + room_id + "/ws", token);
  ASSERT_TRUE(ws.read_type("snapshot").has_value()) << ws.error().message();

  ASSERT_EQ(node(0).request(V::post, "/api/v1/auth/logout", {}, {{"Authorization", "Bearer " + token}}).status, 204);
  // Node 1 hears of it through the store's watch and closes the socket.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ws.read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()))) {
  }
  EXPECT_EQ(ws.error(), boost::beast::websocket::error::closed) << ws.error().message();
  EXPECT_EQ(ws.close_reason().code, boost::beast::websocket::close_code::policy_error);
  EXPECT_EQ(std::string(ws.close_reason().reason.c_str()), "signed out");
}

TEST_F(ClusterTest, ProxyModeServesSongsHeldElsewhereWithRanges) {
  start_nodes(3, /*replicas=*/1, ReadMode::kProxy);
  auto token = login(node(0));
  auto wav = make_wav(587);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.json().at("id").as_string());
  ASSERT_FALSE(node(2).blobs().exists(ContentHash::of(wav)));
  wait_until_every_node_knows(id);
  auto whole = get(node(2), "/api/v1/songs/" + id + "/stream", token);
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.body, wav);
  EXPECT_EQ(whole.header("etag"), "\"" + to_hex(sha256(wav)) + "\"");
  auto part = get(node(2), "/api/v1/songs/" + id + "/stream", token, {{"Range", "bytes=100-199"}});
  ASSERT_EQ(part.status, 206) << part.body;
  EXPECT_EQ(part.body, wav.substr(100, 100));
  EXPECT_EQ(part.header("content-range"), "bytes 100-199/" + std::to_string(wav.size()));
  // A seek plan needs a copy here: the player reads with ranges instead.
  auto seek = get(node(2), "/api/v1/songs/" + id + "/stream?seek_frame=100&seek_rate=48000", token);
  EXPECT_EQ(seek.status, 409) << seek.body;
  EXPECT_EQ(seek.json().at("type").as_string(), "urn:hifi:problem:no-local-copy") << seek.body;
}

TEST_F(ClusterTest, NodeToNodeApiNeedsTheClusterSecret) {
  start_nodes(3);
  const std::string blob = "not really a song";
  const auto sha = ContentHash::of(blob);
  auto path = "/internal/v1/blobs/" + sha.hex();
  auto now = [] { return SystemClock::instance().now_ms() / 1000; };
  const cluster::PeerRequest put{"PUT", path, "node1", sha.hex()};
  auto unsigned_put = node(1).request(V::put, path, blob);
  EXPECT_EQ(unsigned_put.status, 403) << unsigned_put.body;
  cluster::PeerAuth wrong("node0", "another-secret-0123456789");
  auto forged = node(1).request(V::put, path, blob, {{cluster::kPeerHeader, wrong.header_value(put, now())}});
  EXPECT_EQ(forged.status, 403) << forged.body;
  cluster::PeerAuth right("node0", kSecret);
  auto elsewhere = right.header_value({"PUT", "/internal/v1/blobs/other", "node1", sha.hex()}, now());
  EXPECT_EQ(node(1).request(V::put, path, blob, {{cluster::kPeerHeader, elsewhere}}).status, 403);
  // Signed for node 2, sent to node 1.
  auto for_node2 = right.header_value({"PUT", path, "node2", sha.hex()}, now());
  auto misdirected = node(1).request(V::put, path, blob, {{cluster::kPeerHeader, for_node2}});
  EXPECT_EQ(misdirected.status, 403) << misdirected.body;
  EXPECT_NE(misdirected.body.find("signed for another node"), std::string::npos) << misdirected.body;
  EXPECT_FALSE(node(1).blobs().exists(sha));

  auto corrupt = node(1).request(V::put, path, blob + "x", {{cluster::kPeerHeader, right.header_value(put, now())}});
  EXPECT_EQ(corrupt.status, 400) << corrupt.body;
  EXPECT_FALSE(node(1).blobs().exists(sha));
  const auto header = right.header_value(put, now());
  auto good = node(1).request(V::put, path, blob, {{cluster::kPeerHeader, header}});
  EXPECT_EQ(good.status, 201) << good.body;
  EXPECT_TRUE(node(1).blobs().exists(sha));
  // The same request again, header and all, is a replay.
  auto replayed = node(1).request(V::put, path, blob, {{cluster::kPeerHeader, header}});
  EXPECT_EQ(replayed.status, 403) << replayed.body;
  EXPECT_NE(replayed.body.find("replay"), std::string::npos) << replayed.body;

  // A JSON body other than the one signed: the push is refused before it
  // names a target.
  const auto push_path = path + "/push";
  const std::string signed_body = R"({"target":"node2"})";
  auto push_header =
      right.header_value({"POST", push_path, "node1", to_hex(sha256(signed_body))}, now());
  auto swapped = node(1).request(V::post, push_path, R"({"target":"node0"})", {{cluster::kPeerHeader, push_header}});
  EXPECT_EQ(swapped.status, 400) << swapped.body;
  EXPECT_NE(swapped.body.find("digest"), std::string::npos) << swapped.body;
  EXPECT_FALSE(node(2).blobs().exists(sha));
  auto pushed = node(1).request(V::post, push_path, signed_body,
                                {{cluster::kPeerHeader, right.header_value({"POST", push_path, "node1",
                                                                             to_hex(sha256(signed_body))}, now())}});
  EXPECT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_TRUE(node(2).blobs().exists(sha));
}

// The others' copies are made while the bytes arrive: each node the upload
// streams to stages a fsynced copy, and the receiving node commits them
// once it published its own; no copy is sent again after the commit.
TEST_F(ClusterTest, AnUploadIsStreamedToTheOtherNodesWhileItArrives) {
  start_nodes(3);
  ASSERT_EQ(node(0).cluster().membership().members().size(), 3u) << "node 0 does not see the others yet";
  auto token = login(node(0));
  auto wav = make_wav(466);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto sha = ContentHash::of(wav);
  const std::set<std::string> all{"node0", "node1", "node2"};
  EXPECT_EQ(nodes_holding(sha), all);
  EXPECT_EQ(recorded_holders(sha), all);
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_streamed_copies_total{result=\"ok\"} 2\n"));
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_pushes_total 0\n"));

  // A form upload streams only the file part's bytes; with a Repr-Digest
  // each node checks them against it as they come.
  auto song = make_wav(467, 2.0);
  const std::string boundary = "----hifi-boundary-7";
  const std::string form = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.wav\"\r\n"
                           "Content-Type: audio/wav\r\n\r\n" + song + "\r\n--" + boundary + "--\r\n";
  auto f = node(0).request(V::post, "/api/v1/songs", form,
                           {{"Authorization", "Bearer " + token},
                            {"Content-Type", "multipart/form-data; boundary=" + boundary},
                            {"Repr-Digest", format_sha256_digest_header(sha256(song))}});
  ASSERT_EQ(f.status, 201) << f.body;
  EXPECT_EQ(nodes_holding(ContentHash::of(song)), all);
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_streamed_copies_total{result=\"ok\"} 4\n"));
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_pushes_total 0\n"));
  for (int i = 1; i <= 2; ++i) {
    EXPECT_EQ(node(i).cluster().staged_copies().size(), 0u);
    EXPECT_EQ(temporaries(node(i)), 0u);
  }
}

// Bytes that are not published leave nothing on the nodes they were
// streamed to: not audio (refused after the body), a body that does not
// match its Repr-Digest (each node checks it too), a song the library has.
TEST_F(ClusterTest, StreamedCopiesOfAnUploadThatIsNotPublishedGo) {
  start_nodes(3);
  ASSERT_EQ(node(0).cluster().membership().members().size(), 3u) << "node 0 does not see the others yet";
  auto token = login(node(0));
  const std::string noise(300 * 1024, '\x7f');
  auto r = upload(node(0), token, noise);
  EXPECT_EQ(r.status, 415) << r.body;
  auto wav = make_wav(470);
  auto lied = node(0).request(V::post, "/api/v1/songs", wav,
                              {{"Authorization", "Bearer " + token}, {"Content-Type", "audio/wav"},
                               {"Repr-Digest", format_sha256_digest_header(sha256("other bytes"))}});
  EXPECT_EQ(lied.status, 400) << lied.body;
  ASSERT_EQ(upload(node(0), token, wav).status, 201);
  auto again = upload(node(0), token, wav);
  EXPECT_EQ(again.status, 200) << again.body;
  for (int i = 1; i <= 2; ++i) {
    EXPECT_TRUE(eventually([&] { return node(i).cluster().staged_copies().size() == 0; }))
        << "node " << i << " still holds " << node(i).cluster().staged_copies().size() << " staged copies";
    EXPECT_TRUE(eventually([&] { return temporaries(node(i)) == 0; })) << "node " << i;
    EXPECT_FALSE(node(i).blobs().exists(ContentHash::of(noise)));
  }
  EXPECT_EQ(nodes_holding(ContentHash::of(wav)).size(), 3u);
}

// The node-to-node side of streaming: a staged copy is committed only with
// the digest it hashes to, only by the node that sent it, and once; one
// that was lost (its node restarted) is sent again whole.
TEST_F(ClusterTest, AStagedCopyIsCommittedOnlyWithItsDigestAndALostOneIsSentAgain) {
  start_nodes(2, /*replicas=*/2);
  cluster::PeerAuth node0("node0", kSecret);
  cluster::PeerAuth node2("node2", kSecret);
  auto now = [] { return SystemClock::instance().now_ms() / 1000; };
  auto signed_request = [&](const cluster::PeerAuth& from, V verb, const std::string& path, const std::string& body,
                            const std::string& body_sha) {
    return node(1).request(verb, path, body,
                           {{cluster::kPeerHeader,
                             from.header_value({std::string(http::to_string(verb)), path, "node1", body_sha}, now())}});
  };
  auto stage = [&](const std::string& id, const std::string& bytes) {
    return signed_request(node0, V::put, "/internal/v1/uploads/" + id, bytes, cluster::kStreamedBodySha256);
  };
  auto commit = [&](const cluster::PeerAuth& from, const std::string& id, const ContentHash& sha) {
    const std::string body = R"({"sha256":")" + sha.hex() + R"("})";
    return signed_request(from, V::post, "/internal/v1/uploads/" + id + "/commit", body, to_hex(sha256(body)));
  };
  const std::string bytes = make_wav(471);
  const auto sha = ContentHash::of(bytes);
  const std::string id1(32, '1'), id2(32, '2'), id3(32, '3'), id4(32, '4');

  EXPECT_EQ(stage("not-an-id", bytes).status, 400);
  auto staged = stage(id1, bytes);
  ASSERT_EQ(staged.status, 200) << staged.body;
  EXPECT_EQ(staged.json().at("sha256").as_string(), sha.hex());
  EXPECT_EQ(staged.json().at("size").as_int64(), static_cast<std::int64_t>(bytes.size()));
  EXPECT_FALSE(node(1).blobs().exists(sha));                   // staged, not stored
  EXPECT_EQ(commit(node2, id1, sha).status, 404);              // not node 2's upload
  EXPECT_EQ(commit(node0, id1, ContentHash::of("x")).status, 409);  // other bytes: dropped
  EXPECT_EQ(commit(node0, id1, sha).status, 404);
  EXPECT_FALSE(node(1).blobs().exists(sha));
  ASSERT_EQ(stage(id2, bytes).status, 200);
  auto committed = commit(node0, id2, sha);
  EXPECT_EQ(committed.status, 201) << committed.body;
  EXPECT_TRUE(node(1).blobs().exists(sha));
  EXPECT_EQ(recorded_holders(sha), std::set<std::string>{"node1"});
  // An abort that overtakes its copy: the copy is refused when it comes.
  auto aborted = signed_request(node0, V::delete_, "/internal/v1/uploads/" + id3, "", cluster::kEmptyBodySha256);
  EXPECT_EQ(aborted.status, 200) << aborted.body;
  EXPECT_FALSE(aborted.json().at("dropped").as_bool());
  EXPECT_EQ(stage(id3, bytes).status, 409);
  EXPECT_EQ(temporaries(node(1)), 0u);

  // Node 0 took an upload whose copy node 1 staged, but node 1 restarted
  // meanwhile (or let it expire): the commit finds nothing, and node 0
  // sends the blob whole.
  const std::string other = make_wav(472);
  const auto other_sha = ContentHash::of(other);
  ASSERT_EQ(stage(id4, other).status, 200);
  EXPECT_EQ(temporaries(node(1)), 1u);
  nodes_[1].reset();
  restart_node(1);
  EXPECT_EQ(node(1).cluster().staged_copies().size(), 0u);
  EXPECT_EQ(temporaries(node(1)), 0u);
  ASSERT_TRUE(node(0).blobs().put(other));
  auto replicated = node(0).cluster().replicator().replicate(other_sha, [&] {
    return std::vector<StagedCopy>{{"node1", id4, other_sha, other.size()}};
  });
  EXPECT_TRUE(replicated) << replicated.to_string();
  EXPECT_TRUE(node(1).blobs().exists(other_sha));
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_streamed_copies_total{result=\"failed\"} 1\n"));
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_pushes_total 1\n"));
  EXPECT_EQ(temporaries(node(1)), 0u);
}

// Placement reads the members as they are at the upload, not as this node
// last polled them: an upload right after two nodes joined (before the
// first node's next membership refresh) gets a copy on each of them.
TEST_F(ClusterTest, AnUploadRightAfterNodesJoinedIsCopiedToThem) {
  start_nodes(1);
  auto token = login(node(0));
  for (int i = 1; i <= 2; ++i) {
    nodes_.push_back(std::make_unique<TestServer>(root_ / ("node" + std::to_string(i)), *store_, config_for(i)));
  }
  // Node 0 refreshes its view every second at most; mostly it has not yet.
  if (node(0).cluster().membership().members().size() != 1) std::cerr << "note: node 0's view refreshed already\n";
  auto wav = make_wav(432);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto sha = ContentHash::of(wav);
  EXPECT_EQ(holders_on_disk(sha), 3);
}

// The repair leader may ask a holder to copy a blob to a node that joined
// after the holder last renewed its member view: the holder finds it.
TEST_F(ClusterTest, AHolderPushesToANodeThatJoinedAfterItsLastRenewal) {
  start_nodes(2);
  auto token = login(node(0));
  auto wav = make_wav(876);
  ASSERT_EQ(upload(node(0), token, wav).status, 201);
  const auto sha = ContentHash::of(wav);
  nodes_.push_back(std::make_unique<TestServer>(root_ / "node2", *store_, config_for(2)));
  const std::string path = "/internal/v1/blobs/" + sha.hex() + "/push";
  const std::string body = R"({"target":"node2"})";
  cluster::PeerAuth leader("node0", kSecret);
  auto header = leader.header_value({"POST", path, "node1", to_hex(sha256(body))},
                                    SystemClock::instance().now_ms() / 1000);
  auto pushed = node(1).request(V::post, path, body, {{cluster::kPeerHeader, header}});
  EXPECT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_TRUE(node(2).blobs().exists(sha));
}

// A node whose disk cannot take a copy answers 507 before reading it, and
// does not count among the nodes that can hold one: an upload through
// another node is acknowledged with the copies the others could make, and
// one through the full node is refused with 507.
TEST_F(ClusterTest, ANodeWithAFullDiskIsPassedOverByUploads) {
  full_node_ = 2;
  start_nodes(3);
  auto token = login(node(0));
  auto wav = make_wav(523);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto sha = ContentHash::of(wav);
  EXPECT_TRUE(node(0).blobs().exists(sha));
  EXPECT_TRUE(node(1).blobs().exists(sha));
  EXPECT_FALSE(node(2).blobs().exists(sha));
  auto direct = upload(node(2), token, make_wav(524));
  EXPECT_EQ(direct.status, 507) << direct.body;
  EXPECT_NE(direct.body.find("insufficient-storage"), std::string::npos) << direct.body;
}

TEST_F(ClusterTest, RepairRestoresALostCopyAndScrubReplacesACorruptOne) {
  start_nodes(3);
  auto token = login(node(0));
  auto wav = make_wav(659);
  ASSERT_EQ(upload(node(0), token, wav).status, 201);
  const auto sha = ContentHash::of(wav);
  ASSERT_EQ(holders_on_disk(sha), 3);
  wait_until_every_node_knows(sha.hex().substr(0, 32));

  // A copy lost from disk: the node's index pass notices, the leader repairs.
  std::filesystem::remove(node(1).blobs().path_for(sha));
  node(1).cluster().maintenance().index_pass();
  auto report = node(0).cluster().maintenance().repair_pass();
  EXPECT_EQ(report.under_replicated, 1);
  EXPECT_EQ(report.copies_made, 1);
  EXPECT_TRUE(node(1).blobs().exists(sha));

  // A corrupt copy: the scrub quarantines it, the leader replaces it.
  {
    std::fstream f(node(2).blobs().path_for(sha), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  node(2).cluster().maintenance().scrub_pass();
  EXPECT_FALSE(node(2).blobs().exists(sha));
  EXPECT_EQ(node(2).cluster().maintenance().counters().scrubbed_corrupt.load(), 1u);
  EXPECT_FALSE(std::filesystem::is_empty(node(2).dir() / "quarantine"));
  report = node(0).cluster().maintenance().repair_pass();
  EXPECT_EQ(report.copies_made, 1);
  ASSERT_TRUE(node(2).blobs().exists(sha));
  auto copy = get(node(2), "/api/v1/songs/" + sha.hex().substr(0, 32) + "/stream", token);
  EXPECT_EQ(copy.body, wav);

  // Only the leader repairs.
  std::filesystem::remove(node(1).blobs().path_for(sha));
  node(1).cluster().maintenance().index_pass();
  EXPECT_EQ(node(1).cluster().maintenance().repair_pass().checked, 0);
  EXPECT_FALSE(node(1).blobs().exists(sha));
}

// R = 2 on three nodes. A holder goes away and repair copies its blob to the
// third node; back with its copy, the blob has three live copies where two
// are wanted. The leader's repair asks the copy ranked last to go (here the
// leader's own); a blob no song references is left to garbage collection,
// and a node that does not lead trims nothing.
TEST_F(ClusterTest, CopiesAboveTheReplicaCountAreTrimmedOnceANodeComesBack) {
  start_nodes(3, /*replicas=*/2);
  auto token = login(node(0));
  const auto wav = wav_ranking_last("node0", 800);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.json().at("id").as_string());
  const auto sha = ContentHash::of(wav);
  wait_until_every_node_knows(id);
  ASSERT_EQ(holders_on_disk(sha), 2);
  const int away = node(1).blobs().exists(sha) ? 1 : 2;
  nodes_[static_cast<std::size_t>(away)].reset();
  renew_all();
  ASSERT_EQ(node(0).cluster().maintenance().repair_pass().copies_made, 1);
  ASSERT_EQ(holders_on_disk(sha), 2);
  restart_node(away);
  ASSERT_EQ(holders_on_disk(sha), 3);
  ASSERT_EQ(recorded_holders(sha).size(), 3u);
  const std::string stray_bytes = "bytes no song refers to";
  const auto stray = ContentHash::of(stray_bytes);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(node(i).blobs().put(stray_bytes));
    ASSERT_TRUE(node(i).cluster().replicator().note_local_copy(stray));
  }

  EXPECT_EQ(node(1).cluster().maintenance().repair_pass().checked, 0);
  EXPECT_EQ(holders_on_disk(sha), 3);

  node(0).cluster().maintenance().repair_pass();
  const auto kept = ranked_first(sha, 2);
  ASSERT_FALSE(kept.count("node0"));
  EXPECT_EQ(nodes_holding(sha), kept);
  EXPECT_EQ(recorded_holders(sha), kept);
  EXPECT_EQ(holders_on_disk(stray), 3);
  EXPECT_EQ(recorded_holders(stray).size(), 3u);
  EXPECT_THAT(metrics(0), HasSubstr("hifi_repair_trims_total{result=\"ok\"} 1\n"));

  // Nothing is left to trim, and the song plays: from the holders, and by a
  // redirect to one of them through the node that dropped its copy.
  node(0).cluster().maintenance().repair_pass();
  EXPECT_EQ(nodes_holding(sha), kept);
  EXPECT_THAT(metrics(0), HasSubstr("hifi_repair_trims_total{result=\"ok\"} 1\n"));
  for (int i = 0; i < 3; ++i) {
    auto stream = get(node(i), "/api/v1/songs/" + id + "/stream", token);
    if (kept.count("node" + std::to_string(i))) {
      EXPECT_EQ(stream.status, 200) << "node " << i;
      EXPECT_TRUE(stream.body == wav) << "node " << i;
    } else {
      EXPECT_EQ(stream.status, 307) << "node " << i << ": " << stream.body;
    }
  }
}

// A node gone for longer than forget_dead_after (1 s here) loses its replica
// records at the leader's next repair; within that period they stay. Back
// with its copy, its index pass records it again and the leader's repair
// trims the copy now above R (here another node's).
TEST_F(ClusterTest, RecordsOfANodeGoneTooLongAreDroppedAndComeBackWithIt) {
  forget_dead_after_ms_ = 1000;
  start_nodes(3, /*replicas=*/2);
  auto token = login(node(0));
  const auto wav = wav_ranking_last("", 900);  // node 0 is not ranked last
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto sha = ContentHash::of(wav);
  wait_until_every_node_knows(std::string(r.json().at("id").as_string()));
  const int away = node(1).blobs().exists(sha) ? 1 : 2;
  const std::string away_id = "node" + std::to_string(away);
  nodes_[static_cast<std::size_t>(away)].reset();
  renew_all();
  const auto gone_at = std::chrono::steady_clock::now();
  auto& leader = node(0).cluster().maintenance();
  ASSERT_EQ(leader.repair_pass().copies_made, 1);
  leader.repair_pass();
  if (std::chrono::steady_clock::now() - gone_at < std::chrono::milliseconds(1000)) {
    EXPECT_TRUE(recorded_holders(sha).count(away_id)) << "dropped within forget_dead_after";
  }
  // Once forget_dead_after (1 s, on the steady clock) has passed, a pass drops them.
  EXPECT_TRUE(testing::eventually([&] {
    leader.repair_pass();
    return recorded_holders(sha).count(away_id) == 0;
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - gone_at, std::chrono::milliseconds(1000));
  EXPECT_EQ(recorded_holders(sha), nodes_holding(sha));
  EXPECT_EQ(recorded_holders(sha).size(), 2u);
  EXPECT_THAT(metrics(0), HasSubstr("hifi_replica_records_forgotten_total 1\n"));

  restart_node(away);
  leader.repair_pass();  // its copy is not recorded: two live copies, nothing to do
  EXPECT_EQ(holders_on_disk(sha), 3);
  node(away).cluster().maintenance().index_pass();
  EXPECT_EQ(recorded_holders(sha).size(), 3u);
  leader.repair_pass();
  const auto kept = ranked_first(sha, 2);
  ASSERT_TRUE(kept.count("node0"));
  EXPECT_EQ(nodes_holding(sha), kept);
  EXPECT_EQ(recorded_holders(sha), kept);
  EXPECT_THAT(metrics(0), HasSubstr("hifi_repair_trims_total{result=\"ok\"} 1\n"));
}

// POST /internal/v1/blobs/{sha256}/drop: the holder decides for itself. It
// drops its copy (record first, then the file) only while at least R other
// live members hold a recorded copy; a record of a node that is not live
// does not count.
TEST_F(ClusterTest, AHolderDropsItsCopyOnlyWhileEnoughOtherLiveNodesHoldOne) {
  start_nodes(3, /*replicas=*/2);
  auto token = login(node(0));
  const auto wav = make_wav(988);
  ASSERT_EQ(upload(node(0), token, wav).status, 201);
  const auto sha = ContentHash::of(wav);
  const int holder = node(1).blobs().exists(sha) ? 1 : 2;
  const int other = 3 - holder;
  const std::string holder_id = "node" + std::to_string(holder), other_id = "node" + std::to_string(other);
  const std::string path = "/internal/v1/blobs/" + sha.hex() + "/drop";
  cluster::PeerAuth leader("node0", kSecret);
  auto drop = [&](int i) {
    auto now = SystemClock::instance().now_ms() / 1000;
    return node(i).request(
        V::post, path, {},
        {{cluster::kPeerHeader, leader.header_value({"POST", path, "node" + std::to_string(i)}, now)}});
  };
  EXPECT_EQ(node(holder).request(V::post, path).status, 403);

  // One other live copy (and a dead node's record) where two are wanted.
  ASSERT_TRUE(store_->put(cluster::replica_key(sha, "node9"), R"({"size":1,"at":0})"));
  auto refused = drop(holder);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_TRUE(node(holder).blobs().exists(sha));
  EXPECT_EQ(recorded_holders(sha), (std::set<std::string>{"node0", holder_id, "node9"}));
  ASSERT_TRUE(store_->del(cluster::replica_key(sha, "node9")));
  EXPECT_EQ(drop(other).status, 404);  // nothing to drop

  ASSERT_TRUE(node(0).cluster().replicator().push_to(sha, other_id));
  auto dropped = drop(holder);
  EXPECT_EQ(dropped.status, 200) << dropped.body;
  EXPECT_FALSE(node(holder).blobs().exists(sha));
  EXPECT_EQ(recorded_holders(sha), (std::set<std::string>{"node0", other_id}));
  EXPECT_EQ(drop(0).status, 409);
  EXPECT_EQ(drop(other).status, 409);
  EXPECT_EQ(holders_on_disk(sha), 2);
}

// An upload is acknowledged once its song is in the store; another node's
// catalog view follows a moment later. A song id used through that other
// node at once (added to a room, its page or stream opened from a shared
// link) is read from the store rather than refused as unknown.
TEST_F(ClusterTest, ASongUploadedThroughOneNodeIsUsableAtOnceThroughALaggingNode) {
  start_nodes(1);
  lagging_view_ = std::make_unique<SongsWatchWithheld>(*store_);
  nodes_.push_back(std::make_unique<TestServer>(root_ / "node1", *lagging_view_, config_for(1)));
  renew_all();
  auto token = login(node(0));
  auto wav = make_wav(740);
  auto r = upload(node(0), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.json().at("id").as_string());
  ASSERT_EQ(node(1).catalog().get(id).status().code(), Code::kNotFound) << "node 1's view is not lagging";

  const std::map<std::string, std::string> auth{{"Authorization", "Bearer " + token}};
  auto room = node(1).request(V::post, "/api/v1/rooms", R"({"name":"fresh"})", auth);
  ASSERT_EQ(room.status, 201) << room.body;
  const std::string room_id(room.json().at("id").as_string());
  auto add = node(1).request(V::post, "/api/v1/rooms/" + room_id + "/commands",
                             json::serialize(json::object{{"type", "add"}, {"song_ids", json::array{json::value(id)}}}),
                             auth);
  EXPECT_EQ(add.status, 200) << add.body;
  auto song = get(node(1), "/api/v1/songs/" + id, token);
  EXPECT_EQ(song.status, 200) << song.body;
  auto stream = get(node(1), "/api/v1/songs/" + id + "/stream", token);
  EXPECT_EQ(stream.status, 200) << stream.body.substr(0, 300);
  EXPECT_TRUE(stream.body == wav) << "node 1 streamed " << stream.body.size() << " bytes";
  EXPECT_EQ(get(node(1), "/api/v1/songs/0123456789abcdef0123456789abcdef", token).status, 404);
}

TEST_F(ClusterTest, ANodeThatLeavesIsDroppedAndUploadsUseTheOthers) {
  start_nodes(3);
  auto token = login(node(0));
  nodes_[2].reset();  // stops cleanly: its lease is revoked
  renew_all();
  auto members = get(node(0), "/api/v1/cluster", token).json().at("members").as_array();
  EXPECT_EQ(members.size(), 2u);
  auto wav = make_wav(698);
  auto r = upload(node(1), token, wav);
  ASSERT_EQ(r.status, 201) << r.body;
  wait_until_every_node_knows(std::string(r.json().at("id").as_string()));
  auto replicas = get(node(0), "/api/v1/songs/" + std::string(r.json().at("id").as_string()), token)
                      .json().at("replicas").as_array();
  EXPECT_EQ(replicas.size(), 2u);
}

TEST_F(ClusterTest, GarbageCollectionRemovesOnlyOldUnreferencedBlobs) {
  start_nodes(1);
  auto token = login(node(0));
  auto wav = make_wav(740);
  ASSERT_EQ(upload(node(0), token, wav).status, 201);
  auto stray = node(0).blobs().put("bytes no song refers to");
  ASSERT_TRUE(stray);
  // Recent: spared (an upload may be about to publish it).
  node(0).cluster().maintenance().index_pass();
  EXPECT_TRUE(node(0).blobs().exists(stray->sha256));
  // Old: removed. The song's own blob stays however old it is.
  auto old = std::filesystem::file_time_type::clock::now() - std::chrono::hours(2);
  std::filesystem::last_write_time(node(0).blobs().path_for(stray->sha256), old);
  std::filesystem::last_write_time(node(0).blobs().path_for(ContentHash::of(wav)), old);
  node(0).cluster().maintenance().index_pass();
  EXPECT_FALSE(node(0).blobs().exists(stray->sha256));
  EXPECT_TRUE(node(0).blobs().exists(ContentHash::of(wav)));
  EXPECT_EQ(node(0).cluster().maintenance().counters().gc_removed.load(), 1u);
}

}  // namespace
}  // namespace hifi::testing
