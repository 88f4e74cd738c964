#include "net/stream.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace hifi::net {

std::size_t Stream::write_raw(const boost::asio::const_buffer* buffers, std::size_t count,
                              boost::beast::error_code& ec) {
  HIFI_CHECK(raw_write_ready(), "net::Stream: write_raw() with raw writes off or a write in flight");
  constexpr std::size_t kMaxBuffers = 16;
  HIFI_CHECK(count <= kMaxBuffers, "net::Stream: write_raw() of too many buffers");
  std::array<iovec, kMaxBuffers> iov{};
  for (std::size_t i = 0; i < count; ++i) {
    iov[i].iov_base = const_cast<void*>(buffers[i].data());
    iov[i].iov_len = buffers[i].size();
  }
  msghdr message{};
  message.msg_iov = iov.data();
  message.msg_iovlen = count;
  ec = {};
  for (;;) {
    const auto sent = ::sendmsg(tcp_->socket().native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return static_cast<std::size_t>(sent);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    ec = boost::beast::error_code(errno, boost::system::system_category());
    return 0;
  }
}

void teardown(boost::beast::role_type role, Stream& stream, boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  if (stream.is_tls()) {
    teardown(role, stream.tls(), ec);
  } else {
    teardown(role, stream.socket(), ec);
  }
}

}  // namespace hifi::net
