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
//
// Raw writes (in the clear only). A layer above may write bytes itself,
// around the layers between (the room WebSocket writes its own frames, and
// Beast still writes its pings, pongs and close): after enable_raw_writes(),
// write_raw() sends at once, without blocking, when no write is in flight,
// and async_write_raw() writes the rest of what it could not. Writes that
// the layers between start while such a rest is pending are held and
// started after it, so bytes of two writes never interleave on the wire.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
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
#include <vector>

#include "common/check.h"

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
          } else if (!gate_) {
            tcp_->async_write_some(b, std::move(handler));
          } else if (auto held = gate_->held.lock()) {
            // One write of the layers between at a time, as for any stream.
            HIFI_CHECK(!*held, "net::Stream: a second write while one is held");
            held->emplace(HeldWrite{{boost::asio::buffer_sequence_begin(b), boost::asio::buffer_sequence_end(b)},
                                    std::move(handler)});
          } else {
            start_gated(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // --- raw writes (see the top of this file) ---------------------------------

  // Turns raw writes on: in the clear only (false through TLS, which
  // frames every byte itself). Call once, before the first write_raw().
  bool enable_raw_writes() {
    if (tls_) return false;
    if (!gate_) gate_ = std::make_shared<Gate>();
    return true;
  }
  // Whether write_raw() may be called now: raw writes are on and no write
  // is in flight (neither a raw rest nor one of the layers between).
  bool raw_write_ready() const { return gate_ && gate_->held.expired() && gate_->in_flight == 0; }
  // Sends what the socket takes of `buffers` now, without blocking (0 when
  // it takes nothing). Requires raw_write_ready(). On an error (the peer
  // has gone), sets `ec` and returns 0.
  std::size_t write_raw(const boost::asio::const_buffer* buffers, std::size_t count, boost::beast::error_code& ec);
  // Writes `rest` (what write_raw() left of one write) and then calls
  // handler(ec) on the stream's executor; writes the layers between start
  // meanwhile begin after it. The bytes `rest` points to must stay valid,
  // and the stream alive and unmoved, until the handler runs (the handler
  // owns what keeps them so).
  template <typename Handler>
  void async_write_raw(std::vector<boost::asio::const_buffer> rest, Handler handler) {
    HIFI_CHECK(raw_write_ready(), "net::Stream: async_write_raw() with a write in flight");
    // The slot for a held write belongs to this write's completion: should
    // the io_context go without running it, the held write (and whatever
    // its handler keeps alive, this stream included) goes with it.
    auto held = std::make_shared<std::optional<HeldWrite>>();
    gate_->held = held;
    boost::asio::async_write(
        tcp_->socket(), std::move(rest),
        [this, held = std::move(held), handler = std::move(handler)](boost::beast::error_code ec, std::size_t) mutable {
          gate_->held.reset();
          if (*held) {
            HeldWrite write = std::move(**held);
            held->reset();
            start_gated(write.buffers, std::move(write.handler));
          }
          std::move(handler)(ec);
        });
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
  using WriteHandler = boost::asio::any_completion_handler<void(boost::beast::error_code, std::size_t)>;
  // Only ever move-constructed: Boost 1.81's any_completion_handler
  // copies where it should move on assignment.
  struct HeldWrite {
    std::vector<boost::asio::const_buffer> buffers;
    WriteHandler handler;
  };
  // Shared with the completion of each write it counts, which may run
  // after the stream is gone (an operation ended by the stream's close).
  struct Gate {
    int in_flight = 0;  // writes of the layers between, started and not completed
    // While async_write_raw() writes: its slot for a write of the layers
    // between, held until the rest is out (owned by that write's completion).
    std::weak_ptr<std::optional<HeldWrite>> held;
  };
  template <typename Buffers, typename Handler>
  void start_gated(const Buffers& buffers, Handler handler) {
    ++gate_->in_flight;
    // Completes on the stream's executor (the handler's own associations
    // are not forwarded): every write of a connection's layers runs there,
    // and none is cancelled on its own.
    tcp_->async_write_some(buffers, [gate = gate_, handler = std::move(handler)](boost::beast::error_code ec,
                                                                                  std::size_t n) mutable {
      --gate->in_flight;
      std::move(handler)(ec, n);
    });
  }

  std::shared_ptr<boost::asio::ssl::context> context_;
  std::optional<tcp_stream> tcp_;
  std::optional<tls_stream> tls_;
  std::shared_ptr<Gate> gate_;  // raw writes on
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
