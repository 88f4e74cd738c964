// Playlists over HTTP: list (the caller's own, then others' public ones),
// create, get with songs, edit (fields, replace, add, insert, remove, move)
// and delete. Playlists decides who sees and edits what; song ids are
// checked against the catalog here.
#include <spdlog/spdlog.h>

#include "library/json_record.h"
#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

// Owners' usernames, read once per request (the store may block: call on a
// worker).
class OwnerNames {
 public:
  explicit OwnerNames(AccountService& accounts) : accounts_(accounts) {}
  const std::string& operator()(const std::string& user_id) {
    auto it = names_.find(user_id);
    if (it == names_.end()) {
      auto user = accounts_.get_user(user_id);
      it = names_.emplace(user_id, user ? user->username : std::string()).first;
    }
    return it->second;
  }

 private:
  AccountService& accounts_;
  std::map<std::string, std::string> names_;
};

// A playlist without its songs; `songs` are those of its ids still in the
// library.
json::object playlist_json(const Playlist& p, const std::vector<Song>& songs, const std::string& owner_name) {
  std::int64_t duration = 0;
  for (const auto& s : songs) duration += s.duration_ms;
  return {{"id", p.id},
          {"name", p.name},
          {"comment", p.comment},
          {"public", p.is_public},
          {"owner", api_json::owner(p.owner, owner_name)},
          {"song_count", songs.size()},
          {"duration_ms", duration},
          {"created_at", p.created_at},
          {"updated_at", p.updated_at}};
}

// A playlist with "songs" (song JSON, in order, skipping songs no longer in
// the library) and "song_ids" (every entry: what edits' indexes count).
json::object playlist_detail(const RequestContext& ctx, const Playlist& p, const std::string& owner_name) {
  auto songs = library_songs(ctx, p.songs);
  auto o = playlist_json(p, songs, owner_name);
  o["songs"] = my_songs(ctx, songs);
  o["song_ids"] = json_array_of(p.songs);
  return o;
}

// An index field ("insert_at", move's "from"/"to", an entry of "remove").
Result<std::size_t> index_value(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0 && v.get_int64() <= static_cast<std::int64_t>(kMaxPlaylistSongs)) {
    return static_cast<std::size_t>(v.get_int64());
  }
  return invalid_argument("must be a position in the playlist (0 is the first)");
}

// The edit a PATCH body asks for, or the 400 to answer.
std::variant<PlaylistEdit, StringResponse> parse_edit(const RequestContext& ctx, const json::object& body) {
  JsonFields fields(body);
  PlaylistEdit edit;
  auto name = fields.optional_string("name");
  if (!name) return invalid_parameter(ctx, "name", name.status().message());
  edit.name = *name;
  auto comment = fields.optional_string("comment");
  if (!comment) return invalid_parameter(ctx, "comment", comment.status().message());
  edit.comment = *comment;
  auto is_public = fields.optional_bool("public");
  if (!is_public) return invalid_parameter(ctx, "public", is_public.status().message());
  edit.is_public = *is_public;
  auto songs = song_ids_field(ctx, body, "song_ids", kMaxPlaylistSongs);
  if (auto* p = std::get_if<StringResponse>(&songs)) return std::move(*p);
  edit.songs = std::get<0>(std::move(songs));
  auto add = song_ids_field(ctx, body, "add", kMaxPlaylistSongs);
  if (auto* p = std::get_if<StringResponse>(&add)) return std::move(*p);
  edit.add = std::get<0>(std::move(add)).value_or(std::vector<std::string>{});
  if (const auto* at = body.if_contains("insert_at"); at && !at->is_null()) {
    auto i = index_value(*at);
    if (!i) return invalid_parameter(ctx, "insert_at", "insert_at " + i.status().message());
    edit.insert_at = *i;
  }
  if (const auto* remove = body.if_contains("remove"); remove && !remove->is_null()) {
    if (!remove->is_array() || remove->get_array().size() > kMaxPlaylistSongs) {
      return invalid_parameter(ctx, "remove", "remove must be an array of positions (0 is the first)");
    }
    for (const auto& v : remove->get_array()) {
      auto i = index_value(v);
      if (!i) return invalid_parameter(ctx, "remove", "each entry of remove " + i.status().message());
      edit.remove.push_back(*i);
    }
  }
  if (const auto* move = body.if_contains("move"); move && !move->is_null()) {
    const auto* o = move->if_object();
    const auto* from = o ? o->if_contains("from") : nullptr;
    const auto* to = o ? o->if_contains("to") : nullptr;
    auto f = from ? index_value(*from) : Result<std::size_t>(invalid_argument(""));
    auto t = to ? index_value(*to) : Result<std::size_t>(invalid_argument(""));
    if (!f || !t) return invalid_parameter(ctx, "move", "move must be {\"from\": position, \"to\": position}");
    edit.move = std::make_pair(*f, *t);
  }
  return edit;
}

awaitable<Reply> list_playlists(RequestContext& ctx) {
  auto playlists = ctx.services.playlists.list(*ctx.user);
  auto items = co_await offload(ctx, [&] {
    OwnerNames names(ctx.services.accounts);
    json::array out;
    for (const auto& p : playlists) out.push_back(playlist_json(p, library_songs(ctx, p.songs), names(p.owner)));
    return out;
  });
  co_return json_response(ctx, http::status::ok, {{"items", std::move(items)}});
}

awaitable<Reply> create_playlist(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_PARAM(name, fields, required_string, "name");
  HIFI_PARAM(comment, fields, optional_string, "comment");
  HIFI_PARAM(is_public, fields, optional_bool, "public");
  auto songs = song_ids_field(ctx, body, "song_ids", kMaxPlaylistSongs);
  if (auto* p = std::get_if<StringResponse>(&songs)) co_return std::move(*p);
  const auto ids = std::get<0>(songs).value_or(std::vector<std::string>{});
  auto made = co_await offload(ctx, [&] {
    return ctx.services.playlists.create(*ctx.user, name, comment.value_or(""), is_public.value_or(false), ids);
  });
  if (!made) co_return problem_from_status(ctx, made.status());
  spdlog::info("playlist {} '{}' created by '{}'", made->id, made->name, ctx.user->username);
  auto res = json_response(ctx, http::status::created, playlist_detail(ctx, *made, ctx.user->username));
  res.set(http::field::location, "/api/v1/playlists/" + made->id);
  co_return res;
}

// The answer with a playlist the caller may see: its owner's name read on a worker.
awaitable<Reply> playlist_reply(RequestContext& ctx, const Playlist& p, http::status status) {
  std::string owner_name = ctx.user->username;
  if (ctx.user->id != p.owner) {
    owner_name = co_await offload(ctx, [&] { return OwnerNames(ctx.services.accounts)(p.owner); });
  }
  co_return json_response(ctx, status, playlist_detail(ctx, p, owner_name));
}

awaitable<Reply> get_playlist(RequestContext& ctx) {
  auto p = ctx.services.playlists.get(ctx.params[0], *ctx.user);
  if (!p) co_return problem_from_status(ctx, p.status());
  co_return co_await playlist_reply(ctx, *p, http::status::ok);
}

awaitable<Reply> update_playlist(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  // Who may not even see it learns nothing from the body's mistakes.
  if (auto seen = ctx.services.playlists.get(ctx.params[0], *ctx.user); !seen) {
    co_return problem_from_status(ctx, seen.status());
  }
  auto parsed = parse_edit(ctx, body);
  if (auto* p = std::get_if<StringResponse>(&parsed)) co_return std::move(*p);
  const auto& edit = std::get<PlaylistEdit>(parsed);
  auto updated = co_await offload(ctx, [&] { return ctx.services.playlists.update(ctx.params[0], *ctx.user, edit); });
  if (!updated) co_return problem_from_status(ctx, updated.status());
  co_return co_await playlist_reply(ctx, *updated, http::status::ok);
}

awaitable<Reply> delete_playlist(RequestContext& ctx) {
  const auto& id = ctx.params[0];
  auto s = co_await offload(ctx, [&] { return ctx.services.playlists.remove(id, *ctx.user); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("playlist {} deleted by '{}'", id, ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

}  // namespace

std::vector<Route> playlist_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/playlists", Auth::kBearer, list_playlists},
      {V::post, "/api/v1/playlists", Auth::kBearer, create_playlist},
      {V::get, "/api/v1/playlists/{}", Auth::kBearer, get_playlist},
      {V::patch, "/api/v1/playlists/{}", Auth::kBearer, update_playlist},
      {V::delete_, "/api/v1/playlists/{}", Auth::kBearer, delete_playlist},
  };
}

}  // namespace hifi::http_internal
