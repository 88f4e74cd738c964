// Opening a TCP connection to an Endpoint: the one way HiFi's HTTP clients
// (the API and room clients, peer transfers, the etcd backend) resolve a
// server's host and connect to it with a deadline.
//
// Asio only: the stream is any type with expires_after() and an
// async_connect() over a sequence of TCP endpoints, which is what
// boost::beast::tcp_stream offers; this header does not include Beast.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <utility>
#include <vector>

#include "common/endpoint.h"

namespace hifi {

// The addresses of ep's host, in the resolver's order: an IP address as it
// is, a name through the system resolver. The lookup blocks the calling
// thread (an asynchronous one would start a helper thread per resolver);
// HiFi's clients connect from threads of their own. On failure sets ec
// (e.g. boost::asio::error::host_not_found) and returns nothing.
std::vector<boost::asio::ip::tcp::endpoint> resolve_endpoint(const Endpoint& ep,
                                                             boost::system::error_code& ec);

// Resolves ep (blocking, as above) and connects stream to the first address
// that answers, giving up after timeout (stream.expires_after). Completes
// with void(error_code): a resolver error, a socket error, or the stream's
// timeout error. Leaves the stream's expiry set; callers set the next one.
template <typename Stream, typename Token>
auto async_connect_endpoint(Stream& stream, const Endpoint& ep,
                            std::chrono::steady_clock::duration timeout, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      [&stream, ep, timeout](auto handler) {
        auto executor = boost::asio::get_associated_executor(handler, stream.get_executor());
        boost::system::error_code ec;
        auto addresses = resolve_endpoint(ep, ec);
        if (ec) {
          boost::asio::post(executor, [handler = std::move(handler), ec]() mutable {
            std::move(handler)(ec);
          });
          return;
        }
        stream.expires_after(timeout);
        stream.async_connect(
            addresses, boost::asio::bind_executor(
                           executor, [handler = std::move(handler)](
                                         const boost::system::error_code& error,
                                         const boost::asio::ip::tcp::endpoint&) mutable {
                             std::move(handler)(error);
                           }));
      },
      token);
}

}  // namespace hifi
