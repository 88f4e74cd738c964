// ApiClient in a cluster: redirects (to the node holding a song, with a
// signed URL), member discovery through GET /api/v1/cluster, and the order
// in which a listener spreads over the members.
//
// Redirecting nodes are tiny real HTTP servers (TinyServer below) so the
// tests can see exactly which headers each hop received; the node that
// finally serves the bytes is, where it matters, the in-process HiFi server.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "client/api_client.h"
#include "common/sha256.h"
#include "server/test_server.h"

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using hifi::testing::TestServer;
namespace http = boost::beast::http;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One request as a TinyServer received it.
struct Received {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  bool has(const std::string& name) const { return headers.count(lower(name)) > 0; }
  std::string header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
  }
};

// A real HTTP/1.1 server on 127.0.0.1 (one request per connection) whose
// answers come from a function of the request and its index; it records
// every request.
class TinyServer {
 public:
  using Handler = std::function<std::string(const Received&, std::size_t index)>;

  // continue_uploads: answer "Expect: 100-continue" and read the body
  // before answering; else answer at once (an early refusal or redirect).
  explicit TinyServer(Handler handler, bool continue_uploads = true)
      : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}),
        handler_(std::move(handler)),
        continue_uploads_(continue_uploads) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TinyServer() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    asio::post(ioc_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    thread_.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<Received> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static std::string response(int status, const std::string& reason,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body = {}) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    return out + body;
  }
  static std::string redirect(int status, const std::string& location) {
    return response(status, "Redirect", {{"Location", location}});
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      serve(socket);
      accept();
    });
  }

  void serve(tcp::socket& socket) {
    boost::system::error_code ec;
    std::string data;
    char buf[4096];
    while (data.find("\r\n\r\n") == std::string::npos) {
      auto n = socket.read_some(asio::buffer(buf), ec);
      if (ec) return;
      data.append(buf, n);
    }
    Received r;
    const auto end = data.find("\r\n\r\n");
    std::istringstream head(data.substr(0, end));
    std::string line;
    std::getline(head, line);
    std::istringstream first(line);
    std::string version;
    first >> r.method >> r.target >> version;
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[lower(line.substr(0, colon))] = value;
    }
    r.body = data.substr(end + 4);
    auto length = r.has("content-length") ? std::stoul(r.header("content-length")) : 0;
    if (r.header("expect") == "100-continue" && r.body.size() < length) {
      if (continue_uploads_) {
        asio::write(socket, asio::buffer(std::string("HTTP/1.1 100 Continue\r\n\r\n")), ec);
      } else {
        length = 0;
      }
    }
    while (r.body.size() < length) {
      auto n = socket.read_some(asio::buffer(buf), ec);
      if (ec) break;
      r.body.append(buf, n);
    }
    std::size_t index;
    {
      std::lock_guard lock(mu_);
      index = requests_.size();
      requests_.push_back(r);
    }
    auto answer = handler_(r, index);
    asio::write(socket, asio::buffer(answer), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  Handler handler_;
  bool continue_uploads_;
  mutable std::mutex mu_;
  std::vector<Received> requests_;
  std::thread thread_;
};

// A port on which nothing listens (bound, then released).
std::string closed_server() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return "http://127.0.0.1:" + std::to_string(port);
}

ClientOptions options(std::vector<std::string> servers, std::string token = "tok") {
  ClientOptions o;
  o.servers = std::move(servers);
  o.token = std::move(token);
  o.connect_timeout_ms = 2000;
  o.request_timeout_ms = 10000;
  return o;
}

// "bytes=N-" -> N; -1 otherwise.
long long range_start(const std::string& range) {
  if (range.size() < 8 || range.rfind("bytes=", 0) != 0 || range.back() != '-') return -1;
  return std::stoll(range.substr(6, range.size() - 7));
}

// --- redirects to the real server --------------------------------------------

class RedirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = hifi::testing::fresh_dir("redirect");
    server_ = std::make_unique<TestServer>(dir_ / "server");
    ApiClient setup(options({url()}, ""));
    json::value creds = json::object{{"username", "alice"}, {"password", "correct horse"}};
    ASSERT_TRUE(setup.json("POST", "/api/v1/auth/register", &creds));
    auto login = setup.json("POST", "/api/v1/auth/login", &creds);
    ASSERT_TRUE(login) << login.error.message();
    token_ = std::string(login->at("token").as_string());
    setup.set_token(token_);
    wav_ = hifi::testing::make_wav(392, 8.0);
    write_file(dir_ / "song.wav", wav_);
    auto up = setup.upload_song((dir_ / "song.wav").string(), sha256_file((dir_ / "song.wav").string()), nullptr);
    ASSERT_TRUE(up) << up.error.message();
    id_ = std::string(up->at("id").as_string());
    sha_ = std::string(up->at("sha256").as_string());
    auto signed_url = setup.json("GET", "/api/v1/songs/" + id_ + "/stream-url");
    ASSERT_TRUE(signed_url) << signed_url.error.message();
    signed_ = std::string(signed_url->at("url").as_string());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  fs::path dir_;
  std::unique_ptr<TestServer> server_;
  std::string token_, wav_, id_, sha_, signed_;
};

TEST_F(RedirectTest, DownloadFollowsARedirectToASignedUrlOnTheHoldingNode) {
  // A node without the bytes sends the client to the node that has them.
  TinyServer node([&](const Received&, std::size_t) { return TinyServer::redirect(307, url() + signed_); });
  ApiClient client(options({node.url()}, token_));
  const std::string target = "/api/v1/songs/" + id_ + "/stream";

  auto whole = dir_ / "whole.wav";
  auto size = client.download(target, whole.string(), nullptr);
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(*size, wav_.size());
  EXPECT_EQ(sha256_file(whole.string()), sha_);
  EXPECT_EQ(client.current_server(), node.url());  // the configured server answered (with a redirect)

  // Resumed: the Range goes along to the holder, which answers 206 from there.
  auto part = dir_ / "part.wav";
  write_file(part, wav_.substr(0, 1000));
  std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
  size = client.download(target, part.string(),
                         [&](std::uint64_t done, std::uint64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(sha256_file(part.string()), sha_);  // the caller's digest check still holds
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front().first, 1000u);  // resumed, not restarted
  EXPECT_EQ(progress.back(), (std::pair<std::uint64_t, std::uint64_t>{wav_.size(), wav_.size()}));

  const auto seen = node.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, target);
  EXPECT_EQ(seen[0].header("Authorization"), "Bearer " + token_);  // the configured server gets the token
  EXPECT_FALSE(seen[0].has("Range"));
  EXPECT_EQ(seen[1].header("Range"), "bytes=1000-");

  // Ordinary requests follow too (the song's metadata, say).
  TinyServer meta([&](const Received&, std::size_t) {
    return TinyServer::redirect(302, url() + "/api/v1/songs/" + id_);
  });
  ApiClient other(options({meta.url()}, token_));
  auto song = other.json("GET", "/api/v1/songs/" + id_);
  // The real server is another host:port: it gets no token, so says 401.
  ASSERT_FALSE(song);
  EXPECT_EQ(song.error.status, 401);
}

TEST_F(RedirectTest, ARedirectToANodeThatIsDownFailsOverToTheNextServer) {
  const auto down = closed_server();
  TinyServer node([&](const Received&, std::size_t) {
    return TinyServer::redirect(307, down + "/api/v1/songs/" + id_ + "/stream?expires=1&signature=x");
  });
  ApiClient client(options({node.url(), url()}, token_));
  auto path = dir_ / "failover.wav";
  auto size = client.download("/api/v1/songs/" + id_ + "/stream", path.string(), nullptr);
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(sha256_file(path.string()), sha_);
  EXPECT_EQ(client.current_server(), url());

  // With nowhere else to go, the error names the hop that failed.
  ApiClient alone(options({node.url()}, token_));
  auto res = alone.download("/api/v1/songs/" + id_ + "/stream", (dir_ / "x.wav").string(), nullptr);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.exit_code(), kExitNetwork);
  EXPECT_NE(res.error.message().find(down + "/api/v1/songs/" + id_ + "/stream (redirected there)"),
            std::string::npos)
      << res.error.message();
  EXPECT_EQ(res.error.message().find("signature"), std::string::npos) << res.error.message();
}

// Two in-process nodes sharing one metadata store: a song kept on one node
// only (R = 1) is fetched through the other, which redirects.
TEST(TwoNodeTest, ANodeWithoutTheSongRedirectsToTheOneThatHasIt) {
  auto dir = hifi::testing::fresh_dir("two-nodes");
  auto store = open_sqlite_meta_store((dir / "meta.db").string());
  ASSERT_TRUE(store) << store.status().to_string();
  ServerConfig config;
  config.cluster_secret = "two-node-test-secret-0123456789";
  config.replicas = 1;
  auto a = std::make_unique<TestServer>(dir / "a", **store, config);
  auto b = std::make_unique<TestServer>(dir / "b", **store, config);
  const auto url_a = "http://127.0.0.1:" + std::to_string(a->port());
  const auto url_b = "http://127.0.0.1:" + std::to_string(b->port());

  ApiClient via_a(options({url_a}, ""));
  json::value creds = json::object{{"username", "alice"}, {"password", "correct horse"}};
  ASSERT_TRUE(via_a.json("POST", "/api/v1/auth/register", &creds));
  auto login = via_a.json("POST", "/api/v1/auth/login", &creds);
  ASSERT_TRUE(login) << login.error.message();
  const std::string token(login->at("token").as_string());
  via_a.set_token(token);

  // Both nodes are members (each saw the other join); asked signed in.
  ApiClient via_b(options({url_b}, token));
  ClusterInfo info;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto r = via_b.discover_members();
    ASSERT_TRUE(r) << r.error.message();
    info = *r;
    if (info.members.size() == 2 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(info.members.size(), 2u);
  EXPECT_EQ(via_b.servers(), (std::vector<std::string>{url_b, url_a}));
  auto order = spread_order(info, via_b.servers(), 1);
  EXPECT_EQ(std::set<std::string>(order.begin(), order.end()), (std::set<std::string>{url_a, url_b}));

  // Upload through A: with R = 1 only A keeps the bytes.
  const auto wav = hifi::testing::make_wav(587.33, 6.0);
  write_file(dir / "song.wav", wav);
  auto up = via_a.upload_song((dir / "song.wav").string(), sha256_file((dir / "song.wav").string()), nullptr);
  ASSERT_TRUE(up) << up.error.message();
  const std::string id(up->at("id").as_string());
  const std::string sha(up->at("sha256").as_string());

  // B learns of the song from the shared catalog (soon, not at once)...
  const auto known_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!via_b.json("GET", "/api/v1/songs/" + id) && std::chrono::steady_clock::now() < known_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // ...and answers its stream with a redirect to A...
  auto raw = b->request(http::verb::get, "/api/v1/songs/" + id + "/stream", {},
                        {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(raw.status, 307) << raw.body;
  EXPECT_EQ(raw.header("location").rfind(url_a + "/api/v1/songs/" + id + "/stream?", 0), 0u)
      << raw.header("location");

  // ...which the client follows, whole and resumed, and the digest holds.
  auto whole = dir / "whole.wav";
  auto size = via_b.download("/api/v1/songs/" + id + "/stream", whole.string(), nullptr);
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(sha256_file(whole.string()), sha);
  auto part = dir / "part.wav";
  write_file(part, wav.substr(0, wav.size() / 3));
  std::uint64_t first_progress = 0;
  bool first = true;
  size = via_b.download("/api/v1/songs/" + id + "/stream", part.string(), [&](std::uint64_t done, std::uint64_t) {
    if (first) first_progress = done;
    first = false;
  });
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(first_progress, wav.size() / 3);
  EXPECT_EQ(sha256_file(part.string()), sha);
  // The player's way: a signed URL from B, also redirected.
  auto signed_url = via_b.json("GET", "/api/v1/songs/" + id + "/stream-url");
  ASSERT_TRUE(signed_url) << signed_url.error.message();
  auto played = dir / "played.wav";
  size = via_b.download(std::string(signed_url->at("url").as_string()), played.string(), nullptr);
  ASSERT_TRUE(size) << size.error.message();
  EXPECT_EQ(sha256_file(played.string()), sha);

  b.reset();
  a.reset();
  store->reset();
  fs::remove_all(dir);
}

// --- redirects between tiny servers ------------------------------------------

TEST(RedirectHeadersTest, CrossHostHopGetsRangeAndIfRangeButNoAuthorization) {
  const std::string content = "0123456789abcdefghij";
  // The holder: first a 200 with an ETag that dies after 8 bytes, then
  // whatever range is asked for.
  TinyServer holder([&](const Received& r, std::size_t index) {
    if (index == 0) {
      return std::string("HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 20\r\n\r\n01234567");
    }
    auto from = range_start(r.header("Range"));
    if (from < 0) return TinyServer::response(200, "OK", {{"ETag", "\"v1\""}}, content);
    return TinyServer::response(206, "Partial Content",
                                {{"ETag", "\"v1\""},
                                 {"Content-Range", "bytes " + std::to_string(from) + "-19/20"}},
                                content.substr(static_cast<std::size_t>(from)));
  });
  TinyServer node([&](const Received&, std::size_t) {
    return TinyServer::redirect(307, holder.url() + "/blob/abc?expires=9&signature=s%2Fig");
  });
  ApiClient client(options({node.url()}, "secret-token"));
  auto path = hifi::testing::fresh_dir("crosshost") / "song";
  write_file(path, "");
  auto res = client.download("/api/v1/songs/x/stream", path.string(), nullptr);
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(read_file(path), content);

  const auto to_node = node.requests();
  const auto to_holder = holder.requests();
  ASSERT_EQ(to_node.size(), 2u);   // once, then again to resume
  ASSERT_EQ(to_holder.size(), 2u);
  for (const auto& r : to_node) EXPECT_EQ(r.header("Authorization"), "Bearer secret-token");
  for (const auto& r : to_holder) {
    EXPECT_FALSE(r.has("Authorization")) << r.header("Authorization");
    EXPECT_EQ(r.target, "/blob/abc?expires=9&signature=s%2Fig");  // the query untouched
    EXPECT_EQ(r.header("Host"), "127.0.0.1:" + std::to_string(holder.port()));
  }
  // The resumption: the same Range and If-Range reach the node and the holder.
  EXPECT_EQ(to_node[1].header("Range"), "bytes=8-");
  EXPECT_EQ(to_node[1].header("If-Range"), "\"v1\"");
  EXPECT_EQ(to_holder[1].header("Range"), "bytes=8-");
  EXPECT_EQ(to_holder[1].header("If-Range"), "\"v1\"");
  fs::remove_all(path.parent_path());
}

TEST(RedirectHeadersTest, RelativeRedirectOnTheSameServerKeepsTheTokenMethodAndBody) {
  TinyServer node([&](const Received& r, std::size_t) {
    if (r.target == "/api/v1/old") return TinyServer::redirect(308, "/api/v1/new?x=1");
    if (r.target == "/api/v1/new?x=1") return TinyServer::redirect(307, "again");  // relative to the path
    if (r.target == "/api/v1/again") {
      return TinyServer::response(200, "OK", {{"Content-Type", "application/json"}},
                                  json::serialize(json::object{{"method", r.method}, {"body", r.body}}));
    }
    return TinyServer::response(404, "Not Found", {});
  });
  ApiClient client(options({node.url()}, "tok"));
  json::value body = json::object{{"name", "Friday"}};
  auto res = client.json("POST", "/api/v1/old", &body);
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(res->at("method").as_string(), "POST");
  EXPECT_EQ(res->at("body").as_string(), json::serialize(body));
  const auto seen = node.requests();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& r : seen) {
    EXPECT_EQ(r.header("Authorization"), "Bearer tok") << r.target;
    EXPECT_EQ(r.header("Content-Type"), "application/json") << r.target;
  }

  // A caller's own Authorization header stays home too.
  TinyServer elsewhere([&](const Received&, std::size_t) { return TinyServer::response(204, "No Content", {}); });
  TinyServer away([&](const Received&, std::size_t) { return TinyServer::redirect(307, elsewhere.url() + "/x"); });
  ApiClient anon(options({away.url()}, ""));
  auto r = anon.request("GET", "/x", {}, {{"Authorization", "Bearer mine"}, {"X-Other", "1"}});
  ASSERT_TRUE(r) << r.error.message();
  EXPECT_EQ(r->status, 204);
  ASSERT_EQ(elsewhere.requests().size(), 1u);
  EXPECT_FALSE(elsewhere.requests()[0].has("Authorization"));
  EXPECT_EQ(elsewhere.requests()[0].header("X-Other"), "1");
  EXPECT_EQ(away.requests()[0].header("Authorization"), "Bearer mine");
}

TEST(RedirectHeadersTest, TheTokenDoesNotComeBackAfterLeavingTheServer) {
  // node -> other -> node: the last hop is to the configured server again,
  // but the chain went through a host that is not ours.
  std::string node_url;
  TinyServer other([&](const Received&, std::size_t) { return TinyServer::redirect(307, node_url + "/final"); });
  TinyServer node([&](const Received& r, std::size_t) {
    if (r.target == "/final") return TinyServer::response(200, "OK", {}, "done");
    return TinyServer::redirect(307, other.url() + "/bounce");
  });
  node_url = node.url();
  ApiClient client(options({node.url()}, "tok"));
  auto res = client.request("GET", "/start");
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(res->body, "done");
  const auto seen = node.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].header("Authorization"), "Bearer tok");
  EXPECT_FALSE(seen[1].has("Authorization"));
  EXPECT_FALSE(other.requests()[0].has("Authorization"));
}

TEST(RedirectHeadersTest, SeeOtherAndFoundAreFollowedForGetOnly) {
  TinyServer node([&](const Received& r, std::size_t) {
    if (r.target == "/done") return TinyServer::response(200, "OK", {}, "here");
    return TinyServer::redirect(r.target == "/found" ? 302 : 303, "/done");
  });
  ApiClient client(options({node.url()}));
  auto get = client.request("GET", "/see-other");
  ASSERT_TRUE(get) << get.error.message();
  EXPECT_EQ(get->body, "here");
  auto found = client.request("GET", "/found");
  ASSERT_TRUE(found) << found.error.message();
  EXPECT_EQ(found->body, "here");
  // POST: not followed (that would change the method); the 303 is the answer.
  auto post = client.request("POST", "/see-other", "{}");
  ASSERT_TRUE(post) << post.error.message();
  EXPECT_EQ(post->status, 303);
  EXPECT_EQ(post->header("Location"), "/done");
  EXPECT_EQ(node.requests().size(), 5u);
}

TEST(RedirectHeadersTest, AtMostFiveHops) {
  // /hop/N -> /hop/N+1, forever.
  TinyServer loop([&](const Received& r, std::size_t) {
    const auto n = std::stoi(r.target.substr(r.target.rfind('/') + 1));
    return TinyServer::redirect(307, "/hop/" + std::to_string(n + 1));
  });
  ApiClient client(options({loop.url()}));
  auto res = client.request("GET", "/hop/0");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.status, 307);
  EXPECT_EQ(res.error.type, "too-many-redirects");
  EXPECT_EQ(res.error.exit_code(), kExitServer);
  const auto msg = res.error.message();
  EXPECT_NE(msg.find("more than 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/hop/6"), std::string::npos) << msg;  // where it would have gone next
  EXPECT_EQ(loop.requests().size(), 6u);                    // the request and 5 redirects followed
  EXPECT_EQ(client.current_server(), loop.url());           // an answer, not a network failure

  // Downloads too, and nothing is written.
  auto path = hifi::testing::fresh_dir("hops") / "song";
  auto dl = client.download("/hop/0", path.string(), nullptr);
  ASSERT_FALSE(dl);
  EXPECT_EQ(dl.error.type, "too-many-redirects");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(loop.requests().size(), 12u);
  fs::remove_all(path.parent_path());

  // Five hops are fine.
  TinyServer five([&](const Received& r, std::size_t) {
    const auto n = std::stoi(r.target.substr(r.target.rfind('/') + 1));
    if (n == 5) return TinyServer::response(200, "OK", {}, "arrived");
    return TinyServer::redirect(308, "/hop/" + std::to_string(n + 1));
  });
  ApiClient ok(options({five.url()}));
  auto arrived = ok.request("GET", "/hop/0");
  ASSERT_TRUE(arrived) << arrived.error.message();
  EXPECT_EQ(arrived->body, "arrived");
}

TEST(RedirectHeadersTest, UnfollowableRedirectsAreClearErrors) {
  TinyServer node([&](const Received& r, std::size_t) {
    if (r.target == "/https") return TinyServer::redirect(307, "https://node.example/api/v1/x?signature=s");
    if (r.target == "/ftp") return TinyServer::redirect(307, "ftp://node.example/x");
    return TinyServer::redirect(307, "http://[bad");
  });
  ApiClient client(options({node.url()}));
  // An https:// hop is followed (over TLS); this host has no address, and
  // the error says where it went without its signed query.
  auto https = client.request("GET", "/https");
  ASSERT_FALSE(https);
  EXPECT_EQ(https.error.status, 0);
  EXPECT_NE(https.error.message().find("https://node.example:443/api/v1/x"), std::string::npos) << https.error.message();
  EXPECT_EQ(https.error.message().find("signature"), std::string::npos) << https.error.message();
  auto ftp = client.request("GET", "/ftp");
  ASSERT_FALSE(ftp);
  EXPECT_NE(ftp.error.message().find("cannot follow"), std::string::npos) << ftp.error.message();
  auto bad = client.request("GET", "/bad");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error.type, "bad-redirect");
  EXPECT_NE(bad.error.message().find("not a URL"), std::string::npos) << bad.error.message();
}

TEST(RedirectHeadersTest, UploadFollowsATemporaryRedirect) {
  TinyServer target([&](const Received& r, std::size_t) {
    return TinyServer::response(201, "Created", {{"Content-Type", "application/json"}},
                                json::serialize(json::object{{"id", "x"}, {"size", r.body.size()}}));
  });
  TinyServer node([&](const Received&, std::size_t) { return TinyServer::redirect(307, target.url() + "/api/v1/songs"); },
                  /*continue_uploads=*/false);
  auto dir = hifi::testing::fresh_dir("upload-redirect");
  write_file(dir / "a.wav", "RIFF....some bytes");
  ApiClient client(options({node.url()}));
  auto res = client.upload_song((dir / "a.wav").string(), "", nullptr);
  ASSERT_TRUE(res) << res.error.message();
  EXPECT_EQ(res->at("size").as_int64(), 18);
  ASSERT_EQ(target.requests().size(), 1u);
  EXPECT_EQ(target.requests()[0].body, "RIFF....some bytes");
  EXPECT_EQ(target.requests()[0].header("X-Filename"), "a.wav");
  EXPECT_FALSE(target.requests()[0].has("Authorization"));
  EXPECT_TRUE(node.requests()[0].body.empty());  // refused before the body: nothing wasted
  fs::remove_all(dir);
}

// --- cluster members -----------------------------------------------------------

json::value member(const std::string& id, const std::string& advertise, std::int64_t streams,
                   std::int64_t connections, bool leader = false) {
  return json::object{{"id", id},
                      {"advertise", advertise},
                      {"health", "ok"},
                      {"leader", leader},
                      {"load", json::object{{"active_streams", streams},
                                            {"bytes_per_second", 0},
                                            {"connections", connections},
                                            {"websockets", 0}}},
                      {"disk_free_bytes", 123456789},
                      {"disk_total_bytes", 987654321},
                      {"started_at", 1763700000000},
                      {"updated_at", 1763700001000},
                      {"version", "0.1.0"}};
}

std::string cluster_json(const json::array& members, const std::string& self = "a") {
  return json::serialize(json::object{
      {"self", self}, {"leader", "a"}, {"replication_factor", 3}, {"members", members}});
}

TEST(ClusterParseTest, TheDocumentedShape) {
  auto info = parse_cluster(json::parse(cluster_json(
      {member("a", "http://10.0.0.5:8080/", 2, 7, true), member("b", "http://10.0.0.6:8080", 0, 1)})));
  EXPECT_TRUE(info.available);
  EXPECT_EQ(info.self, "a");
  EXPECT_EQ(info.leader, "a");
  EXPECT_EQ(info.replication_factor, 3);
  ASSERT_EQ(info.members.size(), 2u);
  const auto& a = info.members[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.advertise, "http://10.0.0.5:8080");  // trailing slash dropped
  EXPECT_EQ(a.health, "ok");
  EXPECT_TRUE(a.leader);
  EXPECT_TRUE(a.has_load);
  EXPECT_EQ(a.active_streams, 2);
  EXPECT_EQ(a.connections, 7);
  EXPECT_EQ(a.disk_free_bytes, 123456789u);
  EXPECT_EQ(a.disk_total_bytes, 987654321u);
  EXPECT_EQ(a.version, "0.1.0");
  EXPECT_FALSE(info.members[1].leader);
  EXPECT_TRUE(info.document.is_object());
}

TEST(ClusterParseTest, OlderShapes) {
  auto strings = parse_cluster(json::parse(R"({"members": ["http://a:1", "b:2", ""]})"));
  ASSERT_EQ(strings.members.size(), 2u);
  EXPECT_EQ(strings.members[0].advertise, "http://a:1");
  EXPECT_EQ(strings.members[1].advertise, "http://b:2");
  EXPECT_FALSE(strings.members[0].has_load);

  auto items = parse_cluster(json::parse(
      R"({"items": [{"id": "n1", "url": "http://a:1"}, {"public_url": "http://b:2"}, {"address": "c:3"}, {"id": "nourl"}]})"));
  ASSERT_EQ(items.members.size(), 3u);
  EXPECT_EQ(items.members[0].id, "n1");
  EXPECT_EQ(items.members[2].advertise, "http://c:3");

  auto nodes = parse_cluster(json::parse(R"({"nodes": [{"address": "10.1.1.1:8080"}], "leader": null})"));
  ASSERT_EQ(nodes.members.size(), 1u);
  EXPECT_TRUE(nodes.leader.empty());

  // The leader mark also comes from the top-level "leader".
  auto by_id = parse_cluster(json::parse(R"({"leader": "b", "members": [{"id": "a", "advertise": "http://a"}, {"id": "b", "advertise": "http://b"}]})"));
  ASSERT_EQ(by_id.members.size(), 2u);
  EXPECT_FALSE(by_id.members[0].leader);
  EXPECT_TRUE(by_id.members[1].leader);

  EXPECT_TRUE(parse_cluster(json::parse("{}")).members.empty());
  EXPECT_TRUE(parse_cluster(json::parse("[\"http://x\"]")).members.size() == 1);
}

TEST(ClusterParseTest, SameServer) {
  EXPECT_TRUE(same_server("http://Host:8080/", "http://host:8080"));
  EXPECT_TRUE(same_server("host:80", "http://host"));
  EXPECT_TRUE(same_server("http://[::1]:8080", "http://[::1]:8080/"));
  EXPECT_FALSE(same_server("http://host:8080", "http://host:8081"));
  EXPECT_FALSE(same_server("http://host:8080/a", "http://host:8080/b"));
  EXPECT_EQ(normalize_server_url(" 10.0.0.5:8080/ "), "http://10.0.0.5:8080");
}

TEST(SpreadOrderTest, LeastLoadedFirstThenKnownServers) {
  ClusterInfo info = parse_cluster(json::parse(cluster_json({
      member("a", "http://a:1", 3, 1),
      member("b", "http://b:1", 1, 9),
      member("c", "http://c:1", 1, 2),
      member("d", "http://d:1", 0, 50),
  })));
  auto order = spread_order(info, {"http://b:1/", "http://configured:1"}, 42);
  EXPECT_EQ(order, (std::vector<std::string>{"http://d:1", "http://c:1", "http://b:1", "http://a:1",
                                             "http://configured:1"}));

  // Members that say nothing of their load come after those that do.
  auto mixed = parse_cluster(json::parse(R"({"members": ["http://old:1", {"advertise": "http://new:1", "load": {"active_streams": 9, "connections": 9}}]})"));
  EXPECT_EQ(spread_order(mixed, {}, 1), (std::vector<std::string>{"http://new:1", "http://old:1"}));

  // https members are spread over like the others; unusable URLs are left out.
  auto https = parse_cluster(json::parse(R"({"members": ["https://tls:1", "ftp://odd:1", "http://plain:1"]})"));
  auto spread = spread_order(https, {}, 1);
  std::sort(spread.begin(), spread.end());
  EXPECT_EQ(spread, (std::vector<std::string>{"http://plain:1", "https://tls:1"}));
}

// What a user who is not an admin is told: each member's load rank only.
TEST(SpreadOrderTest, ByRankWhenThatIsAllTheServerSays) {
  auto ranked = parse_cluster(json::parse(R"({"self": "a", "members": [
      {"id": "a", "advertise": "http://a:1", "health": "ok", "rank": 2},
      {"id": "b", "advertise": "http://b:1", "health": "ok", "rank": 0},
      {"id": "c", "advertise": "http://c:1", "health": "ok", "rank": 1},
      {"id": "d", "advertise": "http://d:1", "health": "ok", "rank": 0}]})"));
  ASSERT_EQ(ranked.members.size(), 4u);
  EXPECT_EQ(ranked.members[0].rank, 2);
  EXPECT_FALSE(ranked.members[0].has_load);
  std::set<std::string> first;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    auto order = spread_order(ranked, {"http://old:1"}, seed);
    ASSERT_EQ(order.size(), 5u);
    first.insert(order[0]);
    EXPECT_EQ(order[2], "http://c:1");
    EXPECT_EQ(order[3], "http://a:1");
    EXPECT_EQ(order[4], "http://old:1");
  }
  EXPECT_EQ(first, (std::set<std::string>{"http://b:1", "http://d:1"}));  // equals at random
}

TEST(SpreadOrderTest, TiesAreBrokenAtRandom) {
  ClusterInfo info = parse_cluster(json::parse(cluster_json({
      member("a", "http://a:1", 0, 3),
      member("b", "http://b:1", 0, 3),
      member("c", "http://c:1", 0, 3),
      member("busy", "http://busy:1", 1, 0),
  })));
  std::map<std::string, int> first;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    auto order = spread_order(info, {}, seed);
    ASSERT_EQ(order.size(), 4u);
    EXPECT_EQ(order.back(), "http://busy:1");
    ++first[order.front()];
    EXPECT_EQ(order, spread_order(info, {}, seed));  // the seed decides
  }
  ASSERT_EQ(first.size(), 3u);  // each of the three equals comes first sometimes
  for (const auto& [url, n] : first) EXPECT_GT(n, 50) << url;
}

TEST(DiscoveryTest, MembersJoinTheFailoverListOnce) {
  std::string self;
  TinyServer node([&](const Received& r, std::size_t) {
    if (r.target != "/api/v1/cluster") return TinyServer::response(404, "Not Found", {});
    return TinyServer::response(
        200, "OK", {{"Content-Type", "application/json"}},
        cluster_json({member("a", self + "/", 0, 1, true),  // itself, spelled differently
                      member("b", "http://127.0.0.1:9", 0, 0), member("c", "https://tls.example", 0, 0),
                      member("e", "ftp://odd.example", 0, 0),
                      member("d", "http://Node-D.example:8080", 0, 0)}));
  });
  self = node.url();
  ApiClient client(options({node.url(), "http://configured.example"}, ""));
  auto info = client.discover_members();
  ASSERT_TRUE(info) << info.error.message();
  EXPECT_TRUE(info->available);
  EXPECT_EQ(info->members.size(), 5u);
  const std::vector<std::string> expected{node.url(), "http://configured.example", "http://127.0.0.1:9",
                                          "https://tls.example", "http://Node-D.example:8080"};
  EXPECT_EQ(client.servers(), expected);
  ASSERT_TRUE(client.discover_members());
  EXPECT_EQ(client.servers(), expected);  // no duplicates the second time
  EXPECT_FALSE(client.add_server("http://node-d.example:8080/"));
  EXPECT_TRUE(client.add_server("node-e.example:8080"));
  EXPECT_EQ(client.servers().back(), "http://node-e.example:8080");
  EXPECT_EQ(node.requests()[0].method, "GET");
}

TEST(DiscoveryTest, NotFoundMeansAServerFromBeforeClusters) {
  TinyServer old([&](const Received&, std::size_t) {
    return TinyServer::response(404, "Not Found", {{"Content-Type", "application/problem+json"}},
                                R"({"type":"urn:hifi:problem:not-found","title":"Not found","status":404})");
  });
  ApiClient client(options({old.url()}));
  auto info = client.discover_members();
  ASSERT_TRUE(info) << info.error.message();
  EXPECT_FALSE(info->available);
  EXPECT_TRUE(info->members.empty());
  EXPECT_EQ(client.servers(), std::vector<std::string>{old.url()});

  // Other errors are errors.
  TinyServer broken([&](const Received&, std::size_t) { return TinyServer::response(500, "Oops", {}, "oops"); });
  ApiClient other(options({broken.url()}));
  auto res = other.discover_members();
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error.status, 500);
}

TEST(DiscoveryTest, ALearnedMemberTakesOverWhenTheFirstServerDies) {
  auto dir = hifi::testing::fresh_dir("discovery");
  TestServer real(dir / "server");
  const auto real_url = "http://127.0.0.1:" + std::to_string(real.port());
  const auto down = closed_server();
  auto first = std::make_unique<TinyServer>([&](const Received&, std::size_t) {
    return TinyServer::response(200, "OK", {{"Content-Type", "application/json"}},
                                cluster_json({member("a", down, 5, 5), member("b", real_url, 0, 0)}));
  });
  ApiClient client(options({first->url()}, ""));
  ASSERT_TRUE(client.discover_members());
  first.reset();  // the only configured server goes away
  auto health = client.request("GET", "/healthz");
  ASSERT_TRUE(health) << health.error.message();
  EXPECT_EQ(client.current_server(), real_url);
  fs::remove_all(dir);
}

// A node that drains answers 503 "draining" naming a member: the request
// goes there (the member joins the failover list), as for a node that is down.
TEST(DiscoveryTest, ADrainingNodeSendsTheRequestToTheMemberItNames) {
  auto dir = hifi::testing::fresh_dir("draining");
  TestServer real(dir / "server");
  const auto real_url = "http://127.0.0.1:" + std::to_string(real.port());
  std::atomic<int> asked{0};
  TinyServer draining([&](const Received&, std::size_t) {
    ++asked;
    return TinyServer::response(
        503, "Service Unavailable", {{"Content-Type", "application/problem+json"}, {"Retry-After", "1"}},
        R"({"type":"urn:hifi:problem:draining","title":"This node is leaving","status":503,"member":")" +
            real_url + R"("})");
  });
  ApiClient client(options({draining.url()}, ""));
  auto health = client.request("GET", "/healthz");
  ASSERT_TRUE(health) << health.error.message();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(client.current_server(), real_url);
  EXPECT_EQ(asked.load(), 1);
  // Other 503s are answers, not reasons to move.
  TinyServer busy([&](const Received&, std::size_t) {
    return TinyServer::response(503, "Service Unavailable", {{"Content-Type", "application/problem+json"}},
                                R"({"type":"urn:hifi:problem:busy","status":503,"member":")" + real_url + R"("})");
  });
  ApiClient other(options({busy.url()}, ""));
  auto refused = other.request("GET", "/healthz");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error.status, 503);
  fs::remove_all(dir);
}

// The real server's GET /api/v1/cluster (docs/api.yaml): single-node mode
// lists one member, this node, as leader; a signed-in question, whose load
// figures are for admins.
TEST(DiscoveryTest, TheRealServerListsItselfInSingleNodeMode) {
  auto dir = hifi::testing::fresh_dir("cluster-route");
  TestServer real(dir / "server");
  const auto real_url = "http://127.0.0.1:" + std::to_string(real.port());
  ApiClient anonymous(options({real_url}, ""));
  auto refused = anonymous.discover_members();
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.error.status, 401);

  auto sign_in = [&](const std::string& name) {
    const json::value creds = json::object{{"username", name}, {"password", "correct horse"}};
    EXPECT_TRUE(anonymous.json("POST", "/api/v1/auth/register", &creds));
    auto login = anonymous.json("POST", "/api/v1/auth/login", &creds);
    EXPECT_TRUE(login) << login.error.message();
    return login ? std::string(login->as_object().at("token").as_string()) : std::string();
  };
  const auto admin_token = sign_in("admin");  // the first account
  const auto listener_token = sign_in("listener");

  ApiClient client(options({real_url}, admin_token));
  auto info = client.discover_members();
  ASSERT_TRUE(info) << info.error.message();
  ASSERT_TRUE(info->available) << "the server has no GET /api/v1/cluster yet";
  ASSERT_EQ(info->members.size(), 1u);
  const auto& m = info->members[0];
  EXPECT_FALSE(m.id.empty());
  EXPECT_EQ(info->self, m.id);
  EXPECT_TRUE(same_server(m.advertise, real_url)) << m.advertise;
  EXPECT_EQ(m.health, "ok");
  EXPECT_TRUE(m.leader);
  EXPECT_TRUE(m.has_load);
  EXPECT_EQ(m.rank, 0);
  EXPECT_TRUE(m.disk_free_bytes.has_value());
  EXPECT_EQ(client.servers(), std::vector<std::string>{real_url});
  EXPECT_EQ(spread_order(*info, client.servers(), 7), std::vector<std::string>{m.advertise});

  // A listener learns what it needs to fail over and spread, no more.
  ApiClient listener(options({real_url}, listener_token));
  auto theirs = listener.discover_members();
  ASSERT_TRUE(theirs) << theirs.error.message();
  ASSERT_EQ(theirs->members.size(), 1u);
  EXPECT_TRUE(same_server(theirs->members[0].advertise, real_url));
  EXPECT_EQ(theirs->members[0].rank, 0);
  EXPECT_FALSE(theirs->members[0].has_load);
  EXPECT_FALSE(theirs->members[0].disk_free_bytes.has_value());
  EXPECT_TRUE(theirs->leader.empty());
  EXPECT_EQ(spread_order(*theirs, listener.servers(), 7), std::vector<std::string>{theirs->members[0].advertise});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hifi::client
