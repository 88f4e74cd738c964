// HttpByteSource and StreamingSource over it, against the real in-process
// server: the bytes read are the song's at every offset, decoding from the
// stream gives the frames of the local file whatever the seeks, a seek near
// the end of a long song fetches a small fraction of it, an expired URL is
// asked for again, interrupt() ends a read the server never answers, and a
// transcoded stream without ranges is read straight through.
#include "client/http_byte_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "media/decoded_song.h"
#include "media/streaming_source.h"
#include "server/test_server.h"
#include "support/eventually.h"
#include "support/loopback.h"

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using media::StreamingSource;

constexpr media::AudioFormat kOut{48000, 2};
constexpr StreamingSource::Window kWindow{2, 0.5};

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The frames [first, first + frames) of a song decoded here.
std::vector<std::int16_t> frames_of(media::DecodedSong& song, std::uint64_t first, std::size_t frames) {
  std::vector<std::int16_t> out(frames * 2);
  out.resize(song.read_frames(first, out.data(), frames) * 2);
  return out;
}

// Seeks to `first` and reads `frames` frames once they are ready.
std::vector<std::int16_t> read_at(media::PcmSource& source, std::uint64_t first, std::size_t frames) {
  source.seek(first);
  EXPECT_TRUE(hifi::testing::eventually([&] { return source.ready(first, frames); }, std::chrono::seconds(60)))
      << "frame " << first << ": " << source.status().to_string();
  std::vector<std::int16_t> out(frames * 2);
  out.resize(source.read(out.data(), frames) * 2);
  return out;
}

class HttpByteSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) return;
    dir_ = new fs::path(hifi::testing::fresh_dir("http-byte-source"));
    const std::string ff = "cd '" + dir_->string() + "' && ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i ";
    // A sweep: no period a misplaced seek could hide behind.
    ok_ = std::system((ff + "'aevalsrc=0.3*sin(2*PI*(200+100*t)*t)|0.3*sin(2*PI*(300+50*t)*t):s=44100:d=30' "
                            "-c:a flac song.flac").c_str()) == 0 &&
          std::system((ff + "'aevalsrc=0.2*sin(2*PI*(300+2*t)*t):s=22050:d=1200' -c:a flac long.flac").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << "ffmpeg not installed";
    ASSERT_TRUE(ok_) << "could not generate the songs";
    server_ = std::make_unique<hifi::testing::TestServer>(*dir_ / ("server-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())));
    ClientOptions options;
    options.servers = {"http://127.0.0.1:" + std::to_string(server_->port())};
    api_ = std::make_unique<ApiClient>(options);
    json::value creds = json::object{{"username", "alice"}, {"password", "correct horse"}};
    ASSERT_TRUE(api_->json("POST", "/api/v1/auth/register", &creds));
    auto login = api_->json("POST", "/api/v1/auth/login", &creds);
    ASSERT_TRUE(login) << login.error.message();
    api_->set_token(std::string(login->at("token").as_string()));
  }

  std::string upload(const std::string& name) {
    const auto path = (*dir_ / name).string();
    auto up = api_->upload_song(path, sha256_file(path), nullptr);
    EXPECT_TRUE(up) << up.error.message();
    return up ? std::string(up->at("id").as_string()) : std::string();
  }

  // The song's signed stream URL, with `extra` appended to its query.
  HttpByteSource::UrlFn signed_url(const std::string& id, std::string extra = "") {
    return [this, id, extra]() -> ApiResult<std::string> {
      ApiResult<std::string> out;
      auto res = api_->json("GET", "/api/v1/songs/" + id + "/stream-url");
      if (!res) {
        out.error = res.error;
        return out;
      }
      out.value = std::string(res->at("url").as_string()) + extra;
      return out;
    };
  }

  // The song file `name` decoded here, to its end.
  std::shared_ptr<media::DecodedSong> decoded(const std::string& name) {
    auto local = media::DecodedSong::start((*dir_ / name).string(), kOut);
    EXPECT_TRUE(hifi::testing::eventually([&] { return local->finished(); }, std::chrono::seconds(60)));
    EXPECT_TRUE(local->status()) << local->status().to_string();
    return local;
  }

  // What an input knew right after it opened.
  struct Opened {
    HttpByteSource* bytes = nullptr;
    std::optional<std::uint64_t> size;
    int requests = -1;
  };
  // A StreamingSource started at `from` over the song's stream, its input
  // begun by `begin` (with the frame its decoder starts from), once the
  // frames at `from` are ready; `opened` tells of its input.
  std::shared_ptr<StreamingSource> started_at(const std::string& id, std::uint64_t from,
                                              std::function<Status(HttpByteSource&, std::uint64_t)> begin,
                                              Opened& opened) {
    auto source = StreamingSource::start(
        [this, id, begin, &opened](std::uint64_t frame) -> Result<StreamingSource::Input> {
          auto s = std::make_unique<HttpByteSource>(*api_, signed_url(id), "song " + id);
          if (Status st = begin(*s, frame); !st) return st;
          opened = {s.get(), s->size(), s->requests()};  // read once ready: the source's lock orders it
          return StreamingSource::Input{std::move(s), 0};
        },
        kOut, kWindow, from);
    EXPECT_TRUE(hifi::testing::eventually([&] { return source->ready(from, 4800); }, std::chrono::seconds(60)))
        << source->status().to_string();
    return source;
  }

  // A StreamingSource over the song's stream; `*bytes` shows its input.
  std::shared_ptr<StreamingSource> stream(const std::string& id, HttpByteSource** bytes) {
    return StreamingSource::start(
        [this, id, bytes](std::uint64_t) -> Result<StreamingSource::Input> {
          auto source = std::make_unique<HttpByteSource>(*api_, signed_url(id), "song " + id);
          source->enable_seek_plans();
          if (Status s = source->start(); !s) return s;
          *bytes = source.get();
          return StreamingSource::Input{std::move(source), 0};
        },
        kOut, kWindow);
  }

  static inline fs::path* dir_ = nullptr;
  static inline bool ok_ = false;
  std::unique_ptr<hifi::testing::TestServer> server_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(HttpByteSourceTest, ReadsTheSongsBytesAtAnyOffset) {
  const std::string id = upload("song.flac");
  const std::string want = file_bytes(*dir_ / "song.flac");
  HttpByteSource source(*api_, signed_url(id), "song");
  ASSERT_TRUE(source.start());
  EXPECT_TRUE(source.seekable());
  ASSERT_EQ(source.size(), want.size());

  // Straight through: ranges grow, so few requests.
  std::string got;
  std::vector<char> buf(32 * 1024);
  for (;;) {
    auto n = source.read(got.size(), buf.data(), buf.size());
    ASSERT_TRUE(n) << n.status().to_string();
    if (*n == 0) break;
    got.append(buf.data(), *n);
  }
  EXPECT_TRUE(got == want);
  EXPECT_EQ(source.bytes_fetched(), want.size());
  EXPECT_LE(source.requests(), 8) << "64 KiB, then doubling up to 2 MiB";

  // Anywhere, in any order, across range ends; past the end nothing.
  for (std::uint64_t at : {std::uint64_t{3000000}, std::uint64_t{17}, std::uint64_t{65530}, std::uint64_t{65536},
                           std::uint64_t{1234567}, want.size() - 5}) {
    auto n = source.read(at, buf.data(), 1000);
    ASSERT_TRUE(n) << at << ": " << n.status().to_string();
    ASSERT_GT(*n, 0u) << at;
    EXPECT_EQ(std::string(buf.data(), *n), want.substr(at, *n)) << at;
  }
  auto end = source.read(want.size(), buf.data(), 1000);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, 0u);
}

TEST_F(HttpByteSourceTest, StreamingGivesTheFramesOfTheFileWhateverTheSeeks) {
  const std::string id = upload("song.flac");
  auto local = decoded("song.flac");
  const std::uint64_t total = local->total_frames();

  HttpByteSource* bytes = nullptr;
  auto remote = stream(id, &bytes);
  // Straight on, far ahead, back past the window, a step back within it,
  // near the end, past it, and back to the start.
  for (std::uint64_t at : {std::uint64_t{0}, std::uint64_t{4800}, std::uint64_t{20} * 48000 + 11,
                           std::uint64_t{3} * 48000 + 7, std::uint64_t{3} * 48000 + 6, total - 3000,
                           total + 100, std::uint64_t{0}}) {
    EXPECT_TRUE(read_at(*remote, at, 2400) == frames_of(*local, at, 2400)) << "frame " << at;
  }
  EXPECT_TRUE(remote->status()) << remote->status().to_string();
}

TEST_F(HttpByteSourceTest, ASeekNearTheEndOfALongSongFetchesLittle) {
  const std::string id = upload("long.flac");
  const auto size = fs::file_size(*dir_ / "long.flac");
  HttpByteSource* bytes = nullptr;
  auto source = stream(id, &bytes);
  ASSERT_EQ(read_at(*source, 0, 4800).size(), 4800u * 2);
  const std::uint64_t opened = bytes->bytes_fetched();
  const std::uint64_t target = 1190ULL * 48000 + 5;
  ASSERT_EQ(read_at(*source, target, 4800).size(), 4800u * 2);
  // What the window ahead (2 s) wants is fetched too: let it settle.
  const std::uint64_t fetched = bytes->bytes_fetched() - opened;
  std::printf("20 min FLAC, %llu bytes: the start cost %llu, a seek to 19:50 %llu (%d requests in all)\n",
              static_cast<unsigned long long>(size), static_cast<unsigned long long>(opened),
              static_cast<unsigned long long>(fetched), bytes->requests());
  EXPECT_LT(fetched, size / 50) << "under 2% of the song";
}

// The decoder's search for the frame (FLAC without a seek table: a binary
// search) would cost a request per step; the server's plan holds the reads
// of the same seek, and of the second after the frame, made on its copy.
TEST_F(HttpByteSourceTest, AFarSeekTakesItsReadsFromTheServersPlan) {
  const std::string id = upload("long.flac");
  HttpByteSource* bytes = nullptr;
  auto source = stream(id, &bytes);
  ASSERT_EQ(read_at(*source, 0, 4800).size(), 4800u * 2);
  // Decoding rests once the window ahead (2 s) is full: no request is then
  // on its way.
  ASSERT_TRUE(hifi::testing::eventually([&] { return source->ready(0, 2 * 48000 - 1); }));
  const int before = bytes->requests();
  const int reads_before = bytes->planned_reads();
  const std::uint64_t target = 1000ULL * 48000 + 5;
  source->seek(target);
  ASSERT_TRUE(hifi::testing::eventually([&] { return source->ready(target, 24000); }, std::chrono::seconds(60)))
      << source->status().to_string();
  EXPECT_EQ(bytes->seek_plans(), 1);
  EXPECT_GT(bytes->planned_reads(), reads_before + 3) << "the search's steps and the decoding after them";
  // Without the plan this seek costs 13 requests. With it: the plan's, the
  // range after the second it covers (the window reaches 2 s ahead), and
  // at times a step or two more: FFmpeg's search starts from the packets
  // the player's demuxer has indexed while playing, which the server's
  // fresh one has not, so a step can land elsewhere.
  EXPECT_LE(bytes->requests() - before, 4);

  // The same seek on the local file gives the same frames.
  EXPECT_TRUE(read_at(*source, target, 4800) == frames_of(*decoded("long.flac"), target, 4800));
}

// A player joining a song far into it: the first request is the plan that
// includes opening the song, so opening and seeking cost one request.
TEST_F(HttpByteSourceTest, ASourceStartedFarIntoASongOpensAndSeeksWithOneRequest) {
  const std::string id = upload("long.flac");
  const std::uint64_t from = 800ULL * 48000 + 3;
  Opened opened;
  auto source = started_at(
      id, from, [](HttpByteSource& s, std::uint64_t frame) { return s.start_at(frame, kOut.sample_rate); }, opened);
  auto* bytes = opened.bytes;
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(bytes->seek_plans(), 1);
  EXPECT_EQ(opened.size, fs::file_size(*dir_ / "long.flac")) << "the plan says the size";
  // The plan's, and (the window reaches 2 s ahead) the range after it.
  EXPECT_LE(bytes->requests(), 2);

  EXPECT_TRUE(read_at(*source, from, 4800) == frames_of(*decoded("long.flac"), from, 4800));
}

// Seek data a room sent with the news of a jump (the server's plan with
// the opening's reads) opens the song and seeks without a request.
TEST_F(HttpByteSourceTest, SeekDataSentWithTheNewsOpensAndSeeksWithoutARequest) {
  const std::string id = upload("long.flac");
  const std::uint64_t from = 700ULL * 48000 + 5;
  auto url = signed_url(id)();
  ASSERT_TRUE(url) << url.error.message();
  // Planned where the source's decoder starts: its window's behind before.
  const auto start = StreamingSource::decoding_start(kWindow, kOut.sample_rate, from);
  auto plan = api_->request("GET", *url + "&seek_frame=" + std::to_string(start) + "&seek_rate=48000&seek_open=1");
  ASSERT_TRUE(plan) << plan.error.message();
  Opened opened;
  auto source = started_at(
      id, from,
      [&plan](HttpByteSource& s, std::uint64_t frame) {
        return s.start_with_plan(frame, kOut.sample_rate, plan->header("etag"), plan->header("content-type"),
                                 plan->body);
      },
      opened);
  auto* bytes = opened.bytes;
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(opened.requests, 0);
  EXPECT_EQ(bytes->requests(), 0) << "the plan holds the opening, the seek and two seconds after it";
  EXPECT_EQ(opened.size, fs::file_size(*dir_ / "long.flac")) << "the plan says the size";
  EXPECT_EQ(bytes->seek_plans(), 1);
  EXPECT_GT(bytes->planned_reads(), 0);

  auto local = decoded("long.flac");
  EXPECT_TRUE(read_at(*source, from, 4800) == frames_of(*local, from, 4800));
  // Past the plan, ranges asked with the plan's ETag.
  const std::uint64_t later = from + 20 * 48000;
  EXPECT_TRUE(read_at(*source, later, 4800) == frames_of(*local, later, 4800));
}

// Seek data that does not parse is left aside: the source asks for its own plan.
TEST_F(HttpByteSourceTest, UnusableSeekDataIsLeftAside) {
  const std::string id = upload("song.flac");
  HttpByteSource source(*api_, signed_url(id), "song " + id);
  ASSERT_TRUE(source.start_with_plan(10 * 48000, 48000, "\"x\"", "multipart/byteranges; boundary=b", "garbage"));
  EXPECT_EQ(source.requests(), 1);
  EXPECT_EQ(source.seek_plans(), 1);
  EXPECT_EQ(source.size(), fs::file_size(*dir_ / "song.flac"));
}

// A server that refuses to plan (here: a URL whose seek_open it rejects,
// as an older server rejects what it does not know) is asked once; reads
// go on as before.
TEST_F(HttpByteSourceTest, AServerThatDoesNotPlanIsAskedOnce) {
  const std::string id = upload("song.flac");
  const std::string want = file_bytes(*dir_ / "song.flac");
  HttpByteSource source(*api_, signed_url(id, "&seek_open=2"), "song");
  source.enable_seek_plans();
  ASSERT_TRUE(source.start());
  const int before = source.requests();
  source.expect_seek(10 * 48000, 48000);
  EXPECT_EQ(source.requests(), before + 1);
  source.expect_seek(20 * 48000, 48000);
  EXPECT_EQ(source.requests(), before + 1) << "not asked again";
  EXPECT_EQ(source.seek_plans(), 0);
  std::vector<char> buf(1000);
  auto n = source.read(200000, buf.data(), buf.size());
  ASSERT_TRUE(n) << n.status().to_string();
  ASSERT_GT(*n, 0u);
  EXPECT_EQ(std::string(buf.data(), *n), want.substr(200000, *n));
}

// Without enable_seek_plans() (a transcode, which the server does not
// plan) no plan is asked for.
TEST_F(HttpByteSourceTest, PlansAreAskedOnlyWhenEnabled) {
  const std::string id = upload("song.flac");
  HttpByteSource source(*api_, signed_url(id), "song");
  ASSERT_TRUE(source.start());
  const int before = source.requests();
  source.expect_seek(10 * 48000, 48000);
  EXPECT_EQ(source.requests(), before);
  source.enable_seek_plans();
  source.expect_seek(10 * 48000, 48000);
  EXPECT_EQ(source.seek_plans(), 1);
}

TEST_F(HttpByteSourceTest, AnExpiredUrlIsAskedForAgain) {
  const std::string id = upload("song.flac");
  const std::string want = file_bytes(*dir_ / "song.flac");
  int asked = 0;
  auto fresh = signed_url(id);
  HttpByteSource source(
      *api_,
      [&]() -> ApiResult<std::string> {
        if (++asked > 1) return fresh();
        ApiResult<std::string> out;
        out.value = "/api/v1/songs/" + id + "/stream?expires=1&signature=AAAA";
        return out;
      },
      "song");
  std::vector<char> buf(4096);
  auto n = source.read(100000, buf.data(), buf.size());
  ASSERT_TRUE(n) << n.status().to_string();
  EXPECT_EQ(std::string(buf.data(), *n), want.substr(100000, *n));
  EXPECT_EQ(asked, 2);
}

TEST_F(HttpByteSourceTest, ARefusalIsNotRetried) {
  HttpByteSource source(*api_, signed_url("00000000000000000000000000000000"), "song");
  std::vector<char> buf(4096);
  auto n = source.read(0, buf.data(), buf.size());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.status().code(), Code::kUnavailable);
  EXPECT_NE(n.status().message().find("404"), std::string::npos) << n.status().message();
  EXPECT_EQ(source.requests(), 0) << "the URL itself was refused";
}

TEST_F(HttpByteSourceTest, InterruptEndsAReadTheServerNeverAnswers) {
  // A socket that listens but never answers: the request waits.
  hifi::testing::LoopbackSocket silent;
  ASSERT_GE(silent.fd(), 0);
  ASSERT_EQ(::listen(silent.fd(), 4), 0);
  ClientOptions options;
  options.servers = {"http://127.0.0.1:" + std::to_string(silent.port())};
  options.request_timeout_ms = 120000;  // far beyond the wait below
  ApiClient api(options);
  HttpByteSource source(
      api, [] { return ApiResult<std::string>{std::string("/api/v1/songs/x/stream"), {}}; }, "song");
  std::atomic<bool> done{false};
  Status result;
  std::thread reader([&] {
    std::vector<char> buf(4096);
    auto n = source.read(0, buf.data(), buf.size());
    result = n ? Status::ok() : n.status();
    done = true;
  });
  // Once the connection is there, the reader waits for an answer.
  ASSERT_EQ(::fcntl(silent.fd(), F_SETFL, O_NONBLOCK), 0);
  int accepted = -1;
  EXPECT_TRUE(hifi::testing::eventually([&] { return (accepted = ::accept(silent.fd(), nullptr, nullptr)) >= 0; }));
  source.interrupt();
  const bool ended = hifi::testing::eventually([&] { return done.load(); });
  if (!ended) silent.close();  // let the reader go before failing
  reader.join();
  if (accepted >= 0) ::close(accepted);
  EXPECT_TRUE(ended) << "interrupt() did not end the read";
  EXPECT_EQ(result.code(), Code::kUnavailable) << result.to_string();
}

TEST_F(HttpByteSourceTest, ATranscodedStreamIsReadStraightThrough) {
  const std::string id = upload("song.flac");
  HttpByteSource* bytes = nullptr;
  auto source = StreamingSource::start(
      [&](std::uint64_t) -> Result<StreamingSource::Input> {
        auto http = std::make_unique<HttpByteSource>(*api_, signed_url(id, "&format=opus&bitrate=96"), "song");
        if (Status s = http->start(); !s) return s;
        bytes = http.get();
        return StreamingSource::Input{std::move(http), 0};
      },
      kOut, kWindow);
  std::uint64_t frames = 0;
  for (;;) {
    auto part = read_at(*source, frames, 48000);
    if (part.empty()) break;
    frames += part.size() / 2;
  }
  ASSERT_TRUE(source->status()) << source->status().to_string();
  ASSERT_NE(bytes, nullptr);
  EXPECT_FALSE(bytes->seekable()) << "sent as it is encoded, without ranges";
  // Opus at 48 kHz: the song's 30 s, within a codec frame.
  EXPECT_NEAR(static_cast<double>(frames), 30.0 * 48000, 960);
}

}  // namespace
}  // namespace hifi::client
