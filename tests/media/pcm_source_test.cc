// PcmSource as the player uses it: read(), seek() and ready(), over the
// in-memory DecodedSong and the windowed StreamingSource, which must hand
// out the same frames.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "media/counting_source.h"
#include "media/decoded_song.h"
#include "media/streaming_source.h"
#include "media/test_audio.h"
#include "support/eventually.h"

namespace hifi::media {
namespace {

namespace fs = std::filesystem;

constexpr AudioFormat kOut{48000, 2};
constexpr std::uint64_t kExactFrames = 30000;
// Small enough that the tests cross the window's edges many times.
constexpr StreamingSource::Window kSmallWindow{0.2, 0.05};

// Decoding may be slow on a loaded machine (or under the sanitizers).
bool wait_until(const std::function<bool()>& done) { return hifi::testing::eventually(done, std::chrono::seconds(60)); }

// Seeks to `first` and reads up to `frames` frames once they are ready.
std::vector<std::int16_t> read_at(PcmSource& source, std::uint64_t first, std::size_t frames) {
  const auto channels = static_cast<std::size_t>(source.format().channels);
  source.seek(first);
  EXPECT_TRUE(wait_until([&] { return source.ready(first, frames); })) << "frame " << first;
  std::vector<std::int16_t> out(frames * channels);
  out.resize(source.read(out.data(), frames) * channels);
  return out;
}

// Everything from frame 0, in reads of `chunk` frames.
std::vector<std::int16_t> read_all(PcmSource& source, std::size_t chunk) {
  std::vector<std::int16_t> all;
  for (std::uint64_t at = 0;; ) {
    std::vector<std::int16_t> part = read_at(source, at, chunk);
    if (part.empty()) break;
    at += part.size() / static_cast<std::size_t>(source.format().channels);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

std::vector<std::int16_t> slice(const std::vector<std::int16_t>& v, std::uint64_t first,
                                std::uint64_t frames, int channels) {
  const auto c = static_cast<std::uint64_t>(channels);
  const std::uint64_t begin = std::min<std::uint64_t>(first * c, v.size());
  const std::uint64_t end = std::min<std::uint64_t>((first + frames) * c, v.size());
  return {v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(end)};
}

class PcmSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "hifi-pcm-source-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = new std::string(tmpl);
    exact_ = new std::vector<std::int16_t>(noise(kExactFrames * 2, 3));
    std::string wav = make_wav(48000, 2, *exact_);
    std::ofstream(path("exact.wav"), std::ios::binary).write(wav.data(), static_cast<std::streamsize>(wav.size()));
    std::ofstream(path("notes.txt")) << "not audio\n";
    has_flac_ = std::system(("cd '" + *dir_ + "' && ffmpeg -nostdin -hide_banner -y -f lavfi -i "
                             "sine=frequency=440:sample_rate=44100:duration=5 -ac 2 -c:a flac "
                             "tone.flac >/dev/null 2>&1").c_str()) == 0 &&
                std::system(("cd '" + *dir_ + "' && ffmpeg -nostdin -hide_banner -y -f lavfi -i "
                             "'aevalsrc=0.3*sin(2*PI*(200+20*t)*t):s=22050:d=60' -c:a flac "
                             "sweep.flac >/dev/null 2>&1").c_str()) == 0;
  }

  static void TearDownTestSuite() {
    std::error_code ec;
    if (dir_ != nullptr) fs::remove_all(*dir_, ec);
    delete dir_;
    delete exact_;
    dir_ = nullptr;
    exact_ = nullptr;
  }

  static std::string path(const std::string& name) { return *dir_ + "/" + name; }

  static std::shared_ptr<DecodedSong> decoded(const std::string& name) {
    auto song = DecodedSong::start(path(name), kOut);
    EXPECT_TRUE(wait_until([&] { return song->finished(); }));
    return song;
  }

  static inline std::string* dir_ = nullptr;
  static inline std::vector<std::int16_t>* exact_ = nullptr;
  static inline bool has_flac_ = false;
};

TEST_F(PcmSourceTest, InMemoryReadsAcrossTheEnd) {
  auto song = decoded("exact.wav");
  ASSERT_TRUE(song->status()) << song->status().to_string();
  PcmSource& source = *song;
  EXPECT_TRUE(source.ended());
  EXPECT_EQ(source.length_frames(), kExactFrames);
  EXPECT_EQ(source.position(), 0u);

  std::vector<std::int16_t> all = read_all(source, 7000);
  EXPECT_TRUE(all == *exact_);
  EXPECT_EQ(source.position(), kExactFrames);

  // The last read is short; past the end nothing is read or written.
  std::vector<std::int16_t> buf(1000 * 2, 123);
  source.seek(kExactFrames - 10);
  EXPECT_TRUE(source.ready(kExactFrames - 10, 1000)) << "the song ends before them";
  EXPECT_EQ(source.read(buf.data(), 1000), 10u);
  EXPECT_EQ(buf[20], 123);
  EXPECT_EQ(source.position(), kExactFrames);
  EXPECT_EQ(source.read(buf.data(), 1000), 0u);
  source.seek(kExactFrames + 500);
  EXPECT_EQ(source.read(buf.data(), 1000), 0u);
  EXPECT_EQ(source.position(), kExactFrames + 500);
}

TEST_F(PcmSourceTest, InMemorySeeksBothWays) {
  auto song = decoded("exact.wav");
  PcmSource& source = *song;
  for (std::uint64_t at : {12000u, 100u, 29000u, 0u, 12000u}) {
    EXPECT_TRUE(read_at(source, at, 500) == slice(*exact_, at, 500, 2)) << "frame " << at;
    EXPECT_EQ(source.position(), at + 500);
  }
  // A read right after a one-frame step back (the player's nudge).
  source.seek(4000);
  std::vector<std::int16_t> buf(2);
  ASSERT_EQ(source.read(buf.data(), 1), 1u);
  source.seek(4000);
  EXPECT_TRUE(read_at(source, 4000, 3) == slice(*exact_, 4000, 3, 2));
}

TEST_F(PcmSourceTest, StreamingMatchesInMemoryDecode) {
  std::vector<std::string> names = {"exact.wav"};
  if (has_flac_) names.push_back("tone.flac");  // resampled from 44.1 kHz
  for (const std::string& name : names) {
    auto whole = decoded(name);
    ASSERT_TRUE(whole->status()) << name << ": " << whole->status().to_string();
    std::vector<std::int16_t> expected(whole->decoded_frames() * 2);
    expected.resize(whole->read_frames(0, expected.data(), whole->decoded_frames()) * 2);

    auto streaming = StreamingSource::start(path(name), kOut, kSmallWindow);
    std::vector<std::int16_t> all = read_all(*streaming, 1234);
    EXPECT_EQ(all.size(), expected.size()) << name;
    EXPECT_TRUE(all == expected) << name;
    EXPECT_TRUE(streaming->ended()) << name;
    EXPECT_TRUE(streaming->status()) << name << ": " << streaming->status().to_string();
    EXPECT_EQ(streaming->length_frames(), whole->decoded_frames()) << name;
  }
}

TEST_F(PcmSourceTest, StreamingSeeksAreSampleExact) {
  auto streaming = StreamingSource::start(path("exact.wav"), kOut, kSmallWindow);
  // Forward past the window, back within it, back past it (a new pass from
  // the start), beyond the end, and back again.
  for (std::uint64_t at : {100u, 25000u, 24900u, 3000u, 3001u, 2999u, 29990u, 40000u, 10u}) {
    std::vector<std::int16_t> got = read_at(*streaming, at, 800);
    EXPECT_TRUE(got == slice(*exact_, at, 800, 2)) << "frame " << at;
  }
  EXPECT_TRUE(streaming->status()) << streaming->status().to_string();
}

// A StreamingSource over `name` that counts what it reads (in *counts,
// which lives as long as the source's input).
std::shared_ptr<StreamingSource> counted(const std::string& path, CountingSource** counts,
                                         std::chrono::milliseconds read_delay = std::chrono::milliseconds(0)) {
  return StreamingSource::start(
      [path, counts, read_delay](std::uint64_t) -> Result<StreamingSource::Input> {
        auto file = FileByteSource::open(path);
        if (!file) return file.status();
        auto source = std::make_unique<CountingSource>(std::move(*file), read_delay);
        *counts = source.get();
        return StreamingSource::Input{std::move(source), 0};
      },
      kOut, StreamingSource::Window{});
}

TEST_F(PcmSourceTest, AfterASeekTheFramesJustBeforeItAreThereToo) {
  if (!has_flac_) GTEST_SKIP() << "ffmpeg could not make the FLAC";
  CountingSource* counts = nullptr;
  auto source = counted(path("sweep.flac"), &counts);
  const std::uint64_t far = 40 * 48000 + 123;
  source->seek(far);
  ASSERT_TRUE(wait_until([&] { return source->ready(far, 480); }));
  // A player whose sink restarted its timeline moves back a little: no
  // new seek, the frames are already decoded.
  EXPECT_TRUE(source->ready(far - 4800, 480));
  const int jumps = counts->jumps();
  source->seek(far - 4800);
  std::vector<std::int16_t> buf(480 * 2);
  EXPECT_EQ(source->read(buf.data(), 480), 480u);
  EXPECT_EQ(counts->jumps(), jumps);
}

TEST_F(PcmSourceTest, SeeksWhileASeekIsUnderWayDoNotStartAnother) {
  if (!has_flac_) GTEST_SKIP() << "ffmpeg could not make the FLAC";
  // One far seek, for reference.
  CountingSource* once = nullptr;
  auto reference = counted(path("sweep.flac"), &once);
  ASSERT_TRUE(wait_until([&] { return reference->ready(0, 480); }));
  const int before = once->jumps();
  reference->seek(30 * 48000);
  ASSERT_TRUE(wait_until([&] { return reference->ready(30 * 48000, 480); }));
  const int one_seek = once->jumps() - before;

  // The same seek followed at once by the player's seek per 10 ms buffer.
  CountingSource* counts = nullptr;
  auto source = counted(path("sweep.flac"), &counts);
  ASSERT_TRUE(wait_until([&] { return source->ready(0, 480); }));
  const int start = counts->jumps();
  for (std::uint64_t f = 30 * 48000; f < 30 * 48000 + 20 * 480; f += 480) source->seek(f);
  ASSERT_TRUE(wait_until([&] { return source->ready(30 * 48000 + 20 * 480, 480); }));
  // (A read under way when a seek comes, and the decoder's read-ahead
  // around the new position, may add a jump or two; seeks that started over
  // would add a seek's worth each, 17 jumps and more.)
  EXPECT_LE(counts->jumps() - start, one_seek + 3) << "one seek took " << one_seek << " jumps";
}

// Over a slow network a far seek takes several round trips to position;
// meanwhile the player asks, every 10 ms, for where the song is by then.
// Those later frames are close ahead of the pending seek: it carries on and
// the source becomes ready, instead of starting over at every buffer (which
// kept a player silent until the next command).
TEST_F(PcmSourceTest, APlayerFollowingASlowSeekGetsThere) {
  if (!has_flac_) GTEST_SKIP() << "ffmpeg could not make the FLAC";
  CountingSource* counts = nullptr;
  auto source = counted(path("sweep.flac"), &counts, std::chrono::milliseconds(20));
  ASSERT_TRUE(wait_until([&] { return source->ready(0, 480); }));
  std::uint64_t frame = 30 * 48000;
  bool ready = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    source->seek(frame);
    ready = source->ready(frame, 480);
    if (!ready) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      frame += 480;  // playback time went on
    }
  }
  EXPECT_TRUE(ready) << "still not ready at frame " << frame;
}

TEST_F(PcmSourceTest, StreamingReportsFailures) {
  auto missing = StreamingSource::start(path("missing.flac"), kOut);
  ASSERT_TRUE(wait_until([&] { return missing->ended(); }));
  EXPECT_EQ(missing->status().code(), Code::kIoError) << missing->status().to_string();
  EXPECT_EQ(missing->length_frames(), 0u);

  auto text = StreamingSource::start(path("notes.txt"), kOut);
  ASSERT_TRUE(wait_until([&] { return text->ended(); }));
  EXPECT_EQ(text->status().code(), Code::kUnsupported) << text->status().to_string();
  std::int16_t buf[4];
  EXPECT_TRUE(text->ready(0, 2)) << "nothing more will come";
  EXPECT_EQ(text->read(buf, 2), 0u);
}

TEST_F(PcmSourceTest, DestroyingAStreamingSourceStopsIt) {
  for (int delay_ms : {0, 1, 5}) {
    auto source = StreamingSource::start(path("exact.wav"), kOut, kSmallWindow);
    // Destroyed while decoding has not started, is running, or has run a
    // while: it must return (a source that does not stop hangs the test).
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    source.reset();
  }
}

}  // namespace
}  // namespace hifi::media
