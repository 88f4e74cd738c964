// The Subsonic endpoints of what HiFi knows beyond tags: artist and album
// info (signed cover URLs, similar artists), similar songs, lyrics from the
// files' tags, resized covers, and getAvatar/startScan.
#include <fstream>

#include "media/image_resize.h"
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

class SubsonicInfoTest : public SubsonicTest {
 protected:
  void SetUp() override {
    SubsonicTest::SetUp();
    rock1_ = add_song(440, "Alpha", "The Testers", "Signals", {{"IGNR", "Rock"}});
    rock2_ = add_song(494, "Beta", "The Testers", "Signals", {{"IGNR", "Rock"}});
    rock3_ = add_song(523, "Gamma", "The Testers", "Noise", {{"IGNR", "Rock"}});
    other_rock_ = add_song(587, "Delta", "Rockers", "Stones", {{"IGNR", "Rock"}});
    jazz_ = add_song(659, "Epsilon", "Band of Sines", "Waves", {{"IGNR", "Jazz"}});
  }

  static bool have_ffmpeg() { return std::system("command -v ffmpeg >/dev/null 2>&1") == 0; }

  // Uploads a file made by the ffmpeg CLI from `args` (inputs, codecs,
  // tags) into `name`; its song id.
  std::string upload_made(const std::string& args, const std::string& name, const std::string& type) {
    const auto path = (dir_ / name).string();
    EXPECT_EQ(std::system(("timeout 60 ffmpeg -nostdin -hide_banner -loglevel error -y " + args + " " + path).c_str()), 0);
    std::ifstream in(path, std::ios::binary);
    auto up = upload(token_, std::string(std::istreambuf_iterator<char>(in), {}), name, {{"Content-Type", type}});
    EXPECT_EQ(up.status, 201) << up.body;
    return up.status == 201 ? std::string(up.json().at("id").as_string()) : std::string();
  }

  std::string rock1_, rock2_, rock3_, other_rock_, jazz_;
};

std::vector<std::string> strings_at(const json::value& list, const char* key) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& e : list.as_array()) out.emplace_back(e.at(key).as_string());
  return out;
}

TEST_F(SubsonicInfoTest, SimilarSongsAreTheArtistsThenTheGenres) {
  for (const char* endpoint : {"getSimilarSongs", "getSimilarSongs2"}) {
    const std::string element = std::string(endpoint) == "getSimilarSongs" ? "similarSongs" : "similarSongs2";
    auto songs = strings_at(ok_json(endpoint, "id=" + rock1_)[element].at("song"), "id");
    ASSERT_EQ(songs.size(), 3u) << endpoint;
    // Same artist first (any order), then the genre; never the seed or jazz.
    EXPECT_EQ(std::set<std::string>(songs.begin(), songs.begin() + 2), (std::set<std::string>{rock2_, rock3_}));
    EXPECT_EQ(songs[2], other_rock_);
    EXPECT_EQ(strings_at(ok_json(endpoint, "id=" + rock1_ + "&count=1")[element].at("song"), "id").size(), 1u);
  }
  // An album leaves its own songs out; an artist seeds with its songs.
  auto album = ok_json("getSong", "id=" + rock1_)["song"].at("albumId");
  auto by_album = strings_at(
      ok_json("getSimilarSongs2", "id=" + std::string(album.as_string()))["similarSongs2"].at("song"), "id");
  EXPECT_EQ(std::set<std::string>(by_album.begin(), by_album.end()), (std::set<std::string>{rock3_, other_rock_}));
  auto artist = ok_json("getSong", "id=" + jazz_)["song"].at("artistId");
  auto by_artist = strings_at(
      ok_json("getSimilarSongs", "id=" + std::string(artist.as_string()))["similarSongs"].at("song"), "id");
  EXPECT_EQ(by_artist, std::vector<std::string>{jazz_});

  EXPECT_NE(ok_xml("getSimilarSongs2", "id=" + rock1_).find("<similarSongs2><song id="), std::string::npos);
  expect_error(rest("getSimilarSongs", auth() + "&f=json&id=" + rock1_ + "&count=501"), 0);
  expect_error(rest("getSimilarSongs", auth() + "&f=json"), 10);
  expect_error(rest("getSimilarSongs", auth() + "&f=json&id=al-0123456789abcdef"), 70);
}

TEST_F(SubsonicInfoTest, ArtistInfoListsArtistsSharingAGenre) {
  const auto testers = std::string(ok_json("getSong", "id=" + rock1_)["song"].at("artistId").as_string());
  const auto rockers = std::string(ok_json("getSong", "id=" + other_rock_)["song"].at("artistId").as_string());
  auto info = ok_json("getArtistInfo2", "id=" + testers + "&includeNotPresent=true")["artistInfo2"].as_object();
  EXPECT_EQ(info.at("biography"), "");
  EXPECT_FALSE(info.contains("largeImageUrl"));  // no covers in this library
  auto similar = info.at("similarArtist").as_array();
  ASSERT_EQ(similar.size(), 1u);
  EXPECT_EQ(similar[0].at("id"), json::value(rockers));
  EXPECT_EQ(similar[0].at("name"), "Rockers");
  EXPECT_TRUE(similar[0].as_object().contains("albumCount"));
  // getArtistInfo takes a song's id too, and folder-style artists.
  auto old = ok_json("getArtistInfo", "id=" + rock1_ + "&count=0")["artistInfo"].as_object();
  EXPECT_FALSE(old.contains("similarArtist"));
  auto xml = ok_xml("getArtistInfo", "id=" + testers);
  EXPECT_NE(xml.find("<artistInfo><biography></biography><similarArtist id=\"" + rockers + "\" name=\"Rockers\"/>"),
            std::string::npos)
      << xml;

  expect_error(rest("getArtistInfo2", auth() + "&f=json&id=" + rock1_), 70);
  expect_error(rest("getArtistInfo", auth() + "&f=json&id=ar-0123456789abcdef"), 70);
  expect_error(rest("getArtistInfo", auth() + "&f=json&id=" + testers + "&count=101"), 0);
  expect_error(rest("getArtistInfo", auth() + "&f=json&id=" + testers + "&includeNotPresent=maybe"), 0);
}

TEST_F(SubsonicInfoTest, AlbumInfoAndCoverUrlsThatNeedNoCredentials) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg not installed";
  const auto covered = upload_made(
      "-f lavfi -i sine=duration=1 -f lavfi -i testsrc2=size=640x320:rate=1:duration=1 -map 0:a -map 1:v -frames:v 1 "
      "-c:a libmp3lame -c:v png -disposition:v attached_pic -id3v2_version 3 -metadata title=Covered "
      "-metadata artist=Painter -metadata album=Gallery -metadata genre=Rock",
      "covered.mp3", "audio/mpeg");
  ASSERT_FALSE(covered.empty());
  const auto album = std::string(ok_json("getSong", "id=" + covered)["song"].at("albumId").as_string());
  for (const auto& [endpoint, id] : {std::pair{"getAlbumInfo", covered}, std::pair{"getAlbumInfo2", album}}) {
    auto info = ok_json(endpoint, "id=" + id)["albumInfo"].as_object();
    EXPECT_EQ(info.at("notes"), "");
    const std::string large(info.at("largeImageUrl").as_string());
    ASSERT_TRUE(large.starts_with("http://127.0.0.1:")) << large;
    EXPECT_NE(large.find("/rest/getCoverArt?id=" + album + "&size=1200&expires="), std::string::npos) << large;
    // Loaded as it is, without credentials: the cover (smaller than 1200).
    auto r = server_->request(V::get, large.substr(large.find("/rest/")));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "image/png") << r.body.substr(0, 300);
    auto small = std::string(info.at("smallImageUrl").as_string());
    auto s = server_->request(V::get, small.substr(small.find("/rest/")));
    EXPECT_EQ(s.header("content-type"), "image/jpeg") << s.body.substr(0, 300);
    auto size = media::image_size(s.body);
    ASSERT_TRUE(size) << size.status().to_string();
    EXPECT_EQ(size->width, 300);
    EXPECT_EQ(size->height, 150);
    // The signature is for that id and size only.
    auto other_size = small.substr(small.find("/rest/"));
    other_size.replace(other_size.find("size=300"), 8, "size=301");
    expect_error(server_->request(V::get, other_size + "&f=json"), 10);
    auto tampered = small.substr(small.find("/rest/"));
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    expect_error(server_->request(V::get, tampered + "&f=json"), 10);
  }
  auto artist = ok_json("getArtistInfo", "id=" + covered)["artistInfo"].as_object();
  EXPECT_NE(std::string(artist.at("mediumImageUrl").as_string()).find("size=600"), std::string::npos);
  expect_error(rest("getAlbumInfo2", auth() + "&f=json&id=" + covered), 70);
  expect_error(rest("getAlbumInfo", auth() + "&f=json&id=al-0123456789abcdef"), 70);
}

TEST_F(SubsonicInfoTest, CoverArtIsResizedOnceAndSmallerOnesSentAsTheyAre) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg not installed";
  const auto id = upload_made(
      "-f lavfi -i sine=duration=1 -f lavfi -i testsrc2=size=200x400:rate=1:duration=1 -map 0:a -map 1:v -frames:v 1 "
      "-c:a libmp3lame -c:v mjpeg -disposition:v attached_pic -id3v2_version 3 -metadata title=Tall",
      "tall.mp3", "audio/mpeg");
  ASSERT_FALSE(id.empty());
  auto first = rest("getCoverArt", auth() + "&id=" + id + "&size=100");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("content-type"), "image/jpeg");
  auto size = media::image_size(first.body);
  ASSERT_TRUE(size) << size.status().to_string();
  EXPECT_EQ(size->width, 50);
  EXPECT_EQ(size->height, 100);
  // Served again from the cache: the same bytes, with a length and an ETag.
  auto again = rest("getCoverArt", auth() + "&id=" + id + "&size=100");
  EXPECT_EQ(again.body, first.body);
  EXPECT_FALSE(again.header("etag").empty());
  EXPECT_EQ(again.header("content-length"), std::to_string(first.body.size()));

  auto original = rest("getCoverArt", auth() + "&id=" + id);
  EXPECT_EQ(rest("getCoverArt", auth() + "&id=" + id + "&size=400").body, original.body);
  EXPECT_EQ(rest("getCoverArt", auth() + "&id=" + id + "&size=4096").body, original.body);
  expect_error(rest("getCoverArt", auth() + "&f=json&id=" + id + "&size=4097"), 0);
}

TEST_F(SubsonicInfoTest, LyricsFromTheFilesTags) {
  if (!have_ffmpeg()) GTEST_SKIP() << "ffmpeg not installed";
  const auto synced = upload_made(
      "-f lavfi -i sine=duration=1 -metadata title=Timed -metadata artist=Singer "
      "-metadata 'lyrics=[00:00.50]Hello\n[00:01.25]World'",
      "timed.flac", "audio/flac");
  const auto plain = upload_made(
      "-f lavfi -i sine=frequency=880:duration=1 -c:a libmp3lame -metadata title=Plain -metadata artist=Singer "
      "-metadata 'lyrics-eng=First line\nSecond line'",
      "plain.mp3", "audio/mpeg");

  auto list = ok_json("getLyricsBySongId", "id=" + synced)["lyricsList"].at("structuredLyrics").as_array();
  ASSERT_EQ(list.size(), 1u);
  const auto& timed = list[0].as_object();
  EXPECT_EQ(timed.at("displayArtist"), "Singer");
  EXPECT_EQ(timed.at("displayTitle"), "Timed");
  EXPECT_EQ(timed.at("lang"), "xxx");
  EXPECT_EQ(timed.at("synced"), true);
  EXPECT_EQ(timed.at("offset"), 0);
  auto lines = timed.at("line").as_array();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("start"), 500);
  EXPECT_EQ(lines[0].at("value"), "Hello");
  EXPECT_EQ(lines[1].at("start"), 1250);

  auto unsynced = ok_json("getLyricsBySongId", "id=" + plain)["lyricsList"].at("structuredLyrics").as_array();
  ASSERT_EQ(unsynced.size(), 1u);
  EXPECT_EQ(unsynced[0].at("synced"), false);
  EXPECT_EQ(unsynced[0].at("lang"), "eng");
  EXPECT_FALSE(unsynced[0].at("line").as_array()[0].as_object().contains("start"));
  EXPECT_EQ(unsynced[0].at("line").as_array()[1].at("value"), "Second line");
  auto xml = ok_xml("getLyricsBySongId", "id=" + synced);
  EXPECT_NE(xml.find("<lyricsList><structuredLyrics displayArtist=\"Singer\" displayTitle=\"Timed\" lang=\"xxx\" "
                     "synced=\"true\" offset=\"0\"><line start=\"500\">Hello</line>"),
            std::string::npos)
      << xml;

  // No lyrics: an empty list. The old API by artist and title.
  EXPECT_FALSE(ok_json("getLyricsBySongId", "id=" + rock1_)["lyricsList"].as_object().contains("structuredLyrics"));
  auto old = ok_json("getLyrics", "artist=singer&title=PLAIN")["lyrics"].as_object();
  EXPECT_EQ(old.at("artist"), "Singer");
  EXPECT_EQ(old.at("title"), "Plain");
  EXPECT_EQ(old.at("value"), "First line\nSecond line");
  EXPECT_EQ(ok_json("getLyrics", "artist=Singer&title=Timed")["lyrics"].at("value"), "Hello\nWorld");
  EXPECT_TRUE(ok_json("getLyrics", "artist=Nobody&title=Timed")["lyrics"].as_object().empty());
  EXPECT_NE(ok_xml("getLyrics", "artist=Nobody").find("<lyrics/>"), std::string::npos);

  expect_error(rest("getLyricsBySongId", auth() + "&f=json"), 10);
  expect_error(rest("getLyricsBySongId", auth() + "&f=json&id=al-0123456789abcdef"), 70);
  expect_error(rest("getLyricsBySongId", auth() + "&f=json&id=0123456789abcdef0123456789abcdef"), 70);
  expect_error(rest("getLyrics", auth() + "&f=json&title=" + std::string(513, 'a')), 0);
  expect_error(rest("getLyrics", "f=json&title=Timed"), 10);

  auto extensions = strings_at(ok_json("getOpenSubsonicExtensions")["openSubsonicExtensions"], "name");
  EXPECT_NE(std::find(extensions.begin(), extensions.end(), "songLyrics"), extensions.end());
}

TEST_F(SubsonicInfoTest, AvatarIsNotFoundAndScanHasNothingToDo) {
  expect_error(rest("getAvatar", auth() + "&f=json&username=alice"), 70);
  expect_error(rest("getAvatar", auth() + "&f=json"), 10);
  auto scan = ok_json("startScan")["scanStatus"].as_object();
  EXPECT_EQ(scan.at("scanning"), false);
  EXPECT_EQ(scan.at("count"), 5);
}

}  // namespace
}  // namespace hifi::testing
