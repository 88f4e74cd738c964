#include "library/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iterator>
#include <new>
#include <numeric>
#include <random>
#include <span>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "common/base64.h"
#include "common/sha256.h"
#include "common/text.h"
#include "library/catalog_index.h"
#include "library/media_probe.h"

namespace hifi {
namespace json = boost::json;
namespace {

constexpr char kSongsPrefix[] = "songs/";
constexpr std::size_t kMaxLimit = 500;
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);
// A query narrowed to an album, an artist or a genre of at most this many
// songs sorts just those; a wider one walks the kept order of its sort.
constexpr std::size_t kNarrowSongs = 2048;
// One change of more songs than this re-indexes the library as a whole
// rather than song by song.
constexpr std::size_t kBulkChange = 1024;

}  // namespace

std::string album_id_of(const Song& song) {
  return song.album.empty() ? std::string() : album_key(song, fold_for_search(song.album));
}

std::string artist_id_of(std::string_view artist_name) { return short_hash(fold_for_search(artist_name), 16); }

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
  // A record's parse allocates from the stack (unless it is large).
  unsigned char buffer[4096];
  json::monotonic_resource memory(buffer, sizeof buffer);
  auto v = json::parse(text, ec, &memory);
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

// What a query's filters ask for, folded and parsed once per query.

Catalog::Catalog(MetaStore& store, BlobStore& blobs, const Clock& clock)
    : store_(store),
      blobs_(blobs),
      clock_(clock),
      state_(std::make_unique<State>()),
      view_(store, kSongsPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
            [this](const WatchResponse& response) { apply(response); },
            WatchedViewOptions{.name = "catalog"}) {}

Catalog::~Catalog() { view_.stop(); }

std::shared_lock<std::shared_mutex> Catalog::read_lock() const {
  { std::lock_guard gate(gate_); }
  return std::shared_lock(mu_);
}

std::unique_lock<std::shared_mutex> Catalog::write_lock() const {
  std::lock_guard gate(gate_);
  return std::unique_lock(mu_);
}

Status Catalog::start() { return view_.start(); }

namespace {

// The song of a record under songs/<id>; nullopt (logged) when it is not
// one, or names another id than its key.
std::optional<Song> song_of_record(std::string_view key, std::string_view value) {
  auto song = song_from_json(value);
  if (!song) {
    spdlog::warn("catalog: skipping unreadable record {}", key);
    return std::nullopt;
  }
  if (key.substr(sizeof(kSongsPrefix) - 1) != song->id) {
    spdlog::warn("catalog: skipping record {}, which holds song {}", key, song->id);
    return std::nullopt;
  }
  return std::move(*song);
}

}  // namespace

void Catalog::reset(const RangeResult& snapshot) {
  auto state = std::make_unique<State>();
  Names names;
  for (const auto& kv : snapshot.kvs) {
    auto song = song_of_record(kv.key, kv.value);
    if (!song) continue;
    auto entry = make_entry(std::move(*song), &names);
    const auto id = entry->id();
    state->songs.try_emplace(id, std::move(entry));  // keys are unique: always added
  }
  state->reindex();
  // Every order now, without the lock, rather than on the first read of
  // each sort.
  for (std::size_t i = 0; i < kSortCount; ++i) state->build_order(static_cast<SongSort>(i));
  {
    auto lock = write_lock();
    state_.swap(state);
    changed_at_ = clock_.now_ms();
  }
  // The old state goes here, without the lock.
}

void Catalog::apply(const WatchResponse& response) {
  // The records are read and folded without the lock.
  struct Change {
    std::string id;
    EntryPtr entry;  // null: deleted
  };
  std::vector<Change> changes;
  changes.reserve(response.events.size());
  for (const auto& event : response.events) {
    auto id = event.kv.key.substr(sizeof(kSongsPrefix) - 1);
    if (event.type == WatchEvent::Type::kDelete) {
      changes.push_back({std::move(id), nullptr});
    } else if (auto song = song_of_record(event.kv.key, event.kv.value)) {
      changes.push_back({std::move(id), make_entry(std::move(*song))});
    }
  }
  std::vector<EntryPtr> gone;  // freed after the lock is released
  auto lock = write_lock();
  changed_at_ = clock_.now_ms();
  auto& st = *state_;
  const bool bulk = changes.size() > kBulkChange;
  std::vector<const Entry*> removed, added;
  for (auto& change : changes) {
    if (auto it = st.songs.find(change.id); it != st.songs.end()) {
      const Entry* old = it->second.get();
      if (!bulk) st.unlink(old);
      if (auto a = std::find(added.begin(), added.end(), old); a != added.end()) {
        added.erase(a);  // added earlier in this change: in no order yet
      } else {
        removed.push_back(old);
      }
      gone.push_back(std::move(it->second));
      st.songs.erase(it);
    }
    if (change.entry) {
      const Entry* e = change.entry.get();
      if (!st.songs.try_emplace(e->id(), std::move(change.entry)).second) continue;  // never: erased above
      if (!bulk) st.link(e, /*bulk=*/false);
      added.push_back(e);
    }
  }
  if (bulk) {
    st.reindex();
    return;
  }
  st.refresh();
  if (removed.empty() && added.empty()) return;
  for (std::size_t i = 0; i < kSortCount; ++i) {
    if (st.ordered[i]) State::patch_order(st.orders[i], static_cast<SongSort>(i), removed, added);
  }
}

Status Catalog::wait_for_revision(Revision revision) {
  return view_.wait_for_revision(revision, std::chrono::steady_clock::now() + kCatchUpTimeout);
}

std::optional<Song> Catalog::find_by_sha256(const ContentHash& sha256) const {
  const auto id = sha256.hex().substr(0, 32);
  auto lock = read_lock();
  auto it = state_->songs.find(id);
  if (it == state_->songs.end() || it->second->sha256 != sha256.digest()) return std::nullopt;
  return it->second->song();
}

Result<Song> Catalog::get(const std::string& id) const {
  {
    auto lock = read_lock();
    auto it = state_->songs.find(id);
    if (it != state_->songs.end()) return it->second->song();
  }
  return not_found("no song with id '" + id + "'");
}

std::size_t Catalog::size() const {
  auto lock = read_lock();
  return state_->songs.size();
}
Result<UploadOutcome> Catalog::add_upload(BlobWriter& writer, const std::string& filename,
                                          const std::string& uploader_id, const WaitForStagedCopies& staged) {
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
    if (auto s = replication_->replicate(song.sha256, staged); !s) return s;
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
  std::optional<Cursor> cursor;
  if (!q.cursor.empty()) {
    boost::system::error_code ec;
    auto decoded = base64_decode(q.cursor);
    if (!decoded) return invalid_argument("malformed cursor");
    auto v = json::parse(*decoded, ec);
    if (ec || !v.is_object() || !v.as_object().contains("k") || !v.as_object().contains("i") ||
        !v.as_object().at("k").is_string() || !v.as_object().at("i").is_string()) {
      return invalid_argument("malformed cursor");
    }
    cursor = Cursor{std::string(v.as_object().at("k").as_string()), std::string(v.as_object().at("i").as_string())};
  }
  const Filter filter(q);
  {
    auto lock = read_lock();
    if (auto page = page_locked(q, filter, cursor, /*may_build=*/false)) return std::move(*page);
  }
  // The first read of this sort since a change of many songs at once: sort.
  auto lock = write_lock();
  return std::move(*page_locked(q, filter, cursor, /*may_build=*/true));
}

std::optional<SongPage> Catalog::page_locked(const SongQuery& q, const Filter& filter,
                                             const std::optional<Cursor>& cursor, bool may_build) const {
  auto& st = *state_;
  SongPage page;
  if (filter.impossible) return page;
  // The smallest of the album's, the artist's and the genre's songs.
  const std::vector<const Entry*>* narrow = nullptr;
  auto narrow_to = [&](const std::vector<const Entry*>& songs) {
    if (narrow == nullptr || songs.size() < narrow->size()) narrow = &songs;
  };
  if (filter.album_id) {
    auto it = st.albums.find(*filter.album_id);
    if (it == st.albums.end()) return page;
    narrow_to(it->second.songs);
  }
  if (filter.artist_id) {
    auto it = st.artists.find(*filter.artist_id);
    if (it == st.artists.end()) return page;
    narrow_to(it->second.songs);
  }
  if (!filter.genre.empty()) {
    auto it = st.genres.find(filter.genre);
    if (it == st.genres.end()) return page;
    narrow_to(it->second.songs);
  }
  // The songs to walk, ascending by (sort key, id); `filtered` when the
  // walk must still test each against the filters.
  std::vector<const Entry*> few;
  std::span<const Entry* const> songs;
  bool filtered = false;
  bool found = false;
  if (narrow != nullptr && narrow->size() <= kNarrowSongs) {
    for (const Entry* e : *narrow) {
      if (filter.matches(*e)) few.push_back(e);
    }
    found = true;
  } else if (!filter.needle.empty()) {
    // A search: when few songs match (a rare word), sort those; when many
    // do, the walk of the order below soon fills the page.
    found = st.text_matches(filter, kNarrowSongs, few);
  }
  if (found) {
    std::sort(few.begin(), few.end(), State::Less{q.sort});
    songs = few;
  } else {
    const auto i = static_cast<std::size_t>(q.sort);
    if (!st.ordered[i]) {
      if (!may_build) return std::nullopt;
      st.build_order(q.sort);
    }
    songs = st.orders[i];
    filtered = filter.any();
  }
  const std::size_t n = songs.size();
  // Walk step r (0, 1, ...) visits songs[r] ascending, songs[n-1-r] descending.
  std::size_t r = 0, skip = 0;
  if (cursor) {
    if (!q.descending) {  // after the cursor: the first (key, id) above it
      r = static_cast<std::size_t>(
          std::partition_point(songs.begin(), songs.end(),
                               [&](const Entry* e) { return State::compare_to_cursor(q.sort, *e, *cursor) <= 0; }) -
          songs.begin());
    } else {  // below it, from the nearest down
      const auto below = static_cast<std::size_t>(
          std::partition_point(songs.begin(), songs.end(),
                               [&](const Entry* e) { return State::compare_to_cursor(q.sort, *e, *cursor) < 0; }) -
          songs.begin());
      r = n - below;
    }
  } else if (filtered) {
    skip = q.offset;
  } else {
    r = std::min(q.offset, n);
  }
  const auto limit = std::clamp<std::size_t>(q.limit, 1, kMaxLimit);
  const Entry* last = nullptr;
  bool more = false;
  for (; r < n; ++r) {
    const Entry* e = songs[q.descending ? n - 1 - r : r];
    if (filtered && !filter.matches(*e)) continue;
    if (skip > 0) {
      --skip;
      continue;
    }
    if (page.items.size() == limit) {
      more = true;
      break;
    }
    page.items.push_back(e->song());
    last = e;
  }
  if (more && last != nullptr) {
    json::object c;
    c["k"] = last->sort_key(q.sort);
    c["i"] = last->id();
    page.next = base64_encode(json::serialize(c));
  }
  return page;
}

std::vector<Song> Catalog::random_songs(const SongQuery& query, std::size_t count) const {
  const Filter filter(query);
  if (filter.impossible || count == 0) return {};
  std::mt19937_64 rng(std::random_device{}());
  auto lock = read_lock();
  const auto& st = *state_;
  const std::vector<const Entry*>* from = &st.dense;
  auto narrow_to = [&](const std::vector<const Entry*>* songs) {
    if (songs == nullptr) {
      from = nullptr;
    } else if (from != nullptr && songs->size() < from->size()) {
      from = songs;
    }
  };
  if (filter.album_id) {
    auto it = st.albums.find(*filter.album_id);
    narrow_to(it == st.albums.end() ? nullptr : &it->second.songs);
  }
  if (filter.artist_id && from != nullptr) {
    auto it = st.artists.find(*filter.artist_id);
    narrow_to(it == st.artists.end() ? nullptr : &it->second.songs);
  }
  if (!filter.genre.empty() && from != nullptr) {
    auto it = st.genres.find(filter.genre);
    narrow_to(it == st.genres.end() ? nullptr : &it->second.songs);
  }
  if (from == nullptr) return {};
  std::vector<const Entry*> matching;
  if (from == &st.dense && !filter.needle.empty()) {
    st.text_matches(filter, st.dense.size(), matching);
    from = &matching;
  } else if (filter.any()) {
    for (const Entry* e : *from) {
      if (filter.matches(*e)) matching.push_back(e);
    }
    from = &matching;
  }
  // Floyd's sample of `count` distinct places, then in random order.
  const std::size_t n = from->size();
  count = std::min(count, n);
  std::vector<std::size_t> picked;
  picked.reserve(count);
  std::unordered_set<std::size_t> chosen;
  for (std::size_t j = n - count; j < n; ++j) {
    const auto t = std::uniform_int_distribution<std::size_t>(0, j)(rng);
    const auto place = chosen.insert(t).second ? t : j;
    if (place == j) chosen.insert(j);
    picked.push_back(place);
  }
  std::shuffle(picked.begin(), picked.end(), rng);
  std::vector<Song> out;
  out.reserve(picked.size());
  for (const auto place : picked) out.push_back((*from)[place]->song());
  return out;
}

std::vector<Album> Catalog::albums_by_artist(const std::string& artist_id) const {
  const auto id = parse_id64(artist_id);
  if (!id) return {};
  auto lock = read_lock();
  const auto& st = *state_;
  std::vector<std::size_t> found;  // places in album_list
  auto add = [&](std::uint64_t album_id) {
    auto it = st.albums.find(album_id);
    if (it == st.albums.end() || !it->second.listed) return;
    const auto hex = hex16(album_id);
    if (const auto i = st.album_list.find(it->second.key, hex); st.album_list.at(i, it->second.key, hex)) {
      found.push_back(i);
    }
  };
  if (auto it = st.artists.find(*id); it != st.artists.end()) {
    for (const Entry* e : it->second.songs) {
      if (e->has_album()) add(e->album_id);
    }
  }
  if (auto it = st.album_artist_albums.find(*id); it != st.album_artist_albums.end()) {
    for (const auto& [album_id, songs] : it->second) add(album_id);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  std::vector<Album> out;
  out.reserve(found.size());
  for (const auto i : found) out.push_back(st.album_list.items[i]);
  return out;
}

std::vector<Genre> Catalog::genres() const {
  auto lock = read_lock();
  std::vector<Genre> out;
  out.reserve(state_->genres.size());
  for (const auto& [folded, g] : state_->genres) {
    // Named as its first song (by id) spells it.
    out.push_back(Genre{std::string(g.songs.front()->text(Entry::kGenre)), static_cast<int>(g.songs.size()),
                        static_cast<int>(g.albums.size())});
  }
  return out;
}

std::vector<Album> Catalog::albums(const std::string& text) const {
  const auto needle = text.empty() ? std::string() : fold_for_search(text);
  auto lock = read_lock();
  const auto& list = state_->album_list;
  if (needle.empty()) return list.items;
  std::vector<Album> out;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (list.keys[i].find(needle) != std::string::npos) out.push_back(list.items[i]);
  }
  return out;
}

std::vector<Album> Catalog::albums_in_order(AlbumOrder order, std::size_t offset, std::size_t limit) const {
  auto lock = read_lock();
  const auto& list = state_->album_list;
  const std::size_t n = list.items.size();
  if (offset >= n || limit == 0) return {};
  const std::size_t end = offset + std::min(limit, n - offset);
  std::vector<std::uint32_t> places(n);  // in album_list
  std::iota(places.begin(), places.end(), 0U);
  if (order == AlbumOrder::kName) {
    // A listed album's key is "folded album artist NUL folded name": the
    // name's fold is there already (computed again only should a NUL be in
    // the folded texts themselves).
    std::vector<std::string_view> names(n);
    std::deque<std::string> folded;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view key = list.keys[i];
      const auto nul = key.find('\0');
      if (nul != std::string_view::npos && key.find('\0', nul + 1) == std::string_view::npos) {
        names[i] = key.substr(nul + 1);
      } else {
        names[i] = folded.emplace_back(fold_for_search(list.items[i].name));
      }
    }
    std::stable_sort(places.begin(), places.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return names[a] < names[b]; });
  } else if (order == AlbumOrder::kNewest) {
    std::stable_sort(places.begin(), places.end(), [&](std::uint32_t a, std::uint32_t b) {
      return list.items[a].created_at > list.items[b].created_at;
    });
  }
  std::vector<Album> out;
  out.reserve(end - offset);
  for (std::size_t i = offset; i < end; ++i) out.push_back(list.items[places[i]]);
  return out;
}

std::size_t Catalog::album_count() const {
  auto lock = read_lock();
  return state_->album_list.items.size();
}

Result<Album> Catalog::album(const std::string& id) const {
  if (const auto n = parse_id64(id)) {
    auto lock = read_lock();
    if (auto it = state_->albums.find(*n); it != state_->albums.end() && it->second.listed) {
      if (const auto* album = state_->album_list.get(it->second.key, id)) return *album;
    }
  }
  return not_found("no album with id '" + id + "'");
}

std::vector<Artist> Catalog::artists(const std::string& text) const {
  const auto needle = text.empty() ? std::string() : fold_for_search(text);
  auto lock = read_lock();
  const auto& list = state_->artist_list;
  if (needle.empty()) return list.items;
  std::vector<Artist> out;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (list.keys[i].find(needle) != std::string::npos) out.push_back(list.items[i]);
  }
  return out;
}

std::map<std::string, Catalog::UploadTotals> Catalog::upload_totals() const {
  std::map<std::string, UploadTotals, std::less<>> totals;
  {
    auto lock = read_lock();
    for (const Entry* e : state_->dense) {
      const auto user = e->text(Entry::kUploadedBy);
      auto it = totals.find(user);
      if (it == totals.end()) it = totals.emplace(std::string(user), UploadTotals{}).first;
      ++it->second.songs;
      it->second.bytes += static_cast<std::int64_t>(e->size);
    }
  }
  return {totals.begin(), totals.end()};
}

Result<Artist> Catalog::artist(const std::string& id) const {
  if (const auto n = parse_id64(id)) {
    auto lock = read_lock();
    if (auto it = state_->artists.find(*n); it != state_->artists.end() && it->second.listed) {
      if (const auto* artist = state_->artist_list.get(it->second.key, id)) return *artist;
    }
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
      auto lock = read_lock();
      for (const Entry* e : state_->dense) {
        if (e->has_cover && e->cover_sha256 == song.cover_sha256->digest()) {
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
  {
    auto lock = read_lock();
    out.reserve(state_->dense.size());
    for (const Entry* e : state_->dense) {
      out.push_back(ContentHash::from_digest(e->sha256));
      if (e->has_cover) out.push_back(ContentHash::from_digest(e->cover_sha256));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace hifi
