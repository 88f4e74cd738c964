#include "client/audio_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "client/sinks/sinks.h"

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using sinks::kLatencyTargetMs;
using sinks::kLeadMs;
using sinks::kRewindLatencyMs;

constexpr AudioFormat kFormat{48000, 2};
// Scheduling noise allowed on top of what the sink promises.
constexpr double kSlackMs = 5;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::vector<std::int16_t> noise(std::size_t count, std::uint32_t seed) {
  std::vector<std::int16_t> out(count);
  std::uint32_t x = seed;
  for (auto& v : out) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<std::int16_t>(x >> 16);
  }
  return out;
}

std::unique_ptr<AudioSink> make(const std::string& spec) {
  auto sink = make_audio_sink(spec, kFormat);
  EXPECT_TRUE(sink) << sink.status().to_string();
  return sink ? std::move(sink).value() : nullptr;
}

TEST(WallClockTest, IsUnixTimeInMilliseconds) {
  const double before = static_cast<double>(std::time(nullptr)) * 1000;
  const double now = wall_clock_ms();
  EXPECT_GE(now, before);
  EXPECT_LT(now, before + 2000);
}

TEST(AudioSinkFactoryTest, RejectsUnknownSpecs) {
  for (const char* spec : {"", "nul", "wave:x.wav", "alsa", "NULL"}) {
    auto sink = make_audio_sink(spec, kFormat);
    ASSERT_FALSE(sink) << spec;
    EXPECT_EQ(sink.status().code(), Code::kInvalidArgument) << spec;
    EXPECT_THAT(sink.status().message(), HasSubstr("wav:FILE")) << spec;
    EXPECT_THAT(sink.status().message(), HasSubstr("null")) << spec;
  }
}

TEST(AudioSinkFactoryTest, RejectsBadFormats) {
  for (AudioFormat f : {AudioFormat{0, 2}, AudioFormat{48000, 0}, AudioFormat{48000, 99}}) {
    auto sink = make_audio_sink("null", f);
    ASSERT_FALSE(sink);
    EXPECT_EQ(sink.status().code(), Code::kInvalidArgument);
  }
}

TEST(NullSinkTest, Describes) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  EXPECT_THAT(sink->describe(), HasSubstr("null"));
  EXPECT_EQ(sink->format().sample_rate, 48000);
  EXPECT_EQ(sink->format().channels, 2);
}

TEST(NullSinkTest, FirstFrameIsHeardAfterTheLead) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  const double now = wall_clock_ms();
  const double first = sink->next_play_time_ms();
  EXPECT_GE(first, now + kLeadMs - 1);
  EXPECT_LE(first, now + kLeadMs + kSlackMs);
}

TEST(NullSinkTest, PacesWritesAtRealTime) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  constexpr std::size_t kChunk = 480;  // 10 ms
  std::vector<std::int16_t> buf(kChunk * 2, 0);
  const auto t0 = Clock::now();
  double next = sink->next_play_time_ms();
  for (int i = 0; i < 50; ++i) {  // 500 ms
    ASSERT_TRUE(sink->write(buf.data(), kChunk));
    const double after = sink->next_play_time_ms();
    // The timeline advances by exactly the audio written...
    EXPECT_NEAR(after - next, 10.0, 1e-3) << "write " << i;
    next = after;
    // ...and the writer is never more than the latency target ahead.
    EXPECT_LE(after - wall_clock_ms(), kLatencyTargetMs + kSlackMs) << "write " << i;
  }
  // 500 ms of audio, heard from 50 ms on, with 100 ms still queued at the end.
  EXPECT_GE(ms_since(t0), 500 + kLeadMs - kLatencyTargetMs - kSlackMs);
  EXPECT_LT(ms_since(t0), 2000);
}

TEST(NullSinkTest, LargeWriteBlocksUntilMostIsPlayed) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  std::vector<std::int16_t> buf(48000 / 4 * 2, 0);  // 250 ms
  const auto t0 = Clock::now();
  ASSERT_TRUE(sink->write(buf.data(), 48000 / 4));
  EXPECT_GE(ms_since(t0), 250 + kLeadMs - kLatencyTargetMs - kSlackMs);
  EXPECT_NEAR(sink->next_play_time_ms() - wall_clock_ms(), kLatencyTargetMs, 20);
}

TEST(NullSinkTest, FlushDropsWhatIsQueuedBeyondTheRewindLatency) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  std::vector<std::int16_t> buf(480 * 2, 0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(sink->write(buf.data(), 480));
  // About the latency target is queued...
  EXPECT_GT(sink->next_play_time_ms() - wall_clock_ms(), kLeadMs + 20);
  sink->flush();
  // ...and dropped: the next frame is heard after the rewind latency only.
  const double ahead = sink->next_play_time_ms() - wall_clock_ms();
  EXPECT_NEAR(ahead, kRewindLatencyMs, kSlackMs);
  // The timeline goes on from there.
  const double start = sink->next_play_time_ms();
  ASSERT_TRUE(sink->write(buf.data(), 480));
  EXPECT_NEAR(sink->next_play_time_ms() - start, 10.0, 1e-3);
}

TEST(NullSinkTest, RewindKeepsWhatIsQueuedBeforeThePoint) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  std::vector<std::int16_t> buf(480 * 2, 0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(sink->write(buf.data(), 480));
  const double end = sink->next_play_time_ms();
  ASSERT_GT(end - wall_clock_ms(), 60);
  // Back 40 ms (to a whole frame): the next write is heard there.
  sink->rewind(end - 40);
  const double back = sink->next_play_time_ms();
  EXPECT_NEAR(back, end - 40, 1000.0 / 48000);
  EXPECT_GE(back, end - 40 - 1e-6);
  // A point at or past the end changes nothing.
  sink->rewind(back + 5);
  EXPECT_EQ(sink->next_play_time_ms(), back);
  // A point too soon (or past) counts as the soonest the sink can change.
  sink->rewind(wall_clock_ms() - 1000);
  EXPECT_NEAR(sink->next_play_time_ms() - wall_clock_ms(), sink->rewind_latency_ms(), kSlackMs);
  EXPECT_EQ(sink->rewind_latency_ms(), kRewindLatencyMs);
}

TEST(NullSinkTest, UnderrunRestartsTheTimeline) {
  auto sink = make("null");
  ASSERT_NE(sink, nullptr);
  std::vector<std::int16_t> buf(480 * 2, 0);
  ASSERT_TRUE(sink->write(buf.data(), 480));
  // Everything written is heard and then some: a late writer's next frame
  // cannot be heard in the past.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const double ahead = sink->next_play_time_ms() - wall_clock_ms();
  EXPECT_NEAR(ahead, kLeadMs, kSlackMs);
}

class WavSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hifi-sink-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static std::uint32_t u32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
  }
  static std::uint16_t u16(const std::string& s, std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) |
                                      (static_cast<unsigned char>(s[at + 1]) << 8));
  }

  // Checks a canonical 44-byte-header PCM WAV and returns its samples.
  std::vector<std::int16_t> parse_wav(const std::string& bytes, int rate, int channels) {
    std::vector<std::int16_t> out;
    EXPECT_GE(bytes.size(), 44u);
    if (bytes.size() < 44) return out;
    EXPECT_EQ(bytes.substr(0, 4), "RIFF");
    EXPECT_EQ(u32(bytes, 4), bytes.size() - 8);
    EXPECT_EQ(bytes.substr(8, 8), "WAVEfmt ");
    EXPECT_EQ(u32(bytes, 16), 16u);
    EXPECT_EQ(u16(bytes, 20), 1u);  // PCM
    EXPECT_EQ(u16(bytes, 22), channels);
    EXPECT_EQ(u32(bytes, 24), static_cast<std::uint32_t>(rate));
    EXPECT_EQ(u32(bytes, 28), static_cast<std::uint32_t>(rate * channels * 2));
    EXPECT_EQ(u16(bytes, 32), channels * 2);
    EXPECT_EQ(u16(bytes, 34), 16u);
    EXPECT_EQ(bytes.substr(36, 4), "data");
    EXPECT_EQ(u32(bytes, 40), bytes.size() - 44);
    for (std::size_t i = 44; i + 1 < bytes.size(); i += 2) {
      out.push_back(static_cast<std::int16_t>(u16(bytes, i)));
    }
    return out;
  }

  std::string dir_;
};

TEST_F(WavSinkTest, WritesAValidWavWithTheSamples) {
  const std::string path = dir_ + "/out.wav";
  const std::size_t frames = 12345;  // 257 ms
  const std::vector<std::int16_t> pcm = noise(frames * 2, 3);
  {
    auto sink = make("wav:" + path);
    ASSERT_NE(sink, nullptr);
    EXPECT_THAT(sink->describe(), HasSubstr(path));
    double next = sink->next_play_time_ms();
    for (std::size_t at = 0; at < frames; at += 480) {
      const std::size_t n = std::min<std::size_t>(480, frames - at);
      ASSERT_TRUE(sink->write(pcm.data() + at * 2, n));
      const double after = sink->next_play_time_ms();
      EXPECT_NEAR(after - next, n * 1000.0 / 48000, 1e-3);
      next = after;
    }
    // flush() leaves a valid file behind already.
    sink->flush();
    EXPECT_TRUE(parse_wav(read(path), 48000, 2) == pcm);
  }
  const std::string bytes = read(path);
  EXPECT_EQ(bytes.size(), 44 + frames * 4);
  EXPECT_TRUE(parse_wav(bytes, 48000, 2) == pcm);
}

TEST_F(WavSinkTest, EmptyFileIsValid) {
  const std::string path = dir_ + "/empty.wav";
  { ASSERT_NE(make_audio_sink("wav:" + path, AudioFormat{44100, 1}).value(), nullptr); }
  EXPECT_TRUE(parse_wav(read(path), 44100, 1).empty());
}

TEST_F(WavSinkTest, Errors) {
  auto bad = make_audio_sink("wav:" + dir_ + "/missing/dir/out.wav", kFormat);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().code(), Code::kIoError) << bad.status().to_string();
  auto empty = make_audio_sink("wav:", kFormat);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.status().code(), Code::kInvalidArgument);
}

TEST(PulseSinkTest, WithoutASoundServerFailsQuicklyAndClearly) {
  for (const char* spec : {"pulse", "default"}) {
    const auto t0 = Clock::now();
    auto sink = make_audio_sink(spec, kFormat);
    const double elapsed = ms_since(t0);
    if (sink) GTEST_SKIP() << "a PulseAudio server is running: " << sink.value()->describe();
    EXPECT_EQ(sink.status().code(), Code::kUnavailable) << sink.status().to_string();
    EXPECT_THAT(sink.status().message(), HasSubstr("no audio device: PulseAudio: "));
    EXPECT_THAT(sink.status().message(), HasSubstr("--sink null"));
    EXPECT_LT(elapsed, 5000) << spec;
  }
}

}  // namespace
}  // namespace hifi::client
