#include "cluster/peer_client.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <optional>

#include "common/endpoint.h"
#include "common/sha256.h"
#include "common/tcp_connect.h"
#include "net/tls.h"

namespace hifi::cluster {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A peer's advertised base URL: http://, or https:// for a peer that
// speaks TLS (its certificate checked against --tls-ca).
Result<Endpoint> parse_base_url(const std::string& base_url) {
  auto ep = Endpoint::parse(base_url);
  if (!ep) return invalid_argument("not an http:// or https:// base URL: " + base_url);
  return ep;
}

// Runs the io_context until the operation started before completes.
void run_until_done(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

// One request/response exchange on a fresh connection. `Body` is the
// request body type; file bodies are written piece by piece so that the
// idle timeout applies per piece, not to the whole transfer.
template <typename Body>
Result<std::pair<unsigned, std::string>> exchange(const Endpoint& target,
                                                  http::request<Body>& request,
                                                  const PeerClientOptions& options,
                                                  const std::string& what,
                                                  bool silence_is_unavailable = false) {
  asio::io_context ioc;
  auto stream = net::client_stream(ioc.get_executor(), target);
  auto fail = [&](const std::string& step, const boost::system::error_code& ec) {
    return io_error(what + ": " + step + " " + target.host_header() + ": " + net::describe_error(ec));
  };
  boost::system::error_code ec;
  async_connect_endpoint(stream.tcp(), target, options.connect_timeout, [&](auto e) { ec = e; });
  run_until_done(ioc);
  if (ec) return unavailable(what + ": cannot connect to " + target.host_header() + ": " + ec.message());
  stream.socket().set_option(tcp::no_delay(true));
  if (stream.is_tls()) {
    stream.expires_after(options.connect_timeout);
    stream.async_handshake(asio::ssl::stream_base::client, [&](auto e) { ec = e; });
    run_until_done(ioc);
    if (ec) return unavailable(what + ": no TLS with " + target.host_header() + ": " + net::describe_error(ec));
  }

  request.set(http::field::host, target.host_header());
  request.prepare_payload();
  http::request_serializer<Body> serializer(request);
  boost::system::error_code send_error;
  while (!serializer.is_done()) {
    stream.expires_after(options.idle_timeout);
    http::async_write_some(stream, serializer, [&](auto e, std::size_t) { send_error = e; });
    run_until_done(ioc);
    if (send_error) break;
  }
  // A peer that refuses a request answers before reading the body and
  // closes; its answer says why, so read it even when sending failed.
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  stream.expires_after(options.idle_timeout);
  http::async_read(stream, buffer, parser, [&](auto e, std::size_t) { ec = e; });
  run_until_done(ioc);
  if (ec && silence_is_unavailable && (send_error == beast::error::timeout || ec == beast::error::timeout)) {
    return unavailable(what + ": no answer from " + target.host_header() + " within " +
                       std::to_string(options.idle_timeout.count()) + " ms");
  }
  if (ec) return send_error ? fail("send to", send_error) : fail("answer from", ec);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return std::make_pair(parser.get().result_int(), std::move(parser.get().body()));
}

}  // namespace

std::string describe_refusal(unsigned status, const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  std::string detail;
  if (!ec && v.is_object()) {
    if (auto* d = v.as_object().if_contains("detail"); d && d->is_string()) detail = d->as_string();
  }
  return "HTTP " + std::to_string(status) + (detail.empty() ? "" : ": " + detail);
}

namespace {

// `verb` `api_path` to the member `to` (at `target`) with this node's peer
// header and an optional JSON body; the answer's status and body.
Result<std::pair<unsigned, std::string>> call_as_peer(const PeerAuth& auth, const Clock& clock, const Member& to,
                                                      const Endpoint& target, http::verb verb,
                                                      const std::string& api_path, std::string json_body,
                                                      const PeerClientOptions& options, const std::string& what,
                                                      bool silence_is_unavailable = false) {
  http::request<http::string_body> request{verb, target.target(api_path), 11};
  PeerRequest signed_part{std::string(http::to_string(verb)), api_path, to.id};
  if (!json_body.empty()) signed_part.body_sha256 = to_hex(sha256(json_body));
  request.set(kPeerHeader, auth.header_value(signed_part, clock.now_ms() / 1000));
  if (!json_body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::move(json_body);
  }
  return exchange(target, request, options, what, silence_is_unavailable);
}

}  // namespace

PeerClient::PeerClient(const PeerAuth& auth, const Clock& clock, PeerClientOptions options)
    : auth_(auth), clock_(clock), options_(options) {}

Status PeerClient::push_blob(const Member& to, const ContentHash& sha256, const std::string& path) const {
  const auto& base_url = to.advertise;
  auto target = parse_base_url(base_url);
  if (!target) return target.status();
  const std::string what = "copy of " + sha256.short_hex() + " to " + base_url;
  {
    // Ask first: a node that already holds the bytes need not receive them.
    // A live node answers at once; one that says nothing is frozen or
    // wedged and counts as down (kUnavailable), so that the upload moves on
    // instead of waiting out the transfer's idle timeout.
    PeerClientOptions options = options_;
    options.idle_timeout = std::min(options_.idle_timeout, options_.answer_timeout);
    auto answer = call_as_peer(auth_, clock_, to, *target, http::verb::post, "/internal/v1/blobs/" + sha256.hex() + "/keep", {},
                               options, what, /*silence_is_unavailable=*/true);
    if (!answer) return answer.status();
    if (answer->first == 200) return Status::ok();
    if (answer->first != 404) return io_error(what + " refused: " + describe_refusal(answer->first, answer->second));
  }
  http::request<http::file_body> request;
  beast::error_code ec;
  request.body().open(path.c_str(), beast::file_mode::scan, ec);
  if (ec) return io_error(what + ": open " + path + ": " + ec.message());
  const std::string api_path = "/internal/v1/blobs/" + sha256.hex();
  request.method(http::verb::put);
  request.target(target->target(api_path));
  request.version(11);
  request.set(http::field::content_type, "application/octet-stream");
  // The blob is named by its SHA-256, which is the body's digest.
  request.set(kPeerHeader, auth_.header_value(PeerRequest{"PUT", api_path, to.id, sha256.hex()},
                                              clock_.now_ms() / 1000));
  auto answer = exchange(*target, request, options_, what);
  if (!answer) return answer.status();
  if (answer->first == 507) return resource_exhausted(what + " refused: " + describe_refusal(answer->first, answer->second));
  if (answer->first != 200 && answer->first != 201) {
    return io_error(what + " refused: " + describe_refusal(answer->first, answer->second));
  }
  return Status::ok();
}

Status PeerClient::request_push(const Member& holder, const ContentHash& sha256,
                                const std::string& target_id) const {
  const auto& holder_url = holder.advertise;
  auto target = parse_base_url(holder_url);
  if (!target) return target.status();
  const std::string what = "push of " + sha256.short_hex() + " from " + holder_url;
  // The holder answers only after its own transfer, which has its own
  // per-piece deadline; allow for a slow but moving transfer.
  PeerClientOptions options = options_;
  options.idle_timeout = options_.idle_timeout * 8;
  auto answer = call_as_peer(auth_, clock_, holder, *target, http::verb::post, "/internal/v1/blobs/" + sha256.hex() + "/push",
                             boost::json::serialize(boost::json::object{{"target", target_id}}), options, what);
  if (!answer) return answer.status();
  if (answer->first != 200) return io_error(what + " failed: " + describe_refusal(answer->first, answer->second));
  return Status::ok();
}

Status PeerClient::request_drop(const Member& holder, const ContentHash& sha256) const {
  const auto& holder_url = holder.advertise;
  auto target = parse_base_url(holder_url);
  if (!target) return target.status();
  const std::string what = "drop of " + sha256.short_hex() + " on " + holder_url;
  auto answer = call_as_peer(auth_, clock_, holder, *target, http::verb::post, "/internal/v1/blobs/" + sha256.hex() + "/drop", {},
                             options_, what);
  if (!answer) return answer.status();
  if (answer->first != 200) return io_error(what + " refused: " + describe_refusal(answer->first, answer->second));
  return Status::ok();
}

Status PeerClient::commit_staged(const Member& to, const StagedCopy& copy) const {
  auto target = parse_base_url(to.advertise);
  if (!target) return target.status();
  const std::string what = "commit of the streamed copy of " + copy.sha256.short_hex() + " on " + to.advertise;
  auto answer = call_as_peer(auth_, clock_, to, *target, http::verb::post,
                             "/internal/v1/uploads/" + copy.upload_id + "/commit",
                             boost::json::serialize(boost::json::object{{"sha256", copy.sha256.hex()}}), options_,
                             what);
  if (!answer) return answer.status();
  if (answer->first == 200 || answer->first == 201) return Status::ok();
  if (answer->first == 404) return not_found(what + ": " + describe_refusal(answer->first, answer->second));
  if (answer->first == 507) return resource_exhausted(what + ": " + describe_refusal(answer->first, answer->second));
  return io_error(what + " refused: " + describe_refusal(answer->first, answer->second));
}

Status PeerClient::abort_staged(const Member& to, const std::string& upload_id) const {
  auto target = parse_base_url(to.advertise);
  if (!target) return target.status();
  const std::string what = "abort of a streamed copy on " + to.advertise;
  PeerClientOptions options = options_;
  options.idle_timeout = std::min(options_.idle_timeout, options_.answer_timeout);
  auto answer = call_as_peer(auth_, clock_, to, *target, http::verb::delete_, "/internal/v1/uploads/" + upload_id,
                             {}, options, what);
  if (!answer) return answer.status();
  if (answer->first != 200 && answer->first != 404) {
    return io_error(what + " refused: " + describe_refusal(answer->first, answer->second));
  }
  return Status::ok();
}

}  // namespace hifi::cluster
