// Unit tests of the cluster layer's pure parts (ranking, member records,
// peer authentication) and of Membership over a real SQLite MetaStore.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <filesystem>
#include <set>

#include "cluster/cluster_node.h"
#include "cluster/member.h"
#include "cluster/membership.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_client.h"
#include "cluster/staged_copies.h"
#include "common/random.h"
#include "support/loopback.h"

namespace hifi::cluster {
namespace {

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("hifi-cluster-" + name + "-" + random_hex(4));
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(Rendezvous, EveryNodeComputesTheSameOrderWhateverTheInputOrder) {
  const auto sha = ContentHash::parse(std::string(64, 'a')).value();
  auto a = rendezvous_rank(sha, {"n1", "n2", "n3", "n4"});
  auto b = rendezvous_rank(sha, {"n4", "n3", "n1", "n2"});
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::set<std::string>(a.begin(), a.end()), (std::set<std::string>{"n1", "n2", "n3", "n4"}));
}

TEST(Rendezvous, ANodeLeavingKeepsTheOrderOfTheOthers) {
  for (char c : std::string("0123456789abcdef")) {
    const auto sha = ContentHash::parse(std::string(64, c)).value();
    auto all = rendezvous_rank(sha, {"a", "b", "c", "d", "e"});
    auto gone = all[1];
    std::vector<std::string> rest;
    for (auto& id : all) {
      if (id != gone) rest.push_back(id);
    }
    EXPECT_EQ(rendezvous_rank(sha, rest), rest);
  }
}

TEST(Rendezvous, SpreadsFirstPlacesOverTheNodes) {
  std::map<std::string, int> firsts;
  for (int i = 0; i < 300; ++i) {
    ++firsts[rendezvous_rank(ContentHash::parse(random_hex(32)).value(), {"a", "b", "c"}).front()];
  }
  for (auto& [id, n] : firsts) EXPECT_GT(n, 50) << id;  // about 100 each
}

TEST(MemberRecord, RoundTripsAndRejectsGarbage) {
  Member m;
  m.id = "n1";
  m.advertise = "http://127.0.0.1:8081";
  m.load.active_streams = 3;
  m.load.connections = 7;
  m.load.bytes_per_second = 1000;
  m.disk_free_bytes = 1ULL << 40;
  auto back = member_from_json(boost::json::serialize(member_to_json(m)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "n1");
  EXPECT_EQ(back->advertise, m.advertise);
  EXPECT_EQ(back->load.active_streams, 3);
  EXPECT_EQ(back->load.connections, 7);
  EXPECT_EQ(back->disk_free_bytes, 1ULL << 40);
  EXPECT_FALSE(member_from_json("not json"));
  EXPECT_FALSE(member_from_json("{\"id\":\"x\"}"));
  EXPECT_FALSE(member_from_json("[1,2]"));
}

TEST(MemberRecord, HealthTravelsAsItsName) {
  EXPECT_STREQ(to_string(Health::kLive), "ok");
  EXPECT_STREQ(to_string(Health::kDegraded), "degraded");
  for (auto health : {Health::kLive, Health::kDegraded}) {
    auto parsed = parse_health(to_string(health));
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(*parsed, health);
  }
  EXPECT_EQ(parse_health("OK").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(parse_health("").status().code(), Code::kInvalidArgument);

  Member m;
  m.id = "n1";
  m.advertise = "http://127.0.0.1:8081";
  m.health = Health::kDegraded;
  const auto record = member_to_json(m);
  EXPECT_EQ(record.at("health").as_string(), "degraded");
  auto back = member_from_json(boost::json::serialize(record));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->health, Health::kDegraded);

  // Absent: live. A state this node does not know: not fully in service.
  EXPECT_EQ(member_from_json(R"({"id":"a","advertise":"http://a:1"})")->health, Health::kLive);
  EXPECT_EQ(member_from_json(R"({"id":"a","advertise":"http://a:1","health":"resting"})")->health,
            Health::kDegraded);
}

TEST(MemberRecord, LeastLoadedPrefersFewerStreamsThenConnections) {
  Member a, b;
  a.id = "a";
  b.id = "b";
  a.load.active_streams = 1;
  b.load.connections = 100;
  EXPECT_TRUE(less_loaded(b, a));
  b.load.active_streams = 1;
  EXPECT_TRUE(less_loaded(a, b));
}

// A node frozen with SIGSTOP still accepts connections (the kernel does),
// but never answers. Such a node counts as unavailable after the short
// answer timeout, not as a failed transfer after the long idle timeout, so
// that an upload moves on to the other nodes at once.
TEST(PeerClient, APeerThatAcceptsButNeverAnswersIsUnavailableAfterTheAnswerTimeout) {
  hifi::testing::LoopbackSocket silent;
  ASSERT_GE(silent.fd(), 0);
  ASSERT_EQ(::listen(silent.fd(), 8), 0);  // never accept()ed: connections wait in the backlog
  const auto dir = temp_dir("silent");
  const auto blob = (dir / "blob").string();
  std::ofstream(blob) << "bytes";

  PeerAuth auth("self", "shared-secret-0123456789");
  PeerClientOptions options;
  options.answer_timeout = std::chrono::milliseconds(300);
  options.idle_timeout = std::chrono::milliseconds(20000);
  PeerClient peers(auth, SystemClock::instance(), options);
  const auto started = std::chrono::steady_clock::now();
  Member silent_member;
  silent_member.id = "silent";
  silent_member.advertise = "http://127.0.0.1:" + std::to_string(silent.port());
  auto s = peers.push_blob(silent_member, ContentHash::parse(std::string(64, 'a')).value(), blob);
  const auto took = std::chrono::steady_clock::now() - started;
  silent.close();
  std::filesystem::remove_all(dir);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
  // Bounded by the answer timeout (300 ms), far below the idle timeout (20 s).
  EXPECT_LT(took, std::chrono::seconds(10));
}

// The temporaries a blob store holds (writes in progress, staged copies).
std::size_t temporaries(const std::filesystem::path& root) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root / "tmp")) ++n;
  return n;
}

std::unique_ptr<BlobWriter> written(BlobStore& blobs, const std::string& bytes) {
  auto writer = blobs.begin_write(1 << 20).value();
  EXPECT_TRUE(writer->write(bytes));
  EXPECT_TRUE(writer->sync());
  return writer;
}

TEST(StagedCopies, ACopyIsTakenOnceAndOnlyByTheNodeThatSentIt) {
  const auto dir = temp_dir("staged");
  BlobStore blobs(dir.string());
  ManualClock clock(1'000'000);
  StagedCopies staged(clock);
  const std::string id(32, 'a');
  EXPECT_TRUE(StagedCopies::valid_id(id));
  EXPECT_FALSE(StagedCopies::valid_id(std::string(32, 'A')));
  EXPECT_FALSE(StagedCopies::valid_id("../" + std::string(29, 'a')));
  EXPECT_FALSE(StagedCopies::valid_id(std::string(31, 'a')));
  ASSERT_TRUE(staged.add("node0", id, written(blobs, "some bytes")));
  EXPECT_EQ(staged.add("node0", id, written(blobs, "other bytes")).code(), Code::kAlreadyExists);
  EXPECT_EQ(staged.size(), 1u);
  EXPECT_EQ(staged.take("node1", id), nullptr);  // another node cannot decide on it
  auto writer = staged.take("node0", id);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(staged.take("node0", id), nullptr);
  auto blob = writer->commit();
  ASSERT_TRUE(blob) << blob.status().to_string();
  EXPECT_TRUE(blobs.exists(ContentHash::of("some bytes")));
  EXPECT_EQ(temporaries(dir), 0u);

  // An abort drops the copy; one that overtakes its copy (a node resuming
  // from a freeze reads both requests) makes the copy be refused when it
  // comes, for that sender only.
  const std::string late(32, 'b');
  ASSERT_TRUE(staged.add("node0", id, written(blobs, "dropped bytes")));
  EXPECT_TRUE(staged.abort("node0", id));
  EXPECT_FALSE(staged.abort("node0", late));
  EXPECT_EQ(staged.add("node0", late, written(blobs, "late bytes")).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(staged.add("node1", late, written(blobs, "node 1's bytes")));
  EXPECT_TRUE(staged.abort("node1", late));
  EXPECT_EQ(staged.size(), 0u);
  EXPECT_EQ(temporaries(dir), 0u);
  std::filesystem::remove_all(dir);
}

TEST(StagedCopies, CopiesNobodyDecidesOnExpireAndTheirTemporariesGo) {
  const auto dir = temp_dir("staged-expiry");
  BlobStore blobs(dir.string());
  ManualClock clock(1'000'000);
  StagedCopies staged(clock, {.max_copies = 2, .time_to_live = std::chrono::milliseconds(60'000)});
  ASSERT_TRUE(staged.add("node0", std::string(32, '1'), written(blobs, "one")));
  clock.advance_ms(30'000);
  ASSERT_TRUE(staged.add("node0", std::string(32, '2'), written(blobs, "two")));
  // Full: a third is refused until one goes.
  EXPECT_EQ(staged.add("node0", std::string(32, '3'), written(blobs, "three")).code(), Code::kResourceExhausted);
  EXPECT_EQ(temporaries(dir), 2u);
  clock.advance_ms(30'000);
  EXPECT_EQ(staged.expire(), 1u);  // the first one is 60 s old
  EXPECT_EQ(temporaries(dir), 1u);
  EXPECT_EQ(staged.take("node0", std::string(32, '1')), nullptr);
  // Taken after its time: nothing to commit, and its temporary goes.
  clock.advance_ms(30'000);
  EXPECT_EQ(staged.take("node0", std::string(32, '2')), nullptr);
  EXPECT_EQ(staged.size(), 0u);
  EXPECT_EQ(temporaries(dir), 0u);
  EXPECT_FALSE(blobs.exists(ContentHash::of("two")));
  std::filesystem::remove_all(dir);
}

TEST(PeerAuth, AcceptsAHeaderOnlyForTheRequestNodeAndTimeItWasMadeFor) {
  PeerAuth alice("alice", "shared-secret-0123456789");
  PeerAuth bob("bob", "shared-secret-0123456789");
  const std::int64_t now = 1'800'000'000;
  const std::string body = std::string(64, 'b');
  const PeerRequest put{"PUT", "/internal/v1/blobs/x", "bob", body};
  auto verified = [&](const std::string& header, const std::string& method, const std::string& target,
                      std::int64_t at) { return bob.verify(header, method, target, at).has_value(); };

  auto ok = bob.verify(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x", now);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->node_id, "alice");
  EXPECT_EQ(ok->body_sha256, body);
  EXPECT_TRUE(verified(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x", now + PeerAuth::kMaxSkewSeconds));
  EXPECT_TRUE(verified(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x", now - PeerAuth::kMaxSkewSeconds));
  EXPECT_FALSE(verified(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x", now + PeerAuth::kMaxSkewSeconds + 1));
  // Another method, path or query than signed.
  EXPECT_FALSE(verified(alice.header_value(put, now), "GET", "/internal/v1/blobs/x", now));
  EXPECT_FALSE(verified(alice.header_value(put, now), "PUT", "/internal/v1/blobs/y", now));
  EXPECT_FALSE(verified(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x?force=1", now));
  PeerRequest with_query = put;
  with_query.target += "?force=1";
  EXPECT_TRUE(verified(alice.header_value(with_query, now), "PUT", "/internal/v1/blobs/x?force=1", now));
  // Addressed to another node: carol refuses what was signed for bob.
  PeerAuth carol("carol", "shared-secret-0123456789");
  std::string why;
  EXPECT_FALSE(carol.verify(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x", now, &why));
  EXPECT_EQ(why, "the request was signed for another node");
  // A header whose body digest was changed no longer holds.
  auto header = alice.header_value(put, now);
  auto tampered = header;
  tampered.replace(tampered.find(body), body.size(), std::string(64, 'c'));
  EXPECT_FALSE(verified(tampered, "PUT", "/internal/v1/blobs/x", now));
  // Another secret.
  PeerAuth mallory("alice", "another-secret-0123456789");
  EXPECT_FALSE(verified(mallory.header_value(put, now), "PUT", "/internal/v1/blobs/x", now));
  for (const char* bad : {"", "alice", "alice bob 1800000000", "alice bob x deadbeef", " bob 1800000000 a b c",
                          "alice bob 1800000000 nonce body mac", "alice bob 1800000000 a b c d"}) {
    EXPECT_FALSE(verified(bad, "PUT", "/internal/v1/blobs/x", now)) << bad;
  }
  PeerAuth lonely("bob", "");
  EXPECT_FALSE(lonely.enabled());
  EXPECT_TRUE(lonely.header_value(put, now).empty());
  EXPECT_FALSE(lonely.verify(alice.header_value(put, now), "PUT", "/internal/v1/blobs/x", now));
}

// A captured request cannot be sent again: each header is accepted once
// within the window in which its time would be accepted at all.
TEST(PeerAuth, RefusesAReplayedHeaderAndForgetsNoncesOnlyOnceTheyAreTooOld) {
  PeerAuth alice("alice", "shared-secret-0123456789");
  PeerAuth bob("bob", "shared-secret-0123456789");
  const std::int64_t now = 1'800'000'000;
  const PeerRequest drop{"POST", "/internal/v1/blobs/x/drop", "bob"};
  const auto header = alice.header_value(drop, now);
  EXPECT_TRUE(bob.verify(header, "POST", "/internal/v1/blobs/x/drop", now));
  std::string why;
  EXPECT_FALSE(bob.verify(header, "POST", "/internal/v1/blobs/x/drop", now + 1, &why));
  EXPECT_EQ(why, "the request was already received once (a replay)");
  EXPECT_FALSE(bob.verify(header, "POST", "/internal/v1/blobs/x/drop", now + PeerAuth::kMaxSkewSeconds));
  // Later headers (each with its own nonce) are accepted, and the old one
  // is refused by its time once forgotten.
  EXPECT_TRUE(bob.verify(alice.header_value(drop, now + 1000), "POST", "/internal/v1/blobs/x/drop", now + 1000));
  EXPECT_FALSE(bob.verify(header, "POST", "/internal/v1/blobs/x/drop", now + 1000));
  // Two headers for the same request at the same second differ.
  EXPECT_NE(alice.header_value(drop, now), alice.header_value(drop, now));
}

class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("membership");
    auto store = open_sqlite_meta_store((dir_ / "meta.db").string());
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
  }
  void TearDown() override {
    nodes_.clear();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Membership& add(const std::string& id) {
    MembershipOptions options{id, "test", dir_.string(), std::chrono::milliseconds(2000)};
    nodes_.push_back(std::make_unique<Membership>(*store_, SystemClock::instance(), options,
                                                  [] { return LoadCounters{}; }));
    EXPECT_TRUE(nodes_.back()->start("http://127.0.0.1:1/" + id));
    return *nodes_.back();
  }
  std::vector<std::string> ids(const Membership& m) {
    std::vector<std::string> out;
    for (auto& member : m.members()) out.push_back(member.id);
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<MetaStore> store_;
  std::vector<std::unique_ptr<Membership>> nodes_;
};

TEST_F(MembershipTest, MembersSeeEachOtherAndExactlyOneLeads) {
  auto& a = add("a");
  auto& b = add("b");
  a.renew_now();
  EXPECT_EQ(ids(a), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ids(b), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(a.is_leader());
  EXPECT_FALSE(b.is_leader());
  EXPECT_EQ(b.leader(), std::optional<std::string>("a"));
}

TEST_F(MembershipTest, ALeavingLeaderIsReplaced) {
  auto& a = add("a");
  auto& b = add("b");
  a.stop();
  b.renew_now();
  EXPECT_EQ(ids(b), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(b.is_leader());
}

TEST_F(MembershipTest, ANodeWhoseLeaseExpiredJoinsAgain) {
  auto& a = add("a");
  auto& b = add("b");
  int rejoins = 0;
  a.set_on_rejoin([&] { ++rejoins; });
  const auto old_lease = a.lease();
  // What etcd does when a paused node's TTL runs out.
  ASSERT_TRUE(store_->lease_revoke(old_lease));
  b.renew_now();
  EXPECT_EQ(ids(b), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(b.is_leader());
  a.renew_now();
  EXPECT_EQ(rejoins, 1);
  EXPECT_NE(a.lease(), old_lease);
  b.renew_now();
  EXPECT_EQ(ids(b), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(a.is_leader());
}

TEST(NodeId, IsCreatedOnceAndKept) {
  auto dir = temp_dir("node-id");
  auto first = load_or_create_node_id(dir.string());
  EXPECT_EQ(first.size(), 16u);
  EXPECT_EQ(load_or_create_node_id(dir.string()), first);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hifi::cluster
