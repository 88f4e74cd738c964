// Who may see how the server runs: GET /api/v1/cluster needs a login and
// shows members' load, disk and version to admins only; /metrics is for
// admins and for a scraper holding the metrics token; /healthz is for
// anyone and costs the store at most one round trip a second.
#include "server/api_fixture.h"

namespace hifi::testing {
namespace {

constexpr char kMetricsToken[] = "scrape-0123456789abcdef";

class OperationsAccessTest : public ApiTest {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.metrics_token = kMetricsToken;
    make_server(config);
    admin_ = register_and_login("admin");
    bob_ = register_and_login("bob");
  }
  // How many times the store was asked for its revision, by /metrics.
  std::int64_t revision_reads() {
    auto body = get("/metrics", admin_).body;
    const std::string name = "hifi_store_operation_seconds_count{op=\"revision\"} ";
    auto at = body.find(name);
    return at == std::string::npos ? 0 : std::stoll(body.substr(at + name.size()));
  }
  std::string admin_, bob_;
};

TEST_F(OperationsAccessTest, TheClusterViewNeedsALoginAndShowsLoadToAdminsOnly) {
  expect_problem(get("/api/v1/cluster", ""), 401, "unauthenticated");

  auto mine = get("/api/v1/cluster", bob_);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const auto doc = mine.json().as_object();
  ASSERT_EQ(doc.at("members").as_array().size(), 1u);
  const auto member = doc.at("members").as_array()[0].as_object();
  // What a client needs to fail over and spread its connections.
  EXPECT_EQ(member.at("id"), doc.at("self"));
  EXPECT_EQ(member.at("advertise").as_string(), "http://127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(member.at("health"), "ok");
  EXPECT_EQ(member.at("self"), true);
  EXPECT_EQ(member.at("rank"), 0);
  // Nothing an admin alone needs.
  for (const char* internal : {"load", "disk_free_bytes", "disk_total_bytes", "version", "started_at", "updated_at",
                               "leader"}) {
    EXPECT_FALSE(member.contains(internal)) << internal << " in " << mine.body;
  }
  EXPECT_FALSE(doc.contains("leader")) << mine.body;
  EXPECT_FALSE(doc.contains("replication_factor")) << mine.body;

  auto full = get("/api/v1/cluster", admin_);
  ASSERT_EQ(full.status, 200) << full.body;
  const auto full_doc = full.json().as_object();
  const auto admin_member = full_doc.at("members").as_array()[0].as_object();
  for (const char* field : {"load", "disk_free_bytes", "disk_total_bytes", "version", "leader", "rank"}) {
    EXPECT_TRUE(admin_member.contains(field)) << field << " missing from " << full.body;
  }
  EXPECT_EQ(full_doc.at("leader"), doc.at("self"));
  EXPECT_TRUE(full_doc.contains("replication_factor"));
}

TEST_F(OperationsAccessTest, MetricsAreForAdminsAndTheScraper) {
  EXPECT_EQ(get("/metrics", admin_).status, 200);
  auto scraped = get("/metrics", kMetricsToken);
  EXPECT_EQ(scraped.status, 200) << scraped.body;
  EXPECT_NE(scraped.body.find("hifi_http_requests_total"), std::string::npos);
  expect_problem(get("/metrics", bob_), 403, "forbidden");
  expect_problem(get("/metrics", ""), 401, "unauthenticated");
  expect_problem(get("/metrics", std::string(kMetricsToken) + "x"), 401, "unauthenticated");
  // The metrics token is no session: it opens nothing else.
  expect_problem(get("/api/v1/me", kMetricsToken), 401, "unauthenticated");
  expect_problem(get("/api/v1/cluster", kMetricsToken), 401, "unauthenticated");
}

TEST_F(OperationsAccessTest, WithoutAMetricsTokenOnlyAdminsReadMetrics) {
  make_server();
  // The same data directory: the accounts are still there.
  EXPECT_EQ(get("/metrics", admin_).status, 200);
  expect_problem(get("/metrics", kMetricsToken), 401, "unauthenticated");
}

TEST_F(OperationsAccessTest, HealthChecksDoNotAskTheStoreEachTime) {
  ASSERT_EQ(get("/healthz", "").status, 200);
  const auto before = revision_reads();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    auto r = get("/healthz", "");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json().at("status"), "ok");
  }
  // The probe asks the store again at most once a second, however many
  // checks come meanwhile.
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LE(revision_reads() - before, seconds.count() + 1) << "50 checks in " << seconds.count() << " s";
}

}  // namespace
}  // namespace hifi::testing
