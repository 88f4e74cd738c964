// TLS for HiFi's connections: the server's certificate, reloadable while
// connections run, and the trust clients place in the servers they reach.
//
//   auto cert = net::ServerCertificate::load("node.pem", "node.key");
//   net::Stream s(tcp_stream(std::move(socket)), (*cert)->context());
//
//   auto s = net::client_stream(executor, endpoint);  // TLS for https://
//   ... connect s.tcp(), then s.async_handshake(ssl::stream_base::client, ...)
//
// Contexts allow TLS 1.2 and later only. Errors are kInvalidArgument and
// name the file that cannot be used and why.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <string>

#include "common/endpoint.h"
#include "common/status.h"
#include "net/stream.h"

namespace hifi::net {

using TlsContext = boost::asio::ssl::context;

struct ClientTlsFiles {
  // PEM certificates of the authorities a server's certificate must chain
  // to; empty: the system's trust store (which SSL_CERT_FILE and
  // SSL_CERT_DIR override).
  std::string ca_file;
  // A client certificate and its key, presented to servers that ask for
  // one (etcd started with --client-cert-auth); both or neither.
  std::string cert_file;
  std::string key_file;
};

// A context for connecting to servers that checks their certificates.
Result<std::shared_ptr<TlsContext>> make_client_context(const ClientTlsFiles& files);

// The context for https:// connections whose caller gives none. hifi-server
// sets it from --tls-ca (for its peers), the CLI from --ca-file; until
// then it trusts the system's store. Thread-safe.
std::shared_ptr<TlsContext> default_client_context();
void set_default_client_context(std::shared_ptr<TlsContext> context);

// A stream, not yet connected, for `server`: TLS with `context` (default:
// default_client_context()) for an https:// endpoint, set up to send the
// host name (SNI) and to accept only a certificate for that host (a name,
// or an IP address in the certificate's subjectAltName); in the clear for
// http://.
Stream client_stream(const boost::asio::any_io_executor& executor, const Endpoint& server,
                     std::shared_ptr<TlsContext> context = nullptr);

// What went wrong in a TLS step, for a person: the certificate check's
// reason when it failed there ("certificate has expired"), else the error.
std::string describe_error(const boost::system::error_code& ec);

// A server's certificate chain and private key (PEM files), replaceable
// while connections use the old one: each connection keeps the context it
// was accepted with. Thread-safe.
class ServerCertificate {
 public:
  static Result<std::unique_ptr<ServerCertificate>> load(std::string cert_file, std::string key_file);

  // The context for the next connection.
  std::shared_ptr<TlsContext> context() const;
  // Reads both files again; on failure the current certificate stays.
  Status reload();
  // "CN=node1.example, valid until 2027-12-05 (serial 1A2B...)".
  std::string describe() const;

 private:
  ServerCertificate(std::string cert_file, std::string key_file) : cert_file_(cert_file), key_file_(key_file) {}

  const std::string cert_file_;
  const std::string key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<TlsContext> context_;
  std::string description_;
};

}  // namespace hifi::net
