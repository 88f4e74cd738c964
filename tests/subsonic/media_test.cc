// stream, download and getCoverArt through the Subsonic API: the stored
// bytes, transcodes (format, maxBitRate, timeOffset) and covers.
#include <fstream>

#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

class SubsonicMediaTest : public SubsonicTest {
 protected:
  // An MP3 with an embedded PNG cover, made by the ffmpeg CLI; empty when
  // ffmpeg is missing.
  std::string mp3_with_cover(std::string* png) {
    if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) return {};
    const auto cover = (dir_ / "cover.png").string(), mp3 = (dir_ / "cover.mp3").string();
    const auto ff = "ffmpeg -hide_banner -loglevel error -y ";
    if (std::system((ff + std::string("-f lavfi -i testsrc2=size=64x64:rate=1 -frames:v 1 ") + cover).c_str()) != 0 ||
        std::system((ff + std::string("-f lavfi -i sine=frequency=440:duration=2 -i ") + cover +
                     " -map 0:a -map 1:v -c:a libmp3lame -b:a 128k -c:v png -disposition:v attached_pic "
                     "-id3v2_version 3 -metadata title=Covered -metadata artist=Painter -metadata album=Gallery " +
                     mp3)
                        .c_str()) != 0) {
      return {};
    }
    std::ifstream p(cover, std::ios::binary), m(mp3, std::ios::binary);
    *png = std::string(std::istreambuf_iterator<char>(p), {});
    return std::string(std::istreambuf_iterator<char>(m), {});
  }
};

TEST_F(SubsonicMediaTest, StreamAndDownloadAreTheStoredBytes) {
  const auto wav = make_tagged_wav(440, "Alpha", "The Testers", "Signals");
  const auto id = add_song(440, "Alpha", "The Testers", "Signals");
  auto raw = rest("stream", auth() + "&id=" + id);
  ASSERT_EQ(raw.status, 200) << raw.body.substr(0, 300);
  EXPECT_EQ(raw.body, wav);
  EXPECT_EQ(raw.header("content-type"), "audio/wav");
  EXPECT_EQ(rest("stream.view", auth() + "&id=" + id + "&format=raw&maxBitRate=0").body, wav);
  // A limit above the song's bitrate needs no transcode either.
  EXPECT_EQ(rest("stream", auth() + "&id=" + id + "&maxBitRate=800").body, wav);
  auto part = server_->request(V::get, "/rest/stream?" + auth() + "&id=" + id, {}, {{"Range", "bytes=4-11"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, wav.substr(4, 8));

  auto download = rest("download", auth() + "&id=" + id);
  EXPECT_EQ(download.body, wav);
  EXPECT_NE(download.header("content-disposition").find("attachment"), std::string::npos);
  // POST works for media too.
  auto posted = server_->request(V::post, "/rest/download", auth() + "&id=" + id,
                                 {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(posted.body, wav);

  expect_error(rest("stream", auth() + "&f=json"), 10);
  expect_error(rest("stream", auth() + "&f=json&id=" + std::string(32, 'a')), 70);
  expect_error(rest("stream", auth() + "&f=json&id=al-0123456789abcdef"), 70);
  expect_error(rest("stream", "u=alice&p=wrong&f=json&id=" + id), 40);
  expect_error(rest("stream", auth() + "&f=json&id=" + id + "&format=wma"), 0);
  expect_error(rest("stream", auth() + "&f=json&id=" + id + "&format=raw&timeOffset=0&maxBitRate=x"), 0);
  auto xml = rest("download", auth() + "&id=nope");
  EXPECT_NE(xml.body.find("<error code=\"70\""), std::string::npos) << xml.body;
}

TEST_F(SubsonicMediaTest, TranscodesByFormatBitrateAndOffset) {
  auto up = upload(token_, make_wav(440, 3.0, 44100), "long.wav");
  ASSERT_EQ(up.status, 201);
  const auto id = std::string(up.json().at("id").as_string());

  auto mp3 = rest("stream", auth() + "&id=" + id + "&format=mp3&maxBitRate=128");
  ASSERT_EQ(mp3.status, 200);
  EXPECT_EQ(mp3.header("content-type"), "audio/mpeg");
  EXPECT_EQ(mp3.header("x-hifi-transcode"), "mp3 128 kbit/s");
  EXPECT_NEAR(static_cast<double>(decoded_frames(mp3.body)), 3.0 * 48000, 3000);

  // A maxBitRate below the song's (a 705 kbit/s WAV) transcodes to MP3 by itself.
  auto limited = rest("stream", auth() + "&id=" + id + "&maxBitRate=96");
  EXPECT_EQ(limited.header("x-hifi-transcode"), "mp3 96 kbit/s");
  auto opus = rest("stream", auth() + "&id=" + id + "&format=opus");
  EXPECT_EQ(opus.header("content-type"), "audio/ogg");
  EXPECT_EQ(opus.body.substr(0, 4), "OggS");

  // timeOffset: the rest of the song, from there.
  auto rest_of = rest("stream", auth() + "&id=" + id + "&format=mp3&timeOffset=2");
  EXPECT_EQ(rest_of.header("x-hifi-transcode"), "mp3 192 kbit/s from 2000 ms");
  EXPECT_NEAR(static_cast<double>(decoded_frames(rest_of.body)), 1.0 * 48000, 3000);
  expect_error(rest("stream", auth() + "&f=json&id=" + id + "&format=raw&timeOffset=1"), 0);
  expect_error(rest("stream", auth() + "&f=json&id=" + id + "&timeOffset=99"), 0);
}

TEST_F(SubsonicMediaTest, CoverArtOfSongAlbumAndArtist) {
  std::string png;
  const auto mp3 = mp3_with_cover(&png);
  if (mp3.empty()) GTEST_SKIP() << "ffmpeg not installed";
  auto up = upload(token_, mp3, "covered.mp3", {{"Content-Type", "audio/mpeg"}});
  ASSERT_EQ(up.status, 201) << up.body;
  const auto id = std::string(up.json().at("id").as_string());
  const auto plain = add_song(440, "Plain", "Painter", "Gallery");

  auto song = ok_json("getSong", "id=" + id)["song"].as_object();
  ASSERT_EQ(song.at("coverArt"), json::value(id));
  auto album = ok_json("getAlbum", "id=" + std::string(song.at("albumId").as_string()))["album"].as_object();
  auto artist = ok_json("getArtist", "id=" + std::string(song.at("artistId").as_string()))["artist"].as_object();
  for (const auto& cover_id : {std::string(song.at("coverArt").as_string()), std::string(album.at("coverArt").as_string()),
                               std::string(artist.at("coverArt").as_string())}) {
    auto r = rest("getCoverArt", auth() + "&id=" + cover_id + "&size=300");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "image/png") << cover_id;
    EXPECT_EQ(r.body, png) << cover_id;
  }
  EXPECT_FALSE(ok_json("getSong", "id=" + plain)["song"].as_object().contains("coverArt"));
  expect_error(rest("getCoverArt", auth() + "&f=json&id=" + plain), 70);
  expect_error(rest("getCoverArt", auth() + "&f=json"), 10);
  expect_error(rest("getCoverArt", auth() + "&f=json&id=" + id + "&size=0"), 0);

  // An MP3 asked for as MP3 within its bitrate is sent as it is.
  EXPECT_EQ(rest("stream", auth() + "&id=" + id + "&format=mp3&maxBitRate=320").body, mp3);
}

}  // namespace
}  // namespace hifi::testing
