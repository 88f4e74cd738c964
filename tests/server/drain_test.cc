// Draining a node (Node::drain and POST /api/v1/cluster/members/{id}/drain)
// on three in-process nodes sharing one store: a node holding the only copy
// of songs (R=1) hands them over before it leaves; while it drains, new
// requests get 503 "draining" naming another member, health and the
// cluster view say "draining", its room listeners are told where to move,
// an upload in flight finishes and its song is handed over too; a copy
// another node drops while it is handed over is handed over again, and no
// holder drops a copy against a draining node's; the API refuses
// non-admins, unknown nodes and the last node in service.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <thread>

#include "server/test_server.h"
#include "server/ws_client.h"
#include "store/sqlite/sqlite_meta_store.h"
#include "support/forwarding_meta_store.h"

namespace hifi::testing {
namespace {

namespace json = boost::json;
using V = http::verb;
using namespace std::chrono_literals;
constexpr const char* kSecret = "drain-test-secret-0123456789";

// Node 2's view of the shared store, which runs `before_release` (when set)
// before each transaction that deletes one of node 2's replica records:
// the moment between a hand-over's push and the end of its copy here.
class ReleaseWatcher final : public ForwardingMetaStore {
 public:
  using ForwardingMetaStore::ForwardingMetaStore;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& ops) override {
    for (const auto& op : ops) {
      const bool releases = op.kind == Op::Kind::kDelete && op.key.rfind("replicas/", 0) == 0 &&
                            op.key.size() > 6 && op.key.substr(op.key.size() - 6) == "/node2";
      if (releases && before_release) before_release(op.key);
    }
    return inner_.txn(compares, ops);
  }
  std::function<void(const std::string& record)> before_release;
};

class DrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fresh_dir("drain");
    auto store = open_sqlite_meta_store((root_ / "shared-meta.db").string());
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
  }
  void TearDown() override {
    nodes_.clear();
    node2_store_.reset();
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  void start_nodes(int n, int replicas) {
    for (int i = 0; i < n; ++i) {
      ServerConfig config;
      config.cluster_secret = kSecret;
      config.replicas = replicas;
      config.node_id = "node" + std::to_string(i);
      config.repair_interval_ms = 3600 * 1000;  // no maintenance pass on its own
      config.max_upload_bytes = 1 << 20;
      MetaStore& store = i == 2 && node2_store_ ? *node2_store_ : *store_;
      nodes_.push_back(std::make_unique<TestServer>(root_ / config.node_id, store, config));
    }
    renew_all();
  }
  void renew_all() {
    for (auto& n : nodes_) n->cluster().membership().renew_now();
  }
  TestServer& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }
  std::string url(int i) { return "http://127.0.0.1:" + std::to_string(node(i).port()); }

  std::string login(TestServer& server, const std::string& name = "alice") {
    json::object body{{"username", name}, {"password", "correct horse"}};
    server.request(V::post, "/api/v1/auth/register", json::serialize(body));
    auto l = server.request(V::post, "/api/v1/auth/login", json::serialize(body));
    EXPECT_EQ(l.status, 200) << l.body;
    return std::string(l.json().at("token").as_string());
  }
  HttpResult upload(TestServer& server, const std::string& token, const std::string& bytes) {
    return server.request(V::post, "/api/v1/songs", bytes,
                          {{"Authorization", "Bearer " + token}, {"Content-Type", "audio/wav"}});
  }
  static ContentHash sha_of(const HttpResult& upload) {
    return *ContentHash::parse(std::string(upload.json().at("sha256").as_string()));
  }
  // Node i's replica records.
  std::size_t records_of(int i) {
    auto range = store_->range("replicas/");
    EXPECT_TRUE(range);
    std::size_t n = 0;
    for (const auto& kv : range->kvs) {
      if (kv.key.size() > 6 && kv.key.substr(kv.key.rfind('/') + 1) == "node" + std::to_string(i)) ++n;
    }
    return n;
  }
  // The replica records of one blob.
  std::size_t records_of_blob(const ContentHash& sha) {
    auto range = store_->range("replicas/" + sha.hex() + "/");
    EXPECT_TRUE(range);
    return range ? range->kvs.size() : 0;
  }
  std::string health_in_view(int viewer, int i, const std::string& token) {
    const auto doc = node(viewer).request(V::get, "/api/v1/cluster", {}, {{"Authorization", "Bearer " + token}}).json();
    for (const auto& m : doc.at("members").as_array()) {
      if (m.at("id").as_string() == "node" + std::to_string(i)) return std::string(m.at("health").as_string());
    }
    return "";
  }

  std::filesystem::path root_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<ReleaseWatcher> node2_store_;  // set before start_nodes to watch node 2
  std::vector<std::unique_ptr<TestServer>> nodes_;
};

TEST_F(DrainTest, ANodeHoldingTheOnlyCopiesHandsThemOverBeforeItLeaves) {
  start_nodes(3, /*replicas=*/1);
  const auto token = login(node(0));
  std::vector<std::pair<ContentHash, std::string>> songs;
  for (int k = 0; k < 4; ++k) {
    const auto wav = make_wav(300 + 50 * k);
    auto r = upload(node(2), token, wav);
    ASSERT_EQ(r.status, 201) << r.body;
    songs.emplace_back(sha_of(r), std::string(r.json().at("id").as_string()));
    ASSERT_TRUE(node(2).blobs().exists(songs.back().first));
    ASSERT_FALSE(node(0).blobs().exists(songs.back().first)) << "R=1: the only copy is on node 2";
  }
  ASSERT_EQ(records_of(2), 4u);

  ASSERT_TRUE(node(2).node().drain(10s).is_ok());
  EXPECT_EQ(records_of(2), 0u) << "a drained node's records are gone";
  for (const auto& [sha, id] : songs) {
    EXPECT_TRUE(node(0).blobs().exists(sha) || node(1).blobs().exists(sha)) << sha.hex();
  }
  // Gone for good: stop it, delete its data directory; every song still plays.
  nodes_[2]->stop();
  std::filesystem::remove_all(root_ / "node2");
  for (int i : {0, 1}) node(i).cluster().membership().renew_now();
  for (const auto& [sha, id] : songs) {
    auto r = node(0).request(V::get, "/api/v1/songs/" + id + "/stream", {}, {{"Authorization", "Bearer " + token}});
    if (r.status == 307) {
      // Held by node 1: follow the redirect there.
      const auto location = r.header("location");
      r = node(1).request(V::get, location.substr(location.find("/api/")));
    }
    EXPECT_EQ(r.status, 200) << id;
    EXPECT_EQ(to_hex(sha256(r.body)), sha.hex());
  }
}

// The repair leader, its view of node 2 still "ok" for up to a renewal, can
// see a handed-over copy plus node 2's as one too many and trim the other
// one. Here that happens to every blob, right before node 2 lets go of it.
TEST_F(DrainTest, ACopyDroppedWhileItIsHandedOverIsHandedOverAgain) {
  node2_store_ = std::make_unique<ReleaseWatcher>(*store_);
  start_nodes(3, /*replicas=*/1);
  const auto token = login(node(0));
  std::vector<std::pair<ContentHash, std::string>> songs;
  for (int k = 0; k < 3; ++k) {
    auto r = upload(node(2), token, make_wav(310 + 40 * k));
    ASSERT_EQ(r.status, 201) << r.body;
    songs.emplace_back(sha_of(r), std::string(r.json().at("id").as_string()));
  }
  std::atomic<int> dropped{0};
  node2_store_->before_release = [&](const std::string& record) {
    if (dropped >= static_cast<int>(songs.size())) return;  // once per blob: then the drain can end
    const auto prefix = record.substr(0, record.rfind('/') + 1);
    auto range = store_->range(prefix);
    ASSERT_TRUE(range);
    for (const auto& kv : range->kvs) {
      const auto holder = kv.key.substr(prefix.size());
      if (holder == "node2") continue;
      // What the holder does when the leader asks it to drop its copy: the
      // record, then the file.
      auto sha = *ContentHash::parse(prefix.substr(std::string("replicas/").size(), 64));
      ASSERT_TRUE(store_->del(kv.key));
      auto& holder_node = node(holder == "node0" ? 0 : 1);
      EXPECT_TRUE(holder_node.blobs().remove(sha).is_ok());
      ++dropped;
    }
  };

  ASSERT_TRUE(node(2).node().drain(20s).is_ok());
  EXPECT_EQ(dropped.load(), static_cast<int>(songs.size())) << "every first copy was dropped";
  EXPECT_EQ(records_of(2), 0u);
  for (const auto& [sha, id] : songs) {
    EXPECT_TRUE(node(0).blobs().exists(sha) || node(1).blobs().exists(sha)) << sha.hex();
    EXPECT_EQ(records_of_blob(sha), 1u) << sha.hex();
  }
}

TEST_F(DrainTest, NoHolderDropsACopyAgainstADrainingNodesCopy) {
  start_nodes(3, /*replicas=*/1);
  const auto token = login(node(0));
  auto r = upload(node(2), token, make_wav(420));
  ASSERT_EQ(r.status, 201) << r.body;
  const auto sha = sha_of(r);
  // A second copy, on node 0, then node 2 starts draining: node 0's copy is
  // the one that stays, so node 0 must not drop it.
  ASSERT_TRUE(node(2).cluster().replicator().push_to(sha, "node0").is_ok());
  ASSERT_EQ(records_of_blob(sha), 2u);
  node(2).cluster().membership().start_draining();
  renew_all();
  auto s = node(0).cluster().replicator().drop_local_copy(sha);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_TRUE(node(0).blobs().exists(sha));
  EXPECT_EQ(records_of_blob(sha), 2u);
}

TEST_F(DrainTest, WhileDrainingNewWorkGoesElsewhereAndWorkInFlightFinishes) {
  start_nodes(3, /*replicas=*/3);
  const auto token = login(node(0));
  json::object room_body{{"name", "party"}};
  auto room = node(2).request(V::post, "/api/v1/rooms", json::serialize(room_body), {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(room.status, 201) << room.body;
  const std::string room_id(room.json().at("id").as_string());
  WsClient listener;
  listener.open(node(2).port(), "/api/v1/rooms/" + room_id + "/ws", token);
  ASSERT_TRUE(listener.read_type("snapshot"));

  // An upload in flight: its header and half its body are sent.
  const auto wav = make_wav(440, 1.0);
  boost::asio::io_context ioc;
  beast::tcp_stream slow(ioc);
  slow.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), node(2).port()));
  const std::string head = "POST /api/v1/songs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                           "\r\nContent-Type: audio/wav\r\nContent-Length: " + std::to_string(wav.size()) + "\r\n\r\n";
  boost::asio::write(slow, boost::asio::buffer(head + wav.substr(0, wav.size() / 2)));
  // It is being answered (with the listener's WebSocket: two requests).
  ASSERT_TRUE(eventually([&] { return node(2).node().requests_in_flight() == 2; }));

  auto drained = std::async(std::launch::async, [&] { return node(2).node().drain(20s); });
  ASSERT_TRUE(eventually([&] { return node(2).cluster().membership().draining(); }));
  // The draining node's own renewal first (the one start_draining() began
  // may still be writing), so that the others' renewals read "draining".
  node(2).cluster().membership().renew_now();
  renew_all();

  // The listener is told where to go, then the socket closes (1012).
  auto move = listener.read_type("move");
  ASSERT_TRUE(move);
  const std::string to(move->at("to").as_string());
  EXPECT_TRUE(to == url(0) || to == url(1)) << to;
  EXPECT_FALSE(listener.read());
  EXPECT_EQ(listener.close_reason().code, 1012) << listener.close_reason().reason;

  // New requests: 503 "draining" naming a member in service.
  auto refused = upload(node(2), token, make_wav(523));
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.json().at("type"), "urn:hifi:problem:draining");
  const std::string member(refused.json().at("member").as_string());
  EXPECT_TRUE(member == url(0) || member == url(1)) << member;
  auto ws = node(2).request(V::get, "/api/v1/rooms/" + room_id, {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(ws.status, 503);
  // Health, metrics and the cluster view still answer, and say so.
  auto health = node(2).request(V::get, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json().at("status"), "draining");
  EXPECT_EQ(health_in_view(0, 2, token), "draining");
  const auto view = node(0).request(V::get, "/api/v1/cluster", {}, {{"Authorization", "Bearer " + token}}).json();
  for (const auto& m : view.at("members").as_array()) {
    if (m.at("id") == "node2") {
      EXPECT_GT(m.at("rank").as_int64(), 0) << "a draining node ranks last";
    }
  }
  // Uploads elsewhere place no copy on the draining node.
  auto elsewhere = upload(node(0), token, make_wav(659));
  ASSERT_EQ(elsewhere.status, 201) << elsewhere.body;
  EXPECT_FALSE(node(2).blobs().exists(sha_of(elsewhere)));
  EXPECT_TRUE(node(1).blobs().exists(sha_of(elsewhere)));
  EXPECT_EQ(drained.wait_for(0s), std::future_status::timeout) << "the drain waits for the upload in flight";

  // The upload in flight finishes and is acknowledged...
  boost::asio::write(slow, boost::asio::buffer(wav.substr(wav.size() / 2)));
  beast::flat_buffer buffer;
  http::response<http::string_body> answer;
  http::read(slow, buffer, answer);
  EXPECT_EQ(answer.result_int(), 201) << answer.body();
  const auto in_flight_sha = *ContentHash::parse(std::string(json::parse(answer.body()).at("sha256").as_string()));
  // ...and the drain completes, its song held by the others.
  ASSERT_EQ(drained.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(drained.get().is_ok());
  EXPECT_TRUE(node(0).blobs().exists(in_flight_sha));
  EXPECT_TRUE(node(1).blobs().exists(in_flight_sha));
  EXPECT_EQ(records_of(2), 0u);
}

// A listener moved off a draining node misses nothing: reconnected where it
// was told, with since=, it gets every command in the room's order, the same
// sequence as a listener that never moved.
TEST_F(DrainTest, AMovedListenerSeesEveryCommandInOrder) {
  start_nodes(3, /*replicas=*/2);
  const auto token = login(node(0));
  json::object room_body{{"name", "order"}};
  auto room = node(0).request(V::post, "/api/v1/rooms", json::serialize(room_body), {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(room.status, 201) << room.body;
  const std::string room_id(room.json().at("id").as_string());
  const std::string ws_path = "/api/v1/rooms/" + room_id + "/ws";
  auto song = upload(node(0), token, make_wav(330, 2.0));
  ASSERT_EQ(song.status, 201);
  auto command = [&](json::object c) {
    auto r = node(1).request(V::post, "/api/v1/rooms/" + room_id + "/commands", json::serialize(c),
                             {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(r.status, 200) << r.body;
  };
  command({{"type", "add"}, {"song_ids", json::array{song.json().at("id")}}});

  WsClient stayer, mover;
  stayer.open(node(0).port(), ws_path, token);
  mover.open(node(2).port(), ws_path, token);
  auto first = mover.read_type("snapshot");
  ASSERT_TRUE(first);
  ASSERT_TRUE(stayer.read_type("snapshot"));
  std::int64_t revision = first->at("revision").as_int64();

  auto drained = std::async(std::launch::async, [&] { return node(2).node().drain(20s); });
  // Commands while the node drains, before and after the listener moves.
  command({{"type", "play"}});
  auto move = mover.read_type("move");
  ASSERT_TRUE(move);
  const std::string to(move->at("to").as_string());
  // It reconnects from the last revision it had applied before (the
  // snapshot's here: read_type passed over the states on its way).
  command({{"type", "seek"}, {"position_ms", 500}});
  WsClient moved;
  const auto port = static_cast<std::uint16_t>(std::stoi(to.substr(to.rfind(':') + 1)));
  moved.open(port, ws_path + "?since=" + std::to_string(revision), token);
  for (int k = 0; k < 3; ++k) command({{"type", "seek"}, {"position_ms", 600 + 100 * k}});
  command({{"type", "pause"}});
  auto states = [](WsClient& ws, std::size_t n) {  // the next n states' revisions
    std::vector<std::int64_t> revisions;
    while (revisions.size() < n) {
      auto m = ws.read();
      if (!m) break;
      if (m->at("type") == "state") revisions.push_back(m->at("revision").as_int64());
    }
    return revisions;
  };
  const auto reference = states(stayer, 6);
  ASSERT_EQ(reference.size(), 6u);
  for (std::size_t i = 1; i < reference.size(); ++i) EXPECT_GT(reference[i], reference[i - 1]);
  // The moved listener: the states after `since` replayed, or (when the
  // node it moved to kept no history of the room) a snapshot and then the
  // states after it; either way nothing is missed or out of order.
  std::int64_t base = revision;
  std::vector<std::int64_t> after_move;
  while (after_move.empty() || after_move.back() < reference.back()) {
    auto m = moved.read();
    if (!m) break;
    if (m->at("type") == "snapshot") base = m->at("revision").as_int64();
    if (m->at("type") == "state") after_move.push_back(m->at("revision").as_int64());
  }
  std::vector<std::int64_t> expected;
  for (auto r : reference) {
    if (r > base) expected.push_back(r);
  }
  EXPECT_EQ(after_move, expected) << "the moved listener sees the same commands in the same order";
  ASSERT_EQ(drained.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(drained.get().is_ok());
}

TEST_F(DrainTest, TheApiAsksTheNodeThroughTheStore) {
  start_nodes(3, /*replicas=*/2);
  const auto admin = login(node(0));
  const auto bob = login(node(0), "bob");
  std::atomic<bool> drained{false};
  node(2).node().set_on_drained([&] { drained = true; });
  auto as = [&](const std::string& token, const std::string& id) {
    return node(0).request(V::post, "/api/v1/cluster/members/" + id + "/drain", {},
                           {{"Authorization", "Bearer " + token}});
  };
  EXPECT_EQ(as(bob, "node2").status, 403);
  EXPECT_EQ(as(admin, "nowhere").status, 404);
  auto asked = as(admin, "node2");
  ASSERT_EQ(asked.status, 202) << asked.body;
  // Node 2 notices at its next renewal.
  node(2).cluster().membership().renew_now();
  ASSERT_TRUE(eventually([&] { return drained.load(); }, 20s));
  EXPECT_EQ(store_->get("drain/node2").status().code(), Code::kNotFound) << "the request goes with the node";
}

TEST_F(DrainTest, TheLastNodeInServiceCannotDrain) {
  start_nodes(1, /*replicas=*/1);
  const auto admin = login(node(0));
  auto r = node(0).request(V::post, "/api/v1/cluster/members/node0/drain", {}, {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(r.status, 409) << r.body;
  auto s = node(0).node().drain(1s);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_FALSE(node(0).cluster().membership().draining());
}

}  // namespace
}  // namespace hifi::testing
