#include "subsonic/endpoints.h"

#include <fmt/format.h>

#include <map>

#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

// Endpoints of the Subsonic API (1.16.1) and OpenSubsonic that HiFi has no
// counterpart for yet, by what they are about.
constexpr std::pair<std::string_view, std::string_view> kUnsupported[] = {
    {"getPodcasts", "podcasts"}, {"getNewestPodcasts", "podcasts"}, {"refreshPodcasts", "podcasts"},
    {"createPodcastChannel", "podcasts"}, {"deletePodcastChannel", "podcasts"},
    {"deletePodcastEpisode", "podcasts"}, {"downloadPodcastEpisode", "podcasts"},
    {"getPodcastEpisode", "podcasts"},
    {"getInternetRadioStations", "internet radio"}, {"createInternetRadioStation", "internet radio"},
    {"updateInternetRadioStation", "internet radio"}, {"deleteInternetRadioStation", "internet radio"},
    {"getChatMessages", "chat"}, {"addChatMessage", "chat"},
    {"getVideos", "videos"}, {"getVideoInfo", "videos"}, {"getCaptions", "videos"}, {"hls", "HLS streaming"},
    {"getLyrics", "lyrics"}, {"getLyricsBySongId", "lyrics"},
    {"getAvatar", "avatars"}, {"startScan", "library scans (HiFi's library changes by uploads)"},
    {"getSimilarSongs", "similar songs"}, {"getSimilarSongs2", "similar songs"},
    {"getArtistInfo", "artist information"}, {"getArtistInfo2", "artist information"},
    {"getAlbumInfo", "album information"}, {"getAlbumInfo2", "album information"},
    {"search", "the old search (use search3)"},
};

}  // namespace

const Endpoint* find_endpoint(std::string_view name) {
  static const auto kByName = [] {
    std::map<std::string_view, Endpoint> m;
    for (auto* table : {system_endpoints, browse_endpoints, list_endpoints, search_endpoints, annotation_endpoints,
                        playlist_endpoints, play_queue_endpoints, share_endpoints, info_endpoints, users_endpoints,
                        jukebox_endpoints}) {
      for (const auto& e : table()) m.emplace(e.name, e);
    }
    return m;
  }();
  auto it = kByName.find(name);
  return it == kByName.end() ? nullptr : &it->second;
}

std::optional<std::string> unsupported_endpoint(std::string_view name) {
  for (const auto& [endpoint, what] : kUnsupported) {
    if (endpoint == name) return std::string(name) + ": HiFi does not support " + std::string(what) + " yet";
  }
  return std::nullopt;
}

std::vector<Song> query_songs(const Catalog& catalog, SongQuery q, std::size_t max) {
  std::vector<Song> out;
  while (out.size() < max) {
    q.limit = std::min<std::size_t>(500, max - out.size());
    auto page = catalog.query(q);
    if (!page) break;
    out.insert(out.end(), page->items.begin(), page->items.end());
    if (page->next.empty()) break;
    q.cursor = page->next;
  }
  return out;
}

std::vector<Song> songs_of(const Catalog& catalog, const std::vector<std::string>& ids) {
  std::vector<Song> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    if (auto song = catalog.get(id)) out.push_back(std::move(*song));
  }
  return out;
}

std::vector<Song> album_songs(const Catalog& catalog, const std::string& album_id) {
  SongQuery q;
  q.album_id = album_id;
  q.sort = SongSort::kAlbum;
  return query_songs(catalog, std::move(q), SIZE_MAX);
}

std::optional<Error> check_music_folder(const Params& params) {
  auto folder = params.get("musicFolderId");
  if (folder && *folder != std::to_string(kMusicFolderId)) {
    return not_found_error(fmt::format("no music folder with id '{}'; HiFi has one, with id 1", folder->substr(0, 32)));
  }
  return std::nullopt;
}

}  // namespace hifi::subsonic
