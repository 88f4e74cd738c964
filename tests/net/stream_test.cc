// net::Stream's raw writes on real loopback connections whose socket
// buffers are made small, so the socket takes a write a little at a time:
// what a layer above writes itself (write_raw, async_write_raw) and what the
// layers between write meanwhile (Beast's pings and pongs) never interleave.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "net/stream.h"

namespace hifi::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::beast::error_code;

// A connection whose server end is a net::Stream with a 4 KiB send buffer
// and whose client end offers a 4 KiB window.
class StreamRawWritesTest : public ::testing::Test {
 protected:
  StreamRawWritesTest() : client_(ioc_) {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_.open(tcp::v4());
    client_.set_option(asio::socket_base::receive_buffer_size(4096));
    // A read that waits longer fails the test rather than hanging it.
    timeval tv{10, 0};
    ::setsockopt(client_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    client_.connect(acceptor.local_endpoint());
    tcp::socket accepted = acceptor.accept();
    accepted.set_option(asio::socket_base::send_buffer_size(4096));
    stream_.emplace(Stream::tcp_stream(std::move(accepted)));
  }

  // A frame's worth of bytes that shows where each byte came from.
  static std::string pattern(std::size_t size) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + i % 26);
    return out;
  }

  // Writes what the socket takes of `bytes` now and the rest asynchronously;
  // *done is set when the rest is out.
  void write_in_part(const std::string& bytes, bool* done, error_code* result) {
    ASSERT_TRUE(stream_->raw_write_ready());
    const asio::const_buffer buffer = asio::buffer(bytes);
    error_code ec;
    const std::size_t sent = stream_->write_raw(&buffer, 1, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_LT(sent, bytes.size()) << "the socket took the whole write: nothing to test";
    stream_->async_write_raw({buffer + sent}, [done, result](error_code e) {
      *result = e;
      *done = true;
    });
  }

  // Runs the stream's handlers until done() or 10 s have passed.
  template <typename Done>
  void run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) ioc_.run_one_for(std::chrono::milliseconds(100));
  }

  // Reads `size` bytes on the client end, on a thread of its own.
  std::thread read_on_client(std::size_t size, std::string* out) {
    // recv() itself, so the socket's 10 s receive timeout ends a wait for
    // bytes that never come (Asio would wait again).
    return std::thread([this, size, out] {
      std::string chunk(1000, '\0');
      while (out->size() < size) {
        const auto n = ::recv(client_.native_handle(), chunk.data(), chunk.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        out->append(chunk.data(), static_cast<std::size_t>(n));
      }
    });
  }

  asio::io_context ioc_;
  tcp::socket client_;
  std::optional<Stream> stream_;
};

TEST_F(StreamRawWritesTest, AWriteStartedDuringARestGoesOutAfterTheRest) {
  ASSERT_TRUE(stream_->enable_raw_writes());
  const std::string frame = pattern(1 << 20);
  bool rest_done = false;
  error_code rest_ec;
  ASSERT_NO_FATAL_FAILURE(write_in_part(frame, &rest_done, &rest_ec));
  EXPECT_FALSE(stream_->raw_write_ready());

  // As Beast writes a pong: a whole buffer sequence, a piece at a time.
  const std::string pong = "PONG";
  bool pong_done = false;
  error_code pong_ec;
  asio::async_write(*stream_, asio::buffer(pong), [&](error_code e, std::size_t) {
    pong_ec = e;
    pong_done = true;
  });

  std::string received;
  auto reader = read_on_client(frame.size() + pong.size(), &received);
  run_until([&] { return rest_done && pong_done; });
  reader.join();
  EXPECT_TRUE(rest_done && pong_done);
  EXPECT_FALSE(rest_ec) << rest_ec.message();
  EXPECT_FALSE(pong_ec) << pong_ec.message();
  ASSERT_EQ(received.size(), frame.size() + pong.size());
  EXPECT_TRUE(received.compare(0, frame.size(), frame) == 0) << "the frame's bytes are not whole and first";
  EXPECT_EQ(received.substr(frame.size()), pong);
  EXPECT_TRUE(stream_->raw_write_ready());
}

TEST_F(StreamRawWritesTest, NoRawWriteWhileALayerBetweenWrites) {
  ASSERT_TRUE(stream_->enable_raw_writes());
  const std::string bytes = pattern(1 << 20);
  bool done = false;
  asio::async_write(*stream_, asio::buffer(bytes), [&](error_code, std::size_t) { done = true; });
  EXPECT_FALSE(stream_->raw_write_ready());
  std::string received;
  auto reader = read_on_client(bytes.size(), &received);
  run_until([&] { return done; });
  reader.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(received, bytes);
  EXPECT_TRUE(stream_->raw_write_ready());
}

TEST_F(StreamRawWritesTest, AHeldWriteEndsWhenTheConnectionCloses) {
  ASSERT_TRUE(stream_->enable_raw_writes());
  const std::string frame = pattern(1 << 20);
  bool rest_done = false;
  error_code rest_ec;
  ASSERT_NO_FATAL_FAILURE(write_in_part(frame, &rest_done, &rest_ec));
  const std::string ping = "PING";
  bool ping_done = false;
  error_code ping_ec;
  asio::async_write(*stream_, asio::buffer(ping), [&](error_code e, std::size_t) {
    ping_ec = e;
    ping_done = true;
  });
  stream_->close();
  run_until([&] { return rest_done && ping_done; });
  EXPECT_TRUE(rest_done);
  EXPECT_TRUE(ping_done) << "the held write never completed";
  EXPECT_TRUE(rest_ec);
  EXPECT_TRUE(ping_ec);
}

TEST_F(StreamRawWritesTest, OffUntilEnabled) {
  EXPECT_FALSE(stream_->raw_write_ready());
  EXPECT_TRUE(stream_->enable_raw_writes());
  EXPECT_TRUE(stream_->raw_write_ready());
}

}  // namespace
}  // namespace hifi::net
