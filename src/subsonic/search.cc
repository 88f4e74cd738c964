// search2 and search3: artists, albums and songs whose names contain the
// query, each list with its own count and offset. Matching is the
// catalog's (case and Unicode form folded, as /api/v1/songs?q= does); an
// empty query matches everything, which apps use to page through the whole
// library.
#include <algorithm>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"

namespace hifi::subsonic {
namespace {

constexpr std::int64_t kMaxCount = 500;
constexpr std::int64_t kMaxOffset = 10'000'000;
constexpr std::size_t kMaxQueryBytes = 256;

// Apps send Lucene habits: a query in quotes, or ending with '*'.
std::string clean_query(std::string q) {
  if (q.size() >= 2 && q.front() == '"' && q.back() == '"') q = q.substr(1, q.size() - 2);
  while (!q.empty() && (q.back() == '*' || q.back() == ' ')) q.pop_back();
  while (!q.empty() && q.front() == ' ') q.erase(0, 1);
  return q;
}

struct Window {
  std::size_t count = 0;
  std::size_t offset = 0;
};

Expected<Window> window(const Call& call, const std::string& kind) {
  auto count = call.params.integer(kind + "Count", 0, kMaxCount, 20);
  if (!count) return count.error();
  auto offset = call.params.integer(kind + "Offset", 0, kMaxOffset, 0);
  if (!offset) return offset.error();
  return Window{static_cast<std::size_t>(*count), static_cast<std::size_t>(*offset)};
}

template <typename T, typename F>
void add_window(Element& out, const std::vector<T>& items, const Window& w, F entry) {
  const auto first = std::min(w.offset, items.size());
  const auto last = std::min(first + w.count, items.size());
  for (auto i = first; i < last; ++i) out.add(entry(items[i]));
}

Expected<Body> search(const Call& call, bool id3) {
  if (auto e = check_music_folder(call.params)) return *e;
  auto raw = call.params.get("query").value_or("");
  if (raw.size() > kMaxQueryBytes) return generic_error("the query may be at most 256 bytes");
  const auto query = clean_query(raw);
  auto artists = window(call, "artist");
  if (!artists) return artists.error();
  auto albums = window(call, "album");
  if (!albums) return albums.error();
  auto songs = window(call, "song");
  if (!songs) return songs.error();

  Element result(id3 ? "searchResult3" : "searchResult2");
  if (artists->count > 0) {
    add_window(result, call.catalog.artists(query), *artists, [&](const Artist& a) { return artist_entry(a, id3); });
  }
  if (albums->count > 0) {
    add_window(result, call.catalog.albums(query), *albums,
               [&](const Album& a) { return id3 ? album_entry(a) : album_directory_entry(a); });
  }
  if (songs->count > 0) {
    SongQuery q;
    q.text = query;
    q.limit = songs->count;
    q.offset = songs->offset;
    auto page = call.catalog.query(q);
    if (!page) return error_from_status(page.status());
    for (const auto& s : page->items) result.add(song_entry(s));
  }
  return Body{std::move(result)};
}

Expected<Body> search2(const Call& call) { return search(call, false); }
Expected<Body> search3(const Call& call) { return search(call, true); }

}  // namespace

std::vector<Endpoint> search_endpoints() {
  return {
      {"search2", true, search2},
      {"search3", true, search3},
  };
}

}  // namespace hifi::subsonic
