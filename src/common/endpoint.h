// Endpoint: the base URL of an HTTP server HiFi talks to (a HiFi server for
// the CLI and the room client, a peer node, an etcd member), parsed once.
//
//   auto ep = Endpoint::parse("http://[::1]:8080/hifi/");
//   ep->host            "::1"
//   ep->port            8080
//   ep->host_header()   "[::1]:8080"
//   ep->target("/api")  "/hifi/api"
//
// Plain value; thread-safe to share once built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

struct Endpoint {
  std::string scheme;      // "http" or "https", lowercase
  std::string host;        // a lowercase name or an address; IPv6 without brackets
  std::uint16_t port = 0;  // never 0 once parsed
  std::string base_path;   // "" or "/prefix", without a trailing '/'

  // Accepts scheme://host[:port][/path] with scheme http or https (any
  // case). Without a port: default_port if given, else 80 (http) or 443
  // (https). Trailing slashes of the path are dropped. kInvalidArgument for
  // anything else: not a URL, another scheme, no host, user info, a query
  // or fragment, a port outside 1..65535. Callers that cannot speak TLS
  // refuse scheme "https" themselves, with their own message.
  static Result<Endpoint> parse(std::string_view url,
                                std::optional<std::uint16_t> default_port = std::nullopt);

  bool is_https() const { return scheme == "https"; }
  // The port in decimal, as a resolver wants it.
  std::string port_string() const;
  // "host:port", with an IPv6 address in brackets: the Host header's value.
  std::string host_header() const;
  // The request-target for a path on this server: base_path + path, with a
  // '/' between them when path does not start with one.
  std::string target(std::string_view path) const;
  // scheme://host_header() + target(path).
  std::string url(std::string_view path = "/") const;

  bool operator==(const Endpoint&) const = default;
};

}  // namespace hifi
