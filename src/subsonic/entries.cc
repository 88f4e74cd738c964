#include "subsonic/entries.h"

#include <fmt/format.h>

#include <ctime>
#include <algorithm>
#include <map>
#include <optional>

#include "common/text.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

bool simple_suffix(const std::string& s) {
  if (s.empty() || s.size() > 8) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// The file extension apps show and pick players by: the uploaded name's,
// else one for the container.
std::string suffix_of(const Song& song) {
  if (auto dot = song.filename.rfind('.'); dot != std::string::npos) {
    std::string ext;
    for (char c : song.filename.substr(dot + 1)) ext += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (simple_suffix(ext)) return ext;
  }
  if (song.format.starts_with("mov,")) return "m4a";
  if (song.format.starts_with("matroska")) return song.content_type == "audio/webm" ? "webm" : "mka";
  if (song.format == "ogg" && song.codec == "opus") return "opus";
  return simple_suffix(song.format) ? song.format : "bin";
}

// "Artist/Album/01 - Title.flac": where the song would sit in a folder tree.
std::string path_of(const Song& song) {
  auto clean = [](std::string s) {
    for (auto& c : s) {
      if (c == '/') c = '_';
    }
    return s.empty() ? std::string("Unknown") : s;
  };
  std::string name = song.track > 0 ? fmt::format("{:02} - {}", song.track, song.title) : song.title;
  return clean(song.artist) + "/" + clean(song.album) + "/" + clean(name) + "." + suffix_of(song);
}

std::int64_t seconds(std::int64_t ms) { return (ms + 500) / 1000; }

std::string index_letter(const std::string& name) {
  const auto folded = fold_for_search(name);
  if (!folded.empty() && folded[0] >= 'a' && folded[0] <= 'z') return std::string(1, static_cast<char>(folded[0] - 32));
  return "#";
}

}  // namespace

std::string iso_time(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ms % 1000);
}

Element song_entry(const Song& s, const char* element) {
  const auto album_id = album_id_of(s);
  Element e = Element::item(element);
  e.set("id", s.id);
  if (!album_id.empty()) e.set("parent", album_ref(album_id));
  e.set("isDir", false).set("title", s.title);
  e.set_if("album", s.album).set_if("artist", s.artist);
  e.set_if("track", s.track).set_if("year", s.year).set_if("genre", s.genre);
  if (s.cover_sha256) e.set("coverArt", s.id);
  e.set("size", s.size)
      .set("contentType", s.content_type.empty() ? std::string("application/octet-stream") : s.content_type)
      .set("suffix", suffix_of(s))
      .set("duration", seconds(s.duration_ms))
      .set("bitRate", s.bitrate / 1000)
      .set("path", path_of(s));
  e.set_if("discNumber", s.disc);
  e.set("created", iso_time(s.uploaded_at));
  if (!album_id.empty()) e.set("albumId", album_ref(album_id));
  if (!s.artist.empty()) e.set("artistId", artist_ref(artist_id_of(s.artist)));
  e.set("type", "music").set("isVideo", false).set("mediaType", "song");
  e.set_if("channelCount", s.channels).set_if("samplingRate", s.sample_rate);
  return e;
}

Element album_entry(const Album& a, const char* element) {
  Element e = Element::item(element);
  e.set("id", album_ref(a.id)).set("name", a.name).set("artist", a.artist).set("artistId", artist_ref(a.artist_id));
  if (!a.cover_song_id.empty()) e.set("coverArt", album_ref(a.id));
  e.set("songCount", a.song_count).set("duration", seconds(a.duration_ms)).set("created", iso_time(a.created_at));
  e.set_if("year", a.year).set_if("genre", a.genre);
  return e;
}

Element album_with_songs(const Album& album, const std::vector<Song>& songs) {
  Element e = album_entry(album);
  e.set_repeated(false);
  for (const auto& s : songs) e.add(song_entry(s));
  return e;
}

Element album_directory_entry(const Album& a, const char* element) {
  Element e = Element::item(element);
  e.set("id", album_ref(a.id)).set("parent", artist_ref(a.artist_id)).set("isDir", true);
  e.set("title", a.name).set("album", a.name).set("artist", a.artist);
  e.set_if("year", a.year).set_if("genre", a.genre);
  if (!a.cover_song_id.empty()) e.set("coverArt", album_ref(a.id));
  e.set("duration", seconds(a.duration_ms)).set("created", iso_time(a.created_at));
  e.set("albumId", album_ref(a.id)).set("artistId", artist_ref(a.artist_id)).set("mediaType", "album");
  return e;
}

Element artist_entry(const Artist& a, bool id3, const char* element) {
  Element e = Element::item(element);
  e.set("id", artist_ref(a.id)).set("name", a.name);
  if (id3) e.set("coverArt", artist_ref(a.id)).set("albumCount", a.album_count);
  return e;
}

std::vector<Element> artist_index(const std::vector<Artist>& artists, bool id3) {
  std::map<std::string, std::vector<const Artist*>> by_letter;
  for (const auto& a : artists) by_letter[index_letter(a.name)].push_back(&a);
  std::vector<Element> out;
  // "#" sorts before the letters in ASCII; apps expect it last.
  auto add = [&](const std::string& letter, const std::vector<const Artist*>& list) {
    Element index = Element::item("index");
    index.set("name", letter);
    for (const auto* a : list) index.add(artist_entry(*a, id3));
    out.push_back(std::move(index));
  };
  for (const auto& [letter, list] : by_letter) {
    if (letter != "#") add(letter, list);
  }
  if (auto it = by_letter.find("#"); it != by_letter.end()) add("#", it->second);
  return out;
}

namespace {

// One user's annotations, by catalog id.
struct UserMarks {
  std::map<std::string, Annotation> songs, albums, artists;
};

struct AnnotationPass {
  const Annotations& annotations;
  const std::string& user_id;
  const Catalog& catalog;
  // Read on the first song, album or artist element met, so answers
  // without any (ping, errors) cost no copy of the user's marks.
  std::optional<UserMarks> loaded;
  // album id -> the user's plays of its songs and when last; built on the
  // first album element met.
  std::optional<std::map<std::string, std::pair<std::int64_t, std::int64_t>>> album_plays;

  const UserMarks& marks() {
    if (!loaded) {
      loaded = UserMarks{annotations.of_user(user_id, ItemKind::kSong), annotations.of_user(user_id, ItemKind::kAlbum),
                         annotations.of_user(user_id, ItemKind::kArtist)};
    }
    return *loaded;
  }

  const std::map<std::string, std::pair<std::int64_t, std::int64_t>>& plays_by_album() {
    if (!album_plays) {
      album_plays.emplace();
      for (const auto& [song_id, a] : marks().songs) {
        if (a.play_count == 0) continue;
        auto song = catalog.get(song_id);
        if (!song) continue;
        auto& slot = (*album_plays)[album_id_of(*song)];
        slot.first += a.play_count;
        slot.second = std::max(slot.second, a.last_played);
      }
    }
    return *album_plays;
  }

  static void mark(Element& e, const std::map<std::string, Annotation>& marks, const std::string& id) {
    auto it = marks.find(id);
    if (it == marks.end()) return;
    if (it->second.starred()) e.set("starred", iso_time(it->second.starred_at));
    if (it->second.rating > 0) e.set("userRating", it->second.rating);
  }

  static void plays(Element& e, std::int64_t count, std::int64_t last) {
    if (count > 0) e.set("playCount", count).set("played", iso_time(last));
  }

  void mark_entry(Element& e, const ParsedId& id) {
    switch (id.kind) {
      case IdKind::kSong: {
        mark(e, marks().songs, id.id);
        if (auto it = marks().songs.find(id.id); it != marks().songs.end()) {
          plays(e, it->second.play_count, it->second.last_played);
        }
        break;
      }
      case IdKind::kAlbum: {
        mark(e, marks().albums, id.id);
        const auto& by_album = plays_by_album();
        if (auto it = by_album.find(id.id); it != by_album.end()) plays(e, it->second.first, it->second.second);
        break;
      }
      case IdKind::kArtist: mark(e, marks().artists, id.id); break;
    }
  }

  void visit(Element& e) {
    const auto& name = e.name();
    const bool entry = name == "song" || name == "child" || name == "entry" || name == "album" ||
                       name == "artist" || name == "directory";
    const auto* id_value = entry ? e.attribute("id") : nullptr;
    if (id_value && std::holds_alternative<std::string>(*id_value)) {
      if (auto id = parse_id(std::get<std::string>(*id_value))) mark_entry(e, *id);
    }
    for (auto& child : e.children()) visit(child);
  }
};

}  // namespace

void annotate(std::vector<Element>& body, const Annotations& annotations, const std::string& user_id,
              const Catalog& catalog) {
  AnnotationPass pass{annotations, user_id, catalog, std::nullopt, std::nullopt};
  for (auto& e : body) pass.visit(e);
}

}  // namespace hifi::subsonic
