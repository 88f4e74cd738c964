// getLyrics and getLyricsBySongId (OpenSubsonic songLyrics): the lyrics in
// a song file's tags (media/lyrics.h), read when asked for, on the worker
// pool, from this node's copy of the file. A node without one redirects the
// request, its query kept, to a node that holds the file.
//
//   getLyricsBySongId  lyricsList: a structuredLyrics element per lyrics tag,
//                      synced ones (LRC) first, with `line` children (start
//                      in ms when synced); empty when the file has none
//   getLyrics          the old API: the first song whose artist and title
//                      are those asked for (ignoring case and accents), as
//                      `lyrics` with its text; an empty `lyrics` when there
//                      is no such song or it has no lyrics
#include <fmt/format.h>

#include "common/text.h"
#include "media/lyrics.h"
#include "subsonic/endpoints.h"
#include "subsonic/http_adapter.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

// Bounds on getLyrics' search: the parameters, and the songs looked at.
constexpr std::size_t kMaxNameBytes = 512;
constexpr std::size_t kMaxCandidates = 500;

Element structured(const Song& song, const media::Lyrics& lyrics) {
  Element e = Element::item("structuredLyrics");
  e.set("displayArtist", song.artist).set("displayTitle", song.title).set("lang", lyrics.lang);
  e.set("synced", lyrics.synced).set("offset", lyrics.offset_ms);
  for (const auto& line : lyrics.lines) {
    Element l = Element::item("line");
    l.keep_object();
    if (lyrics.synced) l.set("start", line.start_ms);
    e.add(std::move(l.text(line.text)));
  }
  return e;
}

// The old API's text: the lines, without their times.
std::string plain_text(const media::Lyrics& lyrics) {
  std::string out;
  for (const auto& line : lyrics.lines) {
    if (!out.empty()) out += '\n';
    out += line.text;
  }
  return out;
}

// The first song by `artist` titled `title` (either may be empty: any).
std::optional<Song> find_by_name(const Catalog& catalog, const std::string& artist, const std::string& title) {
  SongQuery q;
  q.text = title.empty() ? artist : title;
  const auto want_artist = fold_for_search(artist), want_title = fold_for_search(title);
  for (auto& s : query_songs(catalog, q, kMaxCandidates)) {
    if ((artist.empty() || fold_for_search(s.artist) == want_artist) &&
        (title.empty() || fold_for_search(s.title) == want_title)) {
      return std::move(s);
    }
  }
  return std::nullopt;
}

}  // namespace

bool is_lyrics_endpoint(std::string_view name) { return name == "getLyrics" || name == "getLyricsBySongId"; }

awaitable<Reply> serve_lyrics(RequestContext& ctx, std::string_view name, const Request& req) {
  const bool by_id = name == "getLyricsBySongId";
  std::optional<Song> song;
  const auto artist = req.params.get("artist").value_or(""), title = req.params.get("title").value_or("");
  if (by_id) {
    auto id = id_param_of(req.params, IdKind::kSong);
    if (!id) co_return error_answer(req, id.error());
    auto found = co_await http_internal::find_song(ctx, *id);
    if (!found) co_return error_answer(req, error_from_status(found.status()));
    song = std::move(*found);
  } else {
    if (artist.size() > kMaxNameBytes || title.size() > kMaxNameBytes) {
      co_return error_answer(req, generic_error(fmt::format("artist and title may be at most {} bytes", kMaxNameBytes)));
    }
    if (!artist.empty() || !title.empty()) {
      song = co_await http_internal::offload(ctx, [&] { return find_by_name(ctx.services.catalog, artist, title); });
    }
    if (!song) co_return answer(render_ok({Element("lyrics")}, req.format, req.callback));
  }
  if (!ctx.services.blobs.exists(song->sha256)) {
    co_return subsonic_errors(req, co_await http_internal::redirect_request_to_holder(ctx, *song,
                                                                                      http_internal::BlobKind::kSong));
  }
  const auto path = ctx.services.blobs.path_for(song->sha256);
  auto lyrics = co_await http_internal::offload(ctx, [&] { return media::read_lyrics(path); });
  if (!lyrics) co_return error_answer(req, error_from_status(lyrics.status()));
  Element out(by_id ? "lyricsList" : "lyrics");
  if (by_id) {
    for (const auto& l : *lyrics) out.add(structured(*song, l));
  } else {
    out.set("artist", song->artist).set("title", song->title);
    if (!lyrics->empty()) out.text(plain_text(lyrics->front()));
  }
  co_return answer(render_ok({std::move(out)}, req.format, req.callback));
}

}  // namespace hifi::subsonic
