// Albums and artists, derived from the songs' tags.
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "server/api_json.h"
#include "library/annotations.h"
#include "server/http_internal.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

awaitable<Reply> list_albums(RequestContext& ctx) {
  const auto sort = ctx.query("sort").value_or("name");
  if (sort != "name" && sort != "recent") co_return bad_request(ctx, "sort must be name or recent");
  std::size_t limit = std::numeric_limits<std::size_t>::max();
  if (auto text = ctx.query("limit")) {
    char* end = nullptr;
    const auto n = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || n < 1 || n > 100000) co_return bad_request(ctx, "limit must be 1 to 100000");
    limit = static_cast<std::size_t>(n);
  }
  const auto q = ctx.query("q").value_or("");
  std::vector<Album> albums;
  if (q.empty()) {
    // A page of the whole list, in the catalog.
    albums = ctx.services.catalog.albums_in_order(sort == "recent" ? AlbumOrder::kNewest : AlbumOrder::kArtist, 0,
                                                  limit);
  } else {
    albums = ctx.services.catalog.albums(q);
    if (sort == "recent") {
      // Newest first: the albums whose first song arrived last.
      std::stable_sort(albums.begin(), albums.end(),
                       [](const Album& a, const Album& b) { return a.created_at > b.created_at; });
    }
    if (albums.size() > limit) albums.resize(limit);
  }
  co_return json_response(ctx, http::status::ok, {{"items", my_albums(ctx, albums)}});
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

constexpr std::size_t kTopSongs = 10;

awaitable<Reply> get_artist(RequestContext& ctx) {
  auto artist = ctx.services.catalog.artist(ctx.params[0]);
  if (!artist) co_return problem_from_status(ctx, artist.status());
  auto o = my_artists(ctx, {*artist}).at(0).as_object();
  o["albums"] = my_albums(ctx, ctx.services.catalog.albums_by_artist(artist->id));
  // Most played by everyone; each with `plays`, everyone's count.
  auto top = co_await offload(ctx, [&] {
    return top_songs(ctx.services.catalog, ctx.services.annotations, artist->id, kTopSongs);
  });
  if (!top) co_return problem_from_status(ctx, top.status());
  std::vector<Song> songs;
  for (const auto& [plays, song] : *top) songs.push_back(song);
  auto items = my_songs(ctx, songs);
  for (std::size_t i = 0; i < items.size(); ++i) items[i].as_object()["plays"] = (*top)[i].first;
  o["top_songs"] = std::move(items);
  co_return json_response(ctx, http::status::ok, o);
}

}  // namespace

std::vector<Route> library_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/albums", Auth::kBearer, list_albums},
      {V::get, "/api/v1/albums/{}", Auth::kBearer, get_album},
      {V::get, "/api/v1/artists", Auth::kBearer, list_artists},
      {V::get, "/api/v1/artists/{}", Auth::kBearer, get_artist},
  };
}

}  // namespace hifi::http_internal
