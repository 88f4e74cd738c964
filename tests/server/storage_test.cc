// Integration tests of storage limits on uploads: per-user quotas (the
// server's default and an admin's per-user setting), shown in /api/v1/me
// and the users list; refusals before the body is read and while it
// arrives, leaving nothing half-written. The full-disk case, on a real
// small file system, is tests/e2e/disk_full_test.sh.
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "server/api_fixture.h"
#include "server/digest_header.h"

namespace hifi::testing {
namespace {

class StorageTest : public ApiTest {
 protected:
  std::string user_id(const std::string& token) {
    return std::string(get("/api/v1/me", token).json().at("id").as_string());
  }
  HttpResult patch_user(const std::string& admin, const std::string& id, const json::object& body) {
    return server_->request(V::patch, "/api/v1/users/" + id, body_of(body),
                            {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}});
  }
};

TEST_F(StorageTest, MeShowsUseAndQuota) {
  auto admin = register_and_login("root");
  auto wav = make_wav(440);
  ASSERT_EQ(upload(admin, wav, "a.wav").status, 201);
  auto me = get("/api/v1/me", admin).json().as_object();
  EXPECT_EQ(me.at("storage_bytes").as_int64(), static_cast<std::int64_t>(wav.size()));
  EXPECT_EQ(me.at("song_count").as_int64(), 1);
  EXPECT_EQ(me.at("storage_quota_bytes").as_int64(), 0);  // no limit by default
  EXPECT_TRUE(me.at("quota_bytes").is_null());
}

TEST_F(StorageTest, DefaultQuotaRefusesUploadsOverIt) {
  const auto wav = make_wav(440);
  ServerConfig config;
  config.default_quota_bytes = wav.size() + wav.size() / 2;  // one song, not two
  make_server(config);
  auto token = register_and_login("alice");
  ASSERT_EQ(upload(token, wav, "a.wav").status, 201);
  // Content-Length says it will not fit: refused before the body is read.
  auto refused = upload(token, make_wav(550), "b.wav");
  expect_problem(refused, 413, "quota-exceeded");
  EXPECT_EQ(refused.json().at("storage_quota_bytes").as_int64(), static_cast<std::int64_t>(config.default_quota_bytes));
  EXPECT_EQ(temp_files(), 0u);
  // The same bytes again take no more room: a duplicate is no new storage,
  // once the server knows (Repr-Digest names them up front).
  EXPECT_EQ(upload(token, wav, "a.wav", {{"Repr-Digest", format_sha256_digest_header(sha256(wav))}}).status, 200);
  auto me = get("/api/v1/me", token).json().as_object();
  EXPECT_EQ(me.at("storage_quota_bytes").as_int64(), static_cast<std::int64_t>(config.default_quota_bytes));
  EXPECT_EQ(me.at("song_count").as_int64(), 1);
}

TEST_F(StorageTest, QuotaIsCheckedAsTheBodyArrivesWithoutContentLength) {
  const auto wav = make_wav(440, 4);  // 64 KB: several pieces of a chunked body
  ServerConfig config;
  config.default_quota_bytes = wav.size() / 2;
  make_server(config);
  auto token = register_and_login("alice");
  // A chunked body has no Content-Length: the quota stops it on the way.
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), server_->port()});
  http::request<http::string_body> req{V::post, "/api/v1/songs", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "audio/wav");
  req.chunked(true);
  req.body() = wav;
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 413) << res.body();
  EXPECT_NE(res.body().find("urn:hifi:problem:quota-exceeded"), std::string::npos) << res.body();
  EXPECT_TRUE(eventually([&] { return temp_files() == 0; }));
  EXPECT_EQ(get("/api/v1/songs", token).json().at("items").as_array().size(), 0u);
}

TEST_F(StorageTest, AdminSetsAUsersQuota) {
  auto admin = register_and_login("root");
  auto alice = register_and_login("alice");
  const auto alice_id = user_id(alice);
  // Only an admin, and only a number of bytes or null.
  expect_problem(patch_user(alice, alice_id, {{"quota_bytes", 10}}), 403, "forbidden");
  expect_problem(patch_user(admin, alice_id, {{"quota_bytes", -1}}), 400, "invalid-parameter");
  expect_problem(patch_user(admin, alice_id, {{"quota_bytes", "1G"}}), 400, "invalid-parameter");

  auto set = patch_user(admin, alice_id, {{"quota_bytes", 1000}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.json().at("quota_bytes").as_int64(), 1000);
  expect_problem(upload(alice, make_wav(440), "a.wav"), 413, "quota-exceeded");
  EXPECT_EQ(get("/api/v1/me", alice).json().at("storage_quota_bytes").as_int64(), 1000);
  // The users list shows it with the use.
  const auto users = get("/api/v1/users", admin).json();
  for (const auto& u : users.at("items").as_array()) {
    if (u.at("id").as_string() != alice_id) continue;
    EXPECT_EQ(u.at("quota_bytes").as_int64(), 1000);
    EXPECT_EQ(u.at("storage_quota_bytes").as_int64(), 1000);
    EXPECT_EQ(u.at("storage_bytes").as_int64(), 0);
  }
  // null: the server's default (no limit) again.
  ASSERT_EQ(patch_user(admin, alice_id, {{"quota_bytes", nullptr}}).status, 200);
  EXPECT_EQ(upload(alice, make_wav(440), "a.wav").status, 201);
}

TEST_F(StorageTest, UploadThatWouldEatTheFreeSpaceReserveGets507) {
  ServerConfig config;
  config.min_free_bytes = 1ULL << 60;  // more than any disk has
  make_server(config);
  auto token = register_and_login("alice");
  auto refused = upload(token, make_wav(440), "a.wav");
  expect_problem(refused, 507, "insufficient-storage");
  EXPECT_EQ(temp_files(), 0u);
  // Logins and room commands do not depend on it.
  EXPECT_EQ(post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "correct horse"}}).status, 200);
  EXPECT_EQ(post_json("/api/v1/rooms", {{"name", "Kitchen"}}, token).status, 201);
}

}  // namespace
}  // namespace hifi::testing
