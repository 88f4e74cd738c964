// Shares: createShare (songs, albums or playlists, with an optional
// description and expiry), getShares, updateShare, deleteShare. A share is
// a public page, <base>/share/<id>, that plays and downloads its songs
// without an account (served by the node; see shares.h).
#include <fmt/format.h>

#include "subsonic/endpoints.h"
#include "subsonic/entries.h"

namespace hifi::subsonic {
namespace {

// Expiry: Unix ms in the future, or 0 for never.
constexpr std::int64_t kMaxExpiry = 253'402'300'799'000;  // 9999-12-31

Element share_element(const Call& call, const Share& share) {
  Element e = Element::item("share");
  e.set("id", share.id).set("url", call.base_url + "/share/" + share.id);
  e.set_if("description", share.description);
  auto owner = share.owner == call.caller.user.id ? call.caller.user.username : std::string();
  if (owner.empty()) {
    if (auto user = call.accounts.get_user(share.owner)) owner = user->username;
  }
  e.set("username", owner).set("created", iso_time(share.created_at));
  if (share.expires_at) e.set("expires", iso_time(share.expires_at));
  if (share.last_visited) e.set("lastVisited", iso_time(share.last_visited));
  e.set("visitCount", share.visit_count);
  for (const auto& s : songs_of(call.catalog, share.songs)) e.add(song_entry(s, "entry"));
  return e;
}

// The songs a share is made of: song ids, album ids (their songs in
// order) and playlist ids the caller may see.
Expected<std::vector<std::string>> shared_songs(const Call& call) {
  std::vector<std::string> out;
  const auto ids = call.params.all("id");
  if (ids.empty()) return missing_parameter("id");
  for (const auto& text : ids) {
    if (out.size() > kMaxShareSongs) break;
    if (auto id = parse_id(text)) {
      if (auto e = check_in_library(call.catalog, *id)) return *e;
      if (id->kind == IdKind::kSong) {
        out.push_back(id->id);
      } else if (id->kind == IdKind::kAlbum) {
        for (const auto& s : album_songs(call.catalog, id->id)) out.push_back(s.id);
      } else {
        return generic_error("share songs, albums or playlists; not a whole artist");
      }
      continue;
    }
    auto playlist = call.playlists.get(text, call.caller.user);
    if (!playlist) return not_found_error(fmt::format("'{}' is not a song, album or playlist", text.substr(0, 64)));
    out.insert(out.end(), playlist->songs.begin(), playlist->songs.end());
  }
  if (out.size() > kMaxShareSongs) {
    return generic_error(fmt::format("a share holds at most {} songs", kMaxShareSongs));
  }
  return out;
}

Expected<Body> create_share(const Call& call) {
  auto songs = shared_songs(call);
  if (!songs) return songs.error();
  auto expires = call.params.integer("expires", 0, kMaxExpiry, 0);
  if (!expires) return expires.error();
  auto share = call.shares.create(call.caller.user, *songs, call.params.get("description").value_or(""), *expires);
  if (!share) return error_from_status(share.status());
  return Body{Element("shares").add(share_element(call, *share))};
}

Expected<Body> get_shares(const Call& call) {
  auto shares = call.shares.list(call.caller.user);
  if (!shares) return error_from_status(shares.status());
  Element list("shares");
  for (const auto& s : *shares) list.add(share_element(call, s));
  return Body{std::move(list)};
}

Expected<Body> update_share(const Call& call) {
  auto id = call.params.required("id");
  if (!id) return id.error();
  ShareEdit edit;
  edit.description = call.params.get("description");
  if (call.params.has("expires")) {
    auto expires = call.params.integer("expires", 0, kMaxExpiry, 0);
    if (!expires) return expires.error();
    edit.expires_at = *expires;
  }
  if (auto share = call.shares.update(*id, call.caller.user, edit); !share) return error_from_status(share.status());
  return Body{};
}

Expected<Body> delete_share(const Call& call) {
  auto id = call.params.required("id");
  if (!id) return id.error();
  if (auto s = call.shares.remove(*id, call.caller.user); !s) return error_from_status(s);
  return Body{};
}

}  // namespace

std::vector<Endpoint> share_endpoints() {
  return {
      {"createShare", true, create_share},
      {"getShares", true, get_shares},
      {"updateShare", true, update_share},
      {"deleteShare", true, delete_share},
  };
}

}  // namespace hifi::subsonic
