// Integration tests: the REST API on an in-process server bound to port 0.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <vector>
#include <thread>

#include "common/sha256.h"
#include "common/text.h"
#include "server/api_fixture.h"
#include "server/digest_header.h"
#include "server/http_internal.h"
#include "support/eventually.h"

namespace hifi::testing {
namespace {

TEST_F(ApiTest, HealthzNeedsNoToken) {
  auto r = get("/healthz", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json().at("status").as_string(), "ok");
  EXPECT_EQ(r.json().at("registration").as_string(), "open");
  // Every view of the store this node serves from is following it.
  for (const char* view : {"catalog", "rooms", "presence"}) {
    EXPECT_FALSE(r.json().at("views").at(view).at("stale").as_bool()) << view;
  }
}

TEST_F(ApiTest, UnknownRouteAndWrongMethodAreProblems) {
  expect_problem(get("/api/v1/nope", ""), 404, "not-found");
  auto r = server_->request(V::put, "/api/v1/auth/login", "{}", {{"Content-Type", "application/json"}});
  expect_problem(r, 405, "method-not-allowed");
  EXPECT_EQ(r.header("allow"), "POST");
}

TEST_F(ApiTest, AMalformedTargetIsAProblem) {
  for (const char* target : {"http://example.com/api/v1/songs", "*"}) {
    auto raw = server_->raw(std::string("GET ") + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw;
    EXPECT_NE(raw.find("malformed-request"), std::string::npos) << raw;
  }
  EXPECT_EQ(get("/healthz", "").status, 200);  // and the server is fine
}

// Password hashing (Argon2id) has threads and a bounded queue of its own: a
// flood of registrations gets 503s beyond the queue, and requests that only
// check a token are answered meanwhile.
TEST_F(ApiTest, APasswordFloodIsRefusedWhileTokensStillWork) {
  auto token = register_and_login("alice");
  constexpr int kFlood = 48;
  std::atomic<int> created{0}, busy{0}, other{0};
  std::vector<std::thread> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.emplace_back([&, i] {
      auto r = post_json("/api/v1/auth/register", {{"username", "flood" + std::to_string(i)}, {"password", "correct horse"}});
      if (r.status == 201) {
        ++created;
      } else if (r.status == 503 && r.body.find("password-checks-busy") != std::string::npos &&
                 r.header("retry-after") == "1") {
        ++busy;
      } else {
        ++other;
      }
    });
  }
  // While the flood is on, token checks are answered.
  int answered = 0;
  for (int i = 0; i < 20; ++i) answered += get("/api/v1/me", token).status == 200 ? 1 : 0;
  for (auto& t : flood) t.join();
  EXPECT_EQ(answered, 20);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(busy.load(), 0) << created.load() << " created";
  EXPECT_GT(created.load(), 0);
  // Once it is over, registering works again.
  EXPECT_EQ(post_json("/api/v1/auth/register", {{"username", "after"}, {"password", "correct horse"}}).status, 201);
}

TEST_F(ApiTest, RegistrationsPerAddressAreLimited) {
  AccountOptions accounts;
  accounts.registrations_per_address_per_hour = 3;
  make_server({}, accounts);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(post_json("/api/v1/auth/register", {{"username", "user" + std::to_string(i)}, {"password", "correct horse"}}).status,
              201);
  }
  auto r = post_json("/api/v1/auth/register", {{"username", "user3"}, {"password", "correct horse"}});
  expect_problem(r, 429, "too-many-requests");
  EXPECT_NE(r.header("retry-after"), "");
  // An hour later the address may register again.
  server_->clock().advance_ms(3600LL * 1000 + 1);
  EXPECT_EQ(post_json("/api/v1/auth/register", {{"username", "user3"}, {"password", "correct horse"}}).status, 201);
}

TEST_F(ApiTest, UnknownMethodsGetOneMetricsLabel) {
  auto token = register_and_login("alice");
  for (const char* method : {"FROBNICATE", "PROPFIND", "X1234567890"}) {
    auto raw = server_->raw(std::string(method) + " /api/v1/songs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.rfind("HTTP/1.1 501", 0), 0u) << raw;
    EXPECT_NE(raw.find("method-not-implemented"), std::string::npos) << raw;
  }
  auto metrics = get("/metrics", token).body;
  EXPECT_EQ(metrics.find("FROBNICATE"), std::string::npos);
  EXPECT_EQ(metrics.find("PROPFIND"), std::string::npos);
  EXPECT_NE(metrics.find("method=\"OTHER\",route=\"unknown-method\",status=\"501\"} 3"), std::string::npos) << metrics;
}

TEST_F(ApiTest, EveryOtherEndpointNeedsAToken) {
  for (auto target : {"/api/v1/me", "/api/v1/songs", "/api/v1/albums", "/metrics", "/api/v1/cluster"}) {
    expect_problem(get(target, ""), 401, "unauthenticated");
    expect_problem(get(target, "not-a-token"), 401, "unauthenticated");
  }
  expect_problem(server_->request(V::get, "/api/v1/me", {}, {{"Authorization", "Basic abc"}}), 401,
                 "unauthenticated");
}

TEST_F(ApiTest, RegisterLoginMeLogout) {
  auto r = post_json("/api/v1/auth/register", {{"username", "alice"}, {"password", "correct horse"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("username").as_string(), "alice");
  EXPECT_EQ(r.json().at("role").as_string(), "admin");  // the first account
  EXPECT_FALSE(r.json().as_object().contains("password_hash"));

  auto token = register_and_login("bob");
  auto me = get("/api/v1/me", token);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.json().at("username").as_string(), "bob");
  EXPECT_EQ(me.json().at("role").as_string(), "user");

  auto out = server_->request(V::post, "/api/v1/auth/logout", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(out.status, 204);
  expect_problem(get("/api/v1/me", token), 401, "unauthenticated");
}

TEST_F(ApiTest, RegistrationRejectsBadInput) {
  expect_problem(post_json("/api/v1/auth/register", {{"username", "a b c"}, {"password", "correct horse"}}), 400, "invalid-request");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "ab"}, {"password", "correct horse"}}), 400, "invalid-request");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "carol"}, {"password", "short"}}), 400, "invalid-request");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "carol"}}), 400, "invalid-request");
  expect_problem(post_json("/api/v1/auth/register", {{"username", 42}, {"password", "correct horse"}}), 400, "invalid-request");
  auto malformed = server_->request(V::post, "/api/v1/auth/register", "{\"username\": ",
                                    {{"Content-Type", "application/json"}});
  expect_problem(malformed, 400, "invalid-request");
  auto not_object = server_->request(V::post, "/api/v1/auth/register", "[1,2]",
                                     {{"Content-Type", "application/json"}});
  expect_problem(not_object, 400, "invalid-request");
  auto huge = server_->request(V::post, "/api/v1/auth/register", std::string(100 * 1024, ' '),
                               {{"Content-Type", "application/json"}});
  expect_problem(huge, 413, "payload-too-large");
  // Nothing was created by any of these.
  EXPECT_EQ(post_json("/api/v1/auth/register", {{"username", "carol"}, {"password", "correct horse"}}).json().at("role").as_string(), "admin");
}

TEST_F(ApiTest, TakenUsernameIsAConflictWhateverTheCase) {
  register_and_login("Björk");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "BJÖRK"}, {"password", "correct horse"}}), 409, "already-exists");
  // Decomposed form of the same name (o + combining diaeresis).
  expect_problem(post_json("/api/v1/auth/register", {{"username", "Bjo\xcc\x88rk"}, {"password", "correct horse"}}), 409, "already-exists");
}

TEST_F(ApiTest, WrongPasswordAndUnknownUserLookTheSame) {
  register_and_login("alice");
  auto wrong = post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "wrong password"}});
  auto unknown = post_json("/api/v1/auth/login", {{"username", "nobody"}, {"password", "wrong password"}});
  expect_problem(wrong, 401, "unauthenticated");
  expect_problem(unknown, 401, "unauthenticated");
  EXPECT_EQ(wrong.body, unknown.body);
}

TEST_F(ApiTest, LoginIsRateLimitedPerAccount) {
  AccountOptions options;
  options.max_failures_per_account = 3;
  make_server({}, options);
  register_and_login("alice");
  for (int i = 0; i < 3; ++i) {
    expect_problem(post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "wrong password"}}), 401, "unauthenticated");
  }
  auto limited = post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "correct horse"}});
  expect_problem(limited, 429, "too-many-requests");
  EXPECT_FALSE(limited.header("retry-after").empty());
  server_->clock().advance_ms(options.rate_window_ms + 1);
  EXPECT_EQ(post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "correct horse"}}).status, 200);
}

TEST_F(ApiTest, TokensSurviveARestart) {
  auto token = register_and_login("alice");
  server_->restart();
  EXPECT_EQ(get("/api/v1/me", token).status, 200);
}

TEST_F(ApiTest, SongsSurviveARestart) {
  auto token = register_and_login("alice");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.emplace_back(upload(token, make_wav(700 + i), "s.wav").json().at("id").as_string());
  }
  server_->restart();
  EXPECT_EQ(server_->catalog().size(), 5u);
  for (auto& id : ids) EXPECT_EQ(get("/api/v1/songs/" + id + "/stream", token).status, 200);
}

// The descriptors a node keeps open for the next read of a song are in its
// metrics, so that a count of its open descriptors can tell them from leaks.
TEST_F(ApiTest, MetricsShowTheBlobDescriptorsKeptForReads) {
  auto token = register_and_login("alice");
  const std::string a = upload(token, make_wav(300), "a.wav").json().at("id").as_string().c_str();
  const std::string b = upload(token, make_wav(301), "b.wav").json().at("id").as_string().c_str();
  EXPECT_NE(get("/metrics", token).body.find("\nhifi_blob_kept_descriptors 0\n"), std::string::npos);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(get("/api/v1/songs/" + a + "/stream", token).status, 200);
  auto metrics = get("/metrics", token).body;
  EXPECT_NE(metrics.find("\nhifi_blob_kept_descriptors 1\n"), std::string::npos) << metrics;
  ASSERT_EQ(get("/api/v1/songs/" + b + "/stream", token).status, 200);
  metrics = get("/metrics", token).body;
  EXPECT_NE(metrics.find("\nhifi_blob_kept_descriptors 2\n"), std::string::npos) << metrics;
}

TEST_F(ApiTest, ExpiredTokenIsRejected) {
  auto token = register_and_login("alice");
  server_->clock().advance_ms(AccountOptions{}.token_ttl_ms + 1);
  expect_problem(get("/api/v1/me", token), 401, "unauthenticated");
}

TEST_F(ApiTest, ClosedAndInviteRegistration) {
  AccountOptions closed;
  closed.registration = RegistrationMode::kClosed;
  make_server({}, closed);
  // The first account (the admin) can always register; nobody after it.
  EXPECT_EQ(post_json("/api/v1/auth/register", {{"username", "admin"}, {"password", "correct horse"}}).status, 201);
  expect_problem(post_json("/api/v1/auth/register", {{"username", "alice"}, {"password", "correct horse"}}), 403, "forbidden");

  AccountOptions invite;
  invite.registration = RegistrationMode::kInvite;
  std::filesystem::remove_all(dir_);
  dir_.clear();
  make_server({}, invite);
  auto admin = register_and_login("admin");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "alice"}, {"password", "correct horse"}}), 403, "forbidden");
  expect_problem(post_json("/api/v1/auth/register", {{"username", "alice"}, {"password", "correct horse"}, {"invite_code", "bogus"}}), 403, "forbidden");
  std::string code(post_json("/api/v1/invites", {}, admin).json().at("code").as_string());
  EXPECT_EQ(post_json("/api/v1/auth/register", {{"username", "alice"}, {"password", "correct horse"}, {"invite_code", code}}).status, 201);
  expect_problem(post_json("/api/v1/auth/register", {{"username", "bob"}, {"password", "correct horse"}, {"invite_code", code}}), 403, "forbidden");
}

TEST_F(ApiTest, AdminManagesUsersAndInvites) {
  auto admin = register_and_login("admin");
  auto user = register_and_login("alice");
  expect_problem(get("/api/v1/users", user), 403, "forbidden");
  expect_problem(post_json("/api/v1/invites", {}, user), 403, "forbidden");

  auto users = get("/api/v1/users", admin);
  ASSERT_EQ(users.status, 200);
  auto items = users.json().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  std::string alice_id;
  for (auto& item : items) {
    if (item.at("username").as_string() == "alice") alice_id = item.at("id").as_string();
  }
  ASSERT_FALSE(alice_id.empty());

  auto patch = server_->request(V::patch, "/api/v1/users/" + alice_id, R"({"disabled":true})",
                                {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}});
  ASSERT_EQ(patch.status, 200) << patch.body;
  EXPECT_TRUE(patch.json().at("disabled").as_bool());
  expect_problem(get("/api/v1/me", user), 401, "unauthenticated");
  expect_problem(post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "correct horse"}}), 401, "unauthenticated");

  auto invite = post_json("/api/v1/invites", {}, admin);
  ASSERT_EQ(invite.status, 201);
  EXPECT_EQ(invite.json().at("code").as_string().size(), 32u);
}

TEST_F(ApiTest, ChangePassword) {
  auto token = register_and_login("alice");
  expect_problem(post_json("/api/v1/me/password", {{"current_password", "nope nope"}, {"new_password", "another horse"}}, token), 403, "forbidden");
  auto other_session = std::string(post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "correct horse"}}).json().at("token").as_string());
  EXPECT_EQ(post_json("/api/v1/me/password", {{"current_password", "correct horse"}, {"new_password", "another horse"}}, token).status, 204);
  EXPECT_EQ(get("/api/v1/me", token).status, 200);  // the session that changed it stays
  expect_problem(get("/api/v1/me", other_session), 401, "unauthenticated");
  EXPECT_EQ(post_json("/api/v1/auth/login", {{"username", "alice"}, {"password", "another horse"}}).status, 200);
}

TEST_F(ApiTest, UploadThenDuplicate) {
  auto token = register_and_login("alice");
  auto wav = make_wav(440);
  auto first = upload(token, wav, "My%20Tune.wav");
  ASSERT_EQ(first.status, 201) << first.body;
  auto song = first.json().as_object();
  EXPECT_EQ(song.at("sha256").as_string(), to_hex(sha256(wav)));
  EXPECT_EQ(song.at("size").as_int64(), static_cast<std::int64_t>(wav.size()));
  EXPECT_EQ(song.at("title").as_string(), "My Tune");
  EXPECT_EQ(song.at("content_type").as_string(), "audio/wav");
  EXPECT_NEAR(static_cast<double>(song.at("duration_ms").as_int64()), 500.0, 30.0);
  for (auto field : {"id", "artist", "album"}) EXPECT_TRUE(song.contains(field)) << field;
  EXPECT_EQ(first.header("location"), "/api/v1/songs/" + std::string(song.at("id").as_string()));

  auto again = upload(token, wav, "copy.wav");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json().at("id"), song.at("id"));
  EXPECT_EQ(server_->catalog().size(), 1u);
  EXPECT_EQ(temp_files(), 0u);

  auto by_hash = get("/api/v1/songs/by-sha256/" + to_hex(sha256(wav)), token);
  EXPECT_EQ(by_hash.status, 200);
  expect_problem(get("/api/v1/songs/by-sha256/" + std::string(64, 'a'), token), 404, "not-found");
}

TEST_F(ApiTest, UploadWithDigest) {
  auto token = register_and_login("alice");
  auto wav = make_wav(500);
  auto good = upload(token, wav, "a.wav", {{"Repr-Digest", format_sha256_digest_header(sha256(wav))}});
  EXPECT_EQ(good.status, 201) << good.body;

  auto other = make_wav(501);
  auto bad = upload(token, other, "b.wav", {{"Repr-Digest", format_sha256_digest_header(sha256("something else"))}});
  expect_problem(bad, 400, "digest-mismatch");
  auto malformed = upload(token, other, "b.wav", {{"Repr-Digest", "sha-256=not-base64"}});
  expect_problem(malformed, 400, "invalid-request");
  EXPECT_EQ(server_->catalog().size(), 1u);
  EXPECT_FALSE(server_->blobs().exists(ContentHash::of(other)));
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(ApiTest, UploadRejectsWhatIsNotAudio) {
  auto token = register_and_login("alice");
  auto r = upload(token, "this is just text, not a song\n", "notes.mp3");
  expect_problem(r, 415, "unsupported-media-type");
  auto json_type = upload(token, make_wav(300), "x.wav", {{"Content-Type", "application/json"}});
  expect_problem(json_type, 415, "unsupported-media-type");
  auto empty = upload(token, "", "empty.wav");
  expect_problem(empty, 415, "unsupported-media-type");
  EXPECT_EQ(server_->catalog().size(), 0u);
  EXPECT_EQ(temp_files(), 0u);
}

TEST_F(ApiTest, UploadTooLarge) {
  auto token = register_and_login("alice");
  auto big = make_wav(440, 70.0);  // ~1.1 MB > the 1 MiB test limit
  auto r = upload(token, big, "big.wav");
  expect_problem(r, 413, "payload-too-large");
  EXPECT_EQ(server_->catalog().size(), 0u);
}

TEST_F(ApiTest, MultipartUpload) {
  auto token = register_and_login("alice");
  auto wav = make_wav(620);
  std::string boundary = "----hifi-boundary-42";
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhello\r\n--" +
                     boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"Morning Song.wav\"\r\n"
                     "Content-Type: audio/wav\r\n\r\n" + wav + "\r\n--" + boundary + "--\r\n";
  auto r = server_->request(V::post, "/api/v1/songs", body,
                            {{"Authorization", "Bearer " + token},
                             {"Content-Type", "multipart/form-data; boundary=" + boundary}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("title").as_string(), "Morning Song");
  EXPECT_EQ(r.json().at("sha256").as_string(), to_hex(sha256(wav)));

  auto no_file = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhi\r\n--" + boundary + "--\r\n";
  auto r2 = server_->request(V::post, "/api/v1/songs", no_file,
                             {{"Authorization", "Bearer " + token},
                              {"Content-Type", "multipart/form-data; boundary=" + boundary}});
  expect_problem(r2, 400, "invalid-request");
  auto truncated = body.substr(0, body.size() - 10);
  auto r3 = server_->request(V::post, "/api/v1/songs", truncated,
                             {{"Authorization", "Bearer " + token},
                              {"Content-Type", "multipart/form-data; boundary=" + boundary}});
  expect_problem(r3, 400, "invalid-request");
}

TEST_F(ApiTest, SearchSortAndPaginate) {
  auto token = register_and_login("alice");
  ASSERT_EQ(upload(token, make_wav(300), "Bj%C3%B6rk%20-%20J%C3%B3ga.wav").status, 201);
  for (int i = 0; i < 7; ++i) {
    ASSERT_EQ(upload(token, make_wav(400 + i), "Track " + std::to_string(i) + ".wav").status, 201);
  }
  auto found = get("/api/v1/songs?q=BJ%C3%96RK", token);
  ASSERT_EQ(found.status, 200) << found.body;
  ASSERT_EQ(found.json().at("items").as_array().size(), 1u);
  EXPECT_EQ(found.json().at("items").at(0).at("title").as_string(), "Björk - Jóga");

  std::vector<std::string> titles;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto r = get("/api/v1/songs?q=track&sort=title&order=desc&limit=3" +
                     (cursor.empty() ? "" : "&cursor=" + cursor), token);
    ASSERT_EQ(r.status, 200) << r.body;
    auto page_json = r.json();
    for (auto& item : page_json.at("items").as_array()) titles.emplace_back(item.at("title").as_string());
    if (page_json.at("next").is_null()) break;
    cursor = std::string(page_json.at("next").as_string());
    // Cursors are base64 and may contain '+', '/' and '='.
    std::string escaped;
    for (char c : cursor) {
      if (std::isalnum(static_cast<unsigned char>(c))) escaped += c;
      else { char b[4]; std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(c)); escaped += b; }
    }
    cursor = escaped;
  }
  ASSERT_EQ(titles.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(titles[i], "Track " + std::to_string(6 - i));

  expect_problem(get("/api/v1/songs?limit=0", token), 400, "invalid-request");
  expect_problem(get("/api/v1/songs?sort=colour", token), 400, "invalid-request");
  expect_problem(get("/api/v1/songs?cursor=!!!", token), 400, "invalid-request");
}

TEST_F(ApiTest, ControlCharactersNeverReachTheLibrary) {
  auto token = register_and_login("alice");
  // ESC sequences and a CR LF in the file name (percent-encoded, as X-Filename is).
  auto up = upload(token, make_wav(612), "evil%1B%5B2J%0D%0Aforged.wav");
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_EQ(up.json().at("filename").as_string(), "evil[2J  forged.wav");
  EXPECT_EQ(up.json().at("title").as_string(), "evil[2J  forged");
}

// FileHeader writes values as they are, but never a line break or NUL:
// a value cannot end its field and start another.
TEST(FileHeaderTest, AValueCannotEndItsField) {
  http_internal::FileHeader header(boost::beast::http::status::partial_content);
  using namespace std::string_view_literals;
  header.set("Content-Type", "audio/x\r\nSet-Cookie: a=b\n\0c"sv);
  header.set_number("Content-Length", 18446744073709551615ull);
  header.set(boost::beast::http::field::etag, "\"abc\"");
  EXPECT_FALSE(header.has_policy());
  header.set("content-security-policy", "default-src 'self'");
  EXPECT_TRUE(header.has_policy());
  EXPECT_EQ(header.finish(), std::string("HTTP/1.1 206 Partial Content\r\n"
                                         "Content-Type: audio/x  Set-Cookie: a=b  c\r\n"
                                         "Content-Length: 18446744073709551615\r\n"
                                         "ETag: \"abc\"\r\n"
                                         "content-security-policy: default-src 'self'\r\n"
                                         "\r\n"));
}

// The check for CR, LF and NUL looks at eight bytes at a time: each of them,
// at every place in values of every length up to three words, is found.
TEST(FileHeaderTest, AControlByteIsFoundAnywhereInTheValue) {
  for (const char bad : {'\r', '\n', '\0'}) {
    for (std::size_t size = 1; size <= 24; ++size) {
      for (std::size_t at = 0; at < size; ++at) {
        std::string value(size, '~');  // 0x7e, the largest byte a field value usually holds
        value[at] = bad;
        http_internal::FileHeader header(boost::beast::http::status::ok);
        header.set("X", value);
        const auto& text = header.finish();
        std::string expected(size, '~');
        expected[at] = ' ';
        EXPECT_EQ(text, "HTTP/1.1 200 OK\r\nX: " + expected + "\r\n\r\n") << "byte " << int(bad) << " at " << at;
      }
    }
  }
  // Bytes above 0x7f (UTF-8) and the tab stay as they are.
  http_internal::FileHeader header(boost::beast::http::status::ok);
  header.set("X", "caf\xc3\xa9\tn\xff\x80 plain text");
  EXPECT_EQ(header.finish(), "HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\tn\xff\x80 plain text\r\n\r\n");
}

// A song's bytes go out with a header written as text (FileHeader, not
// Beast's fields): every field once, the connection's fields included.
TEST_F(ApiTest, AStreamsHeaderCarriesEachFieldOnce) {
  auto token = register_and_login("alice");
  auto wav = make_wav(441);
  const std::string id(upload(token, wav, "a.wav").json().at("id").as_string());
  const auto raw = server_->raw("GET /api/v1/songs/" + id + "/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                                "\r\nOrigin: http://elsewhere\r\nRange: bytes=10-29\r\nConnection: close\r\n\r\n");
  const auto end = raw.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos) << raw;
  EXPECT_EQ(raw.substr(end + 4), wav.substr(10, 20));
  std::istringstream lines(raw.substr(0, end + 2));  // each line with its CR LF
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "HTTP/1.1 206 Partial Content\r");
  std::map<std::string, std::vector<std::string>> fields;
  while (std::getline(lines, line)) {
    ASSERT_FALSE(line.empty());
    ASSERT_EQ(line.back(), '\r') << line;
    const auto colon = line.find(": ");
    ASSERT_NE(colon, std::string::npos) << line;
    fields[ascii_lowercase(line.substr(0, colon))].push_back(line.substr(colon + 2, line.size() - colon - 3));
  }
  const std::map<std::string, std::string> want = {
      {"content-range", "bytes 10-29/" + std::to_string(wav.size())},
      {"content-type", "audio/wav"},
      {"cache-control", "private, max-age=31536000, immutable"},
      {"content-length", "20"},
      {"accept-ranges", "bytes"},
      {"etag", "\"" + to_hex(sha256(wav)) + "\""},
      {"repr-digest", format_sha256_digest_header(sha256(wav))},
      {"connection", "close"},
      {"server", "hifi"},
      {"x-content-type-options", "nosniff"},
      {"x-frame-options", "DENY"},
      {"referrer-policy", "no-referrer"},
      {"content-security-policy", "default-src 'none'; frame-ancestors 'none'"},
      {"access-control-allow-origin", "*"},
      {"access-control-expose-headers", "ETag, Repr-Digest, Content-Range, Content-Length, Location, Retry-After"},
  };
  for (const auto& [name, value] : want) {
    EXPECT_EQ(fields[name], std::vector<std::string>{value}) << name;
  }
  EXPECT_EQ(fields.size(), want.size());
}

TEST_F(ApiTest, StreamWholeRangeAndConditional) {
  auto token = register_and_login("alice");
  auto wav = make_wav(440);
  auto up = upload(token, wav, "a.wav");
  std::string id(up.json().at("id").as_string());
  auto whole = get("/api/v1/songs/" + id + "/stream", token);
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, wav);
  EXPECT_EQ(whole.header("content-type"), "audio/wav");
  EXPECT_EQ(whole.header("accept-ranges"), "bytes");
  auto etag = whole.header("etag");
  EXPECT_EQ(etag, "\"" + to_hex(sha256(wav)) + "\"");
  EXPECT_EQ(whole.header("repr-digest"), format_sha256_digest_header(sha256(wav)));

  auto part = get("/api/v1/songs/" + id + "/stream", token, {{"Range", "bytes=100-199"}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.body, wav.substr(100, 100));
  EXPECT_EQ(part.header("content-range"), "bytes 100-199/" + std::to_string(wav.size()));

  auto suffix = get("/api/v1/songs/" + id + "/stream", token, {{"Range", "bytes=-10"}});
  ASSERT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.body, wav.substr(wav.size() - 10));

  auto unsatisfiable = get("/api/v1/songs/" + id + "/stream", token, {{"Range", "bytes=999999-"}});
  expect_problem(unsatisfiable, 416, "range-not-satisfiable");
  EXPECT_EQ(unsatisfiable.header("content-range"), "bytes */" + std::to_string(wav.size()));

  auto not_modified = get("/api/v1/songs/" + id + "/stream", token, {{"If-None-Match", etag}});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_TRUE(not_modified.body.empty());

  auto head = server_->request(V::head, "/api/v1/songs/" + id + "/stream", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(wav.size()));

  expect_problem(get("/api/v1/songs/" + id + "/stream", ""), 401, "unauthenticated");
  expect_problem(get("/api/v1/songs/nosuchsong/stream", token), 404, "not-found");
}

TEST_F(ApiTest, SignedStreamUrls) {
  auto token = register_and_login("alice");
  auto wav = make_wav(440);
  std::string id(upload(token, wav, "a.wav").json().at("id").as_string());
  auto signed_url = get("/api/v1/songs/" + id + "/stream-url", token);
  ASSERT_EQ(signed_url.status, 200);
  std::string url(signed_url.json().at("url").as_string());
  auto r = get(url, "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, wav);

  auto tampered = url;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  expect_problem(get(tampered, ""), 403, "bad-signature");
  // A signature for one song does not open another.
  std::string other(upload(token, make_wav(441), "b.wav").json().at("id").as_string());
  auto swapped = url;
  swapped.replace(swapped.find(id), id.size(), other);
  expect_problem(get(swapped, ""), 403, "bad-signature");

  server_->clock().advance_ms(ServerConfig{}.signed_url_ttl_ms + 1000);
  expect_problem(get(url, ""), 403, "bad-signature");
}

TEST_F(ApiTest, DeleteByUploaderOrAdminOnly) {
  auto admin = register_and_login("admin");
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto wav = make_wav(440);
  std::string id(upload(alice, wav, "a.wav").json().at("id").as_string());
  expect_problem(server_->request(V::delete_, "/api/v1/songs/" + id, {}, {{"Authorization", "Bearer " + bob}}), 403, "forbidden");
  EXPECT_EQ(server_->request(V::delete_, "/api/v1/songs/" + id, {}, {{"Authorization", "Bearer " + alice}}).status, 204);
  expect_problem(get("/api/v1/songs/" + id, alice), 404, "not-found");
  EXPECT_FALSE(server_->blobs().exists(ContentHash::of(wav)));

  std::string id2(upload(alice, make_wav(450), "b.wav").json().at("id").as_string());
  EXPECT_EQ(server_->request(V::delete_, "/api/v1/songs/" + id2, {}, {{"Authorization", "Bearer " + admin}}).status, 204);
}

TEST_F(ApiTest, AlbumsAndArtistsFromTags) {
  auto token = register_and_login("alice");
  ASSERT_EQ(upload(token, make_tagged_wav(440, "Hunter", "Björk", "Homogenic"), "1.wav").status, 201);
  ASSERT_EQ(upload(token, make_tagged_wav(450, "Jóga", "Björk", "Homogenic"), "2.wav").status, 201);
  ASSERT_EQ(upload(token, make_tagged_wav(460, "Army of Me", "Björk", "Post"), "3.wav").status, 201);
  ASSERT_EQ(upload(token, make_tagged_wav(470, "Teardrop", "Massive Attack", "Mezzanine"), "4.wav").status, 201);

  auto albums = get("/api/v1/albums", token);
  ASSERT_EQ(albums.status, 200);
  std::map<std::string, json::object> by_name;
  const auto albums_json = albums.json();
  for (const auto& a : albums_json.at("items").as_array()) by_name[std::string(a.at("name").as_string())] = a.as_object();
  ASSERT_EQ(by_name.size(), 3u) << albums.body;
  const auto& homogenic = by_name.at("Homogenic");
  EXPECT_EQ(homogenic.at("artist").as_string(), "Björk");
  EXPECT_EQ(homogenic.at("song_count").as_int64(), 2);
  EXPECT_EQ(by_name.at("Post").at("song_count").as_int64(), 1);

  auto album = get("/api/v1/albums/" + std::string(homogenic.at("id").as_string()), token);
  ASSERT_EQ(album.status, 200);
  std::set<std::string> titles;
  const auto album_json = album.json();
  for (const auto& song : album_json.at("songs").as_array()) titles.insert(std::string(song.at("title").as_string()));
  EXPECT_EQ(titles, (std::set<std::string>{"Hunter", "Jóga"}));

  auto artists = get("/api/v1/artists", token);
  ASSERT_EQ(artists.status, 200);
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> counts;  // songs, albums
  const auto artists_json = artists.json();
  for (const auto& a : artists_json.at("items").as_array()) {
    counts[std::string(a.at("name").as_string())] = {a.at("song_count").as_int64(), a.at("album_count").as_int64()};
  }
  EXPECT_EQ(counts.at("Björk"), std::make_pair(std::int64_t{3}, std::int64_t{2}));
  EXPECT_EQ(counts.at("Massive Attack"), std::make_pair(std::int64_t{1}, std::int64_t{1}));
  expect_problem(get("/api/v1/albums/0123456789abcdef", token), 404, "not-found");
}

TEST_F(ApiTest, MetricsInPrometheusFormat) {
  auto token = register_and_login("alice");
  // A request is counted once its answer is written, so the login's count
  // may land just after the client has read that answer.
  HttpResult r;
  const std::string login = "hifi_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"200\"} 1";
  EXPECT_TRUE(testing::eventually([&] {
    r = get("/metrics", token);
    return r.body.find(login) != std::string::npos;
  })) << r.body;
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("hifi_store_operation_seconds_count{op=\"txn\"}"), std::string::npos);
  EXPECT_NE(r.body.find("hifi_active_streams 0"), std::string::npos);
}

TEST_F(ApiTest, OversizedHeaderAndGarbage) {
  auto big = server_->raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
  EXPECT_NE(big.find("431"), std::string::npos) << big.substr(0, 200);
  auto garbage = server_->raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_NE(garbage.find("400"), std::string::npos) << garbage.substr(0, 200);
  // The server is still fine.
  EXPECT_EQ(get("/healthz", "").status, 200);
}

// A target that is valid HTTP but not a valid URL (raw non-ASCII bytes)
// crashed the server with a double free before the fix in dispatch.
TEST_F(ApiTest, NonAsciiRequestTargetGetsA400NotACrash) {
  for (int i = 0; i < 3; ++i) {
    auto r = server_->request(V::get, "/rest/search3?query=BJ\xc3\x96RK");
    expect_problem(r, 400, "malformed-request");
  }
  EXPECT_EQ(get("/healthz", "").status, 200);
}

TEST_F(ApiTest, CrossOriginRequestsAreAllowed) {
  auto preflight = server_->request(V::options, "/api/v1/songs", {},
                                    {{"Origin", "http://other-node:8080"},
                                     {"Access-Control-Request-Method", "POST"},
                                     {"Access-Control-Request-Headers", "authorization"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(preflight.header("access-control-allow-headers").find("Authorization"), std::string::npos);
  auto token = register_and_login("alice");
  auto r = get("/api/v1/me", token, {{"Origin", "http://other-node:8080"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  // Same-origin requests carry no CORS headers.
  EXPECT_TRUE(get("/api/v1/me", token).header("access-control-allow-origin").empty());
}

TEST_F(ApiTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto two = server_->raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t count = 0;
  for (auto pos = two.find("HTTP/1.1 200"); pos != std::string::npos; pos = two.find("HTTP/1.1 200", pos + 1)) ++count;
  EXPECT_EQ(count, 2u);
}

}  // namespace
}  // namespace hifi::testing

namespace hifi::testing {
namespace {

TEST(DataDir, CreatedPrivateWhateverTheUmask) {
  auto dir = fresh_dir("private");
  const auto old_umask = ::umask(0);  // the most permissive
  {
    TestServer server(dir / "data", ServerConfig{});
    struct stat st {};
    ASSERT_EQ(::stat((dir / "data").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat((dir / "data" / "meta.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    server.stop();
  }
  ::umask(old_umask);
  std::filesystem::remove_all(dir);
}

TEST(StaticFiles, ServesTheWebUiAndNothingOutsideIt) {
  auto dir = fresh_dir("static");
  auto web = dir / "web";
  std::filesystem::create_directories(web / "js");
  { std::ofstream(web / "index.html") << "<!doctype html><title>HiFi</title>"; }
  { std::ofstream(web / "js" / "app.js") << "export const x = 1;"; }
  { std::ofstream(web / ".secret") << "no"; }
  { std::ofstream(dir / "outside.txt") << "no"; }
  ServerConfig config;
  config.web_root = web.string();
  TestServer server(dir / "data", config);
  auto index = server.request(http::verb::get, "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("HiFi"), std::string::npos);
  auto js = server.request(http::verb::get, "/js/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(server.request(http::verb::get, "/js/app.js", {}, {{"If-None-Match", js.header("etag")}}).status, 304);
  // Client-side routes get the app; files that do not exist are 404.
  EXPECT_EQ(server.request(http::verb::get, "/rooms/abc").body, index.body);
  EXPECT_EQ(server.request(http::verb::get, "/nope.js").status, 404);
  EXPECT_EQ(server.request(http::verb::get, "/.secret").status, 404);
  EXPECT_EQ(server.request(http::verb::get, "/../outside.txt").status, 404);
  EXPECT_EQ(server.request(http::verb::get, "/%2e%2e/outside.txt").status, 404);
  EXPECT_EQ(server.request(http::verb::get, "/js%2f..%2f..%2foutside.txt").status, 404);
  // The API keeps its own 404s and 401s.
  EXPECT_EQ(server.request(http::verb::get, "/api/v1/nothing").status, 404);
  EXPECT_EQ(server.request(http::verb::get, "/api/v1/songs").status, 401);

  // The app runs under a strict policy (no inline code, no eval, no
  // framing), which a 304 repeats; every other response forbids everything.
  const auto policy = index.header("content-security-policy");
  EXPECT_NE(policy.find("script-src 'self';"), std::string::npos) << policy;
  EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos) << policy;
  EXPECT_EQ(policy.find("unsafe"), std::string::npos) << policy;
  auto revalidated = server.request(http::verb::get, "/", {}, {{"If-None-Match", index.header("etag")}});
  EXPECT_EQ(revalidated.status, 304);
  EXPECT_EQ(revalidated.header("content-security-policy"), policy);
  for (const auto& r : {index, js, server.request(http::verb::get, "/api/v1/songs"),
                        server.request(http::verb::get, "/healthz")}) {
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
    EXPECT_EQ(r.header("x-frame-options"), "DENY");
    EXPECT_EQ(r.header("referrer-policy"), "no-referrer");
  }
  EXPECT_EQ(js.header("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
  server.stop();
  std::filesystem::remove_all(dir);
}

TEST(StaticFiles, TextFilesGoCompressedToClientsThatAcceptGzip) {
  auto dir = fresh_dir("static-gzip");
  auto web = dir / "web";
  std::filesystem::create_directories(web / "js");
  std::string script;
  for (int i = 0; i < 400; ++i) script += "export const value" + std::to_string(i) + " = 'the same words again';\n";
  std::string html = "<!doctype html><title>HiFi</title>" + std::string(2000, ' ') + "<p>HiFi</p>";
  { std::ofstream(web / "index.html") << html; }
  { std::ofstream(web / "js" / "app.js") << script; }
  { std::ofstream(web / "cover.png") << std::string(4000, 'x'); }
  ServerConfig config;
  config.web_root = web.string();
  TestServer server(dir / "data", config);
  auto gunzip = [&](const std::string& body) {
    auto out = dir / "body.gz";
    { std::ofstream(out, std::ios::binary) << body; }
    auto cmd = "gzip -dc " + out.string();
    std::string text;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
    EXPECT_EQ(::pclose(p), 0);
    return text;
  };
  const std::map<std::string, std::string> gzip{{"Accept-Encoding", "br;q=1, gzip;q=0.8"}};
  for (int round = 0; round < 2; ++round) {  // made, then from the cache
    auto js = server.request(http::verb::get, "/js/app.js", {}, gzip);
    ASSERT_EQ(js.status, 200);
    EXPECT_EQ(js.header("content-encoding"), "gzip");
    EXPECT_EQ(js.header("vary"), "Accept-Encoding");
    EXPECT_LT(js.body.size(), script.size() / 10);
    EXPECT_EQ(gunzip(js.body), script);
    EXPECT_EQ(server.request(http::verb::get, "/js/app.js", {}, {{"Accept-Encoding", "gzip"}, {"If-None-Match", js.header("etag")}})
                  .status,
              304);
  }
  // The compressed and the plain file are told apart by their ETags.
  auto plain = server.request(http::verb::get, "/js/app.js");
  EXPECT_EQ(plain.header("content-encoding"), "");
  EXPECT_EQ(plain.header("vary"), "Accept-Encoding");
  EXPECT_EQ(plain.body, script);
  auto gz = server.request(http::verb::get, "/js/app.js", {}, gzip);
  EXPECT_NE(plain.header("etag"), gz.header("etag"));
  EXPECT_EQ(server.request(http::verb::get, "/js/app.js", {}, {{"Accept-Encoding", "gzip"}, {"If-None-Match", plain.header("etag")}})
                .status,
            200);
  // q=0 refuses gzip; the app's page keeps its policy compressed.
  EXPECT_EQ(server.request(http::verb::get, "/js/app.js", {}, {{"Accept-Encoding", "gzip;q=0, identity"}})
                .header("content-encoding"),
            "");
  auto page = server.request(http::verb::get, "/", {}, gzip);
  EXPECT_EQ(page.header("content-encoding"), "gzip");
  EXPECT_EQ(gunzip(page.body), html);
  EXPECT_NE(page.header("content-security-policy").find("script-src 'self'"), std::string::npos);
  // Images are not text: sent as they are.
  EXPECT_EQ(server.request(http::verb::get, "/cover.png", {}, gzip).header("content-encoding"), "");
  // A changed file is compressed anew.
  { std::ofstream(web / "js" / "app.js", std::ios::app) << "export const last = 1;\n"; }
  EXPECT_EQ(gunzip(server.request(http::verb::get, "/js/app.js", {}, gzip).body), script + "export const last = 1;\n");
  server.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hifi::testing
