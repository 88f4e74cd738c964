// Integration tests: transcoded streams (GET /api/v1/songs/{id}/stream
// ?format=...) on an in-process server bound to port 0.
#include <gtest/gtest.h>

#include <fstream>

#include "common/sha256.h"
#include "media/decoder.h"
#include "server/api_fixture.h"
#include "server/digest_header.h"
#include "support/eventually.h"

namespace hifi::testing {
namespace {

class TranscodeTest : public ApiTest {
 protected:
  std::string upload_song(const std::string& token, const std::string& wav) {
    auto up = upload(token, wav, "song.wav");
    EXPECT_EQ(up.status, 201) << up.body;
    return std::string(up.json().at("id").as_string());
  }

  std::string metric(const std::string& token, const std::string& name) {
    auto body = get("/metrics", token).body;
    auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return "";
    at += name.size() + 2;
    return body.substr(at, body.find('\n', at) - at);
  }
};

TEST_F(TranscodeTest, StreamsAsItEncodesThenServesTheCachedCopyLikeAnOriginal) {
  auto token = register_and_login("alice");
  const auto id = upload_song(token, make_wav(440, 3.0));
  const auto target = "/api/v1/songs/" + id + "/stream?format=opus&bitrate=96";

  auto live = get(target, token);
  ASSERT_EQ(live.status, 200) << live.body;
  EXPECT_EQ(live.header("content-type"), "audio/ogg");
  EXPECT_EQ(live.header("transfer-encoding"), "chunked");
  EXPECT_EQ(live.header("content-length"), "");
  EXPECT_EQ(live.header("x-hifi-transcode"), "opus 96 kbit/s");
  EXPECT_EQ(live.body.substr(0, 4), "OggS");
  // Three seconds, within one Opus frame.
  EXPECT_NEAR(static_cast<double>(decoded_frames(live.body)), 3.0 * 48000, 960);

  // Asked again: the finished transcode, with a length, ranges and an ETag
  // that is the digest of the transcoded bytes.
  auto cached = get(target, token);
  ASSERT_EQ(cached.status, 200);
  EXPECT_EQ(cached.body, live.body);
  EXPECT_EQ(cached.header("content-length"), std::to_string(live.body.size()));
  EXPECT_EQ(cached.header("accept-ranges"), "bytes");
  EXPECT_EQ(cached.header("etag"), "\"" + to_hex(sha256(live.body)) + "\"");
  EXPECT_EQ(cached.header("repr-digest"), format_sha256_digest_header(sha256(live.body)));
  auto part = get(target, token, {{"Range", "bytes=10-19"}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.body, live.body.substr(10, 10));
  EXPECT_EQ(metric(token, "hifi_transcodes_total{result=\"completed\"}"), "1");
  EXPECT_EQ(metric(token, "hifi_transcodes_total{result=\"cached\"}"), "2");
  EXPECT_EQ(metric(token, "hifi_active_transcodes"), "0");

  // Another bitrate is another transcode.
  auto other = get("/api/v1/songs/" + id + "/stream?format=opus&bitrate=64", token);
  ASSERT_EQ(other.status, 200);
  EXPECT_EQ(other.header("transfer-encoding"), "chunked");
}

TEST_F(TranscodeTest, EveryFormatFromAnOffsetAndThroughSignedUrls) {
  auto token = register_and_login("alice");
  const auto id = upload_song(token, make_wav(330, 4.0));
  for (const std::string format : {"opus", "mp3", "aac"}) {
    SCOPED_TRACE(format);
    auto r = get("/api/v1/songs/" + id + "/stream?format=" + format + "&offset_ms=3000", token);
    ASSERT_EQ(r.status, 200) << r.body;
    // One second is left; MP3 and AAC streams add their priming (about
    // 1100 samples) and up to a frame of padding.
    const double frames = static_cast<double>(decoded_frames(r.body));
    EXPECT_GE(frames, 48000 - 1200) << frames;
    EXPECT_LE(frames, 48000 + 2 * 1200 + 1200) << frames;
  }
  auto url = get("/api/v1/songs/" + id + "/stream-url", token);
  std::string signed_url(url.json().at("url").as_string());
  auto r = get(signed_url + "&format=mp3&bitrate=64", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "audio/mpeg");
  EXPECT_EQ(r.header("x-hifi-transcode"), "mp3 64 kbit/s");
}

TEST_F(TranscodeTest, LosslessPiecesForPlayersThatFetchAPieceAtATime) {
  auto token = register_and_login("alice");
  const auto id = upload_song(token, make_wav(440, 3.0));
  auto r = get("/api/v1/songs/" + id + "/stream?format=flac&offset_ms=1000&duration_ms=1500", token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "audio/flac");
  EXPECT_EQ(r.header("x-hifi-transcode"), "flac from 1000 ms for 1500 ms");
  EXPECT_EQ(r.body.substr(0, 4), "fLaC");
  EXPECT_EQ(decoded_frames(r.body), 1500u * 48);
  // A whole-song FLAC is cached like the lossy formats.
  EXPECT_EQ(get("/api/v1/songs/" + id + "/stream?format=flac", token).header("transfer-encoding"), "chunked");
  EXPECT_NE(get("/api/v1/songs/" + id + "/stream?format=flac", token).header("content-length"), "");
}

TEST_F(TranscodeTest, BadParametersAreNamed) {
  auto token = register_and_login("alice");
  const auto id = upload_song(token, make_wav(440, 2.0));
  const auto base = "/api/v1/songs/" + id + "/stream?";
  const std::pair<std::string, std::string> cases[] = {
      {"format=wav", "format"},          {"format=", "format"},
      {"format=opus&bitrate=abc", "bitrate"}, {"format=opus&bitrate=8", "bitrate"},
      {"format=opus&bitrate=1000", "bitrate"}, {"format=mp3&offset_ms=-5", "offset_ms"},
      {"format=mp3&offset_ms=999999", "offset_ms"}, {"offset_ms=500", "offset_ms"},
      {"format=raw&offset_ms=500", "offset_ms"}, {"format=flac&duration_ms=0", "duration_ms"},
      {"duration_ms=1000", "duration_ms"},
  };
  for (const auto& [query, parameter] : cases) {
    SCOPED_TRACE(query);
    auto r = get(base + query, token);
    expect_problem(r, 400, "invalid-parameter");
    EXPECT_EQ(r.json().at("parameter").as_string(), parameter);
  }
  // raw is the stored file, as without a format.
  auto raw = get(base + "format=raw", token);
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.header("content-type"), "audio/wav");
}

TEST_F(TranscodeTest, BeyondTheLimitIsRefusedAndAClientThatLeavesFreesItsSlot) {
  ServerConfig config;
  config.max_transcodes = 1;
  config.max_upload_bytes = 64 << 20;
  make_server(config);
  auto token = register_and_login("alice");
  // Ten minutes: far more Opus at 320 kbit/s than socket buffers hold, so
  // a client that does not read keeps its transcode (and the slot) waiting.
  const auto id = upload_song(token, make_wav(440, 600.0));
  const auto target = "/api/v1/songs/" + id + "/stream?format=opus&bitrate=320";

  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket reader(ioc);
  reader.connect({boost::asio::ip::make_address("127.0.0.1"), server_->port()});
  boost::asio::write(reader, boost::asio::buffer("GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                                 token + "\r\n\r\n"));
  char first[16];
  boost::asio::read(reader, boost::asio::buffer(first));
  EXPECT_EQ(std::string(first, 12), "HTTP/1.1 200");

  auto busy = get(target, token);
  expect_problem(busy, 503, "transcoder-busy");
  EXPECT_EQ(busy.header("retry-after"), "2");
  // Another song's original is not held up by the transcoder.
  EXPECT_EQ(get("/api/v1/songs/" + id + "/stream", token, {{"Range", "bytes=0-99"}}).status, 206);

  reader.close();  // the client goes away mid-stream
  EXPECT_TRUE(testing::eventually([&] { return metric(token, "hifi_active_transcodes") == "0"; }));
  EXPECT_EQ(metric(token, "hifi_transcodes_total{result=\"aborted\"}"), "1");
  EXPECT_EQ(metric(token, "hifi_transcodes_total{result=\"busy\"}"), "1");
  // The slot is free again, and nothing unfinished was cached.
  auto head = server_->request(V::head, target, {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(head.status, 200);
  std::size_t cache_files = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_ / "transcodes")) {
    cache_files += f.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(cache_files, 0u);
}

}  // namespace
}  // namespace hifi::testing
