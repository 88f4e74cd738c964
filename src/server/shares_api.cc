// Shares: the caller's public links to songs (list, create from songs, an
// album or a playlist, change the description or expiry, revoke), and the
// page a link opens, /share/{id}: no account needed, its players and
// downloads are signed stream URLs that expire with the share (and within
// hours), each view counts a visit.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "server/api_json.h"
#include "common/text.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

// The longest a share page's stream and download links work (the
// configured signed-URL lifetime when shorter, and less when the share
// expires sooner); reopening the page makes new ones.
constexpr std::int64_t kPageLinkTtlMs = 6LL * 3600 * 1000;
// Expiries further ahead than this are refused.
constexpr std::int64_t kMaxShareLifetimeMs = 10LL * 366 * 24 * 3600 * 1000;
constexpr std::size_t kMaxIdBytes = 64;

// The share page allows no script at all; media may follow a redirect to
// the cluster node that holds a song.
constexpr const char* kSharePagePolicy =
    "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self' http: https:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

json::value time_or_null(std::int64_t ms) { return ms > 0 ? json::value(ms) : json::value(nullptr); }

json::object share_json(const RequestContext& ctx, const Share& s) {
  return {{"id", s.id},
          {"url", public_base_url(ctx) + "/share/" + s.id},
          {"description", s.description},
          {"songs", my_songs(ctx, library_songs(ctx, s.songs))},
          {"created_at", s.created_at},
          {"expires_at", time_or_null(s.expires_at)},
          {"visit_count", s.visit_count},
          {"last_visited", time_or_null(s.last_visited)}};
}

// An expiry field: Unix ms in the future (within the limit), or 0/null for
// never (allow_never) or absent.
Result<std::optional<std::int64_t>> expiry_field(const RequestContext& ctx, const json::object& body) {
  auto v = JsonFields(body).optional_int("expires_at");
  if (!v) return v.status();
  if (!*v || **v == 0) return v;
  const auto now = ctx.services.clock.now_ms();
  if (**v <= now) return invalid_argument("expires_at must be in the future (Unix milliseconds), or 0 for never");
  if (**v > now + kMaxShareLifetimeMs) return invalid_argument("expires_at may be at most 10 years ahead");
  return v;
}

// The songs a creation body names: song_ids, album_id or playlist_id (one
// of them), or the 400 to answer.
std::variant<std::vector<std::string>, StringResponse> songs_to_share(const RequestContext& ctx,
                                                                      const json::object& body) {
  JsonFields fields(body);
  auto ids = song_ids_field(ctx, body, "song_ids", kMaxShareSongs);
  if (auto* p = std::get_if<StringResponse>(&ids)) return std::move(*p);
  auto album_id = fields.optional_string("album_id");
  if (!album_id) return invalid_parameter(ctx, "album_id", album_id.status().message());
  auto playlist_id = fields.optional_string("playlist_id");
  if (!playlist_id) return invalid_parameter(ctx, "playlist_id", playlist_id.status().message());
  const auto& song_ids = std::get<0>(ids);
  if (int(song_ids.has_value()) + int(album_id->has_value()) + int(playlist_id->has_value()) != 1) {
    return invalid_parameter(ctx, "song_ids", "give one of song_ids, album_id or playlist_id");
  }
  if (song_ids) return *song_ids;
  std::vector<std::string> out;
  if (*album_id) {
    auto album = ctx.services.catalog.album(**album_id);
    if (!album) return invalid_parameter(ctx, "album_id", "no album with id '" + album_id->value().substr(0, kMaxIdBytes) + "'");
    SongQuery q;
    q.album_id = album->id;
    q.sort = SongSort::kAlbum;
    q.limit = kMaxShareSongs;
    auto page = ctx.services.catalog.query(q);
    if (!page) return problem_from_status(ctx, page.status());
    for (const auto& s : page->items) out.push_back(s.id);
    return out;
  }
  auto playlist = ctx.services.playlists.get(**playlist_id, *ctx.user);
  if (!playlist) {
    return invalid_parameter(ctx, "playlist_id", "no playlist with id '" + playlist_id->value().substr(0, kMaxIdBytes) + "'");
  }
  for (const auto& s : library_songs(ctx, playlist->songs)) out.push_back(s.id);
  return out;
}

awaitable<Reply> list_shares(RequestContext& ctx) {
  auto shares = co_await offload(ctx, [&] { return ctx.services.shares.list(*ctx.user); });
  if (!shares) co_return problem_from_status(ctx, shares.status());
  json::array items;
  for (const auto& s : *shares) items.push_back(share_json(ctx, s));
  co_return json_response(ctx, http::status::ok, {{"items", std::move(items)}});
}

awaitable<Reply> create_share(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  HIFI_PARAM(description, JsonFields(body), optional_string, "description");
  auto expires = expiry_field(ctx, body);
  if (!expires) co_return invalid_parameter(ctx, "expires_at", expires.status().message());
  auto songs = songs_to_share(ctx, body);
  if (auto* p = std::get_if<StringResponse>(&songs)) co_return std::move(*p);
  const auto& ids = std::get<0>(songs);
  auto made = co_await offload(ctx, [&] {
    return ctx.services.shares.create(*ctx.user, ids, description.value_or(""), expires->value_or(0));
  });
  if (!made) co_return problem_from_status(ctx, made.status());
  spdlog::info("share {} of {} songs created by '{}'", made->id.substr(0, 8), made->songs.size(), ctx.user->username);
  auto res = json_response(ctx, http::status::created, share_json(ctx, *made));
  res.set(http::field::location, "/api/v1/shares/" + made->id);
  co_return res;
}

awaitable<Reply> update_share(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  ShareEdit edit;
  HIFI_PARAM(description, JsonFields(body), optional_string, "description");
  edit.description = description;
  auto expires = expiry_field(ctx, body);
  if (!expires) co_return invalid_parameter(ctx, "expires_at", expires.status().message());
  if (const auto* v = body.if_contains("expires_at"); v != nullptr) edit.expires_at = expires->value_or(0);
  auto updated = co_await offload(ctx, [&] { return ctx.services.shares.update(ctx.params[0], *ctx.user, edit); });
  if (!updated) co_return problem_from_status(ctx, updated.status());
  co_return json_response(ctx, http::status::ok, share_json(ctx, *updated));
}

awaitable<Reply> delete_share(RequestContext& ctx) {
  auto s = co_await offload(ctx, [&] { return ctx.services.shares.remove(ctx.params[0], *ctx.user); });
  if (!s) co_return problem_from_status(ctx, s);
  co_return StringResponse{http::status::no_content, 11};
}

// --- the public page ----------------------------------------------------------


std::string clock_time(std::int64_t ms) {
  const auto s = std::max<std::int64_t>(ms, 0) / 1000;
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

std::string utc_date(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

StringResponse html_page(http::status status, const std::string& title, const std::string& main) {
  StringResponse res{status, 11};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("Content-Security-Policy", kSharePagePolicy);
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<meta name=\"robots\" content=\"noindex\">\n<title>" +
               markup_escaped(title) +
               " · HiFi</title>\n<link rel=\"stylesheet\" href=\"/css/app.css\">\n"
               "<link rel=\"stylesheet\" href=\"/css/share.css\">\n</head>\n<body>\n"
               "<main class=\"share\">\n" +
               main + "</main>\n</body>\n</html>\n";
  res.prepare_payload();
  return res;
}

StringResponse missing_share_page() {
  return html_page(http::status::not_found, "Link not found",
                   "<header><p class=\"brand\">HiFi</p><h1>This link does not work</h1>\n"
                   "<p class=\"description\">It may have expired or been revoked. Ask whoever sent it for a new "
                   "one.</p></header>\n");
}

// The page's players and downloads are the owner's signed URLs: they end
// with the owner's account or sessions epoch like the owner's own, and
// expire with the share and at most kPageLinkTtlMs after the page was
// served (not --signed-url-ttl: a page stays open while an album plays).
StringResponse share_page_html(const RequestContext& ctx, const Share& share, const std::vector<Song>& songs,
                               const User& owner) {
  const auto& owner_name = owner.username;
  const auto now = ctx.services.clock.now_ms();
  auto links_expire_ms = now + kPageLinkTtlMs;
  if (share.expires_at != 0) links_expire_ms = std::min(links_expire_ms, share.expires_at);
  // Rounded down: never after the share.
  const SignedStream signed_stream{{owner.id, owner.sessions_epoch}, links_expire_ms / 1000};
  std::int64_t total_ms = 0;
  for (const auto& s : songs) total_ms += s.duration_ms;
  std::string title = share.description;
  if (title.empty()) title = songs.size() == 1 ? songs[0].title : std::to_string(songs.size()) + " songs";
  std::string main = "<header><p class=\"brand\">HiFi</p><h1>" + markup_escaped(title) + "</h1>\n";
  if (!share.description.empty() && songs.size() == 1) {
    main += "<p class=\"description\">" + markup_escaped(songs[0].title) + "</p>\n";
  }
  main += "<p class=\"meta\">" + std::to_string(songs.size()) + (songs.size() == 1 ? " song" : " songs") + " · " +
          clock_time(total_ms);
  if (!owner_name.empty()) main += " · shared by " + markup_escaped(owner_name);
  main += "</p></header>\n<ol class=\"songs\">\n";
  for (const auto& s : songs) {
    const auto url = ctx.services.signer.stream_path(s.id, signed_stream);
    const auto download_name = s.filename.empty() ? s.title : s.filename;
    main += "<li class=\"song\">\n<div class=\"info\"><span class=\"title\">" + markup_escaped(s.title) +
            "</span><span class=\"artist\">" + markup_escaped(s.artist.empty() ? "Unknown artist" : s.artist) +
            "</span><span class=\"duration\">" + clock_time(s.duration_ms) + "</span></div>\n" +
            "<audio controls preload=\"none\" src=\"" + markup_escaped(url) + "\"></audio>\n" +
            "<a class=\"download\" href=\"" + markup_escaped(url + "&download=1") + "\" download=\"" +
            markup_escaped(download_name) + "\">Download</a>\n</li>\n";
  }
  if (songs.empty()) main += "<li class=\"song empty\">These songs are no longer in the library.</li>\n";
  main += "</ol>\n<footer><p>";
  main += share.expires_at != 0 ? "This link works until " + utc_date(share.expires_at) + "."
                                : std::string("Shared from a HiFi server.");
  main += " The players and downloads work for a few hours; reload the page for fresh ones.</p></footer>\n";
  return html_page(http::status::ok, title, main);
}

awaitable<Reply> share_page(RequestContext& ctx) {
  const auto& id = ctx.params[0];
  if (id.size() > kMaxIdBytes) co_return missing_share_page();
  // A HEAD (link previews, checks) does not count as a visit.
  const bool count = ctx.method == "GET";
  auto share = co_await offload(ctx, [&] { return ctx.services.shares.visit(id, count); });
  if (!share) {
    if (share.status().code() == Code::kNotFound) co_return missing_share_page();
    auto res = html_page(http::status::service_unavailable, "Try again",
                         "<header><p class=\"brand\">HiFi</p><h1>Try again in a moment</h1></header>\n");
    co_return res;
  }
  auto owner = co_await offload(ctx, [&] { return ctx.services.accounts.get_user(share->owner); });
  // A share lives on its owner's grant: a disabled or deleted owner's
  // links are gone with them.
  if (!owner || owner->disabled) co_return missing_share_page();
  co_return share_page_html(ctx, *share, library_songs(ctx, share->songs), *owner);
}

}  // namespace

std::vector<Route> share_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/shares", Auth::kBearer, list_shares},
      {V::post, "/api/v1/shares", Auth::kBearer, create_share},
      {V::patch, "/api/v1/shares/{}", Auth::kBearer, update_share},
      {V::delete_, "/api/v1/shares/{}", Auth::kBearer, delete_share},
      {V::get, "/share/{}", Auth::kNone, share_page},
  };
}

}  // namespace hifi::http_internal
