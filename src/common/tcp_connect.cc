#include "common/tcp_connect.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

namespace hifi {

std::vector<boost::asio::ip::tcp::endpoint> resolve_endpoint(const Endpoint& ep,
                                                             boost::system::error_code& ec) {
  using boost::asio::ip::tcp;
  std::vector<tcp::endpoint> out;
  ec.clear();
  boost::system::error_code not_numeric;
  const auto address = boost::asio::ip::make_address(ep.host, not_numeric);
  if (!not_numeric) {
    out.emplace_back(address, ep.port);
    return out;
  }
  boost::asio::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(ep.host, ep.port_string(), tcp::resolver::numeric_service, ec);
  if (ec) return {};
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

}  // namespace hifi
