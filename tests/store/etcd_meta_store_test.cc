// The conformance suite instantiated for the etcd backend against a real
// 3-member etcd cluster, plus what only a networked, clustered store has:
// failover when a member dies, compaction by the cluster, namespaces.
//
// One cluster serves the whole test binary: it starts when the first etcd
// test needs it and stops after the last test (a gtest Environment). Every
// store gets its own key namespace, so each test sees an empty keyspace;
// tests run one at a time, so nothing else writes meanwhile, which keeps
// the suite's "my write advances the revision by one" checks valid on
// etcd's cluster-wide revision counter.
#include "store/etcd/etcd_meta_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd_cluster.h"

#include "store/meta_store_conformance.h"
#include "support/loopback.h"

namespace hifi::store_test {
namespace {

// Starts the shared cluster on first use; stops it after the last test.
class EtcdEnvironment : public ::testing::Environment {
 public:
  // The shared cluster, or nullptr (with a test failure recorded) if it
  // cannot start.
  static EtcdCluster* cluster() {
    if (!started_) {
      started_ = true;
      cluster_ = std::make_unique<EtcdCluster>();
      if (!cluster_->start(&error_)) cluster_.reset();
    }
    if (!cluster_) ADD_FAILURE() << "cannot start the etcd test cluster: " << error_;
    return cluster_.get();
  }

  // With --gtest_recreate_environments_when_repeating, the next repetition
  // starts a new cluster.
  void TearDown() override {
    cluster_.reset();
    started_ = false;
  }

 private:
  static inline bool started_ = false;
  static inline std::unique_ptr<EtcdCluster> cluster_;
  static inline std::string error_;
};

const auto* const kEtcdEnvironment = ::testing::AddGlobalTestEnvironment(new EtcdEnvironment);

std::string new_namespace() {
  static std::atomic<int> counter{0};
  return "hifi-test/" + std::to_string(counter++) + "/";
}

std::unique_ptr<MetaStore> open_or_fail(const std::vector<std::string>& endpoints,
                                        const EtcdOptions& options) {
  auto store = open_etcd_meta_store(endpoints, options);
  if (!store.is_ok()) {
    ADD_FAILURE() << "open etcd store: " << store.status().to_string();
    return nullptr;
  }
  return std::move(store).value();
}

// A store over a fresh, empty namespace of the shared cluster.
std::unique_ptr<MetaStore> open_shared(const std::string& key_namespace = new_namespace()) {
  EtcdCluster* cluster = EtcdEnvironment::cluster();
  if (cluster == nullptr) return nullptr;
  EtcdOptions options;
  options.key_namespace = key_namespace;
  return open_or_fail(cluster->endpoints(), options);
}

std::vector<MetaStoreFactory> etcd_factories() {
  if (!etcd_available()) return {};
  return {MetaStoreFactory{"Etcd", [] { return open_shared(); }}};
}

// Without etcd the instantiation is empty and EtcdMetaStoreTest skips.
INSTANTIATE_TEST_SUITE_P(Etcd, MetaStoreConformance, ::testing::ValuesIn(etcd_factories()),
                         MetaStoreFactory::name_of);

class EtcdMetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!etcd_available()) {
      if (etcd_required()) {
        FAIL() << etcd_binary() << " not found, and HIFI_REQUIRE_CLUSTER_DEPS=1; install etcd-server "
               << "(scripts/setup test)";
      }
      GTEST_SKIP() << etcd_binary() << " not found; install etcd-server (scripts/setup test)";
    }
  }
};

TEST_F(EtcdMetaStoreTest, DescribeNamesTheEndpoints) {
  auto store = open_shared("ns/");
  ASSERT_NE(store, nullptr);
  const auto endpoints = EtcdEnvironment::cluster()->endpoints();
  EXPECT_EQ(store->describe(), "etcd:" + endpoints[0] + "," + endpoints[1] + "," + endpoints[2] +
                                   " namespace ns/");
}

TEST_F(EtcdMetaStoreTest, MalformedEndpointIsInvalid) {
  for (const char* endpoint : {"ftp://127.0.0.1:2379", "http://:2379", "127.0.0.1:99999", ""}) {
    auto store = open_etcd_meta_store({endpoint});
    ASSERT_FALSE(store.is_ok()) << endpoint;
    EXPECT_EQ(store.status().code(), Code::kInvalidArgument) << endpoint;
  }
  EXPECT_EQ(open_etcd_meta_store({}).status().code(), Code::kInvalidArgument);
}

TEST_F(EtcdMetaStoreTest, NoReachableEndpointIsUnavailable) {
  // Ports that were free a moment ago: nothing listens there.
  std::vector<std::string> endpoints;
  for (int i = 0; i < 2; ++i) {
    hifi::testing::LoopbackSocket free_port;
    ASSERT_GE(free_port.fd(), 0);
    endpoints.push_back("127.0.0.1:" + std::to_string(free_port.port()));
  }
  auto store = open_etcd_meta_store(endpoints);
  ASSERT_FALSE(store.is_ok());
  EXPECT_EQ(store.status().code(), Code::kUnavailable);
}

TEST_F(EtcdMetaStoreTest, NamespacesAreIsolated) {
  const std::string ns = new_namespace();
  auto a = open_shared(ns + "a/");
  auto b = open_shared(ns + "b/");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, b->watch("", 0, rec.callback()));
  HIFI_ASSERT_OK(a->put("k", "from a"));
  Revision rb = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(rb, b->put("k", "from b"));
  HIFI_ASSERT_OK(a->txn({}, {Op::del_prefix("")}));

  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, b->get("k"));
  EXPECT_EQ(kv.key, "k");
  EXPECT_EQ(kv.value, "from b");
  EXPECT_EQ(a->get("k").status().code(), Code::kNotFound);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, b->range(""));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"k"}));

  Revision last = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(last, b->put("k2", "v"));
  ASSERT_TRUE(rec.wait_for_revision(last));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].revision, rb);
  EXPECT_EQ(keys_of(responses[0]), (std::vector<std::string>{"k"}));
  EXPECT_EQ(keys_of(responses[1]), (std::vector<std::string>{"k2"}));
}

// etcd refuses a txn that touches a key twice; the store sends the net
// effect instead. The final state must be what applying the ops in order
// gives.
TEST_F(EtcdMetaStoreTest, TxnWithOverlappingOpsAppliesTheirNetEffect) {
  auto store = open_shared();
  ASSERT_NE(store, nullptr);
  for (const char* key : {"a/1", "a/2", "a/b/1", "a/b/2", "a/c", "b/1", "c"}) {
    HIFI_ASSERT_OK(store->put(key, "old"));
  }
  const Revision before = store->current_revision().value();
  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store->txn({}, {Op::put("a/b/1", "x"), Op::del_prefix("a/b/"), Op::del_prefix("a/"),
                         Op::put("a/2", "new"), Op::put("a/b/3", "new"), Op::del("b/1"),
                         Op::put("b/1", "again"), Op::put("c", "1"), Op::put("c", "2"),
                         Op::del_prefix("d/"), Op::put("d/x", "new")}));
  ASSERT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before + 1);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store->range(""));
  std::vector<std::string> state;
  for (const auto& kv : r.kvs) state.push_back(kv.key + "=" + kv.value);
  EXPECT_EQ(state, (std::vector<std::string>{"a/2=new", "a/b/3=new", "b/1=again", "c=2",
                                             "d/x=new"}));
}

TEST_F(EtcdMetaStoreTest, WatchFromACompactedRevisionGetsCompacted) {
  auto store = open_shared();
  ASSERT_NE(store, nullptr);
  Revision first = 0, last = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(first, store->put("k", "0"));
  for (int i = 1; i < 5; ++i) {
    HIFI_ASSERT_OK_AND_ASSIGN(last, store->put("k", std::to_string(i)));
  }
  ASSERT_TRUE(EtcdEnvironment::cluster()->compact(last));

  WatchRecorder old_rec;
  std::unique_ptr<WatchHandle> old_handle;
  HIFI_ASSERT_OK_AND_ASSIGN(old_handle, store->watch("", first, old_rec.callback()));
  ASSERT_TRUE(old_rec.wait_for_error());
  EXPECT_EQ(old_rec.errors()[0].code(), Code::kCompacted);

  // The compacted revision itself is still there.
  WatchRecorder recent_rec;
  std::unique_ptr<WatchHandle> recent_handle;
  HIFI_ASSERT_OK_AND_ASSIGN(recent_handle, store->watch("", last, recent_rec.callback()));
  Revision live = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(live, store->put("k", "live"));
  ASSERT_TRUE(recent_rec.wait_for_revision(live));
  ASSERT_EQ(recent_rec.responses().size(), 2u);
  EXPECT_EQ(recent_rec.responses()[0].revision, last);
  EXPECT_EQ(recent_rec.violations(), "");

  EXPECT_EQ(old_rec.calls(), 1u);
  EXPECT_EQ(old_rec.violations(), "");
}

TEST_F(EtcdMetaStoreTest, DestroyingTheStoreEndsItsWatches) {
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  const std::string ns = new_namespace();
  auto writer = open_shared(ns);
  ASSERT_NE(writer, nullptr);
  {
    auto store = open_shared(ns);
    ASSERT_NE(store, nullptr);
    HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("", 0, rec.callback()));
    Revision r = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(r, store->put("k", "v"));
    ASSERT_TRUE(rec.wait_for_revision(r));
  }
  Sentinel sentinel(*writer);
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, writer->put("k", "after"));
  ASSERT_TRUE(sentinel.saw(r));
  handle->cancel();
  handle.reset();
  EXPECT_EQ(rec.calls(), 1u);
}

// A cluster of its own (the shared one must stay whole), and a store that
// asks `victim` first. The victim is a follower: killing or freezing the
// leader stalls every write for etcd's request timeout until a new leader
// is elected, which tests etcd rather than this client.
struct VictimFirst {
  EtcdCluster cluster;
  int victim = -1;
  std::unique_ptr<MetaStore> store;

  // A request to a frozen member gives up after a second.
  static constexpr std::chrono::milliseconds kQuickTimeout{1000};

  void open(std::chrono::milliseconds request_timeout = EtcdOptions().request_timeout) {
    EtcdOptions options;
    options.request_timeout = request_timeout;
    std::string error;
    ASSERT_TRUE(cluster.start(&error)) << error;
    int leader = -1;
    ASSERT_TRUE(wait_until([&] { return (leader = cluster.leader()) >= 0; }));
    victim = (leader + 1) % EtcdCluster::kMembers;
    // The store prefers the first endpoint: the victim.
    std::vector<std::string> endpoints = {cluster.endpoint(victim)};
    for (int i = 0; i < EtcdCluster::kMembers; ++i) {
      if (i != victim) endpoints.push_back(cluster.endpoint(i));
    }
    store = open_or_fail(endpoints, options);
    ASSERT_NE(store, nullptr);
  }
};

// A member dies (SIGKILL, no goodbye) while the store is connected to it
// and a watch streams from it. Writes go on through the other members, and
// the watch resumes on another member without losing or repeating a
// revision. Uses a cluster of its own, as the shared one must stay whole.
TEST_F(EtcdMetaStoreTest, SurvivesTheLossOfTheMemberItUses) {
  VictimFirst v;
  ASSERT_NO_FATAL_FAILURE(v.open());
  auto& [cluster, victim, store] = v;

  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store->watch("k/", 0, rec.callback()));
  std::vector<Revision> written;
  for (int i = 0; i < 20; ++i) {
    Revision r = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(r, store->put("k/" + std::to_string(i % 3), std::to_string(i)));
    written.push_back(r);
  }
  ASSERT_TRUE(rec.wait_for_revision(written.back()));

  cluster.kill_member(victim);
  for (int i = 20; i < 40; ++i) {
    Revision r = 0;
    HIFI_ASSERT_OK_AND_ASSIGN(r, store->put("k/" + std::to_string(i % 3), std::to_string(i)));
    written.push_back(r);
  }
  EXPECT_EQ(written.back(), written.front() + 39);
  ASSERT_TRUE(rec.wait_for_revision(written.back()));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ(responses[i].revision, written[i]) << i;
    ASSERT_EQ(responses[i].events.size(), 1u) << i;
    EXPECT_EQ(responses[i].events[0].kv.value, std::to_string(i)) << i;
  }
  EXPECT_TRUE(rec.errors().empty());
  EXPECT_EQ(rec.violations(), "");

  // A watch started after the loss works too, and reads see every write.
  WatchRecorder late;
  std::unique_ptr<WatchHandle> late_handle;
  HIFI_ASSERT_OK_AND_ASSIGN(late_handle, store->watch("k/", written.front(), late.callback()));
  ASSERT_TRUE(late.wait_for_revision(written.back()));
  EXPECT_EQ(late.responses().size(), written.size());
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store->range("k/"));
  EXPECT_EQ(r.kvs.size(), 3u);
}

// This process's TCP connections to port `port` (any state but listening),
// from /proc: the socket inodes among its descriptors, matched against the
// kernel's table of TCP sockets.
int connections_to(int port) {
  std::set<std::string> inodes;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  int n = 0;
  for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      const auto colon = remote.rfind(':');
      if (colon == std::string::npos || state == "0A") continue;
      if (std::stoi(remote.substr(colon + 1), nullptr, 16) == port && inodes.count(inode) != 0) ++n;
    }
  }
  return n;
}

TEST_F(EtcdMetaStoreTest, KeepsNoConnectionsToAMemberItNoLongerAsks) {
  VictimFirst v;
  ASSERT_NO_FATAL_FAILURE(v.open(VictimFirst::kQuickTimeout));
  auto& [cluster, victim, store] = v;

  // Writes at the same time leave several connections to the victim, the
  // member asked first, kept for the next requests.
  const int port = cluster.client_port(victim);
  ASSERT_TRUE(wait_until([&] {
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&store, t] {
        for (int i = 0; i < 10; ++i) EXPECT_TRUE(store->put("k/" + std::to_string(t), std::to_string(i)).is_ok());
      });
    }
    for (auto& w : writers) w.join();
    return connections_to(port) >= 2;
  })) << connections_to(port) << " connections to the victim";

  // The victim hangs: a read waits out the request timeout on it, then
  // goes to another member, which is asked first from then on. The
  // connections kept to the victim are closed: nothing would use them.
  cluster.freeze_member(victim);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store->range("k/"));
  EXPECT_EQ(r.kvs.size(), 4u);
  EXPECT_EQ(connections_to(port), 0);
  HIFI_ASSERT_OK(store->put("k/after", "x"));
  EXPECT_EQ(connections_to(port), 0);
  cluster.thaw_member(victim);
}

TEST_F(EtcdMetaStoreTest, AfterAWriteAMemberDidNotAnswerTheNextGoesToAnother) {
  VictimFirst v;
  ASSERT_NO_FATAL_FAILURE(v.open(VictimFirst::kQuickTimeout));
  auto& [cluster, victim, store] = v;
  HIFI_ASSERT_OK(store->put("w/a", "1"));

  // The member asked first hangs: a write sent to it times out, and is not
  // sent again (it may have been applied).
  cluster.freeze_member(victim);
  auto lost = store->put("w/b", "2");
  ASSERT_FALSE(lost.is_ok());
  EXPECT_EQ(lost.status().code(), Code::kUnavailable) << lost.status().to_string();
  // The next writes go to another member, and succeed.
  for (int i = 0; i < 5; ++i) HIFI_ASSERT_OK(store->put("w/c", std::to_string(i)));
  EXPECT_EQ(connections_to(cluster.client_port(victim)), 0);
  cluster.thaw_member(victim);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store->range("w/c"));
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "4");
}

TEST_F(EtcdMetaStoreTest, ABurstOfRequestsLeavesNoConnectionsBehind) {
  EtcdCluster* cluster = EtcdEnvironment::cluster();
  ASSERT_NE(cluster, nullptr);
  EtcdOptions options;
  options.key_namespace = new_namespace();
  options.idle_timeout = std::chrono::milliseconds(300);
  auto store = open_or_fail(cluster->endpoints(), options);
  ASSERT_NE(store, nullptr);
  const int port = cluster->client_port(0);  // the member asked first

  // Reads from 8 threads at once open several connections, kept for the
  // next requests.
  ASSERT_TRUE(wait_until([&] {
    std::vector<std::thread> readers;
    for (int t = 0; t < 8; ++t) {
      readers.emplace_back([&store] {
        for (int i = 0; i < 10; ++i) EXPECT_TRUE(store->range("k/").is_ok());
      });
    }
    for (auto& r : readers) r.join();
    return connections_to(port) >= 3;
  })) << connections_to(port) << " connections";

  // Once the burst is over, one request at a time reuses the last
  // connection used, and the others are closed when their idle time runs
  // out: one is left.
  EXPECT_TRUE(wait_until([&] {
    EXPECT_TRUE(store->range("k/").is_ok());
    return connections_to(port) == 1;
  })) << connections_to(port) << " connections";
}

}  // namespace
}  // namespace hifi::store_test
