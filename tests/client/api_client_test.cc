// ApiClient against the real in-process server (tests/server/test_server.h),
// plus a few canned-response servers for what the real one never does.
#include "client/api_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/sha256.h"
#include "server/test_server.h"

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace asio = boost::asio;
using hifi::testing::TestServer;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A port on which nothing listens (bound, then released).
std::string closed_server() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return "http://127.0.0.1:" + std::to_string(port);
}

using Progress = std::pair<std::uint64_t, std::uint64_t>;

// Records progress calls and checks that they only go forward.
struct ProgressLog {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  ProgressFn fn() {
    return [this](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); };
  }
  bool monotone() const {
    for (std::size_t i = 1; i < calls.size(); ++i) {
      if (calls[i].first < calls[i - 1].first) return false;
    }
    return true;
  }
};

class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = hifi::testing::fresh_dir("client");
    make_server();
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  void make_server(ServerConfig config = {}, const std::string& name = "server") {
    server_.reset();
    if (config.max_upload_bytes == (512ULL << 20)) config.max_upload_bytes = 4 << 20;
    server_ = std::make_unique<TestServer>(dir_ / name, config);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  ClientOptions options(std::vector<std::string> servers) const {
    ClientOptions o;
    o.servers = std::move(servers);
    o.connect_timeout_ms = 2000;
    o.request_timeout_ms = 10000;
    return o;
  }

  // Registers and logs in through the client itself; returns the token.
  std::string login(ApiClient& client, const std::string& name = "alice") {
    json::value creds = json::object{{"username", name}, {"password", "correct horse"}};
    auto reg = client.json("POST", "/api/v1/auth/register", &creds);
    EXPECT_TRUE(reg) << reg.error.message();
    auto res = client.json("POST", "/api/v1/auth/login", &creds);
    EXPECT_TRUE(res) << res.error.message();
    if (!res) return {};
    std::string token(res->at("token").as_string());
    client.set_token(token);
    return token;
  }

  fs::path write_song(const std::string& name, const std::string& bytes) {
    auto p = dir_ / name;
    write_file(p, bytes);
    return p;
  }

  // Uploads a WAV and returns its id.
  std::string upload(ApiClient& client, const std::string& bytes,
                     const std::string& name = "tone.wav") {
    auto p = write_song(name, bytes);
    auto res = client.upload_song(p.string(), sha256_file(p.string()), nullptr);
    EXPECT_TRUE(res) << res.error.message();
    return res ? std::string(res->at("id").as_string()) : std::string();
  }

  fs::path dir_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ApiClientTest, RequestAndJsonHappyPath) {
  ApiClient client(options({url()}));
  EXPECT_EQ(client.current_server(), url());
  auto health = client.request("GET", "/healthz");
  ASSERT_TRUE(health) << health.error.message();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->header("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(health->body).at("status").as_string(), "ok");

  login(client);
  EXPECT_FALSE(client.token().empty());
  auto me = client.json("GET", "/api/v1/me");
  ASSERT_TRUE(me) << me.error.message();
  EXPECT_EQ(me->at("username").as_string(), "alice");

  // 204: an empty body is JSON null.
  auto out = client.json("POST", "/api/v1/auth/logout");
  ASSERT_TRUE(out) << out.error.message();
  EXPECT_TRUE(out->is_null());
}

TEST_F(ApiClientTest, ProblemsBecomeApiErrors) {
  ApiClient client(options({url()}));
  auto anon = client.json("GET", "/api/v1/me");
  ASSERT_FALSE(anon);
  EXPECT_EQ(anon.error.status, 401);
  EXPECT_EQ(anon.error.type, "unauthenticated");
  EXPECT_EQ(anon.error.exit_code(), kExitAuth);

  login(client);
  auto missing = client.json("GET", "/api/v1/songs/0123456789abcdef0123456789abcdef");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error.status, 404);
  EXPECT_EQ(missing.error.type, "not-found");
  EXPECT_FALSE(missing.error.detail.empty());
  EXPECT_EQ(missing.error.exit_code(), kExitNotFound);
  EXPECT_TRUE(missing.error.body.is_object());
  EXPECT_NE(missing.error.message().find("(HTTP 404 not-found)"), std::string::npos)
      << missing.error.message();

  json::value dup = json::object{{"username", "alice"}, {"password", "correct horse"}};
  auto conflict = client.json("POST", "/api/v1/auth/register", &dup);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error.status, 409);
  EXPECT_EQ(conflict.error.exit_code(), kExitFailure);

  auto bad = client.request("POST", "/api/v1/auth/login", "{nope");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error.status, 400);
  EXPECT_EQ(bad.error.type, "invalid-request");
}

TEST_F(ApiClientTest, ExitCodes) {
  auto code = [](int status, std::string type = {}) {
    ApiError e;
    e.status = status;
    e.type = std::move(type);
    return e.exit_code();
  };
  EXPECT_EQ(code(401), kExitAuth);
  EXPECT_EQ(code(403), kExitAuth);
  EXPECT_EQ(code(404), kExitNotFound);
  for (int s : {400, 409, 413, 415, 416, 422}) EXPECT_EQ(code(s), kExitFailure) << s;
  EXPECT_EQ(code(500), kExitServer);
  EXPECT_EQ(code(503), kExitServer);
  EXPECT_EQ(code(0), kExitNetwork);
  EXPECT_EQ(code(0, "local-error"), kExitFailure);
}

TEST_F(ApiClientTest, FailsOverToTheNextServer) {
  const auto down = closed_server();
  ApiClient client(options({down, url()}));
  auto health = client.request("GET", "/healthz");
  ASSERT_TRUE(health) << health.error.message();
  EXPECT_EQ(client.current_server(), url());
  // HTTP errors are answers, not failures: the client stays put.
  auto missing = client.request("GET", "/nope");
  EXPECT_EQ(missing.error.status, 404);
  EXPECT_EQ(client.current_server(), url());
}

TEST_F(ApiClientTest, AllServersDown) {
  const auto a = closed_server();
  const auto b = closed_server();
  ApiClient client(options({a, b}));
  auto res = client.json("GET", "/api/v1/me");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.status, 0);
  EXPECT_EQ(res.error.exit_code(), kExitNetwork);
  const auto msg = res.error.message();
  EXPECT_NE(msg.find("could not reach " + a + ", " + b), std::string::npos) << msg;
  EXPECT_NE(msg.find("connection refused"), std::string::npos) << msg;

  ApiClient none(options({}));
  EXPECT_EQ(none.request("GET", "/healthz").error.exit_code(), kExitNetwork);
}

TEST_F(ApiClientTest, UnreachableHttpsAndGarbageUrlsFailOverClearly) {
  ApiClient client(options({"https://example.invalid", "ftp://x", url()}));
  ASSERT_TRUE(client.request("GET", "/healthz"));
  EXPECT_EQ(client.current_server(), url());

  // An https:// server is tried (TLS: tls_client_test.cc); this one has no
  // address, and the error says so.
  ApiClient only_https(options({"https://example.invalid"}));
  auto res = only_https.request("GET", "/healthz");
  EXPECT_EQ(res.error.status, 0);
  EXPECT_NE(res.error.message().find("unknown host"), std::string::npos) << res.error.message();
}

TEST_F(ApiClientTest, UploadStreamsTheFileWithItsDigest) {
  ApiClient client(options({url()}));
  login(client);
  const auto wav = hifi::testing::make_wav(440, 8.0);  // ~128 KB
  auto path = write_song("a tone & more.wav", wav);
  const auto sha = sha256_file(path.string());
  EXPECT_EQ(sha, to_hex(sha256(wav)));

  ProgressLog log;
  auto res = client.upload_song(path.string(), sha, log.fn());
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(res->at("sha256").as_string(), sha);
  EXPECT_EQ(res->at("size").as_int64(), static_cast<std::int64_t>(wav.size()));
  ASSERT_FALSE(log.calls.empty());
  EXPECT_TRUE(log.monotone());
  EXPECT_EQ(log.calls.back(), (Progress{wav.size(), wav.size()}));

  // The same bytes again: the existing song (200), not an error.
  auto again = client.upload_song(path.string(), sha, nullptr);
  ASSERT_TRUE(again) << again.error.message();
  EXPECT_EQ(again->at("id"), res->at("id"));
}

TEST_F(ApiClientTest, UploadWithTheWrongDigestIsRejected) {
  ApiClient client(options({url()}));
  login(client);
  auto path = write_song("tone.wav", hifi::testing::make_wav(330));
  auto res = client.upload_song(path.string(), to_hex(sha256("something else")), nullptr);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.status, 400);
  EXPECT_EQ(res.error.type, "digest-mismatch");
  EXPECT_EQ(res.error.exit_code(), kExitFailure);
}

TEST_F(ApiClientTest, UploadRefusedEarly) {
  auto path = write_song("big.wav", hifi::testing::make_wav(440, 2.0));
  {
    ApiClient client(options({url()}));
    ProgressLog log;
    auto anon = client.upload_song(path.string(), sha256_file(path.string()), log.fn());
    ASSERT_FALSE(anon);
    EXPECT_EQ(anon.error.status, 401);
    EXPECT_EQ(anon.error.exit_code(), kExitAuth);
    EXPECT_TRUE(log.calls.empty());  // refused before the body went out
  }

  ServerConfig config;
  config.max_upload_bytes = 4096;
  make_server(config, "small");
  ApiClient client(options({url()}));
  login(client);
  ProgressLog log;
  auto big = client.upload_song(path.string(), sha256_file(path.string()), log.fn());
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error.status, 413);
  EXPECT_EQ(big.error.type, "payload-too-large");
  EXPECT_TRUE(log.calls.empty());

  auto missing = client.upload_song((dir_ / "nope.wav").string(), "", nullptr);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error.status, 0);
  EXPECT_EQ(missing.error.exit_code(), kExitFailure);
}

TEST_F(ApiClientTest, DownloadWholeAndResume) {
  ApiClient client(options({url()}));
  login(client);
  const auto wav = hifi::testing::make_wav(523.25, 8.0);
  const auto id = upload(client, wav);
  ASSERT_FALSE(id.empty());
  const std::string target = "/api/v1/songs/" + id + "/stream";

  // Whole.
  auto whole = dir_ / "whole.wav";
  ProgressLog log;
  auto size = client.download(target, whole.string(), log.fn());
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(*size, wav.size());
  EXPECT_EQ(read_file(whole), wav);
  ASSERT_FALSE(log.calls.empty());
  EXPECT_TRUE(log.monotone());
  EXPECT_EQ(log.calls.front().first, 0u);
  EXPECT_EQ(log.calls.back(), (Progress{wav.size(), wav.size()}));

  // Resumed from half.
  auto partial = dir_ / "partial.wav";
  write_file(partial, wav.substr(0, wav.size() / 2));
  ProgressLog resumed;
  size = client.download(target, partial.string(), resumed.fn());
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(*size, wav.size());
  EXPECT_EQ(read_file(partial), wav);
  ASSERT_FALSE(resumed.calls.empty());
  EXPECT_EQ(resumed.calls.front().first, wav.size() / 2);  // started where the file ended
  EXPECT_TRUE(resumed.monotone());
  EXPECT_EQ(resumed.calls.back().first, wav.size());
  EXPECT_EQ(resumed.calls.back().second, wav.size());

  // Already complete: 416 with "bytes */N" equal to the file's size.
  ProgressLog done;
  size = client.download(target, partial.string(), done.fn());
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(*size, wav.size());
  EXPECT_EQ(read_file(partial), wav);

  // Longer than the song: cannot be a prefix, so it starts over.
  auto longer = dir_ / "longer.wav";
  write_file(longer, wav + "trailing junk");
  size = client.download(target, longer.string(), nullptr);
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(read_file(longer), wav);
}

TEST_F(ApiClientTest, DownloadErrors) {
  ApiClient client(options({url()}));
  login(client);
  auto path = dir_ / "missing.wav";
  auto res = client.download("/api/v1/songs/0123456789abcdef0123456789abcdef/stream", path.string(),
                             nullptr);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.status, 404);
  EXPECT_EQ(res.error.exit_code(), kExitNotFound);
  EXPECT_FALSE(fs::exists(path));
}

// A server that answers each of its connections, in turn, with one canned
// response (then closes), for what the real server never does.
class CannedServer {
 public:
  explicit CannedServer(std::vector<std::string> responses)
      : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}),
        endpoint_(acceptor_.local_endpoint()),
        responses_(std::move(responses)) {
    thread_ = std::thread([this] {
      for (auto& response : responses_) {
        boost::system::error_code ec;
        asio::ip::tcp::socket socket(ioc_);
        acceptor_.accept(socket, ec);
        if (ec) break;
        // Read the request header.
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          auto n = socket.read_some(asio::buffer(buf), ec);
          if (ec) break;
          request.append(buf, n);
        }
        {
          std::lock_guard lock(mu_);
          requests_.push_back(request);
        }
        asio::write(socket, asio::buffer(response), ec);
        socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
      }
      done_ = true;
    });
  }
  ~CannedServer() {
    // A blocked accept() does not notice close(): connect until it is done.
    while (!done_) {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(ioc_);
      socket.connect(endpoint_, ec);
      socket.close(ec);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(endpoint_.port()); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint endpoint_;
  std::vector<std::string> responses_;
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(ApiClientCannedTest, DownloadResumesOnAnotherServerAfterADroppedConnection) {
  const std::string content = "0123456789abcdefghij";
  // The first server promises 20 bytes and dies after 8.
  CannedServer flaky({"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567"});
  // The second resumes from byte 8.
  CannedServer good(
      {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 8-19/20\r\n"
       "Content-Length: 12\r\n\r\n89abcdefghij"});
  ClientOptions o;
  o.servers = {flaky.url(), good.url()};
  o.token = "tok";
  ApiClient client(o);
  auto path = fs::temp_directory_path() / ("hifi-canned-" + std::to_string(::getpid()));
  fs::remove(path);
  ProgressLog log;
  auto res = client.download("/x", path.string(), log.fn());
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(*res, 20u);
  EXPECT_EQ(read_file(path), content);
  EXPECT_EQ(client.current_server(), good.url());
  ASSERT_EQ(good.requests().size(), 1u);
  EXPECT_NE(good.requests()[0].find("Range: bytes=8-"), std::string::npos) << good.requests()[0];
  EXPECT_NE(good.requests()[0].find("Authorization: Bearer tok"), std::string::npos);
  EXPECT_EQ(log.calls.back(), (Progress{20, 20}));
  fs::remove(path);
}

TEST(ApiClientCannedTest, RangeIgnoredRestartsTheFile) {
  CannedServer server({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"});
  ClientOptions o;
  o.servers = {server.url()};
  ApiClient client(o);
  auto path = fs::temp_directory_path() / ("hifi-canned-200-" + std::to_string(::getpid()));
  write_file(path, "old");
  auto res = client.download("/x", path.string(), nullptr);
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(*res, 5u);
  EXPECT_EQ(read_file(path), "fresh");
  fs::remove(path);
}

TEST(ApiClientCannedTest, NonJsonErrorsAndServerPrefix) {
  CannedServer server(
      {"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
       "Content-Length: 16\r\n\r\nupstream is down"});
  ClientOptions o;
  o.servers = {server.url() + "/hifi/"};
  ApiClient client(o);
  auto res = client.request("GET", "/api/v1/me");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.status, 502);
  EXPECT_EQ(res.error.exit_code(), kExitServer);
  EXPECT_EQ(res.error.detail, "upstream is down");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].rfind("GET /hifi/api/v1/me HTTP/1.1\r\n", 0), 0u)
      << server.requests()[0];
}

TEST(ApiClientHelpersTest, UrlEncode) {
  EXPECT_EQ(url_encode("abcXYZ019-._~"), "abcXYZ019-._~");
  EXPECT_EQ(url_encode("a b&c/d?e=f"), "a%20b%26c%2Fd%3Fe%3Df");
  EXPECT_EQ(url_encode("Björk"), "Bj%C3%B6rk");
  EXPECT_EQ(url_encode(""), "");
}

TEST(ApiClientHelpersTest, Sha256File) {
  auto path = fs::temp_directory_path() / ("hifi-sha-" + std::to_string(::getpid()));
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  write_file(path, big);
  EXPECT_EQ(sha256_file(path.string()), to_hex(sha256(big)));
  fs::remove(path);
  EXPECT_EQ(sha256_file(path.string()), "");
}

}  // namespace
}  // namespace hifi::client
