// net::Stream: one TCP connection that speaks HTTP either in the clear or
// through TLS, chosen at run time, for every HTTP party of HiFi: the
// server's connections (HTTPS and WSS when --tls-cert is given), the peer
// client and the proxy between nodes, the etcd client, the CLI and the
// room client.
//
// It is an Asio AsyncReadStream and AsyncWriteStream, so Beast's HTTP and
// WebSocket operations run over it unchanged. Timeouts and the socket
// belong to the TCP layer underneath (tcp(): a beast::tcp_stream, which is
// also what beast::get_lowest_layer() finds). A TLS stream must finish
// async_handshake() before it carries bytes.
//
// Like the streams it wraps: one read and one write in flight at a time,
// on the stream's executor (strand).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

namespace hifi::net {

class Stream {
 public:
  using tcp_stream = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<tcp_stream>;
  using executor_type = tcp_stream::executor_type;
  using next_layer_type = tcp_stream;  // for beast::get_lowest_layer

  // In the clear.
  explicit Stream(tcp_stream tcp) : tcp_(std::move(tcp)) {}
  // Through TLS made with `context`, which the stream keeps alive.
  Stream(tcp_stream tcp, std::shared_ptr<boost::asio::ssl::context> context)
      : context_(std::move(context)), tls_(std::in_place, std::move(tcp), *context_) {}

  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;

  bool is_tls() const { return tls_.has_value(); }
  // Only for a TLS stream.
  tls_stream& tls() { return *tls_; }

  tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *tcp_; }
  tcp_stream& next_layer() { return tcp(); }
  const tcp_stream& next_layer() const { return tls_ ? tls_->next_layer() : *tcp_; }
  tcp_stream::socket_type& socket() { return tcp().socket(); }
  executor_type get_executor() { return tcp().get_executor(); }

  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
  void expires_never() { tcp().expires_never(); }
  void cancel() { tcp().cancel(); }
  void close() { tcp().close(); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            tcp_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            tcp_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // The TLS handshake (a no-op completing at once in the clear).
  template <typename Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code)>(
        [this, type](auto handler) {
          if (tls_) {
            tls_->async_handshake(type, std::move(handler));
          } else {
            auto ex = boost::asio::get_associated_executor(handler, get_executor());
            boost::asio::post(ex, [h = std::move(handler)]() mutable { std::move(h)(boost::beast::error_code{}); });
          }
        },
        token);
  }

  // Sends TLS's close_notify and waits for the other side's (bounded by
  // the TCP layer's expiry); in the clear, shuts the sending side.
  template <typename Token>
  auto async_shutdown(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code)>(
        [this](auto handler) {
          if (tls_) {
            tls_->async_shutdown(std::move(handler));
            return;
          }
          boost::beast::error_code ec;
          tcp_->socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
          auto ex = boost::asio::get_associated_executor(handler, get_executor());
          boost::asio::post(ex, [h = std::move(handler), ec]() mutable { std::move(h)(ec); });
        },
        token);
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::optional<tcp_stream> tcp_;
  std::optional<tls_stream> tls_;
};

// A WebSocket's closing handshake over a Stream ends the layer it runs on
// (found by argument-dependent lookup from websocket::stream<Stream>).
void teardown(boost::beast::role_type role, Stream& stream, boost::beast::error_code& ec);

template <typename Handler>
void async_teardown(boost::beast::role_type role, Stream& stream, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  if (stream.is_tls()) {
    async_teardown(role, stream.tls(), std::forward<Handler>(handler));
  } else {
    async_teardown(role, stream.socket(), std::forward<Handler>(handler));
  }
}

}  // namespace hifi::net
