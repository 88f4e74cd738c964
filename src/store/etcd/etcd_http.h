// Private to the etcd backend: one blocking HTTP/1.1 connection to one etcd
// member, with a deadline on every step and a thread-safe way to abort it.
//
// The I/O runs as Asio operations on a private io_context that the calling
// thread drives until the operation completes, which is what gives plain
// blocking calls their deadlines (Beast's tcp_stream timeouts) and makes
// interrupt() possible from another thread. A connection is used by one
// thread at a time; only interrupt() may be called concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace hifi::etcd {

struct Endpoint {
  std::string url;        // as configured, for messages
  hifi::Endpoint server;  // port 2379 unless the URL names one
  // For an https:// member: the trust (--etcd-ca) and client certificate
  // (--etcd-cert, --etcd-key) its connections use; null: the process's
  // default client context (net::default_client_context()).
  std::shared_ptr<boost::asio::ssl::context> tls;
};

// Accepts "http://host[:port]", "https://host[:port]", "host[:port]" (http)
// and "http://[v6addr][:port]", with an optional trailing '/'.
Result<Endpoint> parse_endpoint(const std::string& url);

// Gives the https:// endpoints one client context: certificates checked
// against ca_file (empty: the system's trust store), and cert_file and
// key_file (both or neither) presented when etcd asks. kInvalidArgument
// naming the file that cannot be used, or when files are given but no
// endpoint is https://.
Status use_tls(std::vector<Endpoint>& endpoints, const std::string& ca_file, const std::string& cert_file,
               const std::string& key_file);

struct HttpResponse {
  unsigned status = 0;
  std::string body;
};

class HttpConnection {
 public:
  explicit HttpConnection(Endpoint endpoint);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  const Endpoint& endpoint() const;

  // Failures of this class are kUnavailable with the endpoint in the message.
  Status connect(std::chrono::milliseconds timeout);

  // True when the connection may carry another request: the last response
  // allowed keep-alive, and the peer has neither closed it nor sent
  // anything unsolicited since (a member that died closes its sockets).
  bool reusable();

  // POSTs a JSON body and reads the whole response. *sent becomes true once
  // the request is completely written; a failure after that leaves open
  // whether the server acted on it.
  Result<HttpResponse> post(const std::string& target, const std::string& body,
                            std::chrono::milliseconds timeout, bool* sent);

  // Streaming: POSTs a JSON body and reads only the response header.
  Result<unsigned> post_stream(const std::string& target, const std::string& body,
                               std::chrono::milliseconds timeout);
  // Appends the next body bytes of the streamed response to *out, waiting
  // at most timeout (nullopt: forever). Returns kUnavailable when the
  // response ended or failed; bytes read before that are still appended.
  Status read_stream(std::string* out, std::optional<std::chrono::milliseconds> timeout);

  // Aborts the operation in progress and every later one. Thread-safe.
  void interrupt();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hifi::etcd
