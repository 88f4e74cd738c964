// Checks a route's Auth before its handler runs: the one place that turns
// credentials (bearer tokens, signed URLs, peer headers) into a caller.
#include <spdlog/spdlog.h>

#include <openssl/crypto.h>

#include <charconv>

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
  ctx.peer_node = std::move(peer->node_id);
  return std::nullopt;
}

// A signed URL's query, parsed; nullopt when the request is not signed. A
// malformed one yields a SignedStream that verifies nothing.
std::optional<SignedStream> signed_query(const RequestContext& ctx) {
  auto expires = ctx.query_view("expires");
  if (!ctx.query_view("signature") || !expires) return std::nullopt;
  SignedStream out;
  auto number = [](const std::optional<std::string_view>& text, auto& value) {
    if (!text || text->empty()) return false;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    return ec == std::errc() && end == text->data() + text->size();
  };
  if (!number(expires, out.expires_s)) out.expires_s = 0;
  out.grant.user_id = ctx.query_view("user").value_or("");
  if (!number(ctx.query_view("epoch"), out.grant.sessions_epoch)) out.grant.user_id.clear();
  return out;
}

// Whether the bearer token is the server's metrics token (constant time).
bool metrics_token_matches(const RequestContext& ctx, std::string_view authorization) {
  const auto& expected = ctx.config.metrics_token;
  if (expected.empty()) return false;
  auto token = extract_token({authorization, std::nullopt});
  return token && token->size() == expected.size() &&
         CRYPTO_memcmp(token->data(), expected.data(), expected.size()) == 0;
}

HttpError bad_link(const RequestContext& ctx, const std::string& why) {
  const auto fresh_link = "/api/v1/songs/" + (ctx.params.empty() ? std::string() : ctx.params[0]) + "/stream-url";
  return HttpError{http::status::forbidden, "bad-signature", "Invalid or expired link",
                   "this stream link " + why + "; ask for a new one at " + fresh_link};
}

}  // namespace

awaitable<std::optional<HttpError>> authenticate(RequestContext& ctx, Auth auth) {
  if (auth == Auth::kNone) co_return std::nullopt;
  if (auth == Auth::kPeer) co_return check_peer(ctx);
  const auto authorization = ctx.header()[http::field::authorization];
  if (auth == Auth::kBearerOrSignedUrl) {
    // Signed URLs are made for a song's stream (UrlSigner::stream_path).
    if (auto signed_stream = signed_query(ctx)) {
      // Let in when its signature holds, it has not expired, and its user's
      // grant still holds (on any node: the accounts view, or the store for
      // a user the view does not know yet). Here rather than in a coroutine
      // of its own: this runs for every range a player asks for.
      const auto now_s = ctx.services.clock.now_ms() / 1000;
      if (ctx.params.empty() || signed_stream->grant.user_id.empty() ||
          !ctx.services.signer.verify_stream(ctx.params[0], *signed_stream, *ctx.query_view("signature"), now_s)) {
        co_return bad_link(ctx, "is invalid or has expired");
      }
      const auto& grant = signed_stream->grant;
      auto& accounts = ctx.services.accounts;
      auto held = accounts.check_grant_cached(grant.user_id, grant.sessions_epoch);
      if (!held) held = co_await offload(ctx, [&] { return accounts.check_grant(grant.user_id, grant.sessions_epoch); });
      if (!*held) {
        if (held->code() != Code::kUnauthenticated) co_return error_from_status(*held);
        co_return bad_link(ctx, "was revoked (" + held->message() + ")");
      }
      ctx.signed_stream = std::move(signed_stream);
      co_return std::nullopt;
    }
    if (authorization.empty()) {
      co_return unauthenticated_error("send 'Authorization: Bearer <token>' or use a signed URL from /api/v1/songs/" +
                                      (ctx.params.empty() ? std::string() : ctx.params[0]) + "/stream-url");
    }
  }
  if (auth == Auth::kAdminOrMetricsToken && metrics_token_matches(ctx, authorization)) co_return std::nullopt;
  std::optional<std::string> query_token;
  if (auth == Auth::kBearerOrQueryToken) query_token = ctx.query("access_token");
  std::optional<std::string_view> query_view;
  if (query_token) query_view = *query_token;
  auto token = extract_token({authorization, query_view});
  if (!token) co_return unauthenticated_error(token.status().message());
  auto user = co_await offload(ctx, [&] { return ctx.services.accounts.authenticate(*token); });
  if (!user) co_return error_from_status(user.status());
  if (auth == Auth::kAdminOrMetricsToken && !user->is_admin()) {
    co_return HttpError{http::status::forbidden, "forbidden", "Forbidden",
                        "only an admin, or a scraper with the server's metrics token, may read this"};
  }
  ctx.user = std::move(*user);
  ctx.token = std::move(*token);
  co_return std::nullopt;
}

}  // namespace hifi::http_internal
