// The REST API under /api/v1: handlers that turn HTTP into service calls.
// Nothing here knows about SQLite or files beyond opening a blob to stream.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "common/sha256.h"
#include "common/text.h"
#include "server/digest_header.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/multipart.h"
#include "server/range.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;

StringResponse bad_request(const RequestContext& ctx, std::string_view detail) {
  return problem(ctx, http::status::bad_request, "invalid-request", "Invalid request", detail);
}

awaitable<std::variant<boost::json::object, StringResponse>> read_json(RequestContext& ctx) {
  // The body is parsed as JSON whatever its Content-Type says: clients such
  // as `curl -d` send a form type by default, and a clear parse error helps
  // more than a 415.
  auto body = co_await read_body(ctx, ctx.config.max_json_bytes);
  if (!body) {
    if (body.status().code() == Code::kResourceExhausted) {
      co_return problem(ctx, http::status::payload_too_large, "payload-too-large",
                        "Payload too large", body.status().message());
    }
    co_return bad_request(ctx, body.status().message());
  }
  JsonLimits limits;
  limits.max_bytes = ctx.config.max_json_bytes;
  auto object = parse_json_object(*body, limits);
  if (!object) co_return bad_request(ctx, object.status().message());
  co_return std::move(*object);
}

namespace {

constexpr std::size_t kUploadChunk = 256 * 1024;
constexpr std::size_t kMaxFormFieldBytes = 64 * 1024;

json::object user_json(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"role", u.role},
          {"disabled", u.disabled},
          {"created_at", u.created_at}};
}

json::object song_json(const RequestContext& ctx, const Song& s) {
  auto o = song_to_json_object(s);
  o.erase("cover_sha256");
  o.erase("cover_mime");
  o["cover_url"] = s.cover_sha256.empty() ? json::value(nullptr)
                                          : json::value("/api/v1/songs/" + s.id + "/cover");
  o["stream_url"] = "/api/v1/songs/" + s.id + "/stream";
  return o;
}

bool is_admin(const RequestContext& ctx) { return ctx.user && ctx.user->is_admin(); }

StringResponse admin_only(const RequestContext& ctx) {
  return problem(ctx, http::status::forbidden, "forbidden", "Forbidden",
                 "only an admin may do this");
}

// --- health and metrics ---------------------------------------------------

awaitable<Reply> healthz(RequestContext& ctx) {
  auto rev = co_await offload(ctx, [&] { return ctx.services.store.current_revision(); });
  if (!rev) {
    co_return problem(ctx, http::status::service_unavailable, "unavailable", "Unhealthy",
                      "the metadata store does not answer: " + rev.status().message());
  }
  co_return json_response(
      ctx, http::status::ok,
      {{"status", "ok"},
       {"store", ctx.services.store.describe()},
       {"revision", *rev},
       {"registration", registration_mode_name(ctx.services.accounts.registration_mode())},
       {"max_upload_bytes", ctx.config.max_upload_bytes}});
}

awaitable<Reply> metrics(RequestContext& ctx) {
  StringResponse res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = ctx.services.metrics.render() + ctx.services.cluster.render_metrics();
  co_return res;
}

// --- accounts -------------------------------------------------------------

awaitable<Reply> register_user(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(username, fields.required_string("username"));
  HIFI_FIELD(password, fields.required_string("password"));
  HIFI_FIELD(invite, fields.optional_string("invite_code"));
  auto user = co_await offload(ctx, [&] {
    return ctx.services.accounts.register_user(username, password, invite.value_or(""));
  });
  if (!user) co_return problem_from_status(ctx, user.status());
  spdlog::info("account '{}' registered ({})", user->username, user->role);
  co_return json_response(ctx, http::status::created, user_json(*user));
}

awaitable<Reply> login(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(username, fields.required_string("username"));
  HIFI_FIELD(password, fields.required_string("password"));
  std::int64_t retry_after_ms = 0;
  auto session = co_await offload(ctx, [&] {
    return ctx.services.accounts.login(username, password, ctx.client_address, &retry_after_ms);
  });
  if (!session) {
    auto res = problem_from_status(ctx, session.status());
    if (session.status().code() == Code::kResourceExhausted) {
      res.set(http::field::retry_after, std::to_string((retry_after_ms + 999) / 1000));
    }
    co_return res;
  }
  co_return json_response(ctx, http::status::ok,
                          {{"token", session->token},
                           {"expires_at", session->expires_at},
                           {"user", user_json(session->user)}});
}

awaitable<Reply> logout(RequestContext& ctx) {
  std::string token(ctx.header()[http::field::authorization].substr(7));
  auto s = co_await offload(ctx, [&] { return ctx.services.accounts.logout(token); });
  if (!s) co_return problem_from_status(ctx, s);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> me(RequestContext& ctx) {
  co_return json_response(ctx, http::status::ok, user_json(*ctx.user));
}

awaitable<Reply> change_password(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(current, fields.required_string("current_password"));
  HIFI_FIELD(next, fields.required_string("new_password"));
  std::string token(ctx.header()[http::field::authorization].substr(7));
  auto s = co_await offload(ctx, [&] {
    return ctx.services.accounts.change_password(ctx.user->id, current, next, token);
  });
  if (!s) co_return problem_from_status(ctx, s);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> list_users(RequestContext& ctx) {
  if (!is_admin(ctx)) co_return admin_only(ctx);
  auto users = co_await offload(ctx, [&] { return ctx.services.accounts.list_users(); });
  if (!users) co_return problem_from_status(ctx, users.status());
  json::array items;
  for (auto& u : *users) items.push_back(user_json(u));
  co_return json_response(ctx, http::status::ok, {{"items", items}});
}

awaitable<Reply> update_user(RequestContext& ctx) {
  if (!is_admin(ctx)) co_return admin_only(ctx);
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(disabled, fields.optional_bool("disabled"));
  if (!disabled) co_return bad_request(ctx, "nothing to change; send {\"disabled\": true|false}");
  if (*disabled && ctx.params[0] == ctx.user->id) {
    co_return problem(ctx, http::status::conflict, "precondition-failed", "Precondition failed",
                      "an admin cannot disable their own account");
  }
  auto user = co_await offload(
      ctx, [&] { return ctx.services.accounts.set_disabled(ctx.params[0], *disabled); });
  if (!user) co_return problem_from_status(ctx, user.status());
  spdlog::info("account '{}' {} by '{}'", user->username, *disabled ? "disabled" : "enabled",
               ctx.user->username);
  co_return json_response(ctx, http::status::ok, user_json(*user));
}

awaitable<Reply> create_invite(RequestContext& ctx) {
  if (!is_admin(ctx)) co_return admin_only(ctx);
  auto invite = co_await offload(ctx, [&] { return ctx.services.accounts.create_invite(*ctx.user); });
  if (!invite) co_return problem_from_status(ctx, invite.status());
  co_return json_response(ctx, http::status::created,
                          {{"code", invite->code}, {"expires_at", invite->expires_at}});
}

// --- upload ---------------------------------------------------------------

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

awaitable<Reply> upload_song(RequestContext& ctx) {
  auto& metrics = ctx.services.metrics;
  auto reject = [&](StringResponse res) {
    metrics.count_upload("rejected");
    return res;
  };
  const auto max = ctx.config.max_upload_bytes;
  auto too_large = [&] {
    return reject(problem(ctx, http::status::payload_too_large, "payload-too-large",
                          "Payload too large",
                          "songs may be at most " + std::to_string(max) + " bytes"));
  };

  std::string content_type(ctx.header()[http::field::content_type]);
  std::string lowered = content_type;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), ::tolower);
  const bool multipart = lowered.rfind("multipart/form-data", 0) == 0;
  const bool raw = lowered.rfind("audio/", 0) == 0 || lowered.rfind("application/octet-stream", 0) == 0;
  if (!multipart && !raw) {
    co_return reject(problem(ctx, http::status::unsupported_media_type, "unsupported-media-type",
                             "Unsupported media type",
                             "send the song as the raw body (Content-Type audio/* or "
                             "application/octet-stream) or as multipart/form-data"));
  }
  if (auto len = ctx.parser.content_length(); len && *len > max + (multipart ? 64 * 1024 : 0)) {
    co_return too_large();
  }

  std::optional<Digest> expected;
  if (auto header = ctx.header()["Repr-Digest"]; !header.empty()) {
    auto parsed = parse_sha256_digest_header(header);
    if (!parsed) co_return reject(bad_request(ctx, "Repr-Digest: " + parsed.status().message()));
    expected = *parsed;
  }

  std::string filename = percent_decode(ctx.header()["X-Filename"]);
  auto writer_or = ctx.services.blobs.begin_write(max);
  if (!writer_or) co_return problem_from_status(ctx, writer_or.status());
  auto writer = std::move(*writer_or);

  std::optional<MultipartParser> form;
  bool saw_file = false, in_file = false;
  std::size_t field_bytes = 0;
  Status write_status;
  if (multipart) {
    auto boundary = multipart_boundary(content_type);
    if (!boundary) co_return reject(bad_request(ctx, boundary.status().message()));
    MultipartParser::Handler handler;
    handler.on_part_begin = [&](const MultipartPartHeaders& part) -> Status {
      in_file = !part.filename.empty() || part.name == "file";
      if (in_file) {
        if (saw_file) return invalid_argument("send one file per request");
        saw_file = true;
        filename = part.filename;
      }
      return Status::ok();
    };
    handler.on_part_data = [&](std::string_view data) -> Status {
      if (in_file) return writer->write(data);
      field_bytes += data.size();
      if (field_bytes > kMaxFormFieldBytes) return resource_exhausted("form fields are too large");
      return Status::ok();
    };
    handler.on_part_end = [&]() -> Status {
      in_file = false;
      return Status::ok();
    };
    form.emplace(*boundary, std::move(handler));
  }

  co_await send_continue_if_expected(ctx);
  // The parser's own body limit leaves room for multipart framing; the blob
  // writer enforces the exact limit on the song's bytes.
  ctx.parser.body_limit(max + 64 * 1024);
  ctx.buffer.reserve(kUploadChunk);  // read in large pieces, not 512 bytes at a time
  std::vector<char> buf(kUploadChunk);
  std::uint64_t received = 0;
  while (!ctx.parser.is_done()) {
    ctx.parser.get().body().data = buf.data();
    ctx.parser.get().body().size = buf.size();
    ctx.stream.expires_after(std::chrono::milliseconds(ctx.config.body_idle_timeout_ms));
    auto [ec, n] = co_await http::async_read(ctx.stream, ctx.buffer, ctx.parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) co_return too_large();
    if (ec) {
      metrics.count_upload("failed");
      spdlog::info("upload from {} aborted: {}", ctx.client_address, ec.message());
      throw boost::system::system_error(ec);  // the connection is unusable; nothing was stored
    }
    std::string_view chunk(buf.data(), buf.size() - ctx.parser.get().body().size);
    received += chunk.size();
    write_status = form ? form->feed(chunk) : writer->write(chunk);
    if (!write_status) break;
  }
  metrics.add_bytes_in(received);
  if (write_status.is_ok() && form) write_status = form->finish();
  if (!write_status) {
    if (write_status.code() == Code::kResourceExhausted) {
      co_return reject(problem(ctx, http::status::payload_too_large, "payload-too-large",
                               "Payload too large", write_status.message()));
    }
    if (write_status.code() == Code::kInvalidArgument) {
      co_return reject(bad_request(ctx, write_status.message()));
    }
    co_return problem_from_status(ctx, write_status);
  }
  if (form && !saw_file) {
    co_return reject(bad_request(ctx, "the form has no file part (name it 'file')"));
  }

  const auto digest = writer->digest();
  if (expected && *expected != digest) {
    co_return reject(problem(ctx, http::status::bad_request, "digest-mismatch", "Digest mismatch",
                             "the body's SHA-256 does not match the Repr-Digest header; the upload "
                             "was corrupted on the way and nothing was stored"));
  }
  auto outcome = co_await offload(ctx, [&] {
    return ctx.services.catalog.add_upload(*writer, filename, ctx.user->id);
  });
  if (!outcome) {
    if (outcome.status().code() == Code::kUnsupported) {
      co_return reject(problem(ctx, http::status::unsupported_media_type, "unsupported-media-type",
                               "Not a playable audio file", outcome.status().message()));
    }
    metrics.count_upload("failed");
    co_return problem_from_status(ctx, outcome.status());
  }
  metrics.count_upload(outcome->created ? "created" : "duplicate");
  if (outcome->created) {
    spdlog::info("song {} uploaded by '{}': {} - {} ({} bytes)", outcome->song.id,
                 ctx.user->username, outcome->song.artist, outcome->song.title, outcome->song.size);
  }
  auto res = json_response(ctx, outcome->created ? http::status::created : http::status::ok,
                           song_json(ctx, outcome->song));
  res.set(http::field::location, "/api/v1/songs/" + outcome->song.id);
  co_return res;
}

// --- library reads --------------------------------------------------------

awaitable<Reply> list_songs(RequestContext& ctx) {
  SongQuery q;
  q.text = ctx.query("q").value_or("");
  q.cursor = ctx.query("cursor").value_or("");
  q.album_id = ctx.query("album").value_or("");
  q.artist_id = ctx.query("artist").value_or("");
  if (auto sort = ctx.query("sort"); sort && !parse_song_sort(*sort, q.sort)) {
    co_return bad_request(ctx, "sort must be one of title, artist, album, uploaded_at, duration");
  }
  if (auto order = ctx.query("order")) {
    if (*order != "asc" && *order != "desc") co_return bad_request(ctx, "order must be asc or desc");
    q.descending = *order == "desc";
  }
  if (auto limit = ctx.query("limit")) {
    char* end = nullptr;
    auto n = std::strtol(limit->c_str(), &end, 10);
    if (limit->empty() || *end != '\0' || n < 1 || n > 500) {
      co_return bad_request(ctx, "limit must be an integer from 1 to 500");
    }
    q.limit = static_cast<std::size_t>(n);
  }
  if (q.text.size() > 256) co_return bad_request(ctx, "q must be at most 256 bytes");
  auto page = ctx.services.catalog.query(q);
  if (!page) co_return problem_from_status(ctx, page.status());
  json::array items;
  for (auto& s : page->items) items.push_back(song_json(ctx, s));
  co_return json_response(ctx, http::status::ok,
                          {{"items", items},
                           {"next", page->next.empty() ? json::value(nullptr) : json::value(page->next)}});
}

awaitable<Reply> get_song(RequestContext& ctx) {
  auto song = ctx.services.catalog.get(ctx.params[0]);
  if (!song) co_return problem_from_status(ctx, song.status());
  auto replicas = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().replicas(song->sha256); });
  if (!replicas) co_return problem_from_status(ctx, replicas.status());
  auto o = song_json(ctx, *song);
  json::array holders;
  for (const auto& r : *replicas) {
    holders.push_back({{"id", r.node_id},
                       {"advertise", r.member ? json::value(r.member->advertise) : json::value(nullptr)},
                       {"live", r.member.has_value()}});
  }
  o["replicas"] = std::move(holders);
  co_return json_response(ctx, http::status::ok, o);
}

awaitable<Reply> get_song_by_sha256(RequestContext& ctx) {
  const auto& sha = ctx.params[0];
  if (!is_sha256_hex(sha)) co_return bad_request(ctx, "expected 64 lowercase hex digits");
  auto song = ctx.services.catalog.find_by_sha256(sha);
  if (!song) co_return problem(ctx, http::status::not_found, "not-found", "Not found",
                               "no song has these bytes");
  co_return json_response(ctx, http::status::ok, song_json(ctx, *song));
}

awaitable<Reply> delete_song(RequestContext& ctx) {
  auto song = ctx.services.catalog.get(ctx.params[0]);
  if (!song) co_return problem_from_status(ctx, song.status());
  if (song->uploaded_by != ctx.user->id && !is_admin(ctx)) {
    co_return problem(ctx, http::status::forbidden, "forbidden", "Forbidden",
                      "only the uploader or an admin may delete a song");
  }
  auto s = co_await offload(ctx, [&] { return ctx.services.catalog.remove(song->id); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("song {} deleted by '{}'", song->id, ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> stream_url(RequestContext& ctx) {
  auto song = ctx.services.catalog.get(ctx.params[0]);
  if (!song) co_return problem_from_status(ctx, song.status());
  auto expires = (ctx.services.clock.now_ms() + ctx.config.signed_url_ttl_ms) / 1000;
  co_return json_response(ctx, http::status::ok,
                          {{"url", ctx.services.signer.stream_path(song->id, expires)},
                           {"expires_at", expires * 1000}});
}

bool decode_hex_digest(const std::string& hex, Digest& out) {
  if (!is_sha256_hex(hex)) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return true;
}

struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

awaitable<Reply> serve_blob(RequestContext& ctx, const std::string& sha256,
                            const std::string& content_type, const std::string& download_name) {
  const auto etag = "\"" + sha256 + "\"";
  auto if_none_match = ctx.header()[http::field::if_none_match];
  if (!if_none_match.empty() &&
      (if_none_match == "*" || if_none_match.find(etag) != std::string_view::npos)) {
    StringResponse res{http::status::not_modified, 11};
    res.set(http::field::etag, etag);
    co_return res;
  }
  FileCloser file{::open(ctx.services.blobs.path_for(sha256).c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
    spdlog::error("blob {} is missing from disk", sha256);
    co_return problem(ctx, http::status::internal_server_error, "storage-error", "Storage error",
                      "the song's bytes are not readable on this node");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  auto range_header = ctx.header()[http::field::range];
  auto if_range = ctx.header()[http::field::if_range];
  if (!if_range.empty() && if_range != etag) range_header = {};  // changed: send it all
  auto range = parse_range(range_header, size);
  if (range.kind == RangeRequest::Kind::kUnsatisfiable) {
    auto res = problem(ctx, http::status::range_not_satisfiable, "range-not-satisfiable",
                       "Range not satisfiable",
                       "the requested range is outside the " + std::to_string(size) + " bytes of the song");
    res.set(http::field::content_range, "bytes */" + std::to_string(size));
    co_return res;
  }
  HeaderResponse header{http::status::ok, 11};
  std::uint64_t offset = 0, length = size;
  if (range.kind == RangeRequest::Kind::kPartial) {
    header.result(http::status::partial_content);
    offset = range.range.first;
    length = range.range.length();
    header.set(http::field::content_range, "bytes " + std::to_string(range.range.first) + "-" +
                                               std::to_string(range.range.last) + "/" +
                                               std::to_string(size));
  }
  header.set(http::field::content_type, content_type.empty() ? "application/octet-stream" : content_type);
  header.set(http::field::content_length, std::to_string(length));
  header.set(http::field::accept_ranges, "bytes");
  header.set(http::field::etag, etag);
  header.set(http::field::cache_control, "private, max-age=31536000, immutable");
  Digest digest{};
  if (decode_hex_digest(sha256, digest)) header.set("Repr-Digest", format_sha256_digest_header(digest));
  if (!download_name.empty()) {
    header.set(http::field::content_disposition,
               "attachment; filename*=UTF-8''" + boost::urls::encode(download_name, boost::urls::unreserved_chars));
  }
  co_await send_file(ctx, header, file.fd, offset, length);
  co_return std::nullopt;
}

namespace {

awaitable<Reply> stream_song(RequestContext& ctx) {
  const auto& id = ctx.params[0];
  auto signature = ctx.query("signature");
  auto expires = ctx.query("expires");
  if (signature && expires) {
    char* end = nullptr;
    auto exp = std::strtoll(expires->c_str(), &end, 10);
    auto now_s = ctx.services.clock.now_ms() / 1000;
    if (expires->empty() || *end != '\0' || !ctx.services.signer.verify(id, exp, *signature, now_s)) {
      co_return problem(ctx, http::status::forbidden, "bad-signature", "Invalid or expired link",
                        "this stream link is invalid or has expired; ask for a new one at "
                        "/api/v1/songs/" + id + "/stream-url");
    }
  } else {
    auto auth = ctx.header()[http::field::authorization];
    if (auth.size() < 8 || !beast::iequals(auth.substr(0, 7), "Bearer ")) {
      co_return problem(ctx, http::status::unauthorized, "unauthenticated", "Authentication required",
                        "send 'Authorization: Bearer <token>' or use a signed URL from "
                        "/api/v1/songs/" + id + "/stream-url");
    }
    std::string token(auth.substr(7));
    auto user = co_await offload(ctx, [&] { return ctx.services.accounts.authenticate(token); });
    if (!user) co_return problem_from_status(ctx, user.status());
  }
  auto song = ctx.services.catalog.get(id);
  if (!song) co_return problem_from_status(ctx, song.status());
  std::string download;
  if (ctx.query("download") == std::optional<std::string>("1")) {
    download = song->filename.empty() ? song->title : song->filename;
  }
  if (!ctx.services.blobs.exists(song->sha256)) {
    co_return co_await serve_remote_blob(ctx, *song, BlobKind::kSong, download);
  }
  co_return co_await serve_blob(ctx, song->sha256, song->content_type, download);
}

awaitable<Reply> song_cover(RequestContext& ctx) {
  auto song = ctx.services.catalog.get(ctx.params[0]);
  if (!song) co_return problem_from_status(ctx, song.status());
  if (song->cover_sha256.empty()) {
    co_return problem(ctx, http::status::not_found, "not-found", "Not found",
                      "this song has no cover art");
  }
  if (!ctx.services.blobs.exists(song->cover_sha256)) {
    co_return co_await serve_remote_blob(ctx, *song, BlobKind::kCover, "");
  }
  co_return co_await serve_blob(ctx, song->cover_sha256, song->cover_mime, "");
}

json::object album_json(const Album& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"artist", a.artist},
          {"year", a.year},
          {"song_count", a.song_count},
          {"duration_ms", a.duration_ms},
          {"cover_url", a.cover_song_id.empty() ? json::value(nullptr)
                                                : json::value("/api/v1/songs/" + a.cover_song_id + "/cover")}};
}

awaitable<Reply> list_albums(RequestContext& ctx) {
  json::array items;
  for (auto& a : ctx.services.catalog.albums(ctx.query("q").value_or(""))) items.push_back(album_json(a));
  co_return json_response(ctx, http::status::ok, {{"items", items}});
}

awaitable<Reply> get_album(RequestContext& ctx) {
  auto album = ctx.services.catalog.album(ctx.params[0]);
  if (!album) co_return problem_from_status(ctx, album.status());
  SongQuery q;
  q.album_id = album->id;
  q.sort = SongSort::kAlbum;
  q.limit = 500;
  auto page = ctx.services.catalog.query(q);
  if (!page) co_return problem_from_status(ctx, page.status());
  auto o = album_json(*album);
  json::array songs;
  for (auto& s : page->items) songs.push_back(song_json(ctx, s));
  o["songs"] = songs;
  co_return json_response(ctx, http::status::ok, o);
}

awaitable<Reply> list_artists(RequestContext& ctx) {
  json::array items;
  for (auto& a : ctx.services.catalog.artists(ctx.query("q").value_or(""))) {
    items.push_back({{"id", a.id}, {"name", a.name}, {"song_count", a.song_count},
                     {"album_count", a.album_count}});
  }
  co_return json_response(ctx, http::status::ok, {{"items", items}});
}

const char* static_content_type(const std::string& ext) {
  static const std::map<std::string, const char*> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".ico", "image/x-icon"}, {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"}, {".woff2", "font/woff2"}};
  auto it = kTypes.find(ext);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

}  // namespace

awaitable<Reply> serve_static(RequestContext& ctx) {
  // Build the path from decoded segments; anything that could climb out of
  // the web root, or hidden files, is simply not found.
  std::string relative;
  for (const auto& seg : ctx.segments) {
    if (seg.empty()) continue;
    if (seg == "." || seg == ".." || seg.front() == '.' || seg.find('/') != std::string::npos ||
        seg.find('\\') != std::string::npos || seg.find('\0') != std::string::npos) {
      co_return problem(ctx, http::status::not_found, "not-found", "Not found", "no such file");
    }
    relative += "/" + seg;
  }
  // Client-side routes (no file extension) get the app's index.html.
  const bool has_extension = relative.rfind('.') != std::string::npos &&
                             relative.rfind('.') > relative.rfind('/');
  if (relative.empty() || !has_extension) relative = "/index.html";
  const auto path = ctx.config.web_root + relative;
  FileCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    co_return problem(ctx, http::status::not_found, "not-found", "Not found",
                      "there is nothing at " + std::string(ctx.url.path()));
  }
  const auto etag = "\"" + std::to_string(st.st_mtim.tv_sec) + "-" + std::to_string(st.st_size) + "\"";
  if (ctx.header()[http::field::if_none_match] == etag) {
    StringResponse res{http::status::not_modified, 11};
    res.set(http::field::etag, etag);
    co_return res;
  }
  HeaderResponse header{http::status::ok, 11};
  auto dot = relative.rfind('.');
  header.set(http::field::content_type, static_content_type(relative.substr(dot)));
  header.set(http::field::content_length, std::to_string(st.st_size));
  header.set(http::field::etag, etag);
  // Revalidate every time: the UI must never run stale code against a newer API.
  header.set(http::field::cache_control, "no-cache");
  header.set("X-Content-Type-Options", "nosniff");
  co_await send_file(ctx, header, file.fd, 0, static_cast<std::uint64_t>(st.st_size));
  co_return std::nullopt;
}

std::vector<Route> api_routes() {
  using V = http::verb;
  return {
      {V::get, "/healthz", false, healthz},
      {V::get, "/metrics", true, metrics},
      {V::post, "/api/v1/auth/register", false, register_user},
      {V::post, "/api/v1/auth/login", false, login},
      {V::post, "/api/v1/auth/logout", true, logout},
      {V::get, "/api/v1/me", true, me},
      {V::post, "/api/v1/me/password", true, change_password},
      {V::get, "/api/v1/users", true, list_users},
      {V::patch, "/api/v1/users/{}", true, update_user},
      {V::post, "/api/v1/invites", true, create_invite},
      {V::post, "/api/v1/songs", true, upload_song},
      {V::get, "/api/v1/songs", true, list_songs},
      {V::get, "/api/v1/songs/by-sha256/{}", true, get_song_by_sha256},
      {V::get, "/api/v1/songs/{}", true, get_song},
      {V::delete_, "/api/v1/songs/{}", true, delete_song},
      {V::get, "/api/v1/songs/{}/stream", false, stream_song},
      {V::get, "/api/v1/songs/{}/stream-url", true, stream_url},
      {V::get, "/api/v1/songs/{}/cover", true, song_cover},
      {V::get, "/api/v1/albums", true, list_albums},
      {V::get, "/api/v1/albums/{}", true, get_album},
      {V::get, "/api/v1/artists", true, list_artists},
  };
}

}  // namespace hifi::http_internal
