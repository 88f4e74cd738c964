// What each user does with the library: stars and ratings of songs, albums
// and artists, the caller's favourites, play history (and the plays apps
// report, HiFi's own scrobble) and the play queue saved for other devices.
// Annotations and PlayQueues decide; these handlers translate. Also the
// shared helpers that give song, album and artist JSON the caller's stars,
// ratings and plays.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "library/json_record.h"
#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxSongIdBytes = 64;
constexpr std::size_t kDefaultHistoryPage = 50;
constexpr std::size_t kMaxCursorBytes = 128;
// A play reported for later than this ahead of the server's clock is refused
// (clocks drift a little); one before 2000 is not a real play.
constexpr std::int64_t kMaxPlayAheadMs = 5 * 60 * 1000;
constexpr std::int64_t kEarliestPlayMs = 946'684'800'000;

std::map<std::string, Annotation> mine(const RequestContext& ctx, ItemKind kind) {
  if (!ctx.user) return {};
  return ctx.services.annotations.of_user(ctx.user->id, kind);
}

const Annotation& lookup(const std::map<std::string, Annotation>& map, const std::string& id) {
  static const Annotation kNone;
  auto it = map.find(id);
  return it == map.end() ? kNone : it->second;
}

json::value time_or_null(std::int64_t ms) { return ms > 0 ? json::value(ms) : json::value(nullptr); }

// The artist with this id: one with songs, or an album artist only.
std::optional<Artist> find_artist(const Catalog& catalog, const std::string& id) {
  auto artist = catalog.artist(id);
  if (!artist) return std::nullopt;
  return std::move(*artist);
}

// kNotFound unless the item is in the catalog.
awaitable<Status> check_item(RequestContext& ctx, ItemKind kind, const std::string& id) {
  switch (kind) {
    case ItemKind::kSong: {
      auto song = co_await find_song(ctx, id);
      co_return song ? Status::ok() : song.status();
    }
    case ItemKind::kAlbum: {
      auto album = ctx.services.catalog.album(id);
      co_return album ? Status::ok() : album.status();
    }
    case ItemKind::kArtist:
      if (find_artist(ctx.services.catalog, id)) co_return Status::ok();
      co_return not_found("no artist with id '" + id.substr(0, kMaxSongIdBytes) + "'");
  }
  co_return Status::ok();
}

// The star and rating routes of one kind of item.
struct ItemRoutes {
  ItemKind kind;

  awaitable<Reply> star(RequestContext& ctx, bool starred) const {
    const auto& id = ctx.params[0];
    if (auto s = co_await check_item(ctx, kind, id); !s) co_return problem_from_status(ctx, s);
    auto s = co_await offload(ctx, [&] { return ctx.services.annotations.star(ctx.user->id, kind, id, starred); });
    if (!s) co_return problem_from_status(ctx, s);
    co_return StringResponse{http::status::no_content, 11};
  }

  awaitable<Reply> rate(RequestContext& ctx) const {
    HIFI_READ_JSON(body);
    auto rating = JsonFields(body).required_int("rating");
    if (!rating) co_return invalid_parameter(ctx, "rating", rating.status().message());
    if (*rating < 0 || *rating > 5) {
      co_return invalid_parameter(ctx, "rating", "rating must be 1 to 5 stars, or 0 to remove it");
    }
    const auto& id = ctx.params[0];
    if (auto s = co_await check_item(ctx, kind, id); !s) co_return problem_from_status(ctx, s);
    const int stars = static_cast<int>(*rating);
    auto s = co_await offload(ctx, [&] { return ctx.services.annotations.set_rating(ctx.user->id, kind, id, stars); });
    if (!s) co_return problem_from_status(ctx, s);
    co_return StringResponse{http::status::no_content, 11};
  }
};

void add_item_routes(std::vector<Route>& routes, const std::string& base, ItemRoutes r) {
  using V = http::verb;
  routes.push_back({V::put, base + "/{}/star", Auth::kBearer, [r](RequestContext& ctx) { return r.star(ctx, true); }});
  routes.push_back(
      {V::delete_, base + "/{}/star", Auth::kBearer, [r](RequestContext& ctx) { return r.star(ctx, false); }});
  routes.push_back({V::put, base + "/{}/rating", Auth::kBearer, [r](RequestContext& ctx) { return r.rate(ctx); }});
}

// The starred items of one kind, newest star first.
std::vector<std::pair<std::string, Annotation>> starred(const std::map<std::string, Annotation>& all) {
  std::vector<std::pair<std::string, Annotation>> out;
  for (const auto& [id, a] : all) {
    if (a.starred()) out.emplace_back(id, a);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second.starred_at > b.second.starred_at; });
  return out;
}

awaitable<Reply> list_starred(RequestContext& ctx) {
  auto& catalog = ctx.services.catalog;
  json::array songs, albums, artists;
  for (const auto& [id, a] : starred(mine(ctx, ItemKind::kSong))) {
    auto song = catalog.get(id);
    if (!song) continue;
    auto o = api_json::song(*song);
    api_json::add_annotation(o, a, true);
    songs.push_back(std::move(o));
  }
  for (const auto& [id, a] : starred(mine(ctx, ItemKind::kAlbum))) {
    auto album = catalog.album(id);
    if (!album) continue;
    auto o = api_json::album(*album);
    api_json::add_annotation(o, a, false);
    albums.push_back(std::move(o));
  }
  auto starred_artists = starred(mine(ctx, ItemKind::kArtist));
  if (!starred_artists.empty()) {
    std::map<std::string, Artist> by_id;
    for (auto& artist : catalog.artists("")) by_id.emplace(artist.id, std::move(artist));
    for (const auto& [id, a] : starred_artists) {
      auto it = by_id.find(id);
      auto artist = it != by_id.end() ? std::optional<Artist>(it->second) : find_artist(catalog, id);
      if (!artist) continue;
      auto o = api_json::artist(*artist);
      api_json::add_annotation(o, a, false);
      artists.push_back(std::move(o));
    }
  }
  co_return json_response(ctx, http::status::ok, {{"songs", songs}, {"albums", albums}, {"artists", artists}});
}

json::object play_json(const Play& play, const json::value& song) {
  return {{"song_id", play.song_id},
          {"song", song},
          {"played_at", play.played_at},
          {"client", play.client.empty() ? json::value(nullptr) : json::value(play.client)},
          {"room_id", play.room_id.empty() ? json::value(nullptr) : json::value(play.room_id)}};
}

awaitable<Reply> get_history(RequestContext& ctx) {
  std::size_t limit = kDefaultHistoryPage;
  if (auto text = ctx.query("limit")) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size() || n < 1 || n > 500) {
      co_return invalid_parameter(ctx, "limit", "limit must be a whole number from 1 to 500");
    }
    limit = n;
  }
  const auto cursor = ctx.query("cursor").value_or("");
  if (cursor.size() > kMaxCursorBytes) co_return invalid_parameter(ctx, "cursor", "not a cursor of this history");
  auto page = co_await offload(ctx, [&] { return ctx.services.annotations.history(ctx.user->id, limit, cursor); });
  if (!page) {
    if (page.status().code() == Code::kInvalidArgument) {
      co_return invalid_parameter(ctx, "cursor", page.status().message());
    }
    co_return problem_from_status(ctx, page.status());
  }
  const auto annotations = mine(ctx, ItemKind::kSong);
  json::array items;
  for (const auto& play : page->items) {
    json::value song = nullptr;
    if (auto s = ctx.services.catalog.get(play.song_id)) {
      auto o = api_json::song(*s);
      api_json::add_annotation(o, lookup(annotations, s->id), true);
      song = std::move(o);
    }
    items.push_back(play_json(play, song));
  }
  co_return json_response(ctx, http::status::ok,
                          {{"items", items},
                           {"next", page->next.empty() ? json::value(nullptr) : json::value(page->next)}});
}

awaitable<Reply> record_play(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_PARAM(song_id, fields, required_string, "song_id");
  HIFI_PARAM(played_at, fields, optional_int, "played_at");
  HIFI_PARAM(client, fields, optional_string, "client");
  const auto now = ctx.services.clock.now_ms();
  Play play;
  play.played_at = played_at.value_or(now);
  if (play.played_at < kEarliestPlayMs || play.played_at > now + kMaxPlayAheadMs) {
    co_return invalid_parameter(ctx, "played_at",
                                "played_at must be Unix milliseconds between 2000 and now (when listening started)");
  }
  play.client = client.value_or("");
  if (play.client.size() > kMaxClientNameBytes) {
    co_return invalid_parameter(ctx, "client",
                                "client must be at most " + std::to_string(kMaxClientNameBytes) + " bytes");
  }
  if (song_id.empty() || song_id.size() > kMaxSongIdBytes) {
    co_return invalid_parameter(ctx, "song_id", "song_id must be the id of a song of the library");
  }
  auto song = co_await find_song(ctx, song_id);
  if (!song) {
    if (song.status().code() != Code::kNotFound) co_return problem_from_status(ctx, song.status());
    co_return invalid_parameter(ctx, "song_id", "no song with id '" + song_id + "' in the library");
  }
  play.song_id = song->id;
  auto s = co_await offload(ctx, [&] { return ctx.services.annotations.record_play(ctx.user->id, play); });
  if (!s) co_return problem_from_status(ctx, s);
  co_return json_response(ctx, http::status::created, play_json(play, my_song(ctx, *song)));
}

json::object queue_json(const PlayQueue& q) {
  return {{"song_ids", json_array_of(q.songs)},
          {"current", q.current.empty() ? json::value(nullptr) : json::value(q.current)},
          {"position_ms", q.position_ms},
          {"changed_at", time_or_null(q.changed_at)},
          {"changed_by", q.changed_by.empty() ? json::value(nullptr) : json::value(q.changed_by)}};
}

awaitable<Reply> get_play_queue(RequestContext& ctx) {
  auto queue = co_await offload(ctx, [&] { return ctx.services.play_queues.get(ctx.user->id); });
  if (!queue) co_return problem_from_status(ctx, queue.status());
  co_return json_response(ctx, http::status::ok, queue_json(queue->value_or(PlayQueue{})));
}

awaitable<Reply> put_play_queue(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  auto ids = song_ids_field(ctx, body, "song_ids", kMaxPlayQueueSongs);
  if (auto* p = std::get_if<StringResponse>(&ids)) co_return std::move(*p);
  HIFI_PARAM(current, fields, optional_string, "current");
  HIFI_PARAM(position, fields, optional_int, "position_ms");
  HIFI_PARAM(changed_by, fields, optional_string, "changed_by");
  PlayQueue queue;
  queue.songs = std::get<0>(ids).value_or(std::vector<std::string>{});
  queue.current = current.value_or("");
  if (!queue.current.empty() && std::find(queue.songs.begin(), queue.songs.end(), queue.current) == queue.songs.end()) {
    co_return invalid_parameter(ctx, "current", "current must be one of song_ids");
  }
  queue.position_ms = position.value_or(0);
  if (queue.position_ms < 0 || queue.position_ms > 24LL * 3600 * 1000) {
    co_return invalid_parameter(ctx, "position_ms", "position_ms must be 0 to 24 hours");
  }
  queue.changed_by = changed_by.value_or("");
  if (queue.changed_by.size() > kMaxClientNameBytes) {
    co_return invalid_parameter(ctx, "changed_by",
                                "changed_by must be at most " + std::to_string(kMaxClientNameBytes) + " bytes");
  }
  auto s = co_await offload(ctx, [&] { return ctx.services.play_queues.save(ctx.user->id, queue); });
  if (!s) co_return problem_from_status(ctx, s);
  auto saved = co_await offload(ctx, [&] { return ctx.services.play_queues.get(ctx.user->id); });
  if (!saved) co_return problem_from_status(ctx, saved.status());
  co_return json_response(ctx, http::status::ok, queue_json(saved->value_or(PlayQueue{})));
}

}  // namespace

json::object my_song(const RequestContext& ctx, const Song& song) {
  auto o = api_json::song(song);
  api_json::add_annotation(o, ctx.user ? ctx.services.annotations.get(ctx.user->id, ItemKind::kSong, song.id)
                                       : Annotation{},
                           true);
  return o;
}

json::array my_songs(const RequestContext& ctx, const std::vector<Song>& songs) {
  const auto annotations = mine(ctx, ItemKind::kSong);
  json::array out;
  for (const auto& s : songs) {
    auto o = api_json::song(s);
    api_json::add_annotation(o, lookup(annotations, s.id), true);
    out.push_back(std::move(o));
  }
  return out;
}

json::array my_albums(const RequestContext& ctx, const std::vector<Album>& albums) {
  const auto annotations = mine(ctx, ItemKind::kAlbum);
  json::array out;
  for (const auto& a : albums) {
    auto o = api_json::album(a);
    api_json::add_annotation(o, lookup(annotations, a.id), false);
    out.push_back(std::move(o));
  }
  return out;
}

json::array my_artists(const RequestContext& ctx, const std::vector<Artist>& artists) {
  const auto annotations = mine(ctx, ItemKind::kArtist);
  json::array out;
  for (const auto& a : artists) {
    auto o = api_json::artist(a);
    api_json::add_annotation(o, lookup(annotations, a.id), false);
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<Song> library_songs(const RequestContext& ctx, const std::vector<std::string>& ids) {
  std::vector<Song> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    if (auto song = ctx.services.catalog.get(id)) out.push_back(std::move(*song));
  }
  return out;
}

std::variant<std::optional<std::vector<std::string>>, StringResponse> song_ids_field(
    const RequestContext& ctx, const json::object& body, std::string_view name, std::size_t max) {
  const auto* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<std::vector<std::string>>();
  if (!v->is_array()) return invalid_parameter(ctx, name, "field '" + std::string(name) + "' must be an array of song ids");
  const auto& array = v->get_array();
  if (array.size() > max) {
    return invalid_parameter(ctx, name, "field '" + std::string(name) + "' may hold at most " + std::to_string(max) +
                                            " song ids");
  }
  std::vector<std::string> ids;
  ids.reserve(array.size());
  for (const auto& e : array) {
    if (!e.is_string() || e.get_string().empty() || e.get_string().size() > kMaxSongIdBytes) {
      return invalid_parameter(ctx, name, "field '" + std::string(name) + "' must hold song ids (strings)");
    }
    std::string id(e.get_string());
    if (!ctx.services.catalog.get(id)) {
      return invalid_parameter(ctx, name, "no song with id '" + id + "' in the library");
    }
    ids.push_back(std::move(id));
  }
  return std::optional<std::vector<std::string>>(std::move(ids));
}

std::vector<Route> annotation_routes() {
  using V = http::verb;
  std::vector<Route> routes;
  add_item_routes(routes, "/api/v1/songs", {ItemKind::kSong});
  add_item_routes(routes, "/api/v1/albums", {ItemKind::kAlbum});
  add_item_routes(routes, "/api/v1/artists", {ItemKind::kArtist});
  routes.push_back({V::get, "/api/v1/me/starred", Auth::kBearer, list_starred});
  routes.push_back({V::get, "/api/v1/me/history", Auth::kBearer, get_history});
  routes.push_back({V::post, "/api/v1/me/history", Auth::kBearer, record_play});
  routes.push_back({V::get, "/api/v1/me/play-queue", Auth::kBearer, get_play_queue});
  routes.push_back({V::put, "/api/v1/me/play-queue", Auth::kBearer, put_play_queue});
  return routes;
}

}  // namespace hifi::http_internal
