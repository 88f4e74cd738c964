// net::Stream and the TLS contexts on real loopback connections, with
// certificates made at test time: what is trusted carries bytes (HTTP-style
// and WebSocket, in the clear and through TLS); an unknown authority, a
// certificate for another host, an expired one and an old protocol are
// refused with a message that says so; a server certificate is replaced
// without disturbing the next connection, or kept when the new files are bad.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "net/stream.h"
#include "net/tls.h"
#include "support/test_pki.h"

namespace hifi::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using hifi::testing::PemPair;
using hifi::testing::TestPki;

std::filesystem::path fresh_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("hifi-tls-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  return dir;
}

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() : pki_(fresh_dir()) {
    ca_ = pki_.authority("ca");
    node_ = pki_.certificate("node", ca_, "IP:127.0.0.1,DNS:localhost");
  }
  ~TlsTest() override { std::filesystem::remove_all(pki_.dir()); }

  std::shared_ptr<TlsContext> trust(const PemPair& ca) {
    auto ctx = make_client_context({ca.cert, "", ""});
    EXPECT_TRUE(ctx.is_ok()) << ctx.status().message();
    return *ctx;
  }

  // Serves one connection on 127.0.0.1: TLS with `server` (or in the clear
  // when null), echoing what it reads until the client closes. Returns the
  // port; the server's outcome ("" or its error) arrives in `served`.
  std::uint16_t serve_once(std::shared_ptr<TlsContext> server) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    const auto port = acceptor_.local_endpoint().port();
    server_ = std::thread([this, server] {
      std::string outcome;
      try {
        auto socket = acceptor_.accept();
        Stream stream = server ? Stream(beast::tcp_stream(std::move(socket)), server)
                               : Stream(beast::tcp_stream(std::move(socket)));
        beast::error_code ec;
        stream.expires_after(std::chrono::seconds(10));
        stream.async_handshake(asio::ssl::stream_base::server, [&](beast::error_code e) { ec = e; });
        server_ioc_.run();
        server_ioc_.restart();
        if (ec) throw beast::system_error(ec);
        for (;;) {
          char buf[256];
          std::size_t n = 0;
          stream.async_read_some(asio::buffer(buf), [&](beast::error_code e, std::size_t got) { ec = e, n = got; });
          server_ioc_.run();
          server_ioc_.restart();
          if (ec) break;
          asio::async_write(stream, asio::buffer(buf, n), [&](beast::error_code e, std::size_t) { ec = e; });
          server_ioc_.run();
          server_ioc_.restart();
          if (ec) break;
        }
      } catch (const std::exception& e) {
        outcome = e.what();
      }
      served_.set_value(outcome);
    });
    return port;
  }

  // Connects to https://<host>:port (or http:// when `client` is null),
  // sends "hello" and reads it back: "" on success, else the error as
  // describe_error() words it.
  std::string exchange(std::uint16_t port, std::shared_ptr<TlsContext> client, const std::string& host = "127.0.0.1") {
    asio::io_context ioc;
    Endpoint ep;
    ep.scheme = client ? "https" : "http";
    ep.host = host;
    ep.port = port;
    auto stream = client_stream(ioc.get_executor(), ep, client);
    beast::error_code ec;
    stream.tcp().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return ec.message();
    stream.expires_after(std::chrono::seconds(10));
    stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    ioc.run();
    ioc.restart();
    if (ec) return describe_error(ec);
    asio::async_write(stream, asio::buffer(std::string("hello")), [&](beast::error_code e, std::size_t) { ec = e; });
    ioc.run();
    ioc.restart();
    if (ec) return describe_error(ec);
    std::string back(5, '\0');
    asio::async_read(stream, asio::buffer(back), [&](beast::error_code e, std::size_t) { ec = e; });
    ioc.run();
    ioc.restart();
    if (ec) return describe_error(ec);
    stream.async_shutdown([&](beast::error_code e) { ec = e; });
    ioc.run();
    return back == "hello" ? "" : "echoed '" + back + "'";
  }

  std::string server_outcome() {
    auto outcome = served_.get_future().get();
    server_.join();
    return outcome;
  }

  TestPki pki_;
  PemPair ca_;
  PemPair node_;
  asio::io_context server_ioc_;
  tcp::acceptor acceptor_{server_ioc_};
  std::thread server_;
  std::promise<std::string> served_;
};

std::shared_ptr<TlsContext> server_context(const PemPair& pair) {
  auto cert = ServerCertificate::load(pair.cert, pair.key);
  EXPECT_TRUE(cert.is_ok()) << cert.status().message();
  return (*cert)->context();
}

TEST_F(TlsTest, ATrustedCertificateCarriesBytes) {
  auto port = serve_once(server_context(node_));
  EXPECT_EQ(exchange(port, trust(ca_)), "");
  EXPECT_EQ(server_outcome(), "");
}

TEST_F(TlsTest, InTheClearTheSameStreamCarriesBytes) {
  auto port = serve_once(nullptr);
  EXPECT_EQ(exchange(port, nullptr), "");
  EXPECT_EQ(server_outcome(), "");
}

TEST_F(TlsTest, AServerHostNameIsCheckedToo) {
  auto port = serve_once(server_context(node_));
  EXPECT_EQ(exchange(port, trust(ca_), "localhost"), "");  // SNI sent for a name; DNS:localhost matches
  server_outcome();
}

TEST_F(TlsTest, ACertificateFromAnUnknownAuthorityIsRefused) {
  auto stranger = pki_.authority("stranger");
  auto port = serve_once(server_context(node_));
  EXPECT_NE(exchange(port, trust(stranger)).find("certificate is not trusted"), std::string::npos);
  EXPECT_NE(server_outcome(), "");
}

TEST_F(TlsTest, ACertificateForAnotherHostIsRefused) {
  auto elsewhere = pki_.certificate("elsewhere", ca_, "DNS:elsewhere.example");
  auto port = serve_once(server_context(elsewhere));
  EXPECT_NE(exchange(port, trust(ca_)).find("certificate is not trusted"), std::string::npos);
  server_outcome();
}

TEST_F(TlsTest, AnExpiredCertificateIsRefused) {
  auto expired = pki_.certificate("expired", ca_, "IP:127.0.0.1", /*expired=*/true);
  auto port = serve_once(server_context(expired));
  EXPECT_NE(exchange(port, trust(ca_)).find("certificate is not trusted"), std::string::npos);
  server_outcome();
}

TEST_F(TlsTest, TlsBefore12IsRefused) {
  auto port = serve_once(server_context(node_));
  auto old = trust(ca_);
  ::SSL_CTX_set_min_proto_version(old->native_handle(), TLS1_VERSION);
  ::SSL_CTX_set_max_proto_version(old->native_handle(), TLS1_1_VERSION);
  ::SSL_CTX_set_security_level(old->native_handle(), 0);
  auto error = exchange(port, old);
  EXPECT_NE(error, "");
  EXPECT_NE(server_outcome(), "");
}

TEST_F(TlsTest, LoadingNamesTheFileThatCannotBeUsed) {
  auto missing = ServerCertificate::load(pki_.dir() / "missing.pem", node_.key);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("missing.pem"), std::string::npos) << missing.status().message();

  auto other = pki_.certificate("other", ca_, "IP:127.0.0.1");
  auto mismatched = ServerCertificate::load(node_.cert, other.key);
  ASSERT_FALSE(mismatched.is_ok());
  EXPECT_NE(mismatched.status().message().find("does not belong"), std::string::npos)
      << mismatched.status().message();

  auto bad_ca = make_client_context({(pki_.dir() / "nothing.pem").string(), "", ""});
  ASSERT_FALSE(bad_ca.is_ok());
  EXPECT_NE(bad_ca.status().message().find("nothing.pem"), std::string::npos);
  EXPECT_FALSE(make_client_context({ca_.cert, node_.cert, ""}).is_ok());  // a certificate without its key
}

TEST_F(TlsTest, AReloadTakesNewFilesAndKeepsTheOldOnesWhenTheNewAreBad) {
  auto files = pki_.dir() / "live";
  std::filesystem::create_directories(files);
  const auto cert_path = (files / "cert.pem").string(), key_path = (files / "key.pem").string();
  std::filesystem::copy_file(node_.cert, cert_path);
  std::filesystem::copy_file(node_.key, key_path);
  auto cert = ServerCertificate::load(cert_path, key_path);
  ASSERT_TRUE(cert.is_ok()) << cert.status().message();
  const auto first = (*cert)->describe();
  EXPECT_NE(first.find("CN=node"), std::string::npos) << first;
  auto first_context = (*cert)->context();

  auto renewed = pki_.certificate("renewed", ca_, "IP:127.0.0.1");
  std::filesystem::copy_file(renewed.cert, cert_path, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(renewed.key, key_path, std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE((*cert)->reload().is_ok());
  const auto second = (*cert)->describe();
  EXPECT_NE(second, first);
  EXPECT_NE(second.find("CN=renewed"), std::string::npos) << second;
  EXPECT_NE((*cert)->context(), first_context);

  std::ofstream(cert_path, std::ios::trunc) << "not a certificate\n";
  auto s = (*cert)->reload();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("cert.pem"), std::string::npos) << s.message();
  EXPECT_EQ((*cert)->describe(), second);

  // The next connection gets the certificate that is in use.
  auto port = serve_once((*cert)->context());
  EXPECT_EQ(exchange(port, trust(ca_)), "");
  server_outcome();
}

// websocket::stream<Stream>: handshake, a message each way and the closing
// handshake, whose teardown ends the TLS layer (close_notify) or the socket.
void websocket_round_trip(std::shared_ptr<TlsContext> server, std::shared_ptr<TlsContext> client) {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  std::string server_got, client_got;
  beast::error_code server_closed_with, client_closed_with;
  bool server_saw_close = false;

  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        Stream raw = server ? Stream(beast::tcp_stream(std::move(socket)), server)
                            : Stream(beast::tcp_stream(std::move(socket)));
        co_await raw.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        websocket::stream<Stream> ws(std::move(raw));
        co_await ws.async_accept(asio::use_awaitable);
        beast::flat_buffer buffer;
        co_await ws.async_read(buffer, asio::use_awaitable);
        server_got = beast::buffers_to_string(buffer.data());
        co_await ws.async_write(asio::buffer(std::string("pong")), asio::use_awaitable);
        buffer.clear();
        auto [ec, n] = co_await ws.async_read(buffer, asio::as_tuple(asio::use_awaitable));
        server_saw_close = ec == websocket::error::closed;
        server_closed_with = ec;
      },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        Endpoint ep;
        ep.scheme = client ? "https" : "http";
        ep.host = "127.0.0.1";
        ep.port = port;
        websocket::stream<Stream> ws(client_stream(ioc.get_executor(), ep, client));
        co_await beast::get_lowest_layer(ws).async_connect(
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
        co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        co_await ws.async_handshake("127.0.0.1", "/", asio::use_awaitable);
        co_await ws.async_write(asio::buffer(std::string("ping")), asio::use_awaitable);
        beast::flat_buffer buffer;
        co_await ws.async_read(buffer, asio::use_awaitable);
        client_got = beast::buffers_to_string(buffer.data());
        auto [ec] = co_await ws.async_close(websocket::close_code::normal, asio::as_tuple(asio::use_awaitable));
        client_closed_with = ec;
      },
      asio::detached);
  ioc.run_for(std::chrono::seconds(20));
  EXPECT_EQ(server_got, "ping");
  EXPECT_EQ(client_got, "pong");
  EXPECT_TRUE(server_saw_close) << server_closed_with.message();
  EXPECT_FALSE(client_closed_with) << client_closed_with.message();
}

TEST_F(TlsTest, AWebSocketOverTlsOpensCarriesAndCloses) {
  websocket_round_trip(server_context(node_), trust(ca_));
}

TEST_F(TlsTest, AWebSocketInTheClearOpensCarriesAndCloses) { websocket_round_trip(nullptr, nullptr); }

}  // namespace
}  // namespace hifi::net
