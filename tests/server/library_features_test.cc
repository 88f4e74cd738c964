// Integration tests of what users do with the library over HiFi's API:
// stars and ratings, play history, playlists, shares (and their public
// page), the saved play queue. An in-process server on port 0 with a manual
// clock.
#include <gtest/gtest.h>

#include <set>

#include "server/api_fixture.h"

namespace hifi::testing {
namespace {

class LibraryApiTest : public ApiTest {
 protected:
  HttpResult send(V verb, const std::string& target, const std::string& token,
                  const std::optional<json::object>& body = std::nullopt) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (body) headers["Content-Type"] = "application/json";
    return server_->request(verb, target, body ? body_of(*body) : std::string(), headers);
  }

  std::string song(const std::string& token, double hz, const std::string& title = "Song",
                   const std::string& artist = "Artist", const std::string& album = "Album") {
    auto r = upload(token, make_tagged_wav(hz, title, artist, album), title + ".wav");
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(r.json().at("id").as_string());
  }

  json::object song_json(const std::string& id, const std::string& token) {
    auto r = get("/api/v1/songs/" + id, token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().as_object();
  }

  static void expect_parameter(const HttpResult& r, const std::string& parameter) {
    expect_problem(r, 400, "invalid-parameter");
    EXPECT_EQ(r.json().at("parameter").as_string(), parameter) << r.body;
  }

  static std::vector<std::string> ids_of(const json::value& array) {
    std::vector<std::string> out;
    for (const auto& item : array.as_array()) out.emplace_back(item.at("id").as_string());
    return out;
  }

  std::int64_t now() { return server_->clock().now_ms(); }
};

TEST_F(LibraryApiTest, StarsAndRatingsOfSongsBelongToTheirUser) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto id = song(alice, 440);
  auto fresh = song_json(id, alice);
  EXPECT_TRUE(fresh.at("starred").is_null());
  EXPECT_EQ(fresh.at("rating").as_int64(), 0);
  EXPECT_EQ(fresh.at("play_count").as_int64(), 0);
  EXPECT_TRUE(fresh.at("last_played").is_null());

  EXPECT_EQ(send(V::put, "/api/v1/songs/" + id + "/star", alice).status, 204);
  EXPECT_EQ(send(V::put, "/api/v1/songs/" + id + "/rating", alice, json::object{{"rating", 4}}).status, 204);
  auto mine = song_json(id, alice);
  EXPECT_EQ(mine.at("starred").as_int64(), now());
  EXPECT_EQ(mine.at("rating").as_int64(), 4);
  // In lists too.
  auto list = get("/api/v1/songs", alice).json();
  EXPECT_EQ(list.at("items").at(0).at("rating").as_int64(), 4);
  // Bob sees none of it.
  auto his = song_json(id, bob);
  EXPECT_TRUE(his.at("starred").is_null());
  EXPECT_EQ(his.at("rating").as_int64(), 0);
  EXPECT_TRUE(get("/api/v1/me/starred", bob).json().at("songs").as_array().empty());

  auto starred = get("/api/v1/me/starred", alice);
  ASSERT_EQ(starred.status, 200);
  EXPECT_EQ(ids_of(starred.json().at("songs")), std::vector<std::string>{id});

  // Unstar, and a rating of 0 removes the rating.
  EXPECT_EQ(send(V::delete_, "/api/v1/songs/" + id + "/star", alice).status, 204);
  EXPECT_EQ(send(V::put, "/api/v1/songs/" + id + "/rating", alice, json::object{{"rating", 0}}).status, 204);
  auto after = song_json(id, alice);
  EXPECT_TRUE(after.at("starred").is_null());
  EXPECT_EQ(after.at("rating").as_int64(), 0);
  EXPECT_TRUE(get("/api/v1/me/starred", alice).json().at("songs").as_array().empty());

  // Bad ratings and unknown songs.
  expect_parameter(send(V::put, "/api/v1/songs/" + id + "/rating", alice, json::object{{"rating", 6}}), "rating");
  expect_parameter(send(V::put, "/api/v1/songs/" + id + "/rating", alice, json::object{{"rating", -1}}), "rating");
  expect_parameter(send(V::put, "/api/v1/songs/" + id + "/rating", alice, json::object{{"rating", "5"}}), "rating");
  expect_parameter(send(V::put, "/api/v1/songs/" + id + "/rating", alice, json::object{}), "rating");
  expect_problem(send(V::put, "/api/v1/songs/0123456789abcdef0123456789abcdef/star", alice), 404, "not-found");
  expect_problem(send(V::put, "/api/v1/songs/0123456789abcdef0123456789abcdef/rating", alice,
                      json::object{{"rating", 3}}),
                 404, "not-found");
  expect_problem(send(V::put, "/api/v1/songs/" + id + "/star", ""), 401, "unauthenticated");
}

TEST_F(LibraryApiTest, AlbumsAndArtistsAreStarredAndRated) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  song(alice, 440, "Hunter", "Björk", "Homogenic");
  song(alice, 450, "Teardrop", "Massive Attack", "Mezzanine");
  std::string album_id, artist_id;
  const auto albums = get("/api/v1/albums", alice).json();
  for (const auto& a : albums.at("items").as_array()) {
    if (a.at("name").as_string() == "Homogenic") album_id = std::string(a.at("id").as_string());
  }
  const auto artists = get("/api/v1/artists", alice).json();
  for (const auto& a : artists.at("items").as_array()) {
    if (a.at("name").as_string() == "Massive Attack") artist_id = std::string(a.at("id").as_string());
  }
  ASSERT_FALSE(album_id.empty());
  ASSERT_FALSE(artist_id.empty());

  EXPECT_EQ(send(V::put, "/api/v1/albums/" + album_id + "/star", alice).status, 204);
  EXPECT_EQ(send(V::put, "/api/v1/albums/" + album_id + "/rating", alice, json::object{{"rating", 5}}).status, 204);
  EXPECT_EQ(send(V::put, "/api/v1/artists/" + artist_id + "/star", alice).status, 204);
  EXPECT_EQ(send(V::put, "/api/v1/artists/" + artist_id + "/rating", alice, json::object{{"rating", 2}}).status, 204);

  auto album = get("/api/v1/albums/" + album_id, alice).json();
  EXPECT_EQ(album.at("starred").as_int64(), now());
  EXPECT_EQ(album.at("rating").as_int64(), 5);
  EXPECT_FALSE(album.as_object().contains("play_count"));
  EXPECT_TRUE(get("/api/v1/albums/" + album_id, bob).json().at("starred").is_null());
  const auto rated = get("/api/v1/artists", alice).json();
  for (const auto& a : rated.at("items").as_array()) {
    EXPECT_EQ(a.at("rating").as_int64(), a.at("id").as_string() == artist_id ? 2 : 0);
  }
  auto starred = get("/api/v1/me/starred", alice).json();
  EXPECT_EQ(ids_of(starred.at("albums")), std::vector<std::string>{album_id});
  EXPECT_EQ(ids_of(starred.at("artists")), std::vector<std::string>{artist_id});
  EXPECT_TRUE(starred.at("songs").as_array().empty());
  auto his = get("/api/v1/me/starred", bob).json();
  EXPECT_TRUE(his.at("albums").as_array().empty());
  EXPECT_TRUE(his.at("artists").as_array().empty());

  EXPECT_EQ(send(V::delete_, "/api/v1/albums/" + album_id + "/star", alice).status, 204);
  EXPECT_TRUE(get("/api/v1/me/starred", alice).json().at("albums").as_array().empty());

  expect_problem(send(V::put, "/api/v1/albums/0123456789abcdef/star", alice), 404, "not-found");
  expect_problem(send(V::put, "/api/v1/artists/0123456789abcdef/star", alice), 404, "not-found");
  expect_problem(send(V::put, "/api/v1/artists/0123456789abcdef/rating", alice, json::object{{"rating", 1}}), 404,
                 "not-found");
}

TEST_F(LibraryApiTest, HistoryIsNewestFirstPagedAndCountsPlays) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto a = song(alice, 440, "A");
  auto b = song(alice, 450, "B");
  const auto start = now() - 10'000;
  // Five plays, oldest first: a, b, a, b, a.
  for (int i = 0; i < 5; ++i) {
    auto r = post_json("/api/v1/me/history",
                       {{"song_id", i % 2 == 0 ? a : b}, {"played_at", start + i * 1000}, {"client", "test-app"}}, alice);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.json().at("song").at("id").as_string(), i % 2 == 0 ? a : b);
  }
  std::vector<std::int64_t> times;
  std::vector<std::string> songs;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto r = get("/api/v1/me/history?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), alice);
    ASSERT_EQ(r.status, 200) << r.body;
    auto page = r.json();
    EXPECT_LE(page.at("items").as_array().size(), 2u);
    for (const auto& item : page.at("items").as_array()) {
      times.push_back(item.at("played_at").as_int64());
      songs.emplace_back(item.at("song").at("id").as_string());
      EXPECT_EQ(item.at("client").as_string(), "test-app");
      EXPECT_TRUE(item.at("room_id").is_null());
    }
    ++pages;
    if (page.at("next").is_null()) break;
    cursor = std::string(page.at("next").as_string());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(times, (std::vector<std::int64_t>{start + 4000, start + 3000, start + 2000, start + 1000, start}));
  EXPECT_EQ(songs, (std::vector<std::string>{a, b, a, b, a}));
  auto song_a = song_json(a, alice);
  EXPECT_EQ(song_a.at("play_count").as_int64(), 3);
  EXPECT_EQ(song_a.at("last_played").as_int64(), start + 4000);
  EXPECT_EQ(song_json(a, bob).at("play_count").as_int64(), 0);
  EXPECT_TRUE(get("/api/v1/me/history", bob).json().at("items").as_array().empty());

  // played_at defaults to now.
  auto now_play = post_json("/api/v1/me/history", {{"song_id", b}}, alice);
  ASSERT_EQ(now_play.status, 201);
  EXPECT_EQ(now_play.json().at("played_at").as_int64(), now());
  EXPECT_EQ(get("/api/v1/me/history?limit=1", alice).json().at("items").at(0).at("song_id").as_string(), b);

  expect_parameter(post_json("/api/v1/me/history", {{"song_id", "0123456789abcdef0123456789abcdef"}}, alice), "song_id");
  expect_parameter(post_json("/api/v1/me/history", {}, alice), "song_id");
  expect_parameter(post_json("/api/v1/me/history", {{"song_id", a}, {"played_at", now() + 3'600'000}}, alice),
                   "played_at");
  expect_parameter(post_json("/api/v1/me/history", {{"song_id", a}, {"client", std::string(101, 'x')}}, alice),
                   "client");
  for (const char* bad : {"0", "501", "x", "-1"}) {
    expect_parameter(get(std::string("/api/v1/me/history?limit=") + bad, alice), "limit");
  }
  expect_parameter(get("/api/v1/me/history?cursor=not-a-cursor", alice), "cursor");
}

TEST_F(LibraryApiTest, PlaylistsAreCreatedShownEditedAndDeleted) {
  auto alice = register_and_login("alice");
  auto a = song(alice, 440, "A");
  auto b = song(alice, 450, "B");
  auto c = song(alice, 460, "C");
  auto made = post_json("/api/v1/playlists",
                        {{"name", "Road trip"}, {"comment", "for the car"}, {"song_ids", json::array{a, b}}}, alice);
  ASSERT_EQ(made.status, 201) << made.body;
  auto p = made.json();
  const std::string id(p.at("id").as_string());
  EXPECT_EQ(made.header("location"), "/api/v1/playlists/" + id);
  EXPECT_EQ(p.at("name").as_string(), "Road trip");
  EXPECT_EQ(p.at("comment").as_string(), "for the car");
  EXPECT_FALSE(p.at("public").as_bool());
  EXPECT_EQ(p.at("owner").at("username").as_string(), "alice");
  EXPECT_EQ(p.at("song_count").as_int64(), 2);
  EXPECT_EQ(p.at("duration_ms").as_int64(), 1000);  // two half-second tones
  EXPECT_EQ(p.at("created_at").as_int64(), now());
  EXPECT_EQ(ids_of(p.at("songs")), (std::vector<std::string>{a, b}));

  auto patch = [&](const json::object& body) { return send(V::patch, "/api/v1/playlists/" + id, alice, body); };
  // Insert c first, then move it last, then remove the first entry.
  auto r = patch({{"add", json::array{c}}, {"insert_at", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ids_of(r.json().at("songs")), (std::vector<std::string>{c, a, b}));
  r = patch({{"move", {{"from", 0}, {"to", 2}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ids_of(r.json().at("songs")), (std::vector<std::string>{a, b, c}));
  r = patch({{"remove", json::array{0}}, {"name", "Night drive"}, {"public", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ids_of(r.json().at("songs")), (std::vector<std::string>{b, c}));
  EXPECT_EQ(r.json().at("name").as_string(), "Night drive");
  EXPECT_TRUE(r.json().at("public").as_bool());
  r = patch({{"song_ids", json::array{a, a}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ids_of(r.json().at("songs")), (std::vector<std::string>{a, a}));

  // Bad input names its field; nothing changes.
  expect_parameter(patch({{"add", json::array{"0123456789abcdef0123456789abcdef"}}}), "add");
  EXPECT_NE(patch({{"add", json::array{"0123456789abcdef0123456789abcdef"}}}).body.find("0123456789abcdef0123456789abcdef"),
            std::string::npos);
  expect_parameter(patch({{"remove", json::array{"x"}}}), "remove");
  expect_parameter(patch({{"move", {{"from", 0}}}}), "move");
  expect_parameter(patch({{"name", 5}}), "name");
  expect_problem(patch({{"remove", json::array{7}}}), 400, "invalid-request");
  expect_parameter(post_json("/api/v1/playlists", {{"comment", "no name"}}, alice), "name");
  expect_parameter(post_json("/api/v1/playlists", {{"name", "x"}, {"song_ids", json::array{"nope"}}}, alice),
                   "song_ids");
  expect_problem(post_json("/api/v1/playlists", {{"name", ""}}, alice), 400, "invalid-request");
  EXPECT_EQ(ids_of(get("/api/v1/playlists/" + id, alice).json().at("songs")), (std::vector<std::string>{a, a}));

  // A song deleted from the library is skipped, but keeps its place in song_ids.
  ASSERT_EQ(send(V::patch, "/api/v1/playlists/" + id, alice, json::object{{"song_ids", json::array{a, b}}}).status, 200);
  ASSERT_EQ(send(V::delete_, "/api/v1/songs/" + b, alice).status, 204);
  auto shown = get("/api/v1/playlists/" + id, alice).json();
  EXPECT_EQ(ids_of(shown.at("songs")), std::vector<std::string>{a});
  EXPECT_EQ(shown.at("song_ids").as_array().size(), 2u);
  EXPECT_EQ(shown.at("song_count").as_int64(), 1);

  EXPECT_EQ(send(V::delete_, "/api/v1/playlists/" + id, alice).status, 204);
  expect_problem(get("/api/v1/playlists/" + id, alice), 404, "not-found");
  expect_problem(send(V::delete_, "/api/v1/playlists/" + id, alice), 404, "not-found");
}

TEST_F(LibraryApiTest, PrivatePlaylistsAreInvisibleAndOnlyOwnersEdit) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto a = song(alice, 440);
  const std::string secret(post_json("/api/v1/playlists", {{"name", "Secret"}}, alice).json().at("id").as_string());
  const std::string open(
      post_json("/api/v1/playlists", {{"name", "Open"}, {"public", true}, {"song_ids", json::array{a}}}, alice)
          .json()
          .at("id")
          .as_string());
  const std::string his(post_json("/api/v1/playlists", {{"name", "Bob's"}}, bob).json().at("id").as_string());

  // Bob lists his own, then alice's public one.
  auto list = get("/api/v1/playlists", bob).json();
  EXPECT_EQ(ids_of(list.at("items")), (std::vector<std::string>{his, open}));
  EXPECT_EQ(list.at("items").at(1).at("owner").at("username").as_string(), "alice");
  EXPECT_EQ(ids_of(get("/api/v1/playlists", alice).json().at("items")), (std::vector<std::string>{open, secret}));

  // The private one does not exist for him, whatever he tries.
  expect_problem(get("/api/v1/playlists/" + secret, bob), 404, "not-found");
  expect_problem(send(V::patch, "/api/v1/playlists/" + secret, bob, json::object{{"name", "mine"}}), 404, "not-found");
  expect_problem(send(V::patch, "/api/v1/playlists/" + secret, bob, json::object{{"name", 5}}), 404, "not-found");
  expect_problem(send(V::delete_, "/api/v1/playlists/" + secret, bob), 404, "not-found");
  // The public one he reads but may not change.
  auto shown = get("/api/v1/playlists/" + open, bob);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(ids_of(shown.json().at("songs")), std::vector<std::string>{a});
  expect_problem(send(V::patch, "/api/v1/playlists/" + open, bob, json::object{{"name", "mine"}}), 403, "forbidden");
  expect_problem(send(V::delete_, "/api/v1/playlists/" + open, bob), 403, "forbidden");
  EXPECT_EQ(get("/api/v1/playlists/" + open, alice).json().at("name").as_string(), "Open");
  expect_problem(get("/api/v1/playlists/ffffffffffffffff", alice), 404, "not-found");
}

// The signed links of a share page, in order (&amp; unescaped).
std::vector<std::string> page_links(const std::string& html, const std::string& attribute) {
  std::vector<std::string> out;
  const std::string marker = attribute + "=\"/api/v1/songs/";
  for (auto at = html.find(marker); at != std::string::npos; at = html.find(marker, at + 1)) {
    const auto begin = at + attribute.size() + 2;
    const auto escaped = html.substr(begin, html.find('"', begin) - begin);
    std::string link;
    for (std::size_t i = 0; i < escaped.size(); ++i) {
      link += escaped[i];
      if (escaped.compare(i, 5, "&amp;") == 0) i += 4;
    }
    out.push_back(link);
  }
  return out;
}

std::int64_t expires_param(const std::string& link) {
  auto at = link.find("expires=");
  return at == std::string::npos ? 0 : std::stoll(link.substr(at + 8));
}

TEST_F(LibraryApiTest, ASharePageStreamsAndCountsVisits) {
  auto alice = register_and_login("alice");
  auto wav = make_tagged_wav(440, "Hunter <live>", "Björk", "Homogenic");
  auto up = upload(alice, wav, "hunter.wav");
  ASSERT_EQ(up.status, 201);
  const std::string id(up.json().at("id").as_string());
  auto made = post_json("/api/v1/shares", {{"song_ids", json::array{id}}, {"description", "For Sam & co"}}, alice);
  ASSERT_EQ(made.status, 201) << made.body;
  auto share = made.json();
  const std::string share_id(share.at("id").as_string());
  EXPECT_EQ(share.at("url").as_string(), "http://127.0.0.1:" + std::to_string(server_->port()) + "/share/" + share_id);
  EXPECT_EQ(share.at("description").as_string(), "For Sam & co");
  EXPECT_EQ(ids_of(share.at("songs")), std::vector<std::string>{id});
  EXPECT_TRUE(share.at("expires_at").is_null());
  EXPECT_EQ(share.at("visit_count").as_int64(), 0);
  EXPECT_TRUE(share.at("last_visited").is_null());

  auto page = get("/share/" + share_id, "");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  const auto policy = page.header("content-security-policy");
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(policy.find("script-src"), std::string::npos);
  EXPECT_EQ(policy.find("unsafe-inline"), std::string::npos);
  EXPECT_NE(page.body.find("For Sam &amp; co"), std::string::npos);
  EXPECT_NE(page.body.find("Hunter &lt;live&gt;"), std::string::npos);
  EXPECT_EQ(page.body.find("<live>"), std::string::npos);
  EXPECT_NE(page.body.find("Björk"), std::string::npos);
  EXPECT_NE(page.body.find("<audio controls preload=\"none\""), std::string::npos);
  EXPECT_NE(page.body.find("href=\"/css/share.css\""), std::string::npos);
  EXPECT_EQ(page.body.find("<script"), std::string::npos);
  EXPECT_EQ(page.body.find("style="), std::string::npos);

  // The player's and the download's links work without an account.
  auto players = page_links(page.body, "src");
  auto downloads = page_links(page.body, "href");
  ASSERT_EQ(players.size(), 1u) << page.body;
  ASSERT_EQ(downloads.size(), 1u) << page.body;
  auto streamed = get(players[0], "");
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.body, wav);
  auto downloaded = get(downloads[0], "");
  ASSERT_EQ(downloaded.status, 200);
  EXPECT_EQ(downloaded.body, wav);
  EXPECT_NE(downloaded.header("content-disposition").find("attachment"), std::string::npos);
  // They last hours, not forever.
  EXPECT_GT(expires_param(players[0]) * 1000, now());
  EXPECT_LE(expires_param(players[0]) * 1000, now() + 24LL * 3600 * 1000);

  // Each GET is a visit; HEAD and the stream are not.
  EXPECT_EQ(server_->request(V::head, "/share/" + share_id).status, 200);
  ASSERT_EQ(get("/share/" + share_id, "").status, 200);
  auto listed = get("/api/v1/shares", alice).json().at("items");
  ASSERT_EQ(listed.as_array().size(), 1u);
  EXPECT_EQ(listed.at(0).at("visit_count").as_int64(), 2);
  EXPECT_EQ(listed.at(0).at("last_visited").as_int64(), now());

  // Revoked: the page is gone.
  EXPECT_EQ(send(V::delete_, "/api/v1/shares/" + share_id, alice).status, 204);
  auto gone = get("/share/" + share_id, "");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(gone.body.find("<h1>"), std::string::npos);
  EXPECT_EQ(get("/share/00000000000000000000000000000000", "").status, 404);
  EXPECT_EQ(get("/share/" + std::string(300, 'a'), "").status, 404);
}

TEST_F(LibraryApiTest, AnExpiredShareOpensForNobody) {
  auto alice = register_and_login("alice");
  auto wav = make_wav(440);
  const std::string id(upload(alice, wav, "a.wav").json().at("id").as_string());
  const auto expires = now() + 3'600'000 + 500;  // an hour and a half second
  auto made = post_json("/api/v1/shares", {{"song_ids", json::array{id}}, {"expires_at", expires}}, alice);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string share_id(made.json().at("id").as_string());
  EXPECT_EQ(made.json().at("expires_at").as_int64(), expires);

  auto page = get("/share/" + share_id, "");
  ASSERT_EQ(page.status, 200);
  auto links = page_links(page.body, "src");
  ASSERT_EQ(links.size(), 1u);
  // The page's links expire no later than the share.
  EXPECT_LE(expires_param(links[0]) * 1000, expires);
  EXPECT_EQ(get(links[0], "").status, 200);

  server_->clock().advance_ms(3'600'000 + 1000);
  EXPECT_EQ(get("/share/" + share_id, "").status, 404);
  expect_problem(get(links[0], ""), 403, "bad-signature");
  // Its owner still sees it, and may extend it.
  auto listed = get("/api/v1/shares", alice).json().at("items");
  ASSERT_EQ(listed.as_array().size(), 1u);
  EXPECT_EQ(listed.at(0).at("visit_count").as_int64(), 1);
  auto extended = send(V::patch, "/api/v1/shares/" + share_id, alice,
                       json::object{{"expires_at", now() + 60'000}, {"description", "again"}});
  ASSERT_EQ(extended.status, 200) << extended.body;
  EXPECT_EQ(extended.json().at("description").as_string(), "again");
  EXPECT_EQ(get("/share/" + share_id, "").status, 200);
  auto never = send(V::patch, "/api/v1/shares/" + share_id, alice, json::object{{"expires_at", 0}});
  ASSERT_EQ(never.status, 200);
  EXPECT_TRUE(never.json().at("expires_at").is_null());
}

TEST_F(LibraryApiTest, SharesOfAlbumsAndPlaylistsAndBadRequests) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto a = song(alice, 440, "A", "X", "Homogenic");
  auto b = song(alice, 450, "B", "X", "Homogenic");
  const std::string album_id(get("/api/v1/albums", alice).json().at("items").at(0).at("id").as_string());
  auto by_album = post_json("/api/v1/shares", {{"album_id", album_id}}, alice);
  ASSERT_EQ(by_album.status, 201) << by_album.body;
  auto shared = ids_of(by_album.json().at("songs"));
  EXPECT_EQ(std::set<std::string>(shared.begin(), shared.end()), (std::set<std::string>{a, b}));

  const std::string playlist(
      post_json("/api/v1/playlists", {{"name", "P"}, {"song_ids", json::array{b}}}, alice).json().at("id").as_string());
  auto by_playlist = post_json("/api/v1/shares", {{"playlist_id", playlist}}, alice);
  ASSERT_EQ(by_playlist.status, 201) << by_playlist.body;
  EXPECT_EQ(ids_of(by_playlist.json().at("songs")), std::vector<std::string>{b});
  // Bob cannot share alice's private playlist, nor see or revoke her shares.
  expect_parameter(post_json("/api/v1/shares", {{"playlist_id", playlist}}, bob), "playlist_id");
  EXPECT_TRUE(get("/api/v1/shares", bob).json().at("items").as_array().empty());
  const std::string share_id(by_album.json().at("id").as_string());
  expect_problem(send(V::delete_, "/api/v1/shares/" + share_id, bob), 404, "not-found");
  expect_problem(send(V::patch, "/api/v1/shares/" + share_id, bob, json::object{{"description", "x"}}), 404,
                 "not-found");
  EXPECT_EQ(get("/api/v1/shares", alice).json().at("items").as_array().size(), 2u);

  expect_parameter(post_json("/api/v1/shares", {}, alice), "song_ids");
  expect_parameter(post_json("/api/v1/shares", {{"song_ids", json::array{a}}, {"album_id", album_id}}, alice),
                   "song_ids");
  expect_parameter(post_json("/api/v1/shares", {{"song_ids", json::array{"nope"}}}, alice), "song_ids");
  expect_parameter(post_json("/api/v1/shares", {{"album_id", "0123456789abcdef"}}, alice), "album_id");
  expect_parameter(post_json("/api/v1/shares", {{"song_ids", json::array{a}}, {"expires_at", now() - 1}}, alice),
                   "expires_at");
  expect_parameter(post_json("/api/v1/shares", {{"song_ids", json::array{a}}, {"expires_at", "tomorrow"}}, alice),
                   "expires_at");
  expect_problem(post_json("/api/v1/shares", {{"song_ids", json::array{}}}, alice), 400, "invalid-request");
  expect_problem(get("/api/v1/shares", ""), 401, "unauthenticated");
}

TEST_F(LibraryApiTest, PlayQueueIsSavedAndRead) {
  auto alice = register_and_login("alice");
  auto bob = register_and_login("bob");
  auto a = song(alice, 440);
  auto b = song(alice, 450);
  auto empty = get("/api/v1/me/play-queue", alice);
  ASSERT_EQ(empty.status, 200);
  EXPECT_TRUE(empty.json().at("song_ids").as_array().empty());
  EXPECT_TRUE(empty.json().at("current").is_null());

  auto saved = send(V::put, "/api/v1/me/play-queue", alice,
                    json::object{{"song_ids", json::array{a, b}}, {"current", b}, {"position_ms", 1234},
                                 {"changed_by", "phone"}});
  ASSERT_EQ(saved.status, 200) << saved.body;
  auto q = get("/api/v1/me/play-queue", alice).json();
  EXPECT_EQ(q.at("song_ids"), json::value(json::array{a, b}));
  EXPECT_EQ(q.at("current").as_string(), b);
  EXPECT_EQ(q.at("position_ms").as_int64(), 1234);
  EXPECT_EQ(q.at("changed_at").as_int64(), now());
  EXPECT_EQ(q.at("changed_by").as_string(), "phone");
  EXPECT_TRUE(get("/api/v1/me/play-queue", bob).json().at("song_ids").as_array().empty());

  expect_parameter(send(V::put, "/api/v1/me/play-queue", alice, json::object{{"song_ids", json::array{a}}, {"current", b}}),
                   "current");
  expect_parameter(send(V::put, "/api/v1/me/play-queue", alice, json::object{{"song_ids", json::array{"nope"}}}),
                   "song_ids");
  expect_parameter(
      send(V::put, "/api/v1/me/play-queue", alice, json::object{{"song_ids", json::array{a}}, {"position_ms", -5}}),
      "position_ms");
  EXPECT_EQ(get("/api/v1/me/play-queue", alice).json().at("position_ms").as_int64(), 1234);
}

}  // namespace
}  // namespace hifi::testing

namespace hifi::testing {
namespace {

TEST_F(LibraryApiTest, TheUploaderOrAnAdminCorrectsASongsTags) {
  const auto admin = register_and_login("alice", "correct horse");
  const auto bob = register_and_login("bob", "correct horse");
  const auto carol = register_and_login("carol", "correct horse");
  const auto id = song(bob, 440, "Teh Song", "Somebody", "First Album");
  const auto before = song_json(id, bob);
  const std::string old_album(
      get("/api/v1/songs?q=Teh", bob).json().at("items").as_array()[0].at("album_id").as_string());

  auto edited = send(V::patch, "/api/v1/songs/" + id, bob,
                     json::object{{"title", "The Song"}, {"album", "Second Album"}, {"album_artist", "Various"},
                                  {"track", 3}, {"disc", 2}, {"year", 1999}, {"genre", "Jazz\x01"}});
  ASSERT_EQ(edited.status, 200) << edited.body;
  const auto song = edited.json().as_object();
  EXPECT_EQ(song.at("title"), "The Song");
  EXPECT_EQ(song.at("artist"), "Somebody");  // untouched
  EXPECT_EQ(song.at("album"), "Second Album");
  EXPECT_EQ(song.at("album_artist"), "Various");
  EXPECT_EQ(song.at("genre"), "Jazz");  // control characters removed
  EXPECT_EQ(song.at("track"), 3);
  EXPECT_EQ(song.at("disc"), 2);
  EXPECT_EQ(song.at("year"), 1999);
  // The bytes, and so the id and hash, stay.
  EXPECT_EQ(song.at("sha256"), before.at("sha256"));
  EXPECT_EQ(song.at("size"), before.at("size"));
  // The catalog follows: search, the song's new album, the old one gone.
  auto found = get("/api/v1/songs?q=Second", bob).json().at("items").as_array();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].at("album_id").as_string(), old_album);
  EXPECT_EQ(get("/api/v1/albums/" + old_album, bob).status, 404);
  EXPECT_TRUE(get("/api/v1/songs?q=Teh", bob).json().at("items").as_array().empty());

  // An admin may correct anyone's song; another user may not.
  EXPECT_EQ(send(V::patch, "/api/v1/songs/" + id, admin, json::object{{"artist", "Someone Else"}}).status, 200);
  expect_problem(send(V::patch, "/api/v1/songs/" + id, carol, json::object{{"title", "Mine now"}}), 403,
                 "forbidden");
  EXPECT_EQ(song_json(id, bob).at("title"), "The Song");

  expect_problem(send(V::patch, "/api/v1/songs/" + id, bob, json::object{{"title", ""}}), 400, "invalid-request");
  expect_problem(send(V::patch, "/api/v1/songs/" + id, bob, json::object{{"title", std::string(501, 'x')}}), 400,
                 "invalid-request");
  expect_problem(send(V::patch, "/api/v1/songs/" + id, bob, json::object{{"year", 12345}}), 400, "invalid-request");
  expect_problem(send(V::patch, "/api/v1/songs/" + id, bob, json::object{{"track", "3"}}), 400, "invalid-request");
  expect_problem(send(V::patch, "/api/v1/songs/" + id, bob, json::object{}), 400, "invalid-request");
  expect_problem(send(V::patch, "/api/v1/songs/" + std::string(32, '0'), bob, json::object{{"title", "x"}}), 404,
                 "not-found");
}

}  // namespace
}  // namespace hifi::testing
