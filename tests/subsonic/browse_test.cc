// Browsing, lists and search through the Subsonic API, in JSON and XML,
// over a small tagged library.
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

class SubsonicBrowseTest : public SubsonicTest {
 protected:
  void SetUp() override {
    SubsonicTest::SetUp();
    // Uploaded a minute apart: "newest" has an order to show.
    a1_ = add_song(440, "Alpha", "The Testers", "Signals", {{"IGNR", "Rock"}, {"ICRD", "1999"}, {"IPRT", "1"}});
    a2_ = add_song(494, "Beta", "The Testers", "Signals", {{"IGNR", "Rock"}, {"ICRD", "1999"}, {"IPRT", "2"}});
    server_->clock().advance_ms(60'000);
    b1_ = add_song(523, "Chorus", "Band of Sines", "Waves", {{"IGNR", "Jazz"}, {"ICRD", "2005"}, {"IPRT", "1"}});
    server_->clock().advance_ms(60'000);
    c1_ = add_song(587, "Déjà Vu", "Björk", "Homogénique", {{"IGNR", "Pop"}, {"ICRD", "2010"}});
    // Ids as the API gives them, to follow like an app.
    load_catalog_ids(albums_, artists_);
  }

  static std::vector<std::string> ids(const json::value& list) {
    std::vector<std::string> out;
    if (!list.is_array()) return out;
    for (const auto& e : list.as_array()) out.emplace_back(e.at("id").as_string());
    return out;
  }

  std::string a1_, a2_, b1_, c1_;
  std::map<std::string, std::string> albums_, artists_;
};

TEST_F(SubsonicBrowseTest, IndexesAnswerEmptyWhenNothingChangedSinceTheAppsCopy) {
  const auto first = ok_json("getIndexes")["indexes"].at("lastModified").as_int64();
  const auto seen = std::to_string(first);
  EXPECT_FALSE(ok_json("getIndexes", "ifModifiedSince=" + seen)["indexes"].as_object().contains("index"));
  server_->clock().advance_ms(1000);
  add_song(659, "Late", "Latecomers", "Later");
  auto changed = ok_json("getIndexes", "ifModifiedSince=" + seen)["indexes"].as_object();
  EXPECT_TRUE(changed.contains("index"));
  EXPECT_GT(changed.at("lastModified").as_int64(), first);
}

TEST_F(SubsonicBrowseTest, MusicFoldersAndIndexes) {
  auto folders = ok_json("getMusicFolders")["musicFolders"].at("musicFolder").as_array();
  ASSERT_EQ(folders.size(), 1u);
  EXPECT_EQ(folders[0].at("id"), 1);
  EXPECT_NE(ok_xml("getMusicFolders").find("<musicFolders><musicFolder id=\"1\" name=\"Music\"/></musicFolders>"),
            std::string::npos);

  auto indexes = ok_json("getIndexes")["indexes"].as_object();
  EXPECT_TRUE(indexes.at("lastModified").is_int64());
  EXPECT_EQ(indexes.at("ignoredArticles"), "");
  std::vector<std::string> letters;
  for (const auto& i : indexes.at("index").as_array()) letters.emplace_back(i.at("name").as_string());
  EXPECT_EQ(letters, (std::vector<std::string>{"B", "T"}));
  auto xml = ok_xml("getIndexes", "musicFolderId=1");
  EXPECT_NE(xml.find("<index name=\"T\"><artist id=\"" + artists_["The Testers"] + "\" name=\"The Testers\"/></index>"),
            std::string::npos)
      << xml;
  expect_error(rest("getIndexes", auth() + "&f=json&musicFolderId=2"), 70);
}

TEST_F(SubsonicBrowseTest, MusicDirectoryGoesArtistAlbumSongs) {
  auto artist = ok_json("getMusicDirectory", "id=" + artists_["The Testers"])["directory"].as_object();
  EXPECT_EQ(artist.at("name"), "The Testers");
  auto children = artist.at("child").as_array();
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0].at("isDir"), true);
  EXPECT_EQ(children[0].at("id"), json::value(albums_["Signals"]));
  EXPECT_EQ(children[0].at("parent"), json::value(artists_["The Testers"]));

  auto album = ok_json("getMusicDirectory", "id=" + albums_["Signals"])["directory"].as_object();
  EXPECT_EQ(album.at("name"), "Signals");
  EXPECT_EQ(ids(album.at("child")), (std::vector<std::string>{a1_, a2_}));
  const auto& song = album.at("child").as_array()[0].as_object();
  EXPECT_EQ(song.at("isDir"), false);
  EXPECT_EQ(song.at("parent"), json::value(albums_["Signals"]));
  EXPECT_EQ(song.at("title"), "Alpha");
  EXPECT_EQ(song.at("track"), 1);
  EXPECT_EQ(song.at("year"), 1999);
  EXPECT_EQ(song.at("genre"), "Rock");
  EXPECT_EQ(song.at("suffix"), "wav");
  EXPECT_EQ(song.at("contentType"), "audio/wav");
  EXPECT_EQ(song.at("type"), "music");
  EXPECT_EQ(song.at("albumId"), json::value(albums_["Signals"]));
  EXPECT_EQ(song.at("artistId"), json::value(artists_["The Testers"]));
  EXPECT_EQ(song.at("path"), "The Testers/Signals/01 - Alpha.wav");
  EXPECT_TRUE(song.at("size").is_int64());
  EXPECT_TRUE(song.at("duration").is_int64());
  EXPECT_TRUE(song.at("bitRate").is_int64());
  EXPECT_EQ(song.at("created").as_string().size(), 24u);  // 2027-01-15T08:00:00.000Z

  auto xml = ok_xml("getMusicDirectory", "id=" + albums_["Signals"]);
  EXPECT_NE(xml.find("<child id=\"" + a1_ + "\" parent=\"" + albums_["Signals"] + "\" isDir=\"false\" title=\"Alpha\""),
            std::string::npos)
      << xml;
  expect_error(rest("getMusicDirectory", auth() + "&f=json&id=" + a1_), 70);
  expect_error(rest("getMusicDirectory", auth() + "&f=json&id=nonsense"), 70);
  expect_error(rest("getMusicDirectory", auth() + "&f=json"), 10);
}

TEST_F(SubsonicBrowseTest, Genres) {
  auto genres = ok_json("getGenres")["genres"].at("genre").as_array();
  ASSERT_EQ(genres.size(), 3u);
  EXPECT_EQ(genres[2].at("value"), "Rock");
  EXPECT_EQ(genres[2].at("songCount"), 2);
  EXPECT_EQ(genres[2].at("albumCount"), 1);
  EXPECT_NE(ok_xml("getGenres").find("<genre songCount=\"2\" albumCount=\"1\">Rock</genre>"), std::string::npos);
}

TEST_F(SubsonicBrowseTest, ArtistsArtistAlbumAndSong) {
  auto artists = ok_json("getArtists")["artists"].as_object();
  std::vector<std::string> names;
  for (const auto& i : artists.at("index").as_array()) {
    for (const auto& a : i.at("artist").as_array()) names.emplace_back(a.at("name").as_string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Band of Sines", "Björk", "The Testers"}));
  ok_xml("getArtists");

  auto artist = ok_json("getArtist", "id=" + artists_["The Testers"])["artist"].as_object();
  EXPECT_EQ(artist.at("albumCount"), 1);
  EXPECT_EQ(ids(artist.at("album")), (std::vector<std::string>{albums_["Signals"]}));
  EXPECT_NE(ok_xml("getArtist", "id=" + artists_["The Testers"]).find("<album id=\"" + albums_["Signals"] + "\""),
            std::string::npos);

  auto album = ok_json("getAlbum", "id=" + albums_["Signals"])["album"].as_object();
  EXPECT_EQ(album.at("name"), "Signals");
  EXPECT_EQ(album.at("artist"), "The Testers");
  EXPECT_EQ(album.at("artistId"), json::value(artists_["The Testers"]));
  EXPECT_EQ(album.at("songCount"), 2);
  EXPECT_EQ(album.at("year"), 1999);
  EXPECT_EQ(album.at("genre"), "Rock");
  EXPECT_EQ(ids(album.at("song")), (std::vector<std::string>{a1_, a2_}));
  ok_xml("getAlbum", "id=" + albums_["Signals"]);

  auto song = ok_json("getSong", "id=" + c1_)["song"].as_object();  // one song: an object, not a list
  EXPECT_EQ(song.at("title"), "Déjà Vu");
  EXPECT_EQ(song.at("artist"), "Björk");
  EXPECT_NE(ok_xml("getSong", "id=" + c1_).find("title=\"Déjà Vu\""), std::string::npos);

  expect_error(rest("getArtist", auth() + "&f=json&id=" + albums_["Signals"]), 70);
  expect_error(rest("getAlbum", auth() + "&f=json&id=al-0000000000000000"), 70);
  expect_error(rest("getSong", auth() + "&f=json&id=" + albums_["Signals"]), 70);
}

TEST_F(SubsonicBrowseTest, IdsAreTheSameOnEveryNodeAndAfterARestart) {
  auto before = ok_json("getAlbum", "id=" + albums_["Signals"]);
  server_->restart();
  EXPECT_EQ(json::serialize(ok_json("getAlbum", "id=" + albums_["Signals"])["album"]),
            json::serialize(before["album"]));
}

TEST_F(SubsonicBrowseTest, AlbumListsByEveryType) {
  auto list = [&](const std::string& query, bool id3 = true) {
    auto root = ok_json(id3 ? "getAlbumList2" : "getAlbumList", query);
    const auto& l = root[id3 ? "albumList2" : "albumList"].as_object();
    return l.contains("album") ? ids(l.at("album")) : std::vector<std::string>{};
  };
  const auto signals = albums_["Signals"], waves = albums_["Waves"], homo = albums_["Homogénique"];
  EXPECT_EQ(list("type=alphabeticalByName"), (std::vector<std::string>{homo, signals, waves}));
  EXPECT_EQ(list("type=alphabeticalByArtist"), (std::vector<std::string>{waves, homo, signals}));
  EXPECT_EQ(list("type=newest"), (std::vector<std::string>{homo, waves, signals}));
  EXPECT_EQ(list("type=byYear&fromYear=2000&toYear=2020"), (std::vector<std::string>{waves, homo}));
  EXPECT_EQ(list("type=byYear&fromYear=2020&toYear=1990"), (std::vector<std::string>{homo, waves, signals}));
  EXPECT_EQ(list("type=byGenre&genre=jazz"), (std::vector<std::string>{waves}));
  EXPECT_EQ(list("type=alphabeticalByName&size=1&offset=1"), (std::vector<std::string>{signals}));
  EXPECT_EQ(list("type=alphabeticalByName&offset=5"), (std::vector<std::string>{}));
  auto random = list("type=random&size=10");
  std::sort(random.begin(), random.end());
  auto all = std::vector<std::string>{homo, signals, waves};
  std::sort(all.begin(), all.end());
  EXPECT_EQ(random, all);
  // Nothing starred, rated or played yet (SubsonicUserDataTest fills them).
  for (const char* none : {"starred", "highest", "frequent", "recent"}) {
    EXPECT_TRUE(list(std::string("type=") + none).empty()) << none;
  }
  // The folder-style list has directory entries.
  EXPECT_EQ(list("type=alphabeticalByName", false), (std::vector<std::string>{homo, signals, waves}));
  EXPECT_NE(ok_xml("getAlbumList", "type=newest").find("isDir=\"true\""), std::string::npos);
  EXPECT_NE(ok_xml("getAlbumList2", "type=newest").find("<albumList2><album id="), std::string::npos);

  expect_error(rest("getAlbumList2", auth() + "&f=json"), 10);
  expect_error(rest("getAlbumList2", auth() + "&f=json&type=byYear&fromYear=1"), 10);
  expect_error(rest("getAlbumList2", auth() + "&f=json&type=byGenre"), 10);
  expect_error(rest("getAlbumList2", auth() + "&f=json&type=sideways"), 0);
  expect_error(rest("getAlbumList2", auth() + "&f=json&type=newest&size=501"), 0);
  expect_error(rest("getAlbumList2", auth() + "&f=json&type=newest&size=0"), 0);
}

TEST_F(SubsonicBrowseTest, RandomSongsAndSongsByGenre) {
  auto random = ids(ok_json("getRandomSongs", "size=10")["randomSongs"].at("song"));
  std::sort(random.begin(), random.end());
  auto all = std::vector<std::string>{a1_, a2_, b1_, c1_};
  std::sort(all.begin(), all.end());
  EXPECT_EQ(random, all);
  EXPECT_EQ(ids(ok_json("getRandomSongs", "size=2")["randomSongs"].at("song")).size(), 2u);
  EXPECT_EQ(ids(ok_json("getRandomSongs", "genre=Jazz")["randomSongs"].at("song")), (std::vector<std::string>{b1_}));
  EXPECT_EQ(ids(ok_json("getRandomSongs", "fromYear=2006")["randomSongs"].at("song")),
            (std::vector<std::string>{c1_}));
  ok_xml("getRandomSongs");

  auto rock = ids(ok_json("getSongsByGenre", "genre=ROCK")["songsByGenre"].at("song"));
  std::sort(rock.begin(), rock.end());
  auto expected = std::vector<std::string>{a1_, a2_};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(rock, expected);
  EXPECT_EQ(ids(ok_json("getSongsByGenre", "genre=Rock&count=1&offset=1")["songsByGenre"].at("song")).size(), 1u);
  EXPECT_FALSE(ok_json("getSongsByGenre", "genre=Rock&offset=2")["songsByGenre"].as_object().contains("song"));
  ok_xml("getSongsByGenre", "genre=Pop");
  expect_error(rest("getSongsByGenre", auth() + "&f=json"), 10);
  EXPECT_TRUE(ok_json("getStarred2")["starred2"].as_object().empty());
  ok_xml("getStarred");
}

TEST_F(SubsonicBrowseTest, Search3WithCountsOffsetsAndEmptyQueryPaging) {
  auto result = ok_json("search3", "query=bjork")["searchResult3"].as_object();
  EXPECT_FALSE(result.contains("song"));  // "bjork" is not "björk": the same matching as /api/v1/songs
  result = ok_json("search3", "query=" + q("BJÖRK"))["searchResult3"].as_object();
  EXPECT_EQ(ids(result.at("artist")), (std::vector<std::string>{artists_["Björk"]}));
  EXPECT_EQ(ids(result.at("album")), (std::vector<std::string>{albums_["Homogénique"]}));
  EXPECT_EQ(ids(result.at("song")), (std::vector<std::string>{c1_}));
  auto api = get("/api/v1/songs?q=" + q("BJÖRK"), token_).json().at("items").as_array();
  ASSERT_EQ(api.size(), 1u);
  EXPECT_EQ(api[0].at("id"), json::value(c1_));

  // An empty query (also as "" and with Lucene's *) pages through the whole library.
  for (const char* empty : {"query=", "query=%22%22", "query=*", ""}) {
    std::vector<std::string> paged;
    for (int offset = 0; offset < 10; offset += 3) {
      auto page = ok_json("search3", std::string(empty) + "&artistCount=0&albumCount=0&songCount=3&songOffset=" +
                                         std::to_string(offset))["searchResult3"].as_object();
      EXPECT_FALSE(page.contains("artist"));
      if (!page.contains("song")) break;
      for (auto& id : ids(page.at("song"))) paged.push_back(id);
    }
    std::sort(paged.begin(), paged.end());
    auto all = std::vector<std::string>{a1_, a2_, b1_, c1_};
    std::sort(all.begin(), all.end());
    EXPECT_EQ(paged, all) << empty;
  }
  auto counts = ok_json("search3", "query=&artistCount=1&artistOffset=1&albumCount=2")["searchResult3"].as_object();
  EXPECT_EQ(ids(counts.at("artist")), (std::vector<std::string>{artists_["Björk"]}));
  EXPECT_EQ(ids(counts.at("album")).size(), 2u);
  auto xml = ok_xml("search3", "query=alpha");
  EXPECT_NE(xml.find("<searchResult3><song id=\"" + a1_ + "\""), std::string::npos) << xml;
  expect_error(rest("search3", auth() + "&f=json&songCount=501"), 0);
  expect_error(rest("search3", auth() + "&f=json&query=" + std::string(300, 'x')), 0);
}

TEST_F(SubsonicBrowseTest, Search2UsesFolderStyleEntries) {
  auto result = ok_json("search2", "query=testers")["searchResult2"].as_object();
  ASSERT_EQ(ids(result.at("artist")), (std::vector<std::string>{artists_["The Testers"]}));
  EXPECT_FALSE(result.at("artist").as_array()[0].as_object().contains("albumCount"));
  EXPECT_EQ(result.at("album").as_array()[0].at("isDir"), true);
  EXPECT_EQ(ids(result.at("song")).size(), 2u);
  ok_xml("search2", "query=");
}

TEST_F(SubsonicBrowseTest, UserAndScanStatus) {
  auto user = ok_json("getUser", "username=alice")["user"].as_object();
  EXPECT_EQ(user.at("username"), "alice");
  EXPECT_EQ(user.at("adminRole"), true);
  EXPECT_EQ(user.at("streamRole"), true);
  EXPECT_EQ(user.at("folder"), json::array{1});
  EXPECT_NE(ok_xml("getUser", "username=alice").find("<folder>1</folder>"), std::string::npos);
  const auto bob = register_and_login("bob", kPassword);
  const auto bob_app = create_credential(bob, "app-passwords", "Phone", "password");
  expect_error(rest("getUser", token_auth("bob", bob_app) + "&f=json&username=alice"), 50);
  EXPECT_EQ(response_of(rest("getUser", auth() + "&f=json&username=bob"))["user"].at("adminRole"), false);
  expect_error(rest("getUser", auth() + "&f=json&username=nobody"), 70);
  EXPECT_EQ(ok_json("getScanStatus")["scanStatus"].at("count"), 4);
  EXPECT_NE(ok_xml("getScanStatus").find("<scanStatus scanning=\"false\" count=\"4\"/>"), std::string::npos);
  EXPECT_TRUE(ok_json("getStarred")["starred"].as_object().empty());
  ok_xml("getStarred2");
}

}  // namespace
}  // namespace hifi::testing
