// The catalog's in-memory index (catalog_index.h): the helpers, the
// entries, and State's orders and indexes.
#include "library/catalog_index.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <tuple>

#include "common/sha256.h"
#include "common/text.h"

namespace hifi {
namespace catalog_detail {

std::string short_hash(std::string_view text, std::size_t hex_digits) {
  return to_hex(sha256(text)).substr(0, hex_digits);
}

// What short_hash(text, 16) spells, as a number (album and artist ids).
std::uint64_t id64(std::string_view text) {
  const auto digest = sha256(text);
  std::uint64_t out = 0;
  for (int i = 0; i < 8; ++i) out = (out << 8) | digest[static_cast<std::size_t>(i)];
  return out;
}

std::string hex16(std::uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) out[static_cast<std::size_t>(i)] = kDigits[id & 0xf];
  return out;
}

// The number hex16() spelled as `text`; nullopt when it is not 16 lowercase
// hex digits, which is no album's or artist's id.
std::optional<std::uint64_t> parse_id64(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t out = 0;
  for (char c : text) {
    std::uint64_t v;
    if (c >= '0' && c <= '9') {
      v = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    out = (out << 4) | v;
  }
  return out;
}

std::string album_artist_of(const Song& s) {
  return !s.album_artist.empty() ? s.album_artist : s.artist;
}

std::string title_from_filename(const std::string& filename) {
  auto base = filename;
  if (auto slash = base.find_last_of("/\\"); slash != std::string::npos)
    base = base.substr(slash + 1);
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

// The order of padded_number() texts, as numbers: "-000...5" (every
// negative number) before "000...0", and among the negative ones the
// smaller magnitude first, as the text compares.
std::uint64_t padded_rank(std::int64_t n) {
  const auto u = static_cast<std::uint64_t>(n);
  return n < 0 ? ~u : (std::uint64_t{1} << 63) + u;
}

SearchMask search_mask(std::string_view text) {
  SearchMask mask{};
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const auto pair = static_cast<std::uint32_t>(static_cast<unsigned char>(text[i])) << 8 |
                      static_cast<unsigned char>(text[i + 1]);
    const auto bit = (pair * 0x9E3779B1u) >> 24;
    mask[bit >> 6] |= std::uint64_t{1} << (bit & 63);
  }
  return mask;
}

}  // namespace catalog_detail

void Catalog::EntryDeleter::operator()(const Entry* entry) const {
  if (entry == nullptr) return;
  entry->~Entry();
  ::operator delete(const_cast<Entry*>(entry));
}

Catalog::EntryPtr Catalog::make_entry(Song s, Names* names) {
  const auto folded_title = fold_for_search(s.title);
  const auto folded_artist = Names::fold(names, s.artist);
  const auto folded_album = Names::fold(names, s.album);
  const auto folded_own_album_artist = Names::fold(names, s.album_artist);
  const auto& folded_album_artist =
      s.album_artist.empty() ? folded_artist : folded_own_album_artist;
  std::string search;
  search.reserve(folded_title.size() + folded_artist.size() + folded_album.size() +
                 folded_own_album_artist.size() + 3);
  search.append(folded_title).append(1, '\n').append(folded_artist).append(1, '\n');
  search.append(folded_album).append(1, '\n').append(folded_own_album_artist);
  const auto folded_genre = Names::fold(names, s.genre);
  const std::array<std::string_view, Entry::kTextCount> texts = {
      s.id,     s.title, s.artist,     s.album,    s.album_artist, s.genre, s.content_type,
      s.format, s.codec, s.cover_mime, s.filename, s.uploaded_by,  search,  folded_genre};
  std::size_t total = 0;
  for (auto t : texts) total += t.size();
  void* memory = ::operator new(sizeof(Entry) + total);
  auto* e = new (memory) Entry();
  EntryPtr out(e);
  char* chars = reinterpret_cast<char*>(e + 1);
  std::uint32_t at = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (!texts[i].empty()) std::memcpy(chars + at, texts[i].data(), texts[i].size());
    at += static_cast<std::uint32_t>(texts[i].size());
    e->ends[i] = at;
  }
  e->size = s.size;
  e->duration_ms = s.duration_ms;
  e->bitrate = s.bitrate;
  e->uploaded_at = s.uploaded_at;
  e->track = s.track;
  e->disc = s.disc;
  e->year = s.year;
  e->sample_rate = s.sample_rate;
  e->channels = s.channels;
  e->sha256 = s.sha256.digest();
  if (s.cover_sha256) {
    e->has_cover = true;
    e->cover_sha256 = s.cover_sha256->digest();
  }
  e->folded_title_size = static_cast<std::uint32_t>(folded_title.size());
  e->folded_artist_size = static_cast<std::uint32_t>(folded_artist.size());
  e->folded_album_size = static_cast<std::uint32_t>(folded_album.size());
  e->nul_in_keys =
      folded_artist.find('\0') != std::string::npos || folded_album.find('\0') != std::string::npos;
  e->album_id = Names::id(names, folded_album_artist + '\0' + folded_album);
  e->artist_id = Names::id(names, folded_artist);
  e->album_artist_id = Names::id(names, folded_album_artist);
  return out;
}

int Catalog::State::compare_keys(SongSort sort, const Entry& a, const Entry& b) {
  switch (sort) {
    case SongSort::kTitle:
      return compare_text(a.folded_title(), b.folded_title());
    case SongSort::kArtist:
      if (a.nul_in_keys || b.nul_in_keys) return compare_text(a.sort_key(sort), b.sort_key(sort));
      if (int c = compare_text(a.folded_artist(), b.folded_artist())) return c;
      if (int c = compare_text(a.folded_album(), b.folded_album())) return c;
      if (int c = three_way(padded_rank(a.disc), padded_rank(b.disc))) return c;
      if (int c = three_way(padded_rank(a.track), padded_rank(b.track))) return c;
      return compare_text(a.folded_title(), b.folded_title());
    case SongSort::kAlbum:
      if (a.nul_in_keys || b.nul_in_keys) return compare_text(a.sort_key(sort), b.sort_key(sort));
      if (int c = compare_text(a.folded_album(), b.folded_album())) return c;
      if (int c = three_way(padded_rank(a.disc), padded_rank(b.disc))) return c;
      return three_way(padded_rank(a.track), padded_rank(b.track));
    case SongSort::kUploadedAt:
      return three_way(padded_rank(a.uploaded_at), padded_rank(b.uploaded_at));
    case SongSort::kDuration:
      return three_way(padded_rank(a.duration_ms), padded_rank(b.duration_ms));
  }
  return 0;
}

int Catalog::State::compare_to_cursor(SongSort sort, const Entry& e, const Cursor& cursor) {
  if (int c = compare_text(e.sort_key(sort), cursor.key)) return c;
  return compare_text(e.id(), cursor.id);
}

Catalog::State::KeyPrefix Catalog::State::key_prefix(SongSort sort, const Entry& e) {
  std::array<unsigned char, 16> bytes{};
  std::size_t filled = 0;
  auto put = [&](std::string_view text) {
    for (std::size_t i = 0; i < text.size() && filled < bytes.size(); ++i) {
      bytes[filled++] = static_cast<unsigned char>(text[i]);
    }
  };
  auto put_number = [&](std::int64_t n) {
    if (filled == bytes.size()) return;
    char text[32];
    std::snprintf(text, sizeof text, "%020lld", static_cast<long long>(n));  // padded_number()
    put(text);
  };
  switch (sort) {
    case SongSort::kTitle:
      put(e.folded_title());
      break;
    case SongSort::kArtist:
      put(e.folded_artist());
      put(std::string_view("\0", 1));
      put(e.folded_album());
      put(std::string_view("\0", 1));
      put_number(e.disc);
      break;
    case SongSort::kAlbum:
      put(e.folded_album());
      put(std::string_view("\0", 1));
      put_number(e.disc);
      break;
    case SongSort::kUploadedAt:
      return {padded_rank(e.uploaded_at), 0};
    case SongSort::kDuration:
      return {padded_rank(e.duration_ms), 0};
  }
  KeyPrefix out;
  for (std::size_t i = 0; i < 8; ++i) out.high = (out.high << 8) | bytes[i];
  for (std::size_t i = 8; i < 16; ++i) out.low = (out.low << 8) | bytes[i];
  return out;
}

void Catalog::State::build_order(SongSort sort) {
  std::vector<std::pair<KeyPrefix, const Entry*>> keyed;
  keyed.reserve(dense.size());
  for (const Entry* e : dense) keyed.emplace_back(key_prefix(sort, *e), e);
  const Less less{sort};
  std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : less(a.second, b.second);
  });
  const auto i = static_cast<std::size_t>(sort);
  auto& order = orders[i];
  order.clear();
  order.reserve(keyed.size());
  for (const auto& [prefix, e] : keyed) order.push_back(e);
  ordered[i] = true;
}

void Catalog::State::patch_order(std::vector<const Entry*>& order, SongSort sort,
                                 const std::vector<const Entry*>& removed,
                                 std::vector<const Entry*> added) {
  const Less less{sort};
  std::vector<std::size_t> drop;
  drop.reserve(removed.size());
  for (const Entry* e : removed) {
    auto it = std::lower_bound(order.begin(), order.end(), e, less);
    if (it == order.end() || *it != e)
      it = std::find(order.begin(), order.end(), e);  // never expected
    if (it != order.end()) drop.push_back(static_cast<std::size_t>(it - order.begin()));
  }
  std::sort(drop.begin(), drop.end());
  std::sort(added.begin(), added.end(), less);
  std::vector<std::size_t> at;  // insert added[k] before order[at[k]]
  at.reserve(added.size());
  for (const Entry* e : added) {
    at.push_back(static_cast<std::size_t>(std::upper_bound(order.begin(), order.end(), e, less) -
                                          order.begin()));
  }
  std::vector<const Entry*> out;
  out.reserve(order.size() - drop.size() + added.size());
  std::size_t d = 0, a = 0, from = 0;
  auto copy_to = [&](std::size_t end) {  // order[from, end) less the dropped ones
    while (from < end) {
      while (d < drop.size() && drop[d] < from) ++d;
      if (d < drop.size() && drop[d] == from) {
        ++d;
        ++from;
        continue;
      }
      const std::size_t stop = d < drop.size() && drop[d] < end ? drop[d] : end;
      out.insert(out.end(), order.begin() + static_cast<std::ptrdiff_t>(from),
                 order.begin() + static_cast<std::ptrdiff_t>(stop));
      from = stop;
    }
  };
  for (; a < added.size(); ++a) {
    copy_to(at[a]);
    out.push_back(added[a]);
  }
  copy_to(order.size());
  order.swap(out);
}

bool Catalog::State::text_matches(const Filter& filter, std::size_t max,
                                  std::vector<const Entry*>& out) const {
  const auto needle = search_mask(filter.needle);
  for (std::size_t i = 0; i < dense.size(); ++i) {
    if (!covers(masks[i], needle) || !filter.matches(*dense[i])) continue;
    if (out.size() == max) return false;
    out.push_back(dense[i]);
  }
  return true;
}

void Catalog::State::insert_by_id(std::vector<const Entry*>& songs, const Entry* e) {
  auto it = std::lower_bound(songs.begin(), songs.end(), e->id(),
                             [](const Entry* x, std::string_view id) { return x->id() < id; });
  songs.insert(it, e);
}

void Catalog::State::erase_by_id(std::vector<const Entry*>& songs, const Entry* e) {
  auto it = std::lower_bound(songs.begin(), songs.end(), e->id(),
                             [](const Entry* x, std::string_view id) { return x->id() < id; });
  if (it == songs.end() || *it != e) it = std::find(songs.begin(), songs.end(), e);
  if (it != songs.end()) songs.erase(it);
}

void Catalog::State::link(const Entry* e, bool bulk) {
  e->slot = static_cast<std::uint32_t>(dense.size());
  dense.push_back(e);
  masks.push_back(search_mask(e->search_text()));
  auto& album = albums[e->album_id];
  bulk ? album.songs.push_back(e) : insert_by_id(album.songs, e);
  auto& artist = artists[e->artist_id];
  bulk ? artist.songs.push_back(e) : insert_by_id(artist.songs, e);
  if (!bulk) {
    touched_albums.push_back(e->album_id);
    touched_artists.push_back(e->artist_id);
  }
  if (const auto g = e->folded_genre(); !g.empty()) {
    auto it = genres.find(g);
    if (it == genres.end()) it = genres.emplace(std::string(g), GenreInfo{}).first;
    bulk ? it->second.songs.push_back(e) : insert_by_id(it->second.songs, e);
    if (e->has_album()) ++it->second.albums[e->album_id];
  }
  if (e->has_album()) ++album_artist_albums[e->album_artist_id][e->album_id];
}

void Catalog::State::unlink(const Entry* e) {
  const auto slot = e->slot;
  dense[slot] = dense.back();
  dense[slot]->slot = slot;
  dense.pop_back();
  masks[slot] = masks.back();
  masks.pop_back();
  if (auto it = albums.find(e->album_id); it != albums.end()) erase_by_id(it->second.songs, e);
  if (auto it = artists.find(e->artist_id); it != artists.end()) erase_by_id(it->second.songs, e);
  touched_albums.push_back(e->album_id);
  touched_artists.push_back(e->artist_id);
  if (const auto g = e->folded_genre(); !g.empty()) {
    if (auto it = genres.find(g); it != genres.end()) {
      erase_by_id(it->second.songs, e);
      if (e->has_album()) {
        if (auto a = it->second.albums.find(e->album_id);
            a != it->second.albums.end() && --a->second <= 0) {
          it->second.albums.erase(a);
        }
      }
      if (it->second.songs.empty()) genres.erase(it);
    }
  }
  if (e->has_album()) {
    if (auto it = album_artist_albums.find(e->album_artist_id); it != album_artist_albums.end()) {
      if (auto a = it->second.find(e->album_id); a != it->second.end() && --a->second <= 0)
        it->second.erase(a);
      if (it->second.empty()) album_artist_albums.erase(it);
    }
  }
}

Album Catalog::State::summarize(std::uint64_t id, AlbumInfo& info) {
  Album a;
  bool first = true;
  for (const Entry* e : info.songs) {
    if (!e->has_album()) continue;
    if (first) {
      first = false;
      a.id = hex16(id);
      a.name = e->text(Entry::kAlbum);
      a.artist = e->album_artist();
      a.artist_id = hex16(e->album_artist_id);
      a.created_at = e->uploaded_at;
      if (!info.listed) {
        info.key.assign(e->folded_album_artist()).append(1, '\0').append(e->folded_album());
      }
    }
    if (a.genre.empty()) a.genre = e->text(Entry::kGenre);
    a.created_at = std::min(a.created_at, e->uploaded_at);
    a.year = std::max(a.year, e->year);
    a.song_count += 1;
    a.duration_ms += e->duration_ms;
    if (a.cover_song_id.empty() && e->has_cover) a.cover_song_id = e->id();
  }
  return a;
}

Artist Catalog::State::summarize(std::uint64_t id, ArtistInfo& info) {
  Artist a;
  std::vector<std::uint64_t> album_ids;
  for (const Entry* e : info.songs) {
    if (!e->has_artist()) continue;
    if (a.song_count == 0) {
      a.id = hex16(id);
      a.name = e->text(Entry::kArtist);
      if (!info.listed) info.key = e->folded_artist();
    }
    a.song_count += 1;
    if (e->has_album()) album_ids.push_back(e->album_id);
  }
  std::sort(album_ids.begin(), album_ids.end());
  a.album_count =
      static_cast<int>(std::unique(album_ids.begin(), album_ids.end()) - album_ids.begin());
  return a;
}

template <typename Info, typename Item>
void Catalog::State::refresh(std::vector<std::uint64_t>& touched,
                             std::unordered_map<std::uint64_t, Info>& infos, List<Item>& list) {
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const auto id : touched) {
    auto it = infos.find(id);
    if (it == infos.end()) continue;
    auto& info = it->second;
    auto item = summarize(id, info);  // sets the key of one not listed yet
    if (item.song_count > 0) {
      list.put(info.key, std::move(item));
      info.listed = true;
    } else if (info.listed) {
      list.erase(info.key, hex16(id));
      info.listed = false;
    }
    if (info.songs.empty()) infos.erase(it);
  }
  touched.clear();
}

template <typename Info, typename Item>
void Catalog::State::relist(std::unordered_map<std::uint64_t, Info>& infos, List<Item>& list) {
  std::vector<std::pair<const std::string*, Item>> listed;
  for (auto& [id, info] : infos) {
    info.listed = false;
    auto item = summarize(id, info);
    info.listed = item.song_count > 0;
    if (info.listed) listed.emplace_back(&info.key, std::move(item));
  }
  std::sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) {
    return std::tie(*a.first, a.second.id) < std::tie(*b.first, b.second.id);
  });
  list.clear();
  list.keys.reserve(listed.size());
  list.items.reserve(listed.size());
  for (auto& [key, item] : listed) {
    list.keys.push_back(*key);
    list.items.push_back(std::move(item));
  }
}

void Catalog::State::refresh() {
  refresh(touched_albums, albums, album_list);
  refresh(touched_artists, artists, artist_list);
}

void Catalog::State::reindex() {
  dense.clear();
  dense.reserve(songs.size());
  masks.clear();
  masks.reserve(songs.size());
  albums.clear();
  album_list.clear();
  artists.clear();
  artist_list.clear();
  genres.clear();
  album_artist_albums.clear();
  touched_albums.clear();
  touched_artists.clear();
  for (auto& order : orders) std::vector<const Entry*>().swap(order);
  ordered.fill(false);
  for (const auto& [id, entry] : songs) link(entry.get(), /*bulk=*/true);  // in id order
  relist(albums, album_list);
  relist(artists, artist_list);
}

}  // namespace hifi
