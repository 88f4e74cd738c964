// Checks a route's Auth before its handler runs: the one place that turns
// credentials (bearer tokens, signed URLs, peer headers) into a caller.
#include <spdlog/spdlog.h>

#include "cluster/peer_auth.h"
#include "server/credentials.h"
#include "server/http_internal.h"

namespace hifi::http_internal {
namespace {

HttpError unauthenticated_error(std::string detail) {
  return {http::status::unauthorized, "unauthenticated", "Authentication required", std::move(detail)};
}

std::optional<HttpError> check_peer(RequestContext& ctx) {
  const auto& auth = ctx.services.cluster.auth();
  if (!auth.enabled()) {
    return HttpError{http::status::forbidden, "forbidden", "Forbidden",
                     "this node has no cluster secret, so it accepts no peers"};
  }
  // The path and query as this node received them (a proxy in front may
  // have removed a prefix the sender's advertised URL carries).
  std::string target(ctx.url.encoded_path());
  if (ctx.url.has_query()) target.append("?").append(ctx.url.encoded_query());
  std::string why;
  auto peer = auth.verify(std::string(ctx.header()[cluster::kPeerHeader]), ctx.method, target,
                          ctx.services.cluster.clock().now_ms() / 1000, &why);
  if (!peer) {
    spdlog::warn("refused a node-to-node request from {}: {} header: {}", ctx.client_address,
                 cluster::kPeerHeader, why);
    return HttpError{http::status::forbidden, "forbidden", "Forbidden",
                     "node-to-node requests need a valid X-HiFi-Peer header made with the cluster "
                     "secret (" + why + "; check that every node runs the same HiFi version with the same "
                     "secret and a correct clock)"};
  }
  ctx.peer_body_sha256 = std::move(peer->body_sha256);
  return std::nullopt;
}

// nullopt when the request is not signed; else whether the signature holds.
std::optional<bool> signed_url_valid(const RequestContext& ctx) {
  auto signature = ctx.query("signature");
  auto expires = ctx.query("expires");
  if (!signature || !expires) return std::nullopt;
  char* end = nullptr;
  auto exp = std::strtoll(expires->c_str(), &end, 10);
  auto now_s = ctx.services.clock.now_ms() / 1000;
  return !expires->empty() && *end == '\0' && !ctx.params.empty() &&
         ctx.services.signer.verify(ctx.params[0], exp, *signature, now_s);
}

}  // namespace

awaitable<std::optional<HttpError>> authenticate(RequestContext& ctx, Auth auth) {
  if (auth == Auth::kNone) co_return std::nullopt;
  if (auth == Auth::kPeer) co_return check_peer(ctx);
  const auto authorization = ctx.header()[http::field::authorization];
  if (auth == Auth::kBearerOrSignedUrl) {
    // Signed URLs are made for a song's stream (UrlSigner::stream_path).
    const auto fresh_link = "/api/v1/songs/" + (ctx.params.empty() ? std::string() : ctx.params[0]) + "/stream-url";
    if (auto valid = signed_url_valid(ctx)) {
      if (*valid) co_return std::nullopt;
      co_return HttpError{http::status::forbidden, "bad-signature", "Invalid or expired link",
                          "this stream link is invalid or has expired; ask for a new one at " + fresh_link};
    }
    if (authorization.empty()) {
      co_return unauthenticated_error("send 'Authorization: Bearer <token>' or use a signed URL from " +
                                      fresh_link);
    }
  }
  std::optional<std::string> query_token;
  if (auth == Auth::kBearerOrQueryToken) query_token = ctx.query("access_token");
  std::optional<std::string_view> query_view;
  if (query_token) query_view = *query_token;
  auto token = extract_token({authorization, query_view});
  if (!token) co_return unauthenticated_error(token.status().message());
  auto user = co_await offload(ctx, [&] { return ctx.services.accounts.authenticate(*token); });
  if (!user) co_return error_from_status(user.status());
  ctx.user = std::move(*user);
  ctx.token = std::move(*token);
  co_return std::nullopt;
}

}  // namespace hifi::http_internal
