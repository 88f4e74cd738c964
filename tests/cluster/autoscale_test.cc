// ScalePolicy (the HorizontalPodAutoscaler arithmetic, tolerance and
// windows), the command provisioner with real commands (one that records
// its calls, one that fails, one that hangs), and the checks made at start.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster/membership.h"
#include "cluster/provisioner.h"
#include "cluster/scale_policy.h"
#include "store/sqlite/sqlite_meta_store.h"

namespace hifi::cluster {
namespace {

using namespace std::chrono_literals;

Member node(const std::string& id, std::int64_t listeners, std::int64_t streams = 0, double cpu = 0,
            Health health = Health::kLive) {
  Member m;
  m.id = id;
  m.advertise = "http://" + id + ":8080";
  m.health = health;
  m.load.websockets = listeners;
  m.load.active_streams = streams;
  m.load.cpu = cpu;
  return m;
}

ScaleOptions listeners_target(double per_node, int min, int max) {
  ScaleOptions o;
  o.min_nodes = min;
  o.max_nodes = max;
  o.target_listeners = per_node;
  o.up_window = 0ms;
  o.down_window = 0ms;
  return o;
}

TEST(ScalePolicyTest, WantsNodesInProportionToLoadOverTarget) {
  ScalePolicy policy(listeners_target(10, 1, 10));
  // 1 node with 35 listeners, target 10: ceil(1 * 3.5) = 4.
  auto d = policy.decide({node("a", 35)}, 0);
  EXPECT_EQ(d.current, 1);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.wanted, 4);
  EXPECT_NE(d.reason.find("listeners"), std::string::npos) << d.reason;
  // 4 nodes with 5 each: ceil(4 * 0.5) = 2.
  EXPECT_EQ(policy.decide({node("a", 5), node("b", 5), node("c", 5), node("d", 5)}, 1).wanted, 2);
  // No load: down to the minimum.
  EXPECT_EQ(policy.decide({node("a", 0), node("b", 0)}, 2).wanted, 1);
}

TEST(ScalePolicyTest, KeepsTheCountWithinToleranceAndBounds) {
  ScalePolicy policy(listeners_target(10, 2, 3));
  EXPECT_EQ(policy.decide({node("a", 10), node("b", 10)}, 0).wanted, 2);
  EXPECT_EQ(policy.decide({node("a", 10), node("b", 11)}, 1).wanted, 2) << "10.5 is within 10% of 10";
  EXPECT_EQ(policy.decide({node("a", 100), node("b", 100)}, 2).wanted, 3) << "at most --scale-max";
  EXPECT_EQ(policy.decide({node("a", 0), node("b", 0)}, 3).wanted, 2) << "at least --scale-min";
  EXPECT_EQ(policy.decide({node("a", 0)}, 4).wanted, 2) << "below the minimum: add";
}

TEST(ScalePolicyTest, TheMetricThatWantsMostWins) {
  ScaleOptions o = listeners_target(10, 1, 10);
  o.target_streams = 2;
  o.target_cpu = 0.5;
  ScalePolicy policy(o);
  auto d = policy.decide({node("a", 5, 8, 0.2), node("b", 5, 8, 0.2)}, 0);
  EXPECT_EQ(d.wanted, 8) << d.reason;  // streams: 8 per node against 2 -> ceil(2 * 4)
  EXPECT_NE(d.reason.find("streams"), std::string::npos) << d.reason;
  d = policy.decide({node("a", 0, 0, 0.9), node("b", 0, 0, 0.9)}, 1);
  EXPECT_EQ(d.wanted, 4) << d.reason;  // cpu 90% against 50% -> ceil(2 * 1.8)
}

TEST(ScalePolicyTest, DrainingMembersDoNotCount) {
  ScalePolicy policy(listeners_target(10, 1, 10));
  auto d = policy.decide({node("a", 20), node("b", 20), node("c", 0, 0, 0, Health::kDraining)}, 0);
  EXPECT_EQ(d.current, 2);
  EXPECT_EQ(d.wanted, 4);
}

TEST(ScalePolicyTest, StabilizationWindowsHoldChanges) {
  ScaleOptions o = listeners_target(10, 1, 10);
  o.up_window = 30s;
  o.down_window = 300s;
  ScalePolicy policy(o);
  const std::vector<Member> quiet{node("a", 10), node("b", 10)};
  const std::vector<Member> busy{node("a", 30), node("b", 30)};
  const std::vector<Member> idle{node("a", 0), node("b", 0)};
  EXPECT_EQ(policy.decide(quiet, 0).wanted, 2);
  // Load high for less than the up window: the quiet recommendation of
  // t=0 still holds it.
  auto d = policy.decide(busy, 10'000);
  EXPECT_EQ(d.desired, 6);
  EXPECT_EQ(d.wanted, 2) << d.reason;
  EXPECT_NE(d.reason.find("held"), std::string::npos) << d.reason;
  // High for the whole window: up.
  EXPECT_EQ(policy.decide(busy, 40'000).wanted, 6);
  // Idle: held up by the busy recommendations of the last 5 minutes.
  EXPECT_EQ(policy.decide(idle, 60'000).wanted, 2) << "the largest of the down window among those below current";
  EXPECT_EQ(policy.decide(idle, 400'000).wanted, 1);
}

TEST(ScalePolicyTest, BadSettingsAreRefused) {
  ScaleOptions o;
  o.min_nodes = 3;
  o.max_nodes = 2;
  EXPECT_NE(validate(o), "");
  o.max_nodes = 3;
  EXPECT_EQ(validate(o), "");
  o.target_listeners = -1;
  EXPECT_NE(validate(o), "");
  o.target_listeners = 0;
  o.target_cpu = 1.5;
  EXPECT_NE(validate(o), "");
  o.target_cpu = 0;
  o.min_nodes = 0;
  EXPECT_NE(validate(o), "");
}

class CommandProvisionerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hifi-scale-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    auto store = open_sqlite_meta_store((dir_ / "meta.db").string());
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    membership_ = std::make_unique<Membership>(*store_, SystemClock::instance(),
                                               MembershipOptions{"self", "0", dir_.string(), 5000ms},
                                               Membership::LoadSampler{});
  }
  void TearDown() override {
    membership_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Result<std::unique_ptr<Provisioner>> provisioner(const std::string& command, std::chrono::milliseconds timeout = 10s) {
    ProvisionerOptions o;
    o.kind = "command";
    o.command = command;
    o.command_timeout = timeout;
    return make_provisioner(o, *membership_);
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path dir_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<Membership> membership_;
};

TEST_F(CommandProvisionerTest, TheCommandGetsWhatToDoInItsEnvironment) {
  const auto log = (dir_ / "calls").string();
  auto p = provisioner("echo \"$HIFI_SCALE_ACTION count=$HIFI_SCALE_COUNT wanted=$HIFI_SCALE_WANTED "
                       "current=$HIFI_SCALE_CURRENT node=$HIFI_SCALE_NODE url=$HIFI_SCALE_NODE_URL\" >> " + log);
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_STREQ((*p)->kind(), "command");
  ASSERT_TRUE((*p)->add(2, 3, 1).is_ok());
  ASSERT_TRUE((*p)->remove(node("n2", 0), 2, 3).is_ok());
  EXPECT_EQ(read("calls"),
            "add count=2 wanted=3 current=1 node= url=\n"
            "remove count= wanted=2 current=3 node=n2 url=http://n2:8080\n");
}

TEST_F(CommandProvisionerTest, AFailingCommandIsAnErrorThatSaysWhy) {
  auto p = provisioner("echo 'kubectl: connection refused' >&2; exit 3");
  ASSERT_TRUE(p);
  auto s = (*p)->add(1, 2, 1);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("exited with 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("connection refused"), std::string::npos) << s.message();
}

TEST_F(CommandProvisionerTest, ACommandThatHangsIsKilledAtItsDeadline) {
  auto p = provisioner("sleep 30", 300ms);
  ASSERT_TRUE(p);
  auto s = (*p)->add(1, 2, 1);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("killed"), std::string::npos) << s.message();
}

TEST_F(CommandProvisionerTest, AMissingProgramOrNoCommandIsRefusedAtStart) {
  EXPECT_EQ(provisioner("/nonexistent/hifi-scale --add").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(provisioner("no-such-program-anywhere up").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(provisioner("").status().code(), Code::kInvalidArgument);
  ProvisionerOptions local;
  local.kind = "local";
  EXPECT_NE(make_provisioner(local, *membership_).status().message().find("--scale-local-ports"), std::string::npos);
  ProvisionerOptions odd;
  odd.kind = "cloud";
  EXPECT_EQ(make_provisioner(odd, *membership_).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hifi::cluster
