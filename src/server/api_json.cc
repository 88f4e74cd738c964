#include "server/api_json.h"

#include "server/room_hub.h"

namespace hifi::api_json {
namespace json = boost::json;

json::object user(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"role", u.role},
          {"disabled", u.disabled},
          {"created_at", u.created_at},
          {"quota_bytes", u.quota_bytes ? json::value(*u.quota_bytes) : json::value(nullptr)}};
}

namespace {

json::value cover_url(const std::string& song_id) {
  return song_id.empty() ? json::value(nullptr) : json::value("/api/v1/songs/" + song_id + "/cover");
}

}  // namespace

json::object song(const Song& s) {
  return {{"id", s.id},
          {"sha256", s.sha256.hex()},
          {"size", s.size},
          {"title", s.title},
          {"artist", s.artist},
          {"album", s.album},
          {"album_artist", s.album_artist},
          {"album_id", s.album.empty() ? json::value(nullptr) : json::value(album_id_of(s))},
          {"artist_id", artist_id_of(s.artist)},
          {"genre", s.genre},
          {"track", s.track},
          {"disc", s.disc},
          {"year", s.year},
          {"duration_ms", s.duration_ms},
          {"content_type", s.content_type},
          {"format", s.format},
          {"codec", s.codec},
          {"bitrate", s.bitrate},
          {"sample_rate", s.sample_rate},
          {"channels", s.channels},
          {"filename", s.filename},
          {"uploaded_by", s.uploaded_by},
          {"uploaded_at", s.uploaded_at},
          {"cover_url", cover_url(s.cover_sha256 ? s.id : std::string())},
          {"stream_url", "/api/v1/songs/" + s.id + "/stream"}};
}

json::object album(const Album& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"artist", a.artist},
          {"artist_id", a.artist_id},
          {"year", a.year},
          {"song_count", a.song_count},
          {"duration_ms", a.duration_ms},
          {"created_at", a.created_at},
          {"cover_url", cover_url(a.cover_song_id)}};
}

json::object artist(const Artist& a) {
  return {{"id", a.id}, {"name", a.name}, {"song_count", a.song_count}, {"album_count", a.album_count}};
}

namespace {

json::value time_or_null(std::int64_t ms) { return ms > 0 ? json::value(ms) : json::value(nullptr); }

}  // namespace

void add_annotation(json::object& item, const Annotation& mine, bool with_plays) {
  item["starred"] = time_or_null(mine.starred_at);
  item["rating"] = mine.rating;
  if (with_plays) {
    item["play_count"] = mine.play_count;
    item["last_played"] = time_or_null(mine.last_played);
  }
}

json::object owner(const std::string& id, const std::string& username) {
  return {{"id", id}, {"username", username}};
}

json::array listeners(const std::vector<ListenerInfo>& listeners) {
  json::array out;
  for (const auto& l : listeners) {
    json::array devices;
    for (const auto& d : l.devices) devices.push_back({{"id", d.id}, {"name", d.name}});
    out.push_back({{"user_id", l.user_id}, {"username", l.username}, {"devices", std::move(devices)}});
  }
  return out;
}

json::object room_state(const room::Room& room, const RoomListeners& who) {
  const auto& s = room.state;
  return {{"queue", room::queue_to_json(s.queue)},
          {"current", s.current.empty() ? json::value(nullptr) : json::value(s.current)},
          {"playing", s.playing},
          {"position_ms", s.position_ms},
          {"position_at", s.position_at},
          {"repeat", room::repeat_mode_name(s.repeat)},
          {"selection", s.selection},
          {"speaker", s.speaker},
          {"listener_count", who.count},
          {"listeners", listeners(who.listed)},
          {"revision", room.revision}};
}

json::object room_ref(const room::Room& room) {
  return {{"id", room.id},
          {"name", room.name},
          {"owner", room.owner},
          {"created_at", room.created_at},
          {"private", room.is_private}};
}

json::object room_summary(const room::Room& room, const RoomListeners& who,
                          const Song* current_song) {
  json::value now_playing = nullptr;
  if (const auto* item = room.state.current_item()) {
    json::object np{{"item_id", item->id}, {"song_id", item->song_id}, {"playing", room.state.playing}};
    if (current_song != nullptr) {
      np["title"] = current_song->title;
      np["artist"] = current_song->artist;
    }
    now_playing = std::move(np);
  }
  auto o = room_ref(room);
  o["revision"] = room.revision;
  o["listener_count"] = who.count;
  o["now_playing"] = std::move(now_playing);
  return o;
}

json::object room_full(const room::Room& room, const RoomListeners& who,
                       const Song* current_song) {
  auto o = room_summary(room, who, current_song);
  o["state"] = room_state(room, who);
  return o;
}

}  // namespace hifi::api_json
