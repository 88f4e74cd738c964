// Albums and artists, derived from the songs' tags.
#include "server/api_json.h"
#include "server/http_internal.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

awaitable<Reply> list_albums(RequestContext& ctx) {
  json::array items;
  for (auto& a : ctx.services.catalog.albums(ctx.query("q").value_or(""))) items.push_back(api_json::album(a));
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
  auto o = api_json::album(*album);
  json::array songs;
  for (auto& s : page->items) songs.push_back(api_json::song(s));
  o["songs"] = songs;
  co_return json_response(ctx, http::status::ok, o);
}

awaitable<Reply> list_artists(RequestContext& ctx) {
  json::array items;
  for (auto& a : ctx.services.catalog.artists(ctx.query("q").value_or(""))) items.push_back(api_json::artist(a));
  co_return json_response(ctx, http::status::ok, {{"items", items}});
}

}  // namespace

std::vector<Route> library_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/albums", Auth::kBearer, list_albums},
      {V::get, "/api/v1/albums/{}", Auth::kBearer, get_album},
      {V::get, "/api/v1/artists", Auth::kBearer, list_artists},
  };
}

}  // namespace hifi::http_internal
