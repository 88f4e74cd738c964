#include "library/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <random>
#include <set>
#include <tuple>

#include "common/base64.h"
#include "common/sha256.h"
#include "common/text.h"
#include "library/media_probe.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kSongsPrefix[] = "songs/";
constexpr std::size_t kMaxLimit = 500;
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);

std::string short_hash(std::string_view text, std::size_t hex_digits) {
  return to_hex(sha256(text)).substr(0, hex_digits);
}

std::string album_artist_of(const Song& s) {
  return !s.album_artist.empty() ? s.album_artist : s.artist;
}

std::string title_from_filename(const std::string& filename) {
  auto base = filename;
  if (auto slash = base.find_last_of("/\\"); slash != std::string::npos) base = base.substr(slash + 1);
  if (auto dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  base = is_valid_utf8(base) ? without_control_chars(base) : std::string();
  if (base.size() > 256) {
    std::size_t cut = 256;  // on a character boundary
    while (cut > 0 && (static_cast<unsigned char>(base[cut]) & 0xC0) == 0x80) --cut;
    base.resize(cut);
  }
  return base.empty() ? "Untitled" : base;
}

std::string album_key(const Song& song, const std::string& folded_album) {
  return short_hash(fold_for_search(album_artist_of(song)) + '\0' + folded_album, 16);
}

std::string padded_number(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(n));
  return buf;
}

}  // namespace

std::string album_id_of(const Song& song) {
  return song.album.empty() ? std::string() : album_key(song, fold_for_search(song.album));
}

std::string artist_id_of(std::string_view artist_name) { return short_hash(fold_for_search(artist_name), 16); }

struct Catalog::Entry {
  Song song;
  std::string search_text;  // folded "title\nartist\nalbum\nalbum artist"
  std::string folded_title, folded_artist, folded_album, folded_genre;
  std::string album_id, artist_id, album_artist_id;

  explicit Entry(Song s) : song(std::move(s)) {
    folded_title = fold_for_search(song.title);
    folded_artist = fold_for_search(song.artist);
    folded_album = fold_for_search(song.album);
    search_text = folded_title + "\n" + folded_artist + "\n" + folded_album + "\n" +
                  fold_for_search(song.album_artist);
    folded_genre = fold_for_search(song.genre);
    album_id = album_key(song, folded_album);
    artist_id = short_hash(folded_artist, 16);
    album_artist_id = artist_id_of(album_artist_of(song));
  }

  std::string sort_key(SongSort sort) const {
    switch (sort) {
      case SongSort::kTitle: return folded_title;
      case SongSort::kArtist:
        return folded_artist + '\0' + folded_album + '\0' + padded_number(song.disc) +
               padded_number(song.track) + folded_title;
      case SongSort::kAlbum:
        return folded_album + '\0' + padded_number(song.disc) + padded_number(song.track);
      case SongSort::kUploadedAt: return padded_number(song.uploaded_at);
      case SongSort::kDuration: return padded_number(song.duration_ms);
    }
    return folded_title;
  }
};

std::string song_to_json(const Song& s) { return json::serialize(song_to_json_object(s)); }

json::object song_to_json_object(const Song& s) {
  json::object o;
  o["id"] = s.id;
  o["sha256"] = s.sha256.hex();
  o["size"] = s.size;
  o["title"] = s.title;
  o["artist"] = s.artist;
  o["album"] = s.album;
  o["album_artist"] = s.album_artist;
  o["genre"] = s.genre;
  o["track"] = s.track;
  o["disc"] = s.disc;
  o["year"] = s.year;
  o["duration_ms"] = s.duration_ms;
  o["content_type"] = s.content_type;
  o["format"] = s.format;
  o["codec"] = s.codec;
  o["bitrate"] = s.bitrate;
  o["sample_rate"] = s.sample_rate;
  o["channels"] = s.channels;
  o["cover_sha256"] = s.cover_sha256 ? s.cover_sha256->hex() : std::string();
  o["cover_mime"] = s.cover_mime;
  o["filename"] = s.filename;
  o["uploaded_by"] = s.uploaded_by;
  o["uploaded_at"] = s.uploaded_at;
  return o;
}

Result<Song> song_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return invalid_argument("a song record is a JSON object");
  const auto& o = v.as_object();
  Song s;
  auto str = [&](const char* k) -> std::string {
    auto* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto num = [&](const char* k) -> std::int64_t {
    auto* p = o.if_contains(k);
    if (!p) return 0;
    if (p->is_int64()) return p->as_int64();
    if (p->is_uint64()) return static_cast<std::int64_t>(p->as_uint64());
    return 0;
  };
  s.id = str("id");
  s.size = static_cast<std::uint64_t>(num("size"));
  s.title = str("title");
  s.artist = str("artist");
  s.album = str("album");
  s.album_artist = str("album_artist");
  s.genre = str("genre");
  s.track = static_cast<int>(num("track"));
  s.disc = static_cast<int>(num("disc"));
  s.year = static_cast<int>(num("year"));
  s.duration_ms = num("duration_ms");
  s.content_type = str("content_type");
  s.format = str("format");
  s.codec = str("codec");
  s.bitrate = num("bitrate");
  s.sample_rate = static_cast<int>(num("sample_rate"));
  s.channels = static_cast<int>(num("channels"));
  s.cover_mime = str("cover_mime");
  s.filename = str("filename");
  s.uploaded_by = str("uploaded_by");
  s.uploaded_at = num("uploaded_at");
  const auto sha256 = str("sha256");
  if (s.id.empty() || sha256.empty()) return invalid_argument("a song record needs an id and a sha256");
  auto hash = ContentHash::parse(sha256);
  if (!hash) return invalid_argument("song record sha256: " + hash.status().message());
  s.sha256 = std::move(*hash);
  if (const auto cover = str("cover_sha256"); !cover.empty()) {
    auto cover_hash = ContentHash::parse(cover);
    if (!cover_hash) return invalid_argument("song record cover_sha256: " + cover_hash.status().message());
    s.cover_sha256 = std::move(*cover_hash);
  }
  return s;
}

Result<SongSort> parse_song_sort(std::string_view text) {
  if (text == "title") return SongSort::kTitle;
  if (text == "artist") return SongSort::kArtist;
  if (text == "album") return SongSort::kAlbum;
  if (text == "uploaded_at") return SongSort::kUploadedAt;
  if (text == "duration") return SongSort::kDuration;
  return invalid_argument("sort must be title, artist, album, uploaded_at or duration");
}

Catalog::Catalog(MetaStore& store, BlobStore& blobs, const Clock& clock)
    : store_(store),
      blobs_(blobs),
      clock_(clock),
      view_(store, kSongsPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
            [this](const WatchResponse& response) { apply(response); },
            WatchedViewOptions{.name = "catalog"}) {}

Catalog::~Catalog() { view_.stop(); }

Status Catalog::start() { return view_.start(); }

void Catalog::reset(const RangeResult& snapshot) {
  std::map<std::string, std::shared_ptr<const Entry>> songs;
  for (const auto& kv : snapshot.kvs) {
    if (auto song = song_from_json(kv.value)) {
      auto id = song->id;
      songs[id] = std::make_shared<const Entry>(std::move(*song));
    } else {
      spdlog::warn("catalog: skipping unreadable record {}", kv.key);
    }
  }
  std::lock_guard lock(mu_);
  songs_.swap(songs);
  derived_.reset();
  changed_at_ = clock_.now_ms();
}

void Catalog::apply(const WatchResponse& response) {
  std::lock_guard lock(mu_);
  derived_.reset();
  changed_at_ = clock_.now_ms();
  for (const auto& event : response.events) {
    auto id = event.kv.key.substr(sizeof(kSongsPrefix) - 1);
    if (event.type == WatchEvent::Type::kDelete) {
      songs_.erase(id);
      continue;
    }
    if (auto song = song_from_json(event.kv.value)) {
      songs_[id] = std::make_shared<const Entry>(std::move(*song));
    }
  }
}

Status Catalog::wait_for_revision(Revision revision) {
  return view_.wait_for_revision(revision, std::chrono::steady_clock::now() + kCatchUpTimeout);
}

std::optional<Song> Catalog::find_by_sha256(const ContentHash& sha256) const {
  std::lock_guard lock(mu_);
  auto it = songs_.find(sha256.hex().substr(0, 32));
  if (it == songs_.end() || it->second->song.sha256 != sha256) return std::nullopt;
  return it->second->song;
}

Result<Song> Catalog::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = songs_.find(id);
  if (it == songs_.end()) return not_found("no song with id '" + id + "'");
  return it->second->song;
}

std::size_t Catalog::size() const {
  std::lock_guard lock(mu_);
  return songs_.size();
}

Result<UploadOutcome> Catalog::add_upload(BlobWriter& writer, const std::string& filename,
                                          const std::string& uploader_id) {
  const auto sha = ContentHash::from_digest(writer.digest());
  if (auto existing = find_by_sha256(sha)) {
    // Known song. Keep these bytes if this node lacks them (another node of
    // a cluster took the first upload); otherwise they cost nothing.
    if (!blobs_.exists(sha)) {
      std::lock_guard publish_lock(blob_lock(sha));
      auto blob = writer.commit();
      if (!blob) return blob.status();
      if (replication_) {
        if (auto s = replication_->note_local_copy(sha); !s) return s;
      }
    } else {
      writer.abort();
    }
    return UploadOutcome{*existing, false};
  }
  auto media = probe_media(writer.temp_path());
  if (!media) return media.status();
  std::lock_guard publish_lock(blob_lock(sha));
  auto blob = writer.commit();
  if (!blob) return blob.status();

  Song song;
  song.id = sha.hex().substr(0, 32);
  song.sha256 = blob->sha256;
  song.size = blob->size;
  song.title = media->title.empty() ? title_from_filename(filename) : media->title;
  song.artist = media->artist;
  song.album = media->album;
  song.album_artist = media->album_artist;
  song.genre = media->genre;
  song.track = media->track;
  song.disc = media->disc;
  song.year = media->year;
  song.duration_ms = media->duration_ms;
  song.content_type = media->content_type;
  song.format = media->format;
  song.codec = media->codec;
  song.bitrate = media->bitrate;
  song.sample_rate = media->sample_rate;
  song.channels = media->channels;
  song.filename = is_valid_utf8(filename) && filename.size() <= 1024 ? without_control_chars(filename) : std::string();
  song.uploaded_by = uploader_id;
  song.uploaded_at = clock_.now_ms();
  if (!media->cover_bytes.empty()) {
    auto cover = blobs_.put(media->cover_bytes);
    if (!cover) return cover.status();
    song.cover_sha256 = cover->sha256;
    song.cover_mime = media->cover_mime;
  }
  if (replication_) {
    // Every copy is durable before the song is published: an acknowledged
    // upload survives the loss of any R-1 nodes.
    if (song.cover_sha256) {
      if (auto s = replication_->replicate(*song.cover_sha256); !s) return s;
    }
    if (auto s = replication_->replicate(song.sha256); !s) return s;
  }

  const auto key = kSongsPrefix + song.id;
  auto txn = store_.txn({Compare::absent(key)}, {Op::put(key, song_to_json(song))});
  if (!txn) return txn.status();
  if (!txn->succeeded) {
    // A concurrent upload of the same bytes won; it is the same song.
    auto kv = store_.get(key);
    if (!kv) return kv.status();
    auto existing = song_from_json(kv->value);
    if (!existing) return internal_error("corrupt song record");
    if (auto s = wait_for_revision(kv->mod_revision); !s) return s;
    return UploadOutcome{*existing, false};
  }
  if (auto s = wait_for_revision(txn->revision); !s) return s;
  return UploadOutcome{song, true};
}

Result<SongPage> Catalog::query(const SongQuery& q) const {
  std::string cursor_key, cursor_id;
  if (!q.cursor.empty()) {
    boost::system::error_code ec;
    auto decoded = base64_decode(q.cursor);
    if (!decoded) return invalid_argument("malformed cursor");
    auto v = json::parse(*decoded, ec);
    if (ec || !v.is_object() || !v.as_object().contains("k") || !v.as_object().contains("i") ||
        !v.as_object().at("k").is_string() || !v.as_object().at("i").is_string()) {
      return invalid_argument("malformed cursor");
    }
    cursor_key = v.as_object().at("k").as_string();
    cursor_id = v.as_object().at("i").as_string();
  }
  const auto limit = std::clamp<std::size_t>(q.limit, 1, kMaxLimit);
  std::vector<std::pair<std::string, std::shared_ptr<const Entry>>> matches;
  for (auto& entry : matching(q)) {
    auto key = entry->sort_key(q.sort);
    matches.emplace_back(std::move(key), std::move(entry));
  }
  auto less = [&](const std::string& ka, const std::string& ia, const std::string& kb,
                  const std::string& ib) {
    return q.descending ? std::tie(kb, ib) < std::tie(ka, ia) : std::tie(ka, ia) < std::tie(kb, ib);
  };
  auto before = [&](const auto& a, const auto& b) {
    return less(a.first, a.second->song.id, b.first, b.second->song.id);
  };
  // Only the page needs sorting: the songs after the cursor (or past the
  // offset) are selected in linear time, then the page's few are sorted.
  auto last = matches.end();
  std::size_t skip = 0;
  if (!q.cursor.empty()) {
    last = std::partition(matches.begin(), matches.end(), [&](const auto& m) {
      return less(cursor_key, cursor_id, m.first, m.second->song.id);
    });
  } else {
    skip = std::min(q.offset, matches.size());
  }
  const auto first = matches.begin() + static_cast<std::ptrdiff_t>(skip);
  if (first < last) std::nth_element(matches.begin(), first, last, before);
  const std::size_t available = last > first ? static_cast<std::size_t>(last - first) : 0;
  const auto end = first + static_cast<std::ptrdiff_t>(std::min(limit, available));
  if (first < end) std::partial_sort(first, end, last, before);
  SongPage page;
  for (auto it = first; it < end; ++it) page.items.push_back(it->second->song);
  if (end < last && !page.items.empty()) {
    const auto& tail = *(end - 1);
    json::object c;
    c["k"] = tail.first;
    c["i"] = tail.second->song.id;
    page.next = base64_encode(json::serialize(c));
  }
  return page;
}

std::vector<std::shared_ptr<const Catalog::Entry>> Catalog::matching(const SongQuery& q) const {
  const auto needle = fold_for_search(q.text);
  const auto genre = fold_for_search(q.genre);
  std::vector<std::shared_ptr<const Entry>> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, entry] : songs_) {
    if (!needle.empty() && entry->search_text.find(needle) == std::string::npos) continue;
    if (!q.album_id.empty() && entry->album_id != q.album_id) continue;
    if (!q.artist_id.empty() && entry->artist_id != q.artist_id) continue;
    if (!genre.empty() && entry->folded_genre != genre) continue;
    if (q.from_year > 0 && entry->song.year < q.from_year) continue;
    if (q.to_year > 0 && entry->song.year > q.to_year) continue;
    out.push_back(entry);
  }
  return out;
}

std::vector<Song> Catalog::random_songs(const SongQuery& filter, std::size_t count) const {
  auto matches = matching(filter);
  std::vector<std::shared_ptr<const Entry>> picked;
  std::mt19937_64 rng(std::random_device{}());
  std::sample(matches.begin(), matches.end(), std::back_inserter(picked), count, rng);
  std::shuffle(picked.begin(), picked.end(), rng);
  std::vector<Song> out;
  out.reserve(picked.size());
  for (const auto& e : picked) out.push_back(e->song);
  return out;
}

std::vector<Album> Catalog::albums_by_artist(const std::string& artist_id) const {
  std::set<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : songs_) {
      if (!e->song.album.empty() && (e->artist_id == artist_id || e->album_artist_id == artist_id)) {
        ids.insert(e->album_id);
      }
    }
  }
  if (ids.empty()) return {};
  auto all = albums("");
  std::erase_if(all, [&](const Album& a) { return !ids.count(a.id); });
  return all;
}

std::vector<Genre> Catalog::genres() const {
  std::map<std::string, Genre> by_name;
  std::map<std::string, std::set<std::string>> albums_of;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : songs_) {
      if (e->folded_genre.empty()) continue;
      auto& g = by_name[e->folded_genre];
      if (g.name.empty()) g.name = e->song.genre;
      g.song_count += 1;
      if (!e->song.album.empty()) albums_of[e->folded_genre].insert(e->album_id);
    }
  }
  std::vector<Genre> out;
  for (auto& [folded, g] : by_name) {
    g.album_count = static_cast<int>(albums_of[folded].size());
    out.push_back(std::move(g));
  }
  return out;
}

// Albums and artists, derived from every song and sorted: built on the
// first read after a change, then shared by every read until the next one.
struct Catalog::Derived {
  std::vector<Album> albums;  // by folded artist, then folded name
  std::vector<std::string> album_keys;  // the folded "artist\0name" of each
  std::map<std::string, std::size_t> album_index;  // id -> position
  std::vector<Artist> artists;  // by folded name
  std::vector<std::string> artist_keys;
};

std::shared_ptr<const Catalog::Derived> Catalog::derived() const {
  std::lock_guard lock(mu_);
  if (derived_) return derived_;
  auto d = std::make_shared<Derived>();
  std::map<std::string, Album> albums;
  std::map<std::string, std::string> album_keys;
  std::map<std::string, Artist> artists;
  std::map<std::string, std::set<std::string>> albums_of;
  std::map<std::string, std::string> artist_keys;
  for (const auto& [id, e] : songs_) {
    if (!e->song.album.empty()) {
      auto& a = albums[e->album_id];
      if (a.id.empty()) {
        a.id = e->album_id;
        a.name = e->song.album;
        a.artist = album_artist_of(e->song);
        a.artist_id = e->album_artist_id;
        a.created_at = e->song.uploaded_at;
        album_keys[a.id] = fold_for_search(a.artist) + '\0' + e->folded_album;
      }
      if (a.genre.empty()) a.genre = e->song.genre;
      a.created_at = std::min(a.created_at, e->song.uploaded_at);
      a.year = std::max(a.year, e->song.year);
      a.song_count += 1;
      a.duration_ms += e->song.duration_ms;
      if (a.cover_song_id.empty() && e->song.cover_sha256) a.cover_song_id = e->song.id;
    }
    if (!e->song.artist.empty()) {
      auto& a = artists[e->artist_id];
      if (a.id.empty()) {
        a.id = e->artist_id;
        a.name = e->song.artist;
        artist_keys[a.id] = e->folded_artist;
      }
      a.song_count += 1;
      if (!e->song.album.empty()) albums_of[a.id].insert(e->album_id);
    }
  }
  std::vector<std::pair<std::string, Album>> sorted_albums;
  for (auto& [id, a] : albums) sorted_albums.emplace_back(album_keys[id], std::move(a));
  std::sort(sorted_albums.begin(), sorted_albums.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [key, a] : sorted_albums) {
    d->album_index[a.id] = d->albums.size();
    d->album_keys.push_back(std::move(key));
    d->albums.push_back(std::move(a));
  }
  std::vector<std::pair<std::string, Artist>> sorted_artists;
  for (auto& [id, a] : artists) {
    a.album_count = static_cast<int>(albums_of[id].size());
    sorted_artists.emplace_back(artist_keys[id], std::move(a));
  }
  std::sort(sorted_artists.begin(), sorted_artists.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [key, a] : sorted_artists) {
    d->artist_keys.push_back(std::move(key));
    d->artists.push_back(std::move(a));
  }
  derived_ = std::move(d);
  return derived_;
}

std::vector<Album> Catalog::albums(const std::string& text) const {
  const auto d = derived();
  if (text.empty()) return d->albums;
  const auto needle = fold_for_search(text);
  std::vector<Album> out;
  for (std::size_t i = 0; i < d->albums.size(); ++i) {
    if (d->album_keys[i].find(needle) != std::string::npos) out.push_back(d->albums[i]);
  }
  return out;
}

Result<Album> Catalog::album(const std::string& id) const {
  const auto d = derived();
  auto it = d->album_index.find(id);
  if (it == d->album_index.end()) return not_found("no album with id '" + id + "'");
  return d->albums[it->second];
}

std::vector<Artist> Catalog::artists(const std::string& text) const {
  const auto d = derived();
  if (text.empty()) return d->artists;
  const auto needle = fold_for_search(text);
  std::vector<Artist> out;
  for (std::size_t i = 0; i < d->artists.size(); ++i) {
    if (d->artist_keys[i].find(needle) != std::string::npos) out.push_back(d->artists[i]);
  }
  return out;
}

std::map<std::string, Catalog::UploadTotals> Catalog::upload_totals() const {
  std::map<std::string, UploadTotals> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, entry] : songs_) {
    auto& totals = out[entry->song.uploaded_by];
    ++totals.songs;
    totals.bytes += static_cast<std::int64_t>(entry->song.size);
  }
  return out;
}

Result<Artist> Catalog::artist(const std::string& id) const {
  const auto d = derived();
  for (const auto& a : d->artists) {
    if (a.id == id) return a;
  }
  const auto albums = albums_by_artist(id);
  for (const auto& album : albums) {
    if (album.artist_id == id) return Artist{id, album.artist, 0, static_cast<int>(albums.size())};
  }
  return not_found("no artist with id '" + id + "'");
}

std::mutex& Catalog::blob_lock(const ContentHash& sha256) {
  return blob_locks_[std::hash<ContentHash>{}(sha256) % blob_locks_.size()];
}

Result<Song> Catalog::get_or_read_through(const std::string& id) const {
  auto song = get(id);
  // Song ids are the first 32 hex digits of a SHA-256; anything else is not
  // worth a store read.
  const bool plausible = id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (song || song.status().code() != Code::kNotFound || !plausible) return song;
  auto kv = store_.get(kSongsPrefix + id);
  if (!kv) return kv.status().code() == Code::kNotFound ? song.status() : kv.status();
  auto stored = song_from_json(kv->value);
  if (!stored) return internal_error("corrupt song record " + id);
  return stored;
}

Result<Song> Catalog::edit_tags(const std::string& id, const SongTagEdit& edit, const User& actor) {
  constexpr std::size_t kMaxTagChars = 500;
  SongTagEdit clean = edit;
  for (auto [field, what] : {std::pair{&clean.title, "the title"}, {&clean.artist, "the artist"},
                             {&clean.album, "the album"}, {&clean.album_artist, "the album artist"},
                             {&clean.genre, "the genre"}}) {
    if (!*field) continue;
    auto text = clean_user_text(**field, kMaxTagChars, what, /*allow_empty=*/field != &clean.title);
    if (!text) return text.status();
    *field = std::move(*text);
  }
  for (auto [field, max, what] : {std::tuple{&clean.track, 999, "track"}, {&clean.disc, 999, "disc"},
                                  {&clean.year, 9999, "year"}}) {
    if (*field && (**field < 0 || **field > max)) {
      return invalid_argument(std::string(what) + " must be between 0 and " + std::to_string(max));
    }
  }
  const auto key = kSongsPrefix + id;
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) {
      return kv.status().code() == Code::kNotFound ? not_found("no song with id '" + id + "'") : kv.status();
    }
    auto song = song_from_json(kv->value);
    if (!song) return internal_error("corrupt song record");
    if (song->uploaded_by != actor.id && !actor.is_admin()) {
      return permission_denied("only the uploader or an admin may edit a song");
    }
    if (clean.title) song->title = *clean.title;
    if (clean.artist) song->artist = *clean.artist;
    if (clean.album) song->album = *clean.album;
    if (clean.album_artist) song->album_artist = *clean.album_artist;
    if (clean.genre) song->genre = *clean.genre;
    if (clean.track) song->track = *clean.track;
    if (clean.disc) song->disc = *clean.disc;
    if (clean.year) song->year = *clean.year;
    auto txn = store_.txn({Compare::mod_revision_equals(key, kv->mod_revision)}, {Op::put(key, song_to_json(*song))});
    if (!txn) return txn.status();
    if (!txn->succeeded) continue;  // changed meanwhile: edit the newer record
    if (auto s = wait_for_revision(txn->revision); !s) return s;
    return std::move(*song);
  }
  return unavailable("the song changes too often to edit it now; try again");
}

Status Catalog::remove(const std::string& id, const User& actor) {
  const auto key = kSongsPrefix + id;
  auto kv = store_.get(key);
  if (!kv) return kv.status().code() == Code::kNotFound ? not_found("no song with id '" + id + "'")
                                                         : kv.status();
  auto stored = song_from_json(kv->value);
  if (!stored) return internal_error("corrupt song record");
  const Song& song = *stored;
  if (song.uploaded_by != actor.id && !actor.is_admin()) {
    return permission_denied("only the uploader or an admin may delete a song");
  }
  std::lock_guard publish_lock(blob_lock(song.sha256));
  auto txn = store_.txn({Compare::mod_revision_equals(key, kv->mod_revision)}, {Op::del(key)});
  if (!txn) return txn.status();
  if (!txn->succeeded) return not_found("no song with id '" + id + "'");
  if (auto s = wait_for_revision(txn->revision); !s) return s;
  // The record is gone first, so a crash here leaves at worst an unreferenced
  // blob, never a song without bytes.
  if (blobs_.remove(song.sha256) && replication_) replication_->forget_local_copy(song.sha256);
  if (song.cover_sha256) {
    bool shared = false;
    {
      std::lock_guard lock(mu_);
      for (const auto& [sid, e] : songs_) {
        if (e->song.cover_sha256 == song.cover_sha256) {
          shared = true;
          break;
        }
      }
    }
    if (!shared && blobs_.remove(*song.cover_sha256) && replication_) {
      replication_->forget_local_copy(*song.cover_sha256);
    }
  }
  return Status::ok();
}

Result<std::vector<ContentHash>> Catalog::referenced_blobs() const {
  if (auto status = view_.status(); status.stale) {
    return unavailable("the catalog view is not following the store (" +
                       status.last_error.to_string() + ")");
  }
  std::vector<ContentHash> out;
  std::lock_guard lock(mu_);
  out.reserve(songs_.size());
  for (const auto& [id, entry] : songs_) {
    out.push_back(entry->song.sha256);
    if (entry->song.cover_sha256) out.push_back(*entry->song.cover_sha256);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace hifi
