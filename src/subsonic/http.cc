// The Subsonic API over HTTP: one route for every /rest/<endpoint>, GET and
// POST. It reads the parameters (query string, and a form body for
// OpenSubsonic's formPost), settles the response format, authenticates the
// caller and runs the endpoint on the worker pool, then renders its answer or
// error in the subsonic-response envelope. The router's own errors under
// /rest/ are rendered the same way (subsonic_router_error).
//
// Routes declare Auth::kNone here on purpose: Subsonic credentials may be in
// the form body, which is read by this adapter, and their failures are
// Subsonic error codes. Each endpoint declares whether it needs a caller
// (endpoints.h), and subsonic/auth.h is the one place that checks.
#include <spdlog/spdlog.h>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"
#include "subsonic/http_adapter.h"

namespace hifi::subsonic {
namespace {

// f, and callback for jsonp; an error to render as XML or JSON otherwise.
std::optional<Error> settle_format(Request& r) {
  auto format = parse_format(r.params.get("f"));
  if (!format) {
    r.format = Format::kXml;
    return format.error();
  }
  r.format = *format;
  if (r.format != Format::kJsonp) return std::nullopt;
  auto callback = r.params.get("callback");
  // Without a usable callback the error goes out as plain JSON: nothing
  // the client sent is echoed as script.
  r.format = Format::kJson;
  if (!callback) return missing_parameter("callback");
  if (!valid_jsonp_callback(*callback)) {
    return generic_error("callback must be a JavaScript identifier such as 'handleResponse' (letters, digits, _ "
                         "and $, dots between names, at most 128 bytes)");
  }
  r.format = Format::kJsonp;
  r.callback = *callback;
  return std::nullopt;
}

bool form_body(const RequestContext& ctx) {
  std::string type(ctx.header()[http::field::content_type]);
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type.starts_with("application/x-www-form-urlencoded");
}

std::string endpoint_name(std::string name) {
  if (name.ends_with(".view")) name.resize(name.size() - 5);
  return name;
}

awaitable<Reply> handle(RequestContext& ctx) {
  const auto name = endpoint_name(ctx.params[0]);
  Request req;
  if (auto s = req.params.add_encoded(ctx.url.encoded_query()); !s) {
    co_return error_answer(req, generic_error(s.message()));
  }
  if (auto e = settle_format(req)) co_return error_answer(req, *e);
  if (ctx.method == "POST") {
    const bool has_body = ctx.parser.content_length().value_or(0) > 0 || ctx.parser.chunked();
    if (has_body && !form_body(ctx)) {
      co_return error_answer(req, generic_error("a POST body must be application/x-www-form-urlencoded"));
    }
    if (has_body) {
      auto body = co_await http_internal::read_body(ctx, kMaxParamBytes);
      if (!body) {
        co_return error_answer(req, generic_error(body.status().code() == Code::kResourceExhausted
                                                      ? "the form body may be at most 64 KiB"
                                                      : body.status().message()));
      }
      if (auto s = req.params.add_encoded(*body); !s) co_return error_answer(req, generic_error(s.message()));
      if (auto e = settle_format(req)) co_return error_answer(req, *e);
    }
  }

  const auto* endpoint = find_endpoint(name);
  const bool media = is_media_endpoint(name);
  auto& services = ctx.services;
  // On a worker thread. An account password that is not remembered needs
  // Argon2id: then `deferred` is set and the check is left for the password
  // pool (authenticate_hashing), so token checks never wait behind hashing.
  bool deferred = false;
  auto check_caller = [&](bool may_defer) -> std::optional<Error> {
    auto caller = authenticate(req.params, services.credentials, ctx.client_address, may_defer ? &deferred : nullptr);
    if (!caller) {
      if (deferred) return caller.error();
      spdlog::info("subsonic: {} refused for {}: {}", name, ctx.client_address, caller.error().message);
      return caller.error();
    }
    req.caller = std::move(*caller);
    return std::nullopt;
  };
  auto authenticate_hashing = [&]() -> awaitable<std::optional<Error>> {
    auto checked = co_await http_internal::offload_password_work(ctx, [&] { return check_caller(false); });
    if (!checked) co_return generic_error("the server is busy checking passwords; try again in a moment");
    co_return *checked;
  };
  if (media) {
    if (!signed_cover_request(ctx, name, req.params)) {
      auto e = co_await http_internal::offload(ctx, [&] { return check_caller(true); });
      if (deferred) e = co_await authenticate_hashing();
      if (e) co_return error_answer(req, *e);
    }
    co_return co_await serve_media(ctx, name, req);
  }
  auto run = [&]() -> Expected<Body> {
    auto cover_url = [&ctx](const std::string& id, int size) { return signed_cover_url(ctx, id, size); };
    auto body = endpoint->run(Call{req.params, req.caller, services.catalog, services.accounts,
                                   services.clock.now_ms(), services.annotations, services.playlists,
                                   services.play_queues, services.shares, services.rooms, services.credentials,
                                   services.store, http_internal::public_base_url(ctx), cover_url});
    if (body && !req.caller.user.id.empty()) {
      annotate(*body, services.annotations, req.caller.user.id, services.catalog);
    }
    return body;
  };
  const bool on_password_pool = endpoint && endpoint->hashes_password;
  auto checked_and_run = [&](bool check) -> Expected<Body> {
    if (check && (!endpoint || endpoint->needs_auth)) {
      if (auto e = check_caller(true)) return *e;
    }
    if (!endpoint) {
      if (auto message = unsupported_endpoint(name)) return generic_error(*message);
      return not_found_error("HiFi has no Subsonic endpoint '" + name.substr(0, 64) + "'");
    }
    return on_password_pool ? Expected<Body>(Body{}) : run();
  };
  auto result = co_await http_internal::offload(ctx, [&] { return checked_and_run(true); });
  if (deferred) {
    // The account password, checked on the password pool; then the endpoint.
    if (auto e = co_await authenticate_hashing()) co_return error_answer(req, *e);
    result = co_await http_internal::offload(ctx, [&] { return checked_and_run(false); });
  }
  if (result && on_password_pool) {
    // Setting a password runs Argon2id: on the password pool, bounded.
    auto done = co_await http_internal::offload_password_work(ctx, run);
    result = done ? std::move(*done) : Expected<Body>(generic_error("the server is busy hashing passwords; try again"));
  }
  if (!result) co_return error_answer(req, result.error());
  co_return answer(render_ok(*result, req.format, req.callback));
}

}  // namespace

StringResponse answer(const Rendered& rendered) {
  StringResponse res{http::status::ok, 11};
  res.set(http::field::content_type, rendered.content_type);
  res.body() = rendered.body;
  return res;
}

StringResponse error_answer(const Request& request, const Error& error) {
  return answer(render_error(error, request.format, request.callback));
}

}  // namespace hifi::subsonic

namespace hifi::http_internal {

std::vector<Route> subsonic_routes() {
  return {
      {http::verb::get, "/rest/{}", Auth::kNone, subsonic::handle},
      {http::verb::post, "/rest/{}", Auth::kNone, subsonic::handle},
  };
}

StringResponse subsonic_router_error(const RequestContext& ctx, const HttpError& error) {
  subsonic::Request req;
  if (req.params.add_encoded(ctx.url.encoded_query())) (void)subsonic::settle_format(req);
  subsonic::Error e = subsonic::generic_error(error.detail);
  if (error.status == http::status::not_found) {
    e = subsonic::not_found_error("there is no Subsonic endpoint at " + std::string(ctx.url.path()).substr(0, 128));
  } else if (error.status == http::status::unauthorized) {
    e.code = subsonic::ErrorCode::kWrongCredentials;
  } else if (error.status == http::status::forbidden) {
    e.code = subsonic::ErrorCode::kNotAuthorized;
  }
  return subsonic::error_answer(req, e);
}

}  // namespace hifi::http_internal
