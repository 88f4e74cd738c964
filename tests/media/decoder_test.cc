#include "media/decoded_song.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "media/test_audio.h"
#include "support/eventually.h"

namespace hifi::media {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr AudioFormat kOut{48000, 2};

// Waits (bounded) for the decoder thread to finish.
bool wait_finished(const DecodedSong& song, std::chrono::seconds limit = std::chrono::seconds(60)) {
  return hifi::testing::eventually([&] { return song.finished(); }, limit);
}

std::vector<std::int16_t> all_samples(const DecodedSong& song) {
  std::vector<std::int16_t> out(song.decoded_frames() * song.format().channels);
  std::size_t n = song.read_frames(0, out.data(), song.decoded_frames());
  out.resize(n * song.format().channels);
  return out;
}

// Inputs are generated at test time with the ffmpeg CLI (no binary fixtures).
class DecoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) {
      skip_reason_ = new std::string("ffmpeg not installed");
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "hifi-decoder-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      failure_ = new std::string("mkdtemp failed");
      return;
    }
    dir_ = new std::string(tmpl);
    const std::string ff = "ffmpeg -nostdin -hide_banner -y -f lavfi -i ";
    run(ff + "sine=frequency=440:sample_rate=22050:duration=1 -c:a pcm_s16le mono22k.wav");
    run(ff + "sine=frequency=440:sample_rate=44100:duration=1 -c:a libmp3lame -b:a 128k tone.mp3");
    run(ff + "sine=frequency=440:sample_rate=44100:duration=1 -ac 2 -c:a flac stereo.flac");
    run(ff + "sine=frequency=440:sample_rate=48000:duration=1 -c:a libopus -b:a 96k tone.opus");
    run(ff + "sine=frequency=440:sample_rate=44100:duration=60 -ac 2 -c:a flac long.flac");
    write("notes.txt", "These are not the samples you are looking for.\n");
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) {
      std::error_code ec;
      fs::remove_all(*dir_, ec);
    }
    delete dir_;
    delete failure_;
    delete skip_reason_;
    dir_ = failure_ = skip_reason_ = nullptr;
  }

  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    ASSERT_EQ(failure_, nullptr) << *failure_;
  }

  static std::string path(const std::string& name) { return *dir_ + "/" + name; }

  static void write(const std::string& name, std::string_view bytes) {
    std::ofstream(path(name), std::ios::binary).write(bytes.data(), bytes.size());
  }

  static void run(const std::string& command) {
    if (failure_ != nullptr) return;
    const std::string full = "cd '" + *dir_ + "' && " + command + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) failure_ = new std::string("failed: " + command);
  }

  static std::shared_ptr<DecodedSong> decode(const std::string& name, AudioFormat format = kOut) {
    auto song = DecodedSong::start(path(name), format);
    EXPECT_TRUE(wait_finished(*song)) << name << " did not finish";
    return song;
  }

  static inline std::string* dir_ = nullptr;
  static inline std::string* failure_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
};

struct Input {
  const char* name;
  bool mono_source;
};

class DecoderFormatTest : public DecoderTest, public ::testing::WithParamInterface<Input> {};

TEST_P(DecoderFormatTest, DecodesOneSecondToOutputFormat) {
  auto song = decode(GetParam().name);
  ASSERT_TRUE(song->status()) << song->status().to_string();
  EXPECT_EQ(song->format().sample_rate, 48000);
  EXPECT_EQ(song->format().channels, 2);
  const std::uint64_t frames = song->decoded_frames();
  EXPECT_EQ(song->total_frames(), frames);
  // 1 s at 48 kHz; lossy codecs may keep a little padding.
  EXPECT_NEAR(static_cast<double>(frames), 48000.0, 48000 * 0.03);

  std::vector<std::int16_t> samples = all_samples(*song);
  ASSERT_EQ(samples.size(), frames * 2);
  int peak = 0;
  bool channels_equal = true;
  for (std::size_t i = 0; i + 1 < samples.size(); i += 2) {
    peak = std::max(peak, std::abs(static_cast<int>(samples[i])));
    if (samples[i] != samples[i + 1]) channels_equal = false;
  }
  // lavfi's sine has amplitude 1/8 of full scale (4096).
  EXPECT_GT(peak, 2500);
  EXPECT_LT(peak, 5000);
  if (GetParam().mono_source) {
    EXPECT_TRUE(channels_equal) << "mono is copied to both channels";
    // Mono plays at its own level on both channels (not -3 dB).
    EXPECT_GT(peak, 3800);
  }
}

TEST_P(DecoderFormatTest, IsDeterministic) {
  auto a = decode(GetParam().name);
  auto b = decode(GetParam().name);
  ASSERT_TRUE(a->status()) << a->status().to_string();
  ASSERT_TRUE(b->status()) << b->status().to_string();
  EXPECT_EQ(a->decoded_frames(), b->decoded_frames());
  EXPECT_TRUE(all_samples(*a) == all_samples(*b));
}

INSTANTIATE_TEST_SUITE_P(Formats, DecoderFormatTest,
                         ::testing::Values(Input{"mono22k.wav", true}, Input{"tone.mp3", true},
                                           Input{"stereo.flac", false}, Input{"tone.opus", true}),
                         FileParamName());

TEST_F(DecoderTest, PcmAtOutputFormatIsSampleExact) {
  const std::vector<std::int16_t> pcm = noise(12345 * 2, 7);
  write("exact.wav", make_wav(48000, 2, pcm));
  auto song = decode("exact.wav");
  ASSERT_TRUE(song->status()) << song->status().to_string();
  EXPECT_EQ(song->decoded_frames(), 12345u);
  EXPECT_TRUE(all_samples(*song) == pcm);
}

TEST_F(DecoderTest, MonoAtOutputRateIsCopiedToBothChannels) {
  const std::vector<std::int16_t> pcm = noise(4800, 11);
  write("mono48k.wav", make_wav(48000, 1, pcm));
  auto song = decode("mono48k.wav");
  ASSERT_TRUE(song->status()) << song->status().to_string();
  std::vector<std::int16_t> samples = all_samples(*song);
  ASSERT_EQ(samples.size(), pcm.size() * 2);
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    ASSERT_EQ(samples[2 * i], pcm[i]) << "frame " << i;
    ASSERT_EQ(samples[2 * i + 1], pcm[i]) << "frame " << i;
  }
}

TEST_F(DecoderTest, DecodesToMonoOutput) {
  auto song = decode("stereo.flac", AudioFormat{44100, 1});
  ASSERT_TRUE(song->status()) << song->status().to_string();
  EXPECT_EQ(song->decoded_frames(), 44100u);
}

TEST_F(DecoderTest, ReadFramesNearAndBeyondTheEnd) {
  auto song = decode("stereo.flac");
  ASSERT_TRUE(song->status()) << song->status().to_string();
  const std::uint64_t total = song->total_frames();
  ASSERT_GT(total, 100u);
  std::vector<std::int16_t> buf(200 * 2, 123);
  EXPECT_EQ(song->read_frames(total, buf.data(), 100), 0u);
  EXPECT_EQ(song->read_frames(total + 1000, buf.data(), 100), 0u);
  EXPECT_EQ(song->read_frames(total - 10, buf.data(), 100), 10u);
  EXPECT_EQ(buf[20], 123) << "nothing written past the frames returned";
  EXPECT_EQ(song->read_frames(0, buf.data(), 0), 0u);
  // A read in the middle matches the same range of the whole.
  std::vector<std::int16_t> whole = all_samples(*song);
  ASSERT_EQ(song->read_frames(1000, buf.data(), 200), 200u);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), whole.begin() + 2000));
}

TEST_F(DecoderTest, NonAudioFileFails) {
  auto song = decode("notes.txt");
  EXPECT_TRUE(song->finished());
  EXPECT_FALSE(song->status());
  EXPECT_EQ(song->status().code(), Code::kUnsupported) << song->status().to_string();
  EXPECT_EQ(song->decoded_frames(), 0u);
  EXPECT_EQ(song->total_frames(), 0u);
  std::int16_t buf[4];
  EXPECT_EQ(song->read_frames(0, buf, 2), 0u);
}

TEST_F(DecoderTest, MissingFileFails) {
  auto song = decode("does-not-exist.flac");
  EXPECT_FALSE(song->status());
  EXPECT_EQ(song->status().code(), Code::kIoError) << song->status().to_string();
}

TEST_F(DecoderTest, EstimatesTotalBeforeFinishing) {
  auto song = DecodedSong::start(path("long.flac"), kOut);
  hifi::testing::eventually([&] { return song->total_frames() != 0 || song->finished(); },
                            std::chrono::seconds(30));
  // The container's estimate (or, if decoding already ended, the count).
  EXPECT_NEAR(static_cast<double>(song->total_frames()), 60.0 * 48000, 48000 * 0.5);
  ASSERT_TRUE(wait_finished(*song));
  ASSERT_TRUE(song->status()) << song->status().to_string();
  EXPECT_EQ(song->total_frames(), 60u * 48000);
  EXPECT_EQ(song->decoded_frames(), song->total_frames());
}

TEST_F(DecoderTest, DestroyingWhileDecodingStopsPromptly) {
  for (int delay_ms : {0, 1, 5, 20}) {
    auto song = DecodedSong::start(path("long.flac"), kOut);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    const auto t0 = Clock::now();
    song.reset();
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << "delay " << delay_ms << " ms";
  }
}

TEST_F(DecoderTest, ReadingWhileDecodingSeesAGrowingPrefix) {
  auto song = DecodedSong::start(path("long.flac"), kOut);
  std::vector<std::int16_t> buf(4800 * 2);
  std::uint64_t last = 0;
  while (!song->finished()) {
    std::uint64_t now = song->decoded_frames();
    EXPECT_GE(now, last);
    last = now;
    if (now > 0) {
      EXPECT_GT(song->read_frames(now - 1, buf.data(), 4800), 0u);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ASSERT_TRUE(song->status()) << song->status().to_string();
}

}  // namespace
}  // namespace hifi::media
