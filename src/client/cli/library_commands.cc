// `hifi playlists`, `hifi star`/`unstar`/`starred`, `hifi history`,
// `hifi share` and `hifi shares`: what a user does with the library, over
// LibraryClient.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

#include "client/cli/commands.h"
#include "client/cli/progress.h"
#include "client/library_client.h"

namespace hifi::client {
namespace json = boost::json;
namespace {

std::string length(const json::value& ms) {
  return human_duration(ms.is_int64() ? static_cast<double>(ms.as_int64()) / 1000.0 : 0.0);
}

// Cut on a character boundary so multi-byte letters stay whole.
std::string cut(std::string s, std::size_t n) {
  if (s.size() <= n) return s;
  s.resize(n);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
  return s + "…";
}

int print_json(const json::value& v) {
  std::cout << json::serialize(v) << "\n";
  return kExitOk;
}

// A list command's answer: its "items" as JSON with --json, `empty` when
// there are none, else the table `print` makes of them.
int print_items(CliContext& ctx, const ApiResult<json::value>& r, const std::string& doing, const char* empty,
                const std::function<void(const json::array&)>& print) {
  if (!r) return fail(r.error, doing);
  const auto& items = r.value->at("items").as_array();
  if (ctx.json) return print_json(items);
  if (items.empty()) {
    std::cout << empty << "\n";
    return kExitOk;
  }
  print(items);
  return kExitOk;
}

void print_songs(const json::array& songs) {
  std::printf("%4s  %-32s  %-30s  %-22s  %7s\n", "#", "ID", "TITLE", "ARTIST", "LENGTH");
  int n = 0;
  for (const auto& s : songs) {
    std::printf("%4d  %-32s  %-30s  %-22s  %7s\n", ++n, str(s.at("id")).c_str(), cut(str(s.at("title")), 30).c_str(),
                cut(str(s.at("artist")), 22).c_str(), length(s.at("duration_ms")).c_str());
  }
}

void print_playlist(const json::value& p) {
  std::cout << str(p.at("name")) << "  (" << str(p.at("id")) << ")\n";
  if (!str(p.at("comment")).empty()) std::cout << str(p.at("comment")) << "\n";
  std::cout << str(p.at("song_count")) << " songs, " << length(p.at("duration_ms")) << ", "
            << (p.at("public").as_bool() ? "public" : "private") << ", by " << str(p.at("owner").at("username"))
            << "\n\n";
  const auto& songs = p.at("songs").as_array();
  if (songs.empty()) {
    std::cout << "No songs yet: hifi playlists add " << str(p.at("id")) << " SONG_ID...\n";
    return;
  }
  print_songs(songs);
}

const char* noun(LibraryItem kind) {
  return kind == LibraryItem::kSong ? "song" : kind == LibraryItem::kAlbum ? "album" : "artist";
}

}  // namespace

int cmd_playlists_list(CliContext& ctx) {
  if (!require_login(ctx)) return kExitAuth;
  return print_items(ctx, LibraryClient(*ctx.api).playlists(), "could not list playlists",
                     "No playlists yet: hifi playlists create NAME [SONG_ID...]", [](const json::array& items) {
                       std::printf("%-16s  %-30s  %6s  %8s  %-8s  %s\n", "ID", "NAME", "SONGS", "LENGTH", "VISIBLE",
                                   "OWNER");
                       for (const auto& p : items) {
                         std::printf("%-16s  %-30s  %6s  %8s  %-8s  %s\n", str(p.at("id")).c_str(),
                                     cut(str(p.at("name")), 30).c_str(), str(p.at("song_count")).c_str(),
                                     length(p.at("duration_ms")).c_str(), p.at("public").as_bool() ? "public" : "private",
                                     str(p.at("owner").at("username")).c_str());
                       }
                     });
}

int cmd_playlist_create(CliContext& ctx, const std::string& name, const std::string& comment, bool is_public,
                        const std::vector<std::string>& song_ids) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).create_playlist(name, comment, is_public, song_ids);
  if (!r) return fail(r.error, "could not create the playlist");
  if (ctx.json) return print_json(*r);
  std::cout << "Created playlist " << str(r->at("id")) << " '" << str(r->at("name")) << "' with "
            << str(r->at("song_count")) << " songs.\n";
  return kExitOk;
}

int cmd_playlist_show(CliContext& ctx, const std::string& id) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).playlist(id);
  if (!r) return fail(r.error, "could not read the playlist");
  if (ctx.json) return print_json(*r);
  print_playlist(*r);
  return kExitOk;
}

int cmd_playlist_edit(CliContext& ctx, const std::string& id, const PlaylistChange& change, const std::string& done) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).update_playlist(id, change);
  if (!r) return fail(r.error, "could not change the playlist");
  if (ctx.json) return print_json(*r);
  std::cout << done << ": '" << str(r->at("name")) << "' now has " << str(r->at("song_count")) << " songs.\n";
  return kExitOk;
}

int cmd_playlist_delete(CliContext& ctx, const std::string& id) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).delete_playlist(id);
  if (!r) return fail(r.error, "could not delete the playlist");
  if (!ctx.json) std::cout << "Deleted playlist " << id << ".\n";
  return kExitOk;
}

int cmd_star(CliContext& ctx, LibraryItem kind, const std::string& id, bool starred) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).star(kind, id, starred);
  if (!r) return fail(r.error, std::string("could not ") + (starred ? "star" : "unstar") + " the " + noun(kind));
  if (!ctx.json) std::cout << (starred ? "Starred " : "Unstarred ") << noun(kind) << " " << id << ".\n";
  return kExitOk;
}

int cmd_starred(CliContext& ctx) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).starred();
  if (!r) return fail(r.error, "could not list your favourites");
  if (ctx.json) return print_json(*r);
  const auto& songs = r->at("songs").as_array();
  const auto& albums = r->at("albums").as_array();
  const auto& artists = r->at("artists").as_array();
  if (songs.empty() && albums.empty() && artists.empty()) {
    std::cout << "Nothing starred yet: hifi star SONG_ID\n";
    return kExitOk;
  }
  if (!songs.empty()) print_songs(songs);
  for (const auto& a : albums) std::cout << "album   " << str(a.at("id")) << "  " << str(a.at("artist")) << " - " << str(a.at("name")) << "\n";
  for (const auto& a : artists) std::cout << "artist  " << str(a.at("id")) << "  " << str(a.at("name")) << "\n";
  return kExitOk;
}

int cmd_history(CliContext& ctx, int limit) {
  if (!require_login(ctx)) return kExitAuth;
  LibraryClient library(*ctx.api);
  json::array all;
  std::string cursor;
  while (static_cast<int>(all.size()) < limit) {
    auto r = library.history(std::min(500, limit - static_cast<int>(all.size())), cursor);
    if (!r) return fail(r.error, "could not read your history");
    for (auto& item : r->at("items").as_array()) all.push_back(item);
    if (r->at("next").is_null()) break;
    cursor = str(r->at("next"));
  }
  if (ctx.json) return print_json(all);
  if (all.empty()) {
    std::cout << "Nothing played yet.\n";
    return kExitOk;
  }
  std::printf("%-16s  %-30s  %-22s  %s\n", "PLAYED", "TITLE", "ARTIST", "ON");
  for (const auto& item : all) {
    const auto& song = item.at("song");
    const auto title = song.is_object() ? str(song.at("title")) : "(deleted) " + str(item.at("song_id"));
    const auto artist = song.is_object() ? str(song.at("artist")) : std::string();
    std::printf("%-16s  %-30s  %-22s  %s\n", local_time(item.at("played_at")).c_str(), cut(title, 30).c_str(),
                cut(artist, 22).c_str(), str(item.at("client")).c_str());
  }
  return kExitOk;
}

int cmd_share_create(CliContext& ctx, const std::vector<std::string>& song_ids, const std::string& album,
                     const std::string& playlist, const std::string& expires, const std::string& description) {
  if (!require_login(ctx)) return kExitAuth;
  ShareRequest request;
  request.song_ids = song_ids;
  request.album_id = album;
  request.playlist_id = playlist;
  request.description = description;
  if (int(!song_ids.empty()) + int(!album.empty()) + int(!playlist.empty()) != 1) {
    std::cerr << "hifi: share songs (SONG_ID...), an album (--album ID) or a playlist (--playlist ID): one of them\n";
    return kExitUsage;
  }
  if (!expires.empty()) {
    auto ms = parse_duration_ms(expires);
    if (!ms) {
      std::cerr << "hifi: --expires takes a duration such as 30m, 12h, 7d or 2w, not '" << expires << "'\n";
      return kExitUsage;
    }
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    request.expires_at = now + *ms;
  }
  auto r = LibraryClient(*ctx.api).create_share(request);
  if (!r) return fail(r.error, "could not create the share");
  if (ctx.json) return print_json(*r);
  std::cout << str(r->at("url")) << "\n";
  std::cerr << "Anyone with this link can play and download " << r->at("songs").as_array().size() << " song"
            << (r->at("songs").as_array().size() == 1 ? "" : "s")
            << (r->at("expires_at").is_null() ? "" : " until " + local_time(r->at("expires_at")))
            << ". Revoke it with: hifi shares revoke " << str(r->at("id")) << "\n";
  return kExitOk;
}

int cmd_shares_list(CliContext& ctx) {
  if (!require_login(ctx)) return kExitAuth;
  return print_items(ctx, LibraryClient(*ctx.api).shares(), "could not list your shares",
                     "No shares yet: hifi share SONG_ID...", [](const json::array& items) {
                       std::printf("%-32s  %5s  %-16s  %6s  %-24s  %s\n", "ID", "SONGS", "EXPIRES", "VISITS",
                                   "DESCRIPTION", "URL");
                       for (const auto& s : items) {
                         std::printf("%-32s  %5zu  %-16s  %6s  %-24s  %s\n", str(s.at("id")).c_str(),
                                     s.at("songs").as_array().size(), local_time(s.at("expires_at")).c_str(),
                                     str(s.at("visit_count")).c_str(), cut(str(s.at("description")), 24).c_str(),
                                     str(s.at("url")).c_str());
                       }
                     });
}

int cmd_share_revoke(CliContext& ctx, const std::string& id) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = LibraryClient(*ctx.api).delete_share(id);
  if (!r) return fail(r.error, "could not revoke the share");
  if (!ctx.json) std::cout << "Revoked share " << id << ": its link no longer opens.\n";
  return kExitOk;
}

}  // namespace hifi::client

namespace hifi::client {

void add_library_commands(CLI::App& app, CliContext& ctx, int& code) {
  // Option values live as long as the parse: static, like main()'s locals.
  static std::string id, name, comment, album, playlist, expires, description;
  static std::vector<std::string> song_ids;
  static std::vector<int> positions;
  static bool is_public = false, album_flag = false, artist_flag = false;
  static int limit = 20;
  auto run = [&code](auto fn) { return [&code, fn] { code = fn(); }; };

  auto* playlists = app.add_subcommand(
      "playlists", "Your playlists and others' public ones; create, show and edit them\n"
                   "  hifi playlists\n"
                   "  hifi playlists create \"Road trip\" --public SONG_ID SONG_ID\n"
                   "  hifi playlists show ID\n"
                   "  hifi playlists add ID SONG_ID...\n"
                   "  hifi playlists remove ID 3 5      (positions as `show` numbers them)\n"
                   "  hifi playlists rename ID \"New name\"\n"
                   "  hifi playlists delete ID");
  playlists->callback([&ctx, &code, playlists] {
    if (playlists->get_subcommands().empty()) code = cmd_playlists_list(ctx);
  });
  playlists->add_subcommand("list", "List them (the default)")->callback(run([&ctx] { return cmd_playlists_list(ctx); }));
  auto* create = playlists->add_subcommand("create", "Create a playlist, optionally with songs (see `hifi songs`)");
  create->add_option("name", name, "Its name")->required();
  create->add_option("songs", song_ids, "Song ids, in order");
  create->add_flag("--public", is_public, "Let every user of the server see it (only you edit it)");
  create->add_option("--comment", comment, "A description");
  create->callback(run([&ctx] { return cmd_playlist_create(ctx, name, comment, is_public, song_ids); }));
  auto* show = playlists->add_subcommand("show", "Show a playlist and its songs, numbered");
  show->add_option("id", id, "Playlist id (see `hifi playlists`)")->required();
  show->callback(run([&ctx] { return cmd_playlist_show(ctx, id); }));
  auto* add = playlists->add_subcommand("add", "Append songs");
  add->add_option("id", id, "Playlist id")->required();
  add->add_option("songs", song_ids, "Song ids")->required();
  add->callback(run([&ctx] {
    PlaylistChange change;
    change.add = song_ids;
    return cmd_playlist_edit(ctx, id, change, "Added " + std::to_string(song_ids.size()) + " songs");
  }));
  auto* remove = playlists->add_subcommand("remove", "Remove songs by their positions (1 is the first)");
  remove->add_option("id", id, "Playlist id")->required();
  remove->add_option("positions", positions, "Positions, as `hifi playlists show ID` numbers them")
      ->required()
      ->check(CLI::Range(1, 100000));
  remove->callback(run([&ctx] {
    PlaylistChange change;
    for (int p : positions) change.remove.push_back(p - 1);
    return cmd_playlist_edit(ctx, id, change, "Removed " + std::to_string(positions.size()) + " songs");
  }));
  auto* rename = playlists->add_subcommand("rename", "Rename a playlist");
  rename->add_option("id", id, "Playlist id")->required();
  rename->add_option("name", name, "The new name")->required();
  rename->callback(run([&ctx] {
    PlaylistChange change;
    change.name = name;
    return cmd_playlist_edit(ctx, id, change, "Renamed");
  }));
  auto* del = playlists->add_subcommand("delete", "Delete a playlist (the songs stay in the library)");
  del->add_option("id", id, "Playlist id")->required();
  del->callback(run([&ctx] { return cmd_playlist_delete(ctx, id); }));

  for (const bool on : {true, false}) {
    auto* star = app.add_subcommand(on ? "star" : "unstar",
                                    on ? "Star a song (a favourite), or an album or artist\n"
                                         "  hifi star SONG_ID\n  hifi star --album ALBUM_ID\n"
                                         "  hifi star --artist ARTIST_ID\nSee them with `hifi starred`."
                                       : "Remove a star\n  hifi unstar SONG_ID\n  hifi unstar --album ALBUM_ID");
    star->add_option("id", id, "Song id (or album/artist id with --album/--artist)")->required();
    auto* a = star->add_flag("--album", album_flag, "The id is an album's");
    star->add_flag("--artist", artist_flag, "The id is an artist's")->excludes(a);
    star->callback(run([&ctx, on] {
      const auto kind = album_flag ? LibraryItem::kAlbum : artist_flag ? LibraryItem::kArtist : LibraryItem::kSong;
      return cmd_star(ctx, kind, id, on);
    }));
  }
  app.add_subcommand("starred", "Your starred songs, albums and artists\n  hifi starred\n  hifi starred --json")
      ->callback(run([&ctx] { return cmd_starred(ctx); }));

  auto* history = app.add_subcommand("history", "What you played, newest first\n  hifi history\n  hifi history --limit 100");
  history->add_option("--limit", limit, "At most this many plays")->capture_default_str()->check(CLI::Range(1, 10000));
  history->callback(run([&ctx] { return cmd_history(ctx, limit); }));

  auto* share = app.add_subcommand(
      "share", "Make a public link to songs, an album or a playlist; prints the link\n"
               "  hifi share SONG_ID SONG_ID --expires 7d --description \"For Sam\"\n"
               "  hifi share --album ALBUM_ID\n"
               "  hifi share --playlist PLAYLIST_ID --expires 12h\n"
               "Anyone with the link can play and download the songs, without an account,\n"
               "until it expires or you revoke it (`hifi shares revoke ID`).");
  share->add_option("songs", song_ids, "Song ids");
  share->add_option("--album", album, "Share this album's songs");
  share->add_option("--playlist", playlist, "Share this playlist's songs");
  share->add_option("--expires", expires, "Expire after 30m, 12h, 7d, 2w... (default: never)");
  share->add_option("--description", description, "Shown on the page");
  share->callback(run([&ctx] { return cmd_share_create(ctx, song_ids, album, playlist, expires, description); }));

  auto* shares = app.add_subcommand("shares", "Your public links, with their visits; revoke one\n"
                                              "  hifi shares\n  hifi shares revoke ID");
  shares->callback([&ctx, &code, shares] {
    if (shares->get_subcommands().empty()) code = cmd_shares_list(ctx);
  });
  shares->add_subcommand("list", "List them (the default)")->callback(run([&ctx] { return cmd_shares_list(ctx); }));
  auto* revoke = shares->add_subcommand("revoke", "Revoke a link: it stops opening at once");
  revoke->add_option("id", id, "Share id (see `hifi shares`)")->required();
  revoke->callback(run([&ctx] { return cmd_share_revoke(ctx, id); }));
}

}  // namespace hifi::client
