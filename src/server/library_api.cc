// Albums and artists, derived from the songs' tags.
#include "server/api_json.h"
#include "server/http_internal.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

awaitable<Reply> list_albums(RequestContext& ctx) {
  co_return json_response(ctx, http::status::ok,
                          {{"items", my_albums(ctx, ctx.services.catalog.albums(ctx.query("q").value_or("")))}});
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
  auto o = my_albums(ctx, {*album}).at(0).as_object();
  o["songs"] = my_songs(ctx, page->items);
  co_return json_response(ctx, http::status::ok, o);
}

awaitable<Reply> list_artists(RequestContext& ctx) {
  co_return json_response(ctx, http::status::ok,
                          {{"items", my_artists(ctx, ctx.services.catalog.artists(ctx.query("q").value_or("")))}});
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
