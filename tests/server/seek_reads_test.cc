// Integration tests: seek plans (GET /api/v1/songs/{id}/stream
// ?seek_frame=F&seek_rate=R) on an in-process server bound to port 0: a
// multipart/byteranges answer whose parts are the stored file's bytes at
// their offsets, through a bearer token or a signed URL, and parameters
// that are named when wrong.
#include <gtest/gtest.h>

#include "common/byteranges.h"
#include "server/api_fixture.h"

namespace hifi::testing {
namespace {

class SeekReadsApiTest : public ApiTest {
 protected:
  std::string upload_song(const std::string& token, const std::string& wav) {
    auto up = upload(token, wav, "song.wav");
    EXPECT_EQ(up.status, 201) << up.body;
    return std::string(up.json().at("id").as_string());
  }
};

TEST_F(SeekReadsApiTest, APlanIsTheStoredBytesAtTheirOffsets) {
  auto token = register_and_login("alice");
  const auto wav = make_wav(440, 20.0);  // 8 kHz
  const std::uint64_t per_second = (wav.size() - 44) / 20;
  const auto id = upload_song(token, wav);
  auto url = get("/api/v1/songs/" + id + "/stream-url", token);
  ASSERT_EQ(url.status, 200) << url.body;
  const std::string signed_url(url.json().at("url").as_string());
  for (const auto& [target, bearer] : {std::pair{"/api/v1/songs/" + id + "/stream?seek_frame=480000&seek_rate=48000", token},
                                       std::pair{signed_url + "&seek_frame=700000&seek_rate=48000", std::string()}}) {
    SCOPED_TRACE(target);
    auto r = get(target, bearer, {{"Range", "bytes=0-0"}});
    ASSERT_EQ(r.status, 206) << r.body;
    EXPECT_EQ(r.header("etag"), "\"" + ContentHash::of(wav).hex() + "\"");
    auto parts = parse_byteranges(r.header("content-type"), r.body);
    ASSERT_TRUE(parts) << parts.status().to_string();
    ASSERT_FALSE(parts->empty());
    std::uint64_t bytes = 0;
    for (const auto& p : *parts) {
      ASSERT_LE(p.first + p.bytes.size(), wav.size());
      EXPECT_TRUE(p.bytes == wav.substr(p.first, p.bytes.size())) << "part at " << p.first;
      bytes += p.bytes.size();
    }
    // A WAV seeks by arithmetic: the second after the frame, and little more.
    EXPECT_GE(bytes, per_second);
    EXPECT_LT(bytes, wav.size() / 4);
    EXPECT_GT(parts->front().first, per_second * 9) << "nothing from the start of the song";
  }
}

TEST_F(SeekReadsApiTest, WithTheOpeningThePlanStartsWithTheHeader) {
  auto token = register_and_login("alice");
  const auto wav = make_wav(440, 20.0);
  const auto id = upload_song(token, wav);
  auto r = get("/api/v1/songs/" + id + "/stream?seek_frame=480000&seek_rate=48000&seek_open=1", token);
  ASSERT_EQ(r.status, 206) << r.body;
  auto parts = parse_byteranges(r.header("content-type"), r.body);
  ASSERT_TRUE(parts) << parts.status().to_string();
  ASSERT_GE(parts->size(), 2u) << "the header, then the second after the frame";
  EXPECT_EQ(parts->front().first, 0u);
  EXPECT_TRUE(parts->front().bytes == wav.substr(0, parts->front().bytes.size()));
  EXPECT_EQ(parts->front().total, wav.size());
}

TEST_F(SeekReadsApiTest, BadParametersAreNamed) {
  auto token = register_and_login("alice");
  const auto id = upload_song(token, make_wav(440, 2.0));
  const auto base = "/api/v1/songs/" + id + "/stream?";
  const std::pair<std::string, std::string> cases[] = {
      {"seek_frame=10", "seek_rate"},
      {"seek_rate=48000", "seek_frame"},
      {"seek_frame=10&seek_rate=100", "seek_rate"},
      {"seek_frame=-1&seek_rate=48000", "seek_frame"},
      {"seek_frame=x&seek_rate=48000", "seek_frame"},
      {"seek_frame=4800000&seek_rate=48000", "seek_frame"},  // beyond the song's 2 s
      {"seek_frame=10&seek_rate=48000&format=opus", "seek_frame"},
      {"seek_frame=10&seek_rate=48000&seek_open=2", "seek_open"},
  };
  for (const auto& [query, parameter] : cases) {
    SCOPED_TRACE(query);
    auto r = get(base + query, token);
    expect_problem(r, 400, "invalid-parameter");
    EXPECT_EQ(r.json().at("parameter").as_string(), parameter);
  }
}

TEST_F(SeekReadsApiTest, ASongThatDoesNotDecodeHereIsSaidSo) {
  auto token = register_and_login("alice");
  const auto wav = make_wav(440, 3.0);
  const auto id = upload_song(token, wav);
  // The stored copy damaged behind the server's back: a header that is no
  // longer RIFF.
  const auto path = server_->node().blobs().path_for(ContentHash::of(wav));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.write("JUNKJUNKJUNKJUNK", 16);
  }
  auto r = get("/api/v1/songs/" + id + "/stream?seek_frame=96000&seek_rate=48000", token);
  expect_problem(r, 422, "undecodable");
}

}  // namespace
}  // namespace hifi::testing
