// AudioDecoder::seek: the frames after a seek against those of a decode
// from the start, per format, and how little of the input a seek reads.
//
// Measured (48 kHz stereo output, the inputs below), and pinned here:
//   WAV, FLAC                      sample-exact
//   MP3 (CBR and VBR), Vorbis,     sample-exact: the codec's state is
//   Opus, AAC without PNS          rebuilt within its pre-roll
//   AAC with PNS (ffmpeg's         exact position; samples within 1 of the
//   encoder's default)             decode from the start: perceptual noise
//                                  substitution draws from a generator whose
//                                  state is the whole song's history
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "media/byte_source.h"
#include "media/counting_source.h"
#include "media/decoder.h"
#include "media/test_audio.h"

namespace hifi::media {
namespace {

namespace fs = std::filesystem;

constexpr AudioFormat kOut{48000, 2};

std::vector<std::int16_t> decode_all(AudioDecoder& decoder) {
  std::vector<std::int16_t> out;
  bool ended = false;
  while (!ended) {
    Status s = decoder.decode(out, 8192, &ended);
    if (!s) {
      ADD_FAILURE() << s.to_string();
      break;
    }
  }
  return out;
}

struct Compared {
  std::size_t frames = 0;
  int max_diff = 0;
  std::size_t differing = 0;  // samples
};

Compared compare(const std::vector<std::int16_t>& got, const std::vector<std::int16_t>& whole,
                 std::uint64_t first) {
  Compared c;
  const std::size_t begin = std::min<std::size_t>(first * 2, whole.size());
  const std::size_t n = std::min(got.size(), whole.size() - begin);
  c.frames = got.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    const int d = std::abs(static_cast<int>(got[i]) - static_cast<int>(whole[begin + i]));
    c.max_diff = std::max(c.max_diff, d);
    if (d != 0) ++c.differing;
  }
  return c;
}

class DecoderSeekTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new_ffmpeg_dir("hifi-seek-test");
    skip_ = dir_ == nullptr;
  }
  static void TearDownTestSuite() { delete_ffmpeg_dir(dir_); }
  void SetUp() override {
    if (skip_) GTEST_SKIP() << "ffmpeg not installed";
  }

  static std::string path(const std::string& name) { return *dir_ + "/" + name; }

  // A 30 s stereo sweep (no period a misplaced seek could hide behind)
  // encoded with `codec_args` into `name`.
  static void generate(const std::string& name, const std::string& codec_args, int rate = 44100) {
    if (fs::exists(path(name))) return;
    const std::string cmd = ffmpeg_sweep_command(*dir_, name, codec_args, rate, 30);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }

  static std::unique_ptr<CountingSource> open_source(const std::string& name) {
    auto file = FileByteSource::open(path(name));
    EXPECT_TRUE(file) << file.status().to_string();
    if (!file) return nullptr;
    return std::make_unique<CountingSource>(std::move(*file));
  }

  static inline std::string* dir_ = nullptr;
  static inline bool skip_ = false;
};

struct Format {
  const char* name;
  const char* args;
  int rate;
  int max_diff;  // the bound pinned (see the header comment)
};

// Noise-substituted bands (see the header comment).
constexpr int kAacPnsMaxDiff = 1;

class DecoderSeekFormatTest : public DecoderSeekTest, public ::testing::WithParamInterface<Format> {
 protected:
  // The parameter's file (made first), decoded from its start to its end.
  static std::vector<std::int16_t> decode_whole(const Format& f) {
    generate(f.name, f.args, f.rate);
    auto source = open_source(f.name);
    if (source == nullptr) return {};
    AudioDecoder straight(kOut);
    EXPECT_TRUE(straight.open(*source, nullptr, nullptr));
    return decode_all(straight);
  }
};

TEST_P(DecoderSeekFormatTest, SeekedFramesAreThoseOfADecodeFromTheStart) {
  const Format& f = GetParam();
  const std::vector<std::int16_t> whole = decode_whole(f);
  const std::uint64_t total = whole.size() / 2;
  ASSERT_GT(total, 29u * 48000);

  // The start, within the first frames, mid-song at odd frames, and the end.
  const std::uint64_t targets[] = {0,          1,          1000,           4097,         48000 * 5 + 17,
                                   48000 * 12 + 1001,      total / 2 + 333, total - 48000, total - 100};
  for (std::uint64_t target : targets) {
    auto source = open_source(f.name);
    AudioDecoder decoder(kOut);
    ASSERT_TRUE(decoder.open(*source, nullptr, nullptr));
    ASSERT_TRUE(decoder.seek(target)) << "frame " << target;
    EXPECT_EQ(decoder.frames(), target);
    std::vector<std::int16_t> got;
    bool ended = false;
    ASSERT_TRUE(decoder.decode(got, 4800, &ended));
    const auto c = compare(got, whole, target);
    EXPECT_GE(c.frames, std::min<std::uint64_t>(4800, total - target)) << f.name << " frame " << target;
    EXPECT_LE(c.max_diff, f.max_diff) << f.name << " frame " << target << ": " << c.differing << " samples differ";
    if (c.max_diff > 0) std::printf("%s, frame %llu: %zu samples differ, by at most %d\n", f.name,
                                    static_cast<unsigned long long>(target), c.differing, c.max_diff);
  }
}

TEST_P(DecoderSeekFormatTest, SeeksBackAndForthOnOneDecoder) {
  const Format& f = GetParam();
  const std::vector<std::int16_t> whole = decode_whole(f);
  const std::uint64_t total = whole.size() / 2;
  ASSERT_GT(total, 29u * 48000);
  auto source = open_source(f.name);
  ASSERT_NE(source, nullptr);
  AudioDecoder decoder(kOut);
  ASSERT_TRUE(decoder.open(*source, nullptr, nullptr));
  std::vector<std::int16_t> got;
  bool ended = false;
  // Forward far, back far, a little forward (within what was decoded), a
  // little back, back to the start, and past the end.
  for (std::uint64_t target : {std::uint64_t{720333}, std::uint64_t{240017}, std::uint64_t{244000},
                               std::uint64_t{243000}, std::uint64_t{0}, total - 2000, total + 5000}) {
    ASSERT_TRUE(decoder.seek(target)) << f.name << " frame " << target;
    EXPECT_EQ(decoder.frames(), target);
    got.clear();
    ASSERT_TRUE(decoder.decode(got, 2400, &ended));
    if (target >= total) {
      EXPECT_TRUE(ended);
      EXPECT_TRUE(got.empty()) << f.name << ": nothing past the end";
      continue;
    }
    const auto c = compare(got, whole, target);
    EXPECT_GE(c.frames, std::min<std::uint64_t>(2400, total - target)) << f.name << " frame " << target;
    EXPECT_LE(c.max_diff, f.max_diff) << f.name << " frame " << target << ": " << c.differing << " samples differ";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, DecoderSeekFormatTest,
    ::testing::Values(Format{"s.wav", "-c:a pcm_s16le", 44100, 0}, Format{"s48.wav", "-c:a pcm_s16le", 48000, 0},
                      Format{"s.flac", "-c:a flac", 44100, 0}, Format{"s.mp3", "-c:a libmp3lame -b:a 128k", 44100, 0},
                      Format{"vbr.mp3", "-c:a libmp3lame -q:a 2", 44100, 0},
                      Format{"s.ogg", "-c:a libvorbis", 44100, 0},
                      Format{"s.opus", "-c:a libopus -b:a 96k", 48000, 0},
                      Format{"pns.m4a", "-c:a aac -b:a 128k", 44100, kAacPnsMaxDiff},
                      Format{"nopns.m4a", "-c:a aac -aac_pns 0 -b:a 128k", 44100, 0}),
    FileParamName());

// A seek near the end of a long FLAC reads a few binary-search steps and
// what it decodes, not the song up to there.
TEST_F(DecoderSeekTest, SeekNearTheEndOfALongFlacReadsLittle) {
  const std::string name = "long.flac";
  const std::string cmd = "cd '" + *dir_ +
                          "' && ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "
                          "'aevalsrc=0.2*sin(2*PI*(300+2*t)*t):s=22050:d=1200' -c:a flac " + name;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto source = open_source(name);
  ASSERT_NE(source, nullptr);
  AudioDecoder decoder(kOut);
  ASSERT_TRUE(decoder.open(*source, nullptr, nullptr));
  const std::uint64_t opened = source->bytes();
  const std::uint64_t target = 1190ULL * 48000 + 7;
  ASSERT_TRUE(decoder.seek(target));
  std::vector<std::int16_t> got;
  bool ended = false;
  ASSERT_TRUE(decoder.decode(got, 48000, &ended));
  const std::uint64_t size = *source->size();
  const std::uint64_t read = source->bytes() - opened;
  std::printf("20 min FLAC of %llu bytes: opening read %llu, seeking to 19:50 and decoding 1 s read %llu (%d jumps)\n",
              static_cast<unsigned long long>(size), static_cast<unsigned long long>(opened),
              static_cast<unsigned long long>(read), source->jumps());
  EXPECT_LT(read, size / 50) << "a seek reads under 2% of the song";
  EXPECT_EQ(decoder.frames(), target + got.size() / 2);
}

}  // namespace
}  // namespace hifi::media
