// plan_seek_reads: the ranges planned on one copy of a song are all that a
// second decoder, opened on another copy the way a player opens a stream,
// reads to make the same seek and decode on; within the limits given.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "media/byte_source.h"
#include "media/counting_source.h"
#include "media/decoder.h"
#include "media/seek_reads.h"
#include "media/test_audio.h"

namespace hifi::media {
namespace {

namespace fs = std::filesystem;

constexpr AudioFormat kOut{48000, 2};

// A song's bytes where reads after open() count as misses unless they fall
// wholly inside the planned ranges; and the seek hints it is given.
class PlannedSource final : public ByteSource {
 public:
  explicit PlannedSource(std::unique_ptr<FileByteSource> file) : file_(std::move(file)) {}
  Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) override {
    auto n = file_->read(offset, out, max);
    if (counting && n && *n > 0) {
      const bool inside = std::any_of(plan.begin(), plan.end(), [&](const ByteRange& r) {
        return offset >= r.offset && offset + *n <= r.end();
      });
      if (!inside) ++misses;
    }
    return n;
  }
  std::optional<std::uint64_t> size() override { return file_->size(); }
  bool seekable() const override { return true; }
  std::string describe() const override { return file_->describe(); }
  void expect_seek(std::uint64_t frame, int rate) override { hints.push_back({frame, static_cast<std::uint64_t>(rate)}); }

  std::vector<ByteRange> plan;
  bool counting = false;
  int misses = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> hints;

 private:
  std::unique_ptr<FileByteSource> file_;
};

struct Format {
  const char* name;
  const char* args;
  int rate;
  // Whether a seek reads only around its target. An MP3 without a table of
  // contents (ffmpeg's CBR here) is decoded from its start to the frame:
  // its timestamps after a jump are estimates (AudioDecoder::seek).
  bool reads_little = true;
};

class SeekReadsTest : public ::testing::TestWithParam<Format> {
 protected:
  static void SetUpTestSuite() { dir_ = new_ffmpeg_dir("hifi-seek-reads"); }
  static void TearDownTestSuite() { delete_ffmpeg_dir(dir_); }
  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << "ffmpeg not installed";
    const auto& f = GetParam();
    if (!fs::exists(path())) {
      const auto cmd = ffmpeg_sweep_command(*dir_, f.name, f.args, f.rate, 120);
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static std::string path() { return *dir_ + "/" + GetParam().name; }
  static std::unique_ptr<FileByteSource> file() {
    auto f = FileByteSource::open(path());
    EXPECT_TRUE(f) << f.status().to_string();
    return f ? std::move(*f) : nullptr;
  }
  // The output of a decoder on `source` after seek(frame), `frames` of it.
  // With `count_open`, the reads of opening count as misses too.
  static std::vector<std::int16_t> seek_and_decode(ByteSource& source, std::uint64_t frame, std::size_t frames,
                                                   bool count_open = false) {
    AudioDecoder decoder(kOut);
    auto* planned = dynamic_cast<PlannedSource*>(&source);
    if (planned != nullptr) planned->counting = count_open;
    EXPECT_TRUE(decoder.open(source, nullptr, nullptr));
    if (planned != nullptr) planned->counting = true;
    EXPECT_TRUE(decoder.seek(frame));
    std::vector<std::int16_t> out;
    bool ended = false;
    while (!ended && out.size() / 2 < frames) {
      if (!decoder.decode(out, frames, &ended)) {
        ADD_FAILURE() << "decode failed";
        break;
      }
    }
    out.resize(std::min(out.size(), frames * 2));
    return out;
  }

  static inline std::string* dir_ = nullptr;
};

TEST_P(SeekReadsTest, ThePlanHoldsEveryReadOfTheSameSeekAndTheDecodeAfterIt) {
  constexpr std::uint64_t kFollow = 48000;  // 1 s
  for (const std::uint64_t frame : {90ULL * 48000 + 1234, 7ULL * 48000 + 5, 119ULL * 48000}) {
    SCOPED_TRACE(frame);
    auto server_copy = file();
    ASSERT_NE(server_copy, nullptr);
    auto plan = plan_seek_reads(*server_copy, kOut, frame, kFollow);
    ASSERT_TRUE(plan) << plan.status().to_string();
    ASSERT_FALSE(plan->empty());
    std::uint64_t planned = 0;
    for (std::size_t i = 0; i < plan->size(); ++i) {
      planned += (*plan)[i].length;
      if (i > 0) {
        EXPECT_GT((*plan)[i].offset, (*plan)[i - 1].end()) << "sorted and disjoint";
      }
    }
    EXPECT_LE(planned, SeekReadsLimits{}.max_bytes);
    if (GetParam().reads_little) {
      EXPECT_LT(planned, *server_copy->size() / 4) << "a seek plans a small part of the song";
    }

    PlannedSource player(file());
    player.plan = *plan;
    const auto got = seek_and_decode(player, frame, kFollow);
    EXPECT_EQ(player.misses, 0) << "reads outside the plan";
    ASSERT_EQ(player.hints.size(), 1u) << "the decoder says a seek is coming";
    EXPECT_EQ(player.hints[0].first, frame);
    EXPECT_EQ(player.hints[0].second, 48000u);
    // The same samples as a seek on a plain copy.
    auto plain = file();
    EXPECT_EQ(got, seek_and_decode(*plain, frame, kFollow));
  }
}

// A player that opens the song to play from a frame: one plan holds the
// opening's reads too.
TEST_P(SeekReadsTest, WithTheOpeningThePlanHoldsItsReadsToo) {
  constexpr std::uint64_t frame = 45ULL * 48000 + 17;
  auto server_copy = file();
  ASSERT_NE(server_copy, nullptr);
  auto plan = plan_seek_reads(*server_copy, kOut, frame, 48000, /*with_open=*/true);
  ASSERT_TRUE(plan) << plan.status().to_string();
  ASSERT_FALSE(plan->empty());
  EXPECT_EQ(plan->front().offset, 0u) << "the header";
  PlannedSource player(file());
  player.plan = *plan;
  const auto got = seek_and_decode(player, frame, 48000, /*count_open=*/true);
  EXPECT_EQ(player.misses, 0) << "reads outside the plan";
  auto plain = file();
  EXPECT_EQ(got, seek_and_decode(*plain, frame, 48000));
}

TEST_P(SeekReadsTest, APlanStaysWithinItsLimits) {
  auto copy = file();
  ASSERT_NE(copy, nullptr);
  CountingSource counted(std::move(copy));
  SeekReadsLimits limits;
  limits.max_bytes = 40 * 1024;
  limits.max_ranges = 2;
  auto plan = plan_seek_reads(counted, kOut, 100ULL * 48000, 48000, /*with_open=*/true, limits);
  ASSERT_TRUE(plan) << plan.status().to_string();
  EXPECT_FALSE(plan->empty());
  EXPECT_LE(plan->size(), 2u);
  std::uint64_t planned = 0;
  for (const auto& r : *plan) planned += r.length;
  EXPECT_LE(planned, limits.max_bytes);
  // Planning stops reading once it has read twice what a plan may hold
  // (the MP3 would be decoded from its start to 100 s otherwise).
  EXPECT_LE(counted.bytes(), 2 * limits.max_bytes + 2 * 32 * 1024) << "read in all";
}

INSTANTIATE_TEST_SUITE_P(Formats, SeekReadsTest,
                         ::testing::Values(Format{"s.flac", "-c:a flac", 44100},
                                           Format{"s.ogg", "-c:a libvorbis", 44100},
                                           Format{"s.opus", "-c:a libopus -b:a 96k", 48000},
                                           Format{"s.mp3", "-c:a libmp3lame -b:a 128k", 44100, false},
                                           Format{"s.m4a", "-c:a aac -b:a 128k", 44100}),
                         FileParamName());

TEST(SeekReadsErrorsTest, AFileThatIsNotAudioIsUnsupported) {
  const auto path = (fs::temp_directory_path() / "hifi-seek-reads-not-audio.txt").string();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("not audio at all, only words\n", f);
    std::fclose(f);
  }
  auto source = FileByteSource::open(path);
  ASSERT_TRUE(source);
  auto plan = plan_seek_reads(**source, kOut, 1000, 100);
  EXPECT_FALSE(plan);
  EXPECT_EQ(plan.status().code(), Code::kUnsupported) << plan.status().to_string();
  fs::remove(path);
  auto bad = plan_seek_reads(**source, AudioFormat{0, 2}, 1000, 100);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hifi::media
