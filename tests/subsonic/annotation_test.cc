// Stars, ratings, scrobbles, now playing, playlists, play queues,
// bookmarks and shares through the Subsonic API, in JSON and XML.
#include "library/annotations.h"
#include "server/node.h"
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

class SubsonicUserDataTest : public SubsonicTest {
 protected:
  void SetUp() override {
    SubsonicTest::SetUp();
    a1_ = add_song(440, "Alpha", "The Testers", "Signals", {{"IPRT", "1"}});
    a2_ = add_song(494, "Beta", "The Testers", "Signals", {{"IPRT", "2"}});
    b1_ = add_song(523, "Chorus", "Band of Sines", "Waves", {{"IPRT", "1"}});
    load_catalog_ids(albums_, artists_);
  }

  // Bob: a second user with his own app password.
  std::string bob_auth() {
    if (bob_password_.empty()) {
      bob_token_ = register_and_login("bob", kPassword);
      bob_password_ = create_credential(bob_token_, "app-passwords", "Laptop", "password");
    }
    return token_auth("bob", bob_password_);
  }
  json::object bob_json(const std::string& endpoint, const std::string& query = {}) {
    auto r = rest(endpoint, bob_auth() + "&f=json" + (query.empty() ? "" : "&" + query));
    return response_of(r);
  }

  static std::vector<std::string> ids(const json::value* list) {
    std::vector<std::string> out;
    if (!list || !list->is_array()) return out;
    for (const auto& e : list->as_array()) out.emplace_back(e.at("id").as_string());
    return out;
  }

  std::string a1_, a2_, b1_;
  std::map<std::string, std::string> albums_, artists_;
  std::string bob_token_, bob_password_;
};

TEST_F(SubsonicUserDataTest, StarsAreTheCallersAndShowEverywhere) {
  ok_json("star", "id=" + a1_ + "&albumId=" + albums_["Waves"] + "&artistId=" + artists_["The Testers"]);
  auto song = ok_json("getSong", "id=" + a1_)["song"].as_object();
  ASSERT_TRUE(song.contains("starred")) << song;
  EXPECT_TRUE(song.at("starred").as_string().ends_with("Z"));
  EXPECT_FALSE(ok_json("getSong", "id=" + a2_)["song"].as_object().contains("starred"));

  auto starred = ok_json("getStarred2")["starred2"].as_object();
  EXPECT_EQ(ids(starred.if_contains("song")), std::vector<std::string>{a1_});
  EXPECT_EQ(ids(starred.if_contains("album")), std::vector<std::string>{albums_["Waves"]});
  EXPECT_EQ(ids(starred.if_contains("artist")), std::vector<std::string>{artists_["The Testers"]});
  auto xml = ok_xml("getStarred");
  EXPECT_NE(xml.find("<song id=\"" + a1_ + "\""), std::string::npos) << xml;
  auto list = ok_json("getAlbumList2", "type=starred")["albumList2"].as_object();
  EXPECT_EQ(ids(list.if_contains("album")), std::vector<std::string>{albums_["Waves"]});
  EXPECT_TRUE(ok_json("getAlbum", "id=" + albums_["Waves"])["album"].as_object().contains("starred"));

  // Bob sees none of Alice's stars.
  auto bobs = bob_json("getStarred2")["starred2"].as_object();
  EXPECT_FALSE(bobs.contains("song")) << bobs;
  EXPECT_FALSE(bob_json("getSong", "id=" + a1_)["song"].as_object().contains("starred"));

  ok_json("unstar", "id=" + a1_);
  EXPECT_FALSE(ok_json("getSong", "id=" + a1_)["song"].as_object().contains("starred"));

  expect_error(rest("star", auth() + "&f=json"), 10);
  expect_error(rest("star", auth() + "&f=json&id=" + std::string(32, 'e')), 70);
  expect_error(rest("star", auth() + "&f=json&albumId=al-0000000000000000"), 70);
}

TEST_F(SubsonicUserDataTest, RatingsSortTheHighestList) {
  ok_json("setRating", "id=" + albums_["Signals"] + "&rating=3");
  ok_json("setRating", "id=" + albums_["Waves"] + "&rating=5");
  ok_json("setRating", "id=" + a2_ + "&rating=4");
  EXPECT_EQ(ok_json("getSong", "id=" + a2_)["song"].at("userRating"), 4);
  auto list = ok_json("getAlbumList2", "type=highest")["albumList2"].as_object();
  EXPECT_EQ(ids(list.if_contains("album")), (std::vector<std::string>{albums_["Waves"], albums_["Signals"]}));
  ok_json("setRating", "id=" + a2_ + "&rating=0");
  EXPECT_FALSE(ok_json("getSong", "id=" + a2_)["song"].as_object().contains("userRating"));
  expect_error(rest("setRating", auth() + "&f=json&id=" + a2_ + "&rating=6"), 0);
  expect_error(rest("setRating", auth() + "&f=json&id=" + a2_), 10);
}

TEST_F(SubsonicUserDataTest, ScrobblesCountPlaysAndShowWhatIsPlaying) {
  ok_json("scrobble", "id=" + b1_ + "&submission=false");
  auto now = ok_json("getNowPlaying")["nowPlaying"].as_object();
  ASSERT_TRUE(now.contains("entry")) << now;
  EXPECT_EQ(now.at("entry").as_array()[0].at("id").as_string(), b1_);
  EXPECT_EQ(now.at("entry").as_array()[0].at("username"), "alice");
  EXPECT_EQ(now.at("entry").as_array()[0].at("playerName"), "tests");

  const auto t = server_->clock().now_ms();
  ok_json("scrobble", "id=" + a1_ + "&id=" + a1_ + "&time=" + std::to_string(t - 1000) + "&time=" + std::to_string(t));
  ok_json("scrobble", "id=" + b1_);
  auto song = ok_json("getSong", "id=" + a1_)["song"].as_object();
  EXPECT_EQ(song.at("playCount"), 2);
  EXPECT_TRUE(song.contains("played"));
  EXPECT_EQ(ids(ok_json("getAlbumList2", "type=frequent")["albumList2"].as_object().if_contains("album")),
            (std::vector<std::string>{albums_["Signals"], albums_["Waves"]}));
  EXPECT_EQ(ok_json("getAlbum", "id=" + albums_["Signals"])["album"].at("playCount"), 2);
  EXPECT_EQ(ids(ok_json("getTopSongs", "artist=The+Testers")["topSongs"].as_object().if_contains("song")),
            (std::vector<std::string>{a1_, a2_}));
  // Bob's plays add to everyone's top songs but not to Alice's counts.
  bob_json("scrobble", "id=" + a2_);
  bob_json("scrobble", "id=" + a2_);
  bob_json("scrobble", "id=" + a2_);
  EXPECT_EQ(ids(ok_json("getTopSongs", "artist=The+Testers")["topSongs"].as_object().if_contains("song")),
            (std::vector<std::string>{a2_, a1_}));
  EXPECT_FALSE(ok_json("getSong", "id=" + a2_)["song"].as_object().contains("playCount"));
  // HiFi's own history has the plays, newest first.
  auto history = get("/api/v1/me/history?limit=10", token_);
  if (history.status == 200) {
    EXPECT_EQ(history.json().at("items").as_array().size(), 3u) << history.body;
  }

  expect_error(rest("scrobble", auth() + "&f=json&id=" + a1_ + "&time=yesterday"), 0);
  expect_error(rest("scrobble", auth() + "&f=json&id=" + a1_ + "&id=" + a2_ + "&time=1"), 0);
  expect_error(rest("scrobble", auth() + "&f=json&id=" + albums_["Waves"]), 70);
}

TEST_F(SubsonicUserDataTest, PlaylistsAreOwnedAndPublicOnesAreShared) {
  auto created = ok_json("createPlaylist", "name=Road+trip&songId=" + a1_ + "&songId=" + b1_)["playlist"].as_object();
  const std::string id(created.at("id").as_string());
  EXPECT_EQ(created.at("songCount"), 2);
  EXPECT_EQ(created.at("owner"), "alice");
  EXPECT_EQ(ids(created.if_contains("entry")), (std::vector<std::string>{a1_, b1_}));

  ok_json("updatePlaylist", "playlistId=" + id + "&name=Road+trip+2&comment=Summer&songIdToAdd=" + a2_ +
                                "&songIndexToRemove=0");
  auto got = ok_json("getPlaylist", "id=" + id)["playlist"].as_object();
  EXPECT_EQ(got.at("name"), "Road trip 2");
  EXPECT_EQ(got.at("comment"), "Summer");
  EXPECT_EQ(ids(got.if_contains("entry")), (std::vector<std::string>{b1_, a2_}));
  EXPECT_NE(ok_xml("getPlaylist", "id=" + id).find("<entry id=\"" + b1_ + "\""), std::string::npos);

  // Private: Bob neither sees nor reaches it.
  expect_error(rest("getPlaylist", bob_auth() + "&f=json&id=" + id), 70);
  EXPECT_FALSE(bob_json("getPlaylists")["playlists"].as_object().contains("playlist"));
  // Public: Bob reads it, and still may not change it.
  ok_json("updatePlaylist", "playlistId=" + id + "&public=true");
  EXPECT_EQ(ids(bob_json("getPlaylists")["playlists"].as_object().if_contains("playlist")),
            std::vector<std::string>{id});
  expect_error(rest("updatePlaylist", bob_auth() + "&f=json&playlistId=" + id + "&name=Mine"), 50);
  expect_error(rest("deletePlaylist", bob_auth() + "&f=json&id=" + id), 50);

  // createPlaylist with playlistId replaces the songs.
  ok_json("createPlaylist", "playlistId=" + id + "&songId=" + a1_);
  EXPECT_EQ(ids(ok_json("getPlaylist", "id=" + id)["playlist"].as_object().if_contains("entry")),
            std::vector<std::string>{a1_});
  // It is HiFi's playlist too.
  auto own = get("/api/v1/playlists/" + id, token_);
  if (own.status != 404) {
    EXPECT_EQ(own.status, 200) << own.body;
  }

  expect_error(rest("updatePlaylist", auth() + "&f=json&playlistId=" + id + "&songIndexToRemove=7"), 0);
  expect_error(rest("createPlaylist", auth() + "&f=json&name=X&songId=" + std::string(32, 'e')), 70);
  expect_error(rest("createPlaylist", auth() + "&f=json"), 10);
  ok_json("deletePlaylist", "id=" + id);
  expect_error(rest("getPlaylist", auth() + "&f=json&id=" + id), 70);
}

TEST_F(SubsonicUserDataTest, PlayQueueAndBookmarksCarryOverToAnotherDevice) {
  EXPECT_FALSE(ok_json("getPlayQueue").contains("playQueue"));
  ok_json("savePlayQueue", "id=" + a1_ + "&id=" + b1_ + "&current=" + b1_ + "&position=61000");
  auto queue = ok_json("getPlayQueue")["playQueue"].as_object();
  EXPECT_EQ(queue.at("current").as_string(), b1_);
  EXPECT_EQ(queue.at("position"), 61000);
  EXPECT_EQ(queue.at("changedBy"), "tests");
  EXPECT_EQ(ids(queue.if_contains("entry")), (std::vector<std::string>{a1_, b1_}));
  EXPECT_EQ(ok_json("getPlayQueueByIndex")["playQueueByIndex"].at("currentIndex"), 1);
  expect_error(rest("savePlayQueue", auth() + "&f=json&id=" + a1_ + "&current=" + a2_), 0);
  ok_json("savePlayQueue");  // no id: cleared
  EXPECT_FALSE(ok_json("getPlayQueue").contains("playQueue"));

  ok_json("createBookmark", "id=" + a2_ + "&position=5000&comment=the+good+part");
  auto bookmarks = ok_json("getBookmarks");
  auto marks = bookmarks["bookmarks"].at("bookmark").as_array();
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks[0].at("position"), 5000);
  EXPECT_EQ(marks[0].at("comment"), "the good part");
  EXPECT_EQ(marks[0].at("entry").at("id").as_string(), a2_);
  EXPECT_FALSE(bob_json("getBookmarks")["bookmarks"].as_object().contains("bookmark"));
  ok_json("deleteBookmark", "id=" + a2_);
  expect_error(rest("deleteBookmark", auth() + "&f=json&id=" + a2_), 70);
  expect_error(rest("createBookmark", auth() + "&f=json&id=" + a2_), 10);
}

TEST_F(SubsonicUserDataTest, SharesAreLinksTheOwnerManages) {
  auto shares = ok_json("createShare", "id=" + albums_["Signals"] + "&description=For+you")["shares"].as_object();
  auto share = shares.at("share").as_array().at(0).as_object();
  const std::string id(share.at("id").as_string());
  const std::string url(share.at("url").as_string());
  EXPECT_TRUE(url.starts_with("http://127.0.0.1") && url.ends_with("/share/" + id)) << url;
  EXPECT_EQ(share.at("description"), "For you");
  EXPECT_EQ(share.at("username"), "alice");
  EXPECT_EQ(share.at("visitCount"), 0);
  EXPECT_EQ(ids(share.if_contains("entry")), (std::vector<std::string>{a1_, a2_}));
  EXPECT_EQ(ids(ok_json("getShares")["shares"].as_object().if_contains("share")), std::vector<std::string>{id});
  EXPECT_FALSE(bob_json("getShares")["shares"].as_object().contains("share"));
  expect_error(rest("deleteShare", bob_auth() + "&f=json&id=" + id), 70);

  const auto later = server_->clock().now_ms() + 3'600'000;
  ok_json("updateShare", "id=" + id + "&description=Changed&expires=" + std::to_string(later));
  share = ok_json("getShares")["shares"].at("share").as_array().at(0).as_object();
  EXPECT_EQ(share.at("description"), "Changed");
  EXPECT_TRUE(share.contains("expires"));
  expect_error(rest("updateShare", auth() + "&f=json&id=" + id + "&expires=1000"), 0);
  ok_json("deleteShare", "id=" + id);
  EXPECT_FALSE(ok_json("getShares")["shares"].as_object().contains("share"));
  expect_error(rest("createShare", auth() + "&f=json"), 10);
}

}  // namespace
}  // namespace hifi::testing

namespace hifi::testing {
namespace {

TEST_F(SubsonicUserDataTest, ADeletedUsersPlaylistsSharesAndMarksGoWithThem) {
  auto made = bob_json("createPlaylist", "name=Bobs&songId=" + a1_);
  const std::string playlist(made["playlist"].at("id").as_string());
  bob_json("updatePlaylist", "playlistId=" + playlist + "&public=true");
  bob_json("createShare", "id=" + a1_);
  bob_json("star", "id=" + a1_);
  const auto bob_id = std::string(get("/api/v1/me", bob_token_).json().at("id").as_string());
  EXPECT_EQ(ids(ok_json("getPlaylists")["playlists"].as_object().if_contains("playlist")),
            std::vector<std::string>{playlist});
  EXPECT_EQ(ok_json("getShares")["shares"].at("share").as_array().size(), 1u);  // an admin sees every share
  EXPECT_TRUE(server_->node().annotations().get(bob_id, ItemKind::kSong, a1_).starred());

  ok_json("deleteUser", "username=bob");
  EXPECT_FALSE(ok_json("getPlaylists")["playlists"].as_object().contains("playlist"));
  EXPECT_FALSE(ok_json("getShares")["shares"].as_object().contains("share"));
  EXPECT_FALSE(server_->node().annotations().get(bob_id, ItemKind::kSong, a1_).starred());
}

}  // namespace
}  // namespace hifi::testing
