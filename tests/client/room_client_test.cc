// RoomClient against the in-process server: joining a room, and moving to
// the next server when the one it is connected to dies.
//
// The "servers" are TCP proxies in front of one in-process HiFi server: each
// proxy is a different server URL to the client, and a proxy can drop every
// connection through it at once (what a node killed with kill -9 looks like
// from the client: the socket just ends, no WebSocket close) or refuse new
// ones (a node that is down).
//
// Timing: the client's time requests and backoff are set to an hour, so a
// reconnect that waited for the next time request or for a backoff could not
// happen within a test's deadline. Waits are for conditions, with a deadline.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/room_client.h"
#include "server/test_server.h"

namespace hifi::client {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using hifi::testing::TestServer;
using hifi::testing::eventually;
using namespace std::chrono_literals;

// A TCP proxy on 127.0.0.1 to `upstream_port`, on its own thread.
class Proxy {
 public:
  explicit Proxy(std::uint16_t upstream_port)
      : upstream_port_(upstream_port), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Proxy() {
    asio::post(ioc_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      drop_all();
    });
    ioc_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Connections accepted so far (refused ones included).
  int accepted() const { return accepted_; }

  // Ends every connection through the proxy at once, on both sides.
  void drop_connections() {
    std::promise<void> done;
    asio::post(ioc_, [&] {
      drop_all();
      done.set_value();
    });
    done.get_future().wait();
  }
  // While refusing, new connections are closed as soon as they are accepted.
  void refuse(bool on) { refusing_ = on; }

 private:
  struct Pair {
    explicit Pair(asio::io_context& ioc) : down(ioc), up(ioc) {}
    tcp::socket down, up;
    std::array<char, 16384> down_buf{}, up_buf{};
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++accepted_;
      if (refusing_) {
        socket.close(ec);
      } else {
        auto pair = std::make_shared<Pair>(ioc_);
        pair->down = std::move(socket);
        pairs_.push_back(pair);
        pair->up.async_connect({asio::ip::make_address("127.0.0.1"), upstream_port_},
                               [this, pair](boost::system::error_code ec) {
                                 if (ec) return close(*pair);
                                 pump(pair, pair->down, pair->up, pair->down_buf);
                                 pump(pair, pair->up, pair->down, pair->up_buf);
                               });
      }
      accept();
    });
  }

  void pump(std::shared_ptr<Pair> pair, tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf) {
    from.async_read_some(asio::buffer(buf), [this, pair, &from, &to, &buf](boost::system::error_code ec, std::size_t n) {
      if (ec) return close(*pair);
      asio::async_write(to, asio::buffer(buf.data(), n), [this, pair, &from, &to, &buf](boost::system::error_code ec, std::size_t) {
        if (ec) return close(*pair);
        pump(pair, from, to, buf);
      });
    });
  }

  static void close(Pair& pair) {
    boost::system::error_code ec;
    pair.down.close(ec);
    pair.up.close(ec);
  }

  void drop_all() {
    for (auto& weak : pairs_) {
      if (auto pair = weak.lock()) close(*pair);
    }
    pairs_.clear();
  }

  std::uint16_t upstream_port_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = acceptor_.local_endpoint().port();
  std::thread thread_;
  std::atomic<int> accepted_{0};
  std::atomic<bool> refusing_{false};
  std::list<std::weak_ptr<Pair>> pairs_;  // proxy thread only
};

class RoomClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);
    dir_ = hifi::testing::fresh_dir("room-client");
    server_ = std::make_unique<TestServer>(dir_);
    auto creds = json::serialize(json::object{{"username", "alice"}, {"password", "correct horse"}});
    const std::map<std::string, std::string> json_type{{"Content-Type", "application/json"}};
    auto registered = server_->request(http::verb::post, "/api/v1/auth/register", creds, json_type);
    ASSERT_EQ(registered.status, 201) << registered.body;
    auto login = server_->request(http::verb::post, "/api/v1/auth/login", creds, json_type);
    ASSERT_EQ(login.status, 200) << login.body;
    token_ = std::string(login.json().at("token").as_string());
    auto headers = json_type;
    headers["Authorization"] = "Bearer " + token_;
    auto room = server_->request(http::verb::post, "/api/v1/rooms",
                                 json::serialize(json::object{{"name", "Kitchen"}}), headers);
    ASSERT_EQ(room.status, 201) << room.body;
    room_ = std::string(room.json().at("id").as_string());
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
    spdlog::set_level(previous_level_);
  }

  // Time requests and backoff so slow that nothing may wait for them.
  static RoomClientOptions slow_options() {
    RoomClientOptions o;
    o.time_burst = 0;
    o.time_interval = 1h;
    o.backoff_initial = 1h;
    o.backoff_max = 1h;
    o.stable_after = 0ms;
    return o;
  }

  // Records every status the client reports, in order.
  struct StatusLog {
    std::mutex mu;
    std::vector<std::string> statuses;
    void attach(RoomClient& client) {
      client.set_on_change([this, &client] {
        auto s = client.status();
        std::lock_guard lock(mu);
        if (statuses.empty() || statuses.back() != s) statuses.push_back(s);
      });
    }
    std::vector<std::string> get() {
      std::lock_guard lock(mu);
      return statuses;
    }
  };

  static bool connected_to(const RoomClient& client, const std::string& url) {
    return client.connected() && client.server() == url && client.view().valid;
  }

  spdlog::level::level_enum previous_level_{};
  std::filesystem::path dir_;
  std::unique_ptr<TestServer> server_;
  std::string token_;
  std::string room_;
};

// A view with changes still to come: each holds from its position_at on,
// the one before it until then.
TEST(RoomViewTest, PendingChangesHoldFromTheirTime) {
  RoomView playing;
  playing.valid = true;
  playing.queue = {{"i1", "s1", 60000}};
  playing.current = "i1";
  playing.playing = true;
  playing.position_ms = 0;
  playing.position_at = 1000;
  RoomView paused = playing;
  paused.playing = false;
  paused.position_ms = 500;
  paused.position_at = 1500;
  paused.before = std::make_shared<const RoomView>(playing);
  RoomView queued = paused;  // a queue edit meanwhile keeps the pending time
  queued.queue.push_back({"i2", "s2", 1000});
  queued.before = std::make_shared<const RoomView>(paused);
  RoomView sought = queued;
  sought.playing = true;
  sought.position_ms = 9000;
  sought.position_at = 1700;
  sought.before = std::make_shared<const RoomView>(queued);

  EXPECT_TRUE(sought.at(1499.9).playing);
  EXPECT_EQ(sought.at(1499.9).queue.size(), 1u);
  EXPECT_FALSE(sought.at(1500).playing);
  EXPECT_EQ(sought.at(1500).queue.size(), 2u);
  EXPECT_EQ(sought.at(1600).position_at_time(1600), 500);
  EXPECT_EQ(sought.at(1700).position_at_time(1750), 9050);
  EXPECT_EQ(&sought.at(5000), &sought);

  EXPECT_EQ(sought.next_change_after(1200), 1500);
  EXPECT_EQ(sought.next_change_after(1500), 1700);
  EXPECT_EQ(sought.next_change_after(1700), std::nullopt);
  EXPECT_EQ(playing.next_change_after(0), std::nullopt) << "a view that was never pending";
}

TEST_F(RoomClientTest, JoinsTheRoomOnTheFirstServer) {
  Proxy a(server_->port()), b(server_->port());
  RoomClient client({a.url(), b.url()}, token_, room_, slow_options());
  client.start();
  ASSERT_TRUE(eventually([&] { return connected_to(client, a.url()); })) << client.status();
  EXPECT_EQ(client.view().name, "Kitchen");
  EXPECT_EQ(client.status(), "connected to " + a.url());
  EXPECT_EQ(b.accepted(), 0);
  client.stop();
}

// The server the client is connected to dies: the failed read ends the
// session, and the next server is tried at once, without waiting for a time
// request (an hour away) to fail as well.
TEST_F(RoomClientTest, ADeadConnectionMovesToTheNextServerAtOnce) {
  Proxy a(server_->port()), b(server_->port());
  RoomClient client({a.url(), b.url()}, token_, room_, slow_options());
  StatusLog log;
  log.attach(client);
  client.start();
  ASSERT_TRUE(eventually([&] { return connected_to(client, a.url()); })) << client.status();

  a.refuse(true);  // a is down for good
  a.drop_connections();
  ASSERT_TRUE(eventually([&] { return connected_to(client, b.url()); })) << client.status();
  EXPECT_EQ(a.accepted(), 1);  // no attempt to reconnect to a first

  // It said what happened, with the read's own error.
  auto statuses = log.get();
  ASSERT_GE(statuses.size(), 3u);
  EXPECT_EQ(statuses[statuses.size() - 3], "connected to " + a.url());
  const auto& lost = statuses[statuses.size() - 2];
  EXPECT_EQ(lost.rfind("connection to " + a.url() + " lost (", 0), 0u) << lost;
  // The proxy closes its sockets; with bytes still unread on its side the
  // kernel resets the connection instead of ending it, so either is the
  // read's own error.
  EXPECT_TRUE(lost == "connection to " + a.url() + " lost (End of file); retrying" ||
              lost == "connection to " + a.url() + " lost (Connection reset by peer); retrying")
      << lost;
  EXPECT_EQ(statuses.back(), "connected to " + b.url());
  client.stop();
}

// A node that joined after the listener started (learned through
// set_servers) takes over when the one it uses dies.
TEST_F(RoomClientTest, ServersLearnedWhileConnectedAreUsedAfterAFailure) {
  Proxy a(server_->port()), b(server_->port());
  RoomClient client({a.url()}, token_, room_, slow_options());
  client.start();
  ASSERT_TRUE(eventually([&] { return connected_to(client, a.url()); })) << client.status();
  client.set_servers({a.url(), b.url()});
  EXPECT_TRUE(connected_to(client, a.url()));  // a working connection is kept
  EXPECT_EQ(b.accepted(), 0);

  a.refuse(true);
  a.drop_connections();
  ASSERT_TRUE(eventually([&] { return connected_to(client, b.url()); })) << client.status();
  EXPECT_EQ(a.accepted(), 1);
  client.stop();
}

// The dead server was the last in the list: the first attempt after it, to
// the first server again, is not held back by the backoff either.
TEST_F(RoomClientTest, LosingTheLastServerWrapsAroundAtOnce) {
  Proxy a(server_->port()), b(server_->port());
  a.refuse(true);
  RoomClient client({a.url(), b.url()}, token_, room_, slow_options());
  client.start();
  ASSERT_TRUE(eventually([&] { return connected_to(client, b.url()); })) << client.status();
  ASSERT_EQ(a.accepted(), 1);

  a.refuse(false);  // a is back; b dies
  b.refuse(true);
  b.drop_connections();
  ASSERT_TRUE(eventually([&] { return connected_to(client, a.url()); })) << client.status();
  EXPECT_EQ(b.accepted(), 1);
  client.stop();
}

// Failures in a row still back off: once every server has failed, the next
// round waits (here an hour).
TEST_F(RoomClientTest, EveryServerFailingBacksOff) {
  Proxy a(server_->port()), b(server_->port());
  a.refuse(true);
  b.refuse(true);
  RoomClient client({a.url(), b.url()}, token_, room_, slow_options());
  client.start();
  ASSERT_TRUE(eventually([&] { return a.accepted() == 1 && b.accepted() == 1; }));
  a.refuse(false);
  b.refuse(false);
  std::this_thread::sleep_for(200ms);  // room for a wrong retry to show up
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(b.accepted(), 1);
  EXPECT_FALSE(client.connected());
  EXPECT_NE(client.status().find("retrying"), std::string::npos) << client.status();
  client.stop();
}

// A connection that ends before it has been up for `stable_after` counts as
// a failure: it moves on to the next server at once, but a server that keeps
// dropping connections does not get hammered.
TEST_F(RoomClientTest, ConnectionsThatEndAtOnceCountAsFailures) {
  Proxy a(server_->port()), b(server_->port());
  auto options = slow_options();
  options.stable_after = 1h;
  RoomClient client({a.url(), b.url()}, token_, room_, options);
  client.start();
  ASSERT_TRUE(eventually([&] { return connected_to(client, a.url()); })) << client.status();
  a.drop_connections();
  ASSERT_TRUE(eventually([&] { return connected_to(client, b.url()); })) << client.status();
  b.drop_connections();  // both failed in a row: back off
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  std::this_thread::sleep_for(200ms);  // room for a wrong retry to show up
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(b.accepted(), 1);
  EXPECT_FALSE(client.connected());
  client.stop();
}

}  // namespace
}  // namespace hifi::client
