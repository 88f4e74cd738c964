#include "common/endpoint.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <cctype>

#include "common/text.h"

namespace hifi {
Result<Endpoint> Endpoint::parse(std::string_view url, std::optional<std::uint16_t> default_port) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return invalid_argument("not a URL (expected http://host:port)");
  const boost::urls::url_view& u = *parsed;
  Endpoint ep;
  ep.scheme = ascii_lowercase(u.scheme());
  if (ep.scheme != "http" && ep.scheme != "https") {
    return invalid_argument("unsupported scheme '" + ep.scheme + "' (expected http://host:port)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) return invalid_argument("the URL has no host");
  if (u.has_userinfo()) return invalid_argument("a server URL has no user name or password");
  if (u.has_query() || u.has_fragment()) return invalid_argument("a server URL has no query or fragment");
  switch (u.host_type()) {
    case boost::urls::host_type::ipv6: ep.host = u.host_ipv6_address().to_string(); break;
    case boost::urls::host_type::ipv4: ep.host = u.host_ipv4_address().to_string(); break;
    case boost::urls::host_type::name: ep.host = ascii_lowercase(u.host_name()); break;
    default: return invalid_argument("unsupported host '" + std::string(u.encoded_host()) + "'");
  }
  if (ep.host.find_first_of("/?#@[] ") != std::string::npos) {
    return invalid_argument("bad host '" + std::string(u.encoded_host()) + "'");
  }
  const std::string_view port = u.port();
  if (!port.empty()) {
    unsigned long n = 0;
    const bool digits = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits) n = std::stoul(std::string(port));
    if (!digits || n == 0 || n > 65535) return invalid_argument("bad port '" + std::string(port) + "'");
    ep.port = static_cast<std::uint16_t>(n);
  } else if (default_port && *default_port != 0) {
    ep.port = *default_port;
  } else {
    ep.port = ep.scheme == "https" ? 443 : 80;
  }
  // Boost.URL reads "host:80x" as port 80 and path "x"; a path after an
  // authority starts with '/'.
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') {
    return invalid_argument("bad port or path in '" + std::string(url) + "'");
  }
  ep.base_path = std::string(u.encoded_path());
  while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
  return ep;
}

std::string Endpoint::port_string() const { return std::to_string(port); }

std::string Endpoint::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + port_string();
}

std::string Endpoint::target(std::string_view path) const {
  if (path.empty() || path.front() != '/') return base_path + "/" + std::string(path);
  return base_path + std::string(path);
}

std::string Endpoint::url(std::string_view path) const {
  return scheme + "://" + host_header() + target(path);
}

}  // namespace hifi
