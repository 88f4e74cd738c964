// A small synchronous WebSocket client for integration tests. Every
// operation runs on the client's own io_context with a deadline (the
// underlying tcp_stream's timer), so a test never hangs on a missing
// message: it fails. A timed-out connection is closed and unusable.
//
// Not thread-safe: one thread per client.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hifi::testing {

class WsClient {
 public:
  using Ms = std::chrono::milliseconds;
  static constexpr Ms kDefaultTimeout{10'000};

  WsClient() : ws_(ioc_) {}
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects to 127.0.0.1:port and upgrades `target` (with the token as a
  // Bearer header when given). Returns the error; on a declined upgrade
  // response() holds the server's HTTP answer.
  boost::beast::error_code connect(std::uint16_t port, const std::string& target,
                                   const std::string& bearer = {}, Ms timeout = kDefaultTimeout) {
    namespace asio = boost::asio;
    auto& tcp = boost::beast::get_lowest_layer(ws_);
    tcp.expires_after(timeout);
    boost::beast::error_code ec;
    if (receive_buffer_ > 0) {
      // Set before the connection is made, so the window it offers is small.
      tcp.socket().open(asio::ip::tcp::v4(), ec);
      if (!ec) tcp.socket().set_option(asio::socket_base::receive_buffer_size(receive_buffer_), ec);
      if (ec) return ec;
    }
    ws_.control_callback([this](boost::beast::websocket::frame_type kind, boost::beast::string_view payload) {
      if (kind == boost::beast::websocket::frame_type::pong) pongs_.emplace_back(payload);
    });
    run([&](auto done) {
      tcp.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                        [done](boost::beast::error_code e) mutable { done(e); });
    }, ec);
    if (ec) return ec;
    if (!bearer.empty()) {
      ws_.set_option(boost::beast::websocket::stream_base::decorator(
          [bearer](boost::beast::websocket::request_type& req) {
            req.set(boost::beast::http::field::authorization, "Bearer " + bearer);
          }));
    }
    ws_.read_message_max(64ULL << 20);
    tcp.expires_after(timeout);
    run([&](auto done) {
      ws_.async_handshake(response_, "127.0.0.1", target,
                          [done](boost::beast::error_code e) mutable { done(e); });
    }, ec);
    tcp.expires_never();
    return ec;
  }

  // Like connect() but throws on failure.
  void open(std::uint16_t port, const std::string& target, const std::string& bearer = {}) {
    if (auto ec = connect(port, target, bearer)) {
      throw std::runtime_error("WebSocket connect to " + target + " failed: " + ec.message() +
                               " (HTTP " + std::to_string(response_.result_int()) + " " +
                               response_.body() + ")");
    }
  }

  const boost::beast::websocket::response_type& response() const { return response_; }

  // The next text message, or nullopt on close/error/timeout (see error()).
  std::optional<std::string> read_text(Ms timeout = kDefaultTimeout) {
    boost::beast::flat_buffer buffer;
    boost::beast::get_lowest_layer(ws_).expires_after(timeout);
    run([&](auto done) {
      ws_.async_read(buffer, [done](boost::beast::error_code e, std::size_t) mutable { done(e); });
    }, error_);
    if (error_) return std::nullopt;
    boost::beast::get_lowest_layer(ws_).expires_never();
    return boost::beast::buffers_to_string(buffer.data());
  }

  // The next message as a JSON object, or nullopt on close/error/timeout.
  std::optional<boost::json::object> read(Ms timeout = kDefaultTimeout) {
    auto text = read_text(timeout);
    if (!text) return std::nullopt;
    return boost::json::parse(*text).as_object();
  }

  // Reads until a message of `type` arrives, skipping others; nullopt when
  // the connection ends or the deadline passes first.
  std::optional<boost::json::object> read_type(const std::string& type, Ms timeout = kDefaultTimeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
      if (left <= Ms(0)) return std::nullopt;
      auto m = read(left);
      if (!m) return std::nullopt;
      if (m->at("type").as_string() == type) return m;
    }
  }

  boost::beast::error_code send_text(const std::string& text, Ms timeout = kDefaultTimeout) {
    return write(text, true, timeout);
  }
  boost::beast::error_code send(const boost::json::object& o, Ms timeout = kDefaultTimeout) {
    return write(boost::json::serialize(o), true, timeout);
  }
  boost::beast::error_code send_binary(const std::string& bytes, Ms timeout = kDefaultTimeout) {
    return write(bytes, false, timeout);
  }

  // Sends a ping; the pongs that come back are in pongs() once a read has
  // passed them.
  boost::beast::error_code ping(const std::string& payload, Ms timeout = kDefaultTimeout) {
    boost::beast::get_lowest_layer(ws_).expires_after(timeout);
    boost::beast::error_code ec;
    run([&](auto done) {
      ws_.async_ping(boost::beast::websocket::ping_data(payload.c_str()),
                     [done](boost::beast::error_code e) mutable { done(e); });
    }, ec);
    if (!ec) boost::beast::get_lowest_layer(ws_).expires_never();
    return ec;
  }
  const std::vector<std::string>& pongs() const { return pongs_; }

  // Makes the next connect() offer a receive window of about `bytes`
  // (SO_RCVBUF), for a listener that reads late.
  void set_receive_buffer(int bytes) { receive_buffer_ = bytes; }

  // Sends a close frame and waits for the server's (and the TCP close).
  void close(Ms timeout = kDefaultTimeout) {
    if (!ws_.is_open()) return;
    boost::beast::get_lowest_layer(ws_).expires_after(timeout);
    boost::beast::error_code ec;
    run([&](auto done) {
      ws_.async_close(boost::beast::websocket::close_code::normal,
                      [done](boost::beast::error_code e) mutable { done(e); });
    }, ec);
  }

  bool is_open() const { return ws_.is_open(); }
  // Whether the message read last was a binary one.
  bool got_binary() const { return ws_.got_binary(); }
  boost::beast::error_code error() const { return error_; }
  boost::beast::websocket::close_reason close_reason() const { return ws_.reason(); }

 private:
  template <typename Start>
  void run(Start start, boost::beast::error_code& out) {
    bool finished = false;
    start([&](boost::beast::error_code ec) {
      out = ec;
      finished = true;
    });
    ioc_.restart();
    while (!finished && ioc_.run_one() > 0) {
    }
    if (!finished) out = boost::asio::error::operation_aborted;
  }

  boost::beast::error_code write(const std::string& data, bool text, Ms timeout) {
    ws_.text(text);
    boost::beast::get_lowest_layer(ws_).expires_after(timeout);
    boost::beast::error_code ec;
    run([&](auto done) {
      ws_.async_write(boost::asio::buffer(data),
                      [done](boost::beast::error_code e, std::size_t) mutable { done(e); });
    }, ec);
    if (!ec) boost::beast::get_lowest_layer(ws_).expires_never();
    return ec;
  }

  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::websocket::response_type response_;
  boost::beast::error_code error_;
  std::vector<std::string> pongs_;
  int receive_buffer_ = 0;
};

}  // namespace hifi::testing
