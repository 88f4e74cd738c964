#include "media/transcoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "media/decoder.h"

namespace hifi::media {
namespace {
namespace fs = std::filesystem;

// Six seconds of a chord with noise in every format the server accepts,
// generated with the ffmpeg CLI (like music, it keeps a VBR encoder near its
// bitrate; pure noise or tones do not).
class TranscoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) {
      skip_ = true;
      return;
    }
    dir_ = new fs::path(fs::temp_directory_path() / ("hifi-transcoder-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const std::string source =
        "-f lavfi -i 'aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*554*t)+0.2*sin(2*PI*659*t)+"
        "0.1*(random(0)-0.5):s=44100:d=6' -ac 2";
    const std::vector<std::pair<std::string, std::string>> inputs = {
        {"wav", "-c:a pcm_s16le"},   {"flac", "-c:a flac"},    {"mp3", "-c:a libmp3lame -b:a 192k"},
        {"ogg", "-c:a libvorbis"},   {"opus", "-c:a libopus"}, {"m4a", "-c:a aac -b:a 160k"},
    };
    for (const auto& [ext, codec] : inputs) {
      const auto out = (*dir_ / ("noise." + ext)).string();
      const std::string cmd = "ffmpeg -nostdin -hide_banner -loglevel error -y " + source + " " + codec + " " + out;
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (skip_) GTEST_SKIP() << "ffmpeg not installed";
  }

  static std::string input(const std::string& ext) { return (*dir_ / ("noise." + ext)).string(); }

  // Runs a transcode to the end, reading in small pieces.
  static std::string transcode_all(const std::string& path, const TranscodeRequest& request) {
    auto t = open_transcoder(path, request);
    EXPECT_TRUE(t.is_ok()) << t.status().to_string();
    if (!t.is_ok()) return {};
    std::string out;
    char buf[1000];
    for (;;) {
      auto n = (*t)->read(buf, sizeof buf);
      EXPECT_TRUE(n.is_ok()) << n.status().to_string();
      if (!n.is_ok() || *n == 0) break;
      out.append(buf, *n);
    }
    return out;
  }

  static std::string write(const std::string& name, const std::string& bytes) {
    const auto path = (*dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // The whole file's samples at `rate`, decoded by HiFi's own decoder.
  static std::vector<std::int16_t> decoded(const std::string& path, int rate) {
    AudioDecoder decoder(AudioFormat{rate, 2});
    EXPECT_TRUE(decoder.open(path, nullptr, nullptr).is_ok());
    std::vector<std::int16_t> pcm;
    bool ended = false;
    while (!ended) {
      if (!decoder.decode(pcm, 1 << 16, &ended).is_ok()) return {};
    }
    return pcm;
  }
  static std::uint64_t decoded_frames(const std::string& path, int rate) { return decoded(path, rate).size() / 2; }

  // The codec FFmpeg finds in the file.
  static AVCodecID codec_of(const std::string& path) {
    FormatPtr fmt;
    if (open_audio_input(path, nullptr, nullptr, fmt) < 0) return AV_CODEC_ID_NONE;
    if (avformat_find_stream_info(fmt.get(), nullptr) < 0) return AV_CODEC_ID_NONE;
    int index = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    return index < 0 ? AV_CODEC_ID_NONE : fmt->streams[index]->codecpar->codec_id;
  }

  static inline bool skip_ = false;
  static inline fs::path* dir_ = nullptr;
};

struct Output {
  TranscodeFormat format;
  AVCodecID codec;
  int rate;
  int frame;    // samples per codec frame
  int priming;  // leading samples the format cannot tell a decoder to drop
  int bitrate;
};

// Ogg Opus signals its encoder delay (pre-skip). A streamed MP3 has no LAME
// header (it would have to be written after the end) and ADTS has no field
// for it, so their decoders also play the encoder's priming: LAME's 576
// samples plus the MP3 decoder's 529, and AAC's 1024.
const Output kOutputs[] = {
    {TranscodeFormat::kOpus, AV_CODEC_ID_OPUS, 48000, 960, 0, 96},
    {TranscodeFormat::kMp3, AV_CODEC_ID_MP3, 44100, 1152, 1105, 128},
    {TranscodeFormat::kAac, AV_CODEC_ID_AAC, 44100, 1024, 1024, 128},
};

TEST_F(TranscoderTest, EveryInputToEveryOutputDecodesWithCodecBitrateAndDuration) {
  for (const std::string ext : {"wav", "flac", "mp3", "ogg", "opus", "m4a"}) {
    for (const auto& out : kOutputs) {
      SCOPED_TRACE(ext + " -> " + transcode_format_name(out.format));
      const auto bytes = transcode_all(input(ext), {out.format, out.bitrate, 0});
      ASSERT_FALSE(bytes.empty());
      const auto path = write(std::string("out-") + ext + "." + transcode_extension(out.format), bytes);
      EXPECT_EQ(codec_of(path), out.codec);
      const auto source = decoded_frames(input(ext), out.rate);
      const auto got = decoded_frames(path, out.rate);
      ASSERT_GT(source, 0u);
      // Within one frame of the codec (after the priming).
      EXPECT_LE(got, source + out.priming + out.frame) << "source " << source << " output " << got;
      EXPECT_GE(got + out.frame, source) << "source " << source << " output " << got;
      const double seconds = static_cast<double>(source) / out.rate;
      const double kbps = bytes.size() * 8 / seconds / 1000;
      EXPECT_GT(kbps, out.bitrate * 0.75) << kbps << " kbit/s";
      EXPECT_LT(kbps, out.bitrate * 1.25) << kbps << " kbit/s";
    }
  }
}

TEST_F(TranscoderTest, StartsAtTheOffset) {
  for (const auto& out : kOutputs) {
    SCOPED_TRACE(transcode_format_name(out.format));
    const auto bytes = transcode_all(input("flac"), {out.format, 0, 4000});
    const auto path = write(std::string("offset.") + transcode_extension(out.format), bytes);
    const auto got = decoded_frames(path, out.rate);
    const std::uint64_t want = 2 * static_cast<std::uint64_t>(out.rate);  // 6 s - 4 s
    EXPECT_LE(got, want + out.priming + out.frame) << got;
    EXPECT_GE(got + out.frame, want) << got;
  }
}

TEST_F(TranscoderTest, FlacPiecesFollowEachOtherSampleForSample) {
  // What a player fetches piece by piece is exactly what one whole
  // transcode holds: no gap, no overlap, no edge effects at the cuts.
  for (const std::string ext : {"flac", "mp3", "m4a"}) {
    SCOPED_TRACE(ext);
    const auto whole = decoded(write("whole.flac", transcode_all(input(ext), {TranscodeFormat::kFlac, 0, 0, 0})), 48000);
    ASSERT_GT(whole.size(), 0u);
    std::vector<std::int16_t> joined;
    for (std::int64_t at = 0; at < 6000; at += 1500) {
      const std::int64_t length = at < 4500 ? 1500 : 0;  // the last one: to the end
      auto piece = decoded(write("piece.flac", transcode_all(input(ext), {TranscodeFormat::kFlac, 0, at, length})), 48000);
      if (length > 0) {
        EXPECT_EQ(piece.size(), 1500u * 48 * 2) << at;
      }
      joined.insert(joined.end(), piece.begin(), piece.end());
    }
    ASSERT_EQ(joined.size(), whole.size());
    if (ext != "m4a") {
      EXPECT_TRUE(joined == whole);
      continue;
    }
    // AAC with perceptual noise substitution (the ffmpeg encoder's
    // default) draws noise from a generator whose state is the whole song
    // before the cut, so the noisy part differs after a cut; the rest is
    // aligned to the sample: the pieces match the whole best at lag 0.
    auto mismatch = [&](int lag) {
      double sum = 0;
      for (std::size_t i = 2 * 48000; i + 2 * 48 < whole.size() - 2 * 48; i += 2) {
        sum += std::abs(joined[i] - whole[static_cast<std::size_t>(static_cast<long>(i) + 2 * lag)]);
      }
      return sum;
    };
    for (int lag : {-48, -10, -2, -1, 1, 2, 10, 48}) EXPECT_LT(mismatch(0), mismatch(lag) / 2) << "lag " << lag;
  }
}

TEST_F(TranscoderTest, AnOffsetPastTheEndGivesAnEmptyButValidStream) {
  const auto bytes = transcode_all(input("wav"), {TranscodeFormat::kOpus, 0, 60'000});
  EXPECT_FALSE(bytes.empty());  // the Ogg headers
  EXPECT_EQ(bytes.substr(0, 4), "OggS");
}

TEST_F(TranscoderTest, StreamsBeforeTheSongIsEncoded) {
  // The first bytes (container headers and the first packets) come out long
  // before the whole song is encoded: a small first read returns at once
  // with data, and the rest keeps coming.
  auto t = open_transcoder(input("flac"), {TranscodeFormat::kMp3, 128, 0});
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ((*t)->content_type(), "audio/mpeg");
  char buf[64];
  auto n = (*t)->read(buf, sizeof buf);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, sizeof buf);
}

TEST_F(TranscoderTest, RefusesWhatItCannotHonour) {
  auto bitrate = open_transcoder(input("wav"), {TranscodeFormat::kOpus, 5000, 0});
  EXPECT_EQ(bitrate.status().code(), Code::kInvalidArgument);
  auto offset = open_transcoder(input("wav"), {TranscodeFormat::kOpus, 0, -1});
  EXPECT_EQ(offset.status().code(), Code::kInvalidArgument);
  auto missing = open_transcoder((*dir_ / "missing.flac").string(), {TranscodeFormat::kOpus, 0, 0});
  EXPECT_EQ(missing.status().code(), Code::kIoError);
  const auto text = write("notes.txt", std::string(4096, 'x'));
  auto not_audio = open_transcoder(text, {TranscodeFormat::kOpus, 0, 0});
  EXPECT_EQ(not_audio.status().code(), Code::kUnsupported);
}

TEST_F(TranscoderTest, FormatNames) {
  EXPECT_EQ(parse_transcode_format("opus"), TranscodeFormat::kOpus);
  EXPECT_EQ(parse_transcode_format("mp3"), TranscodeFormat::kMp3);
  EXPECT_EQ(parse_transcode_format("aac"), TranscodeFormat::kAac);
  EXPECT_EQ(parse_transcode_format("flac"), TranscodeFormat::kFlac);
  EXPECT_EQ(parse_transcode_format("raw"), std::nullopt);
  EXPECT_EQ(parse_transcode_format("OPUS"), std::nullopt);
  EXPECT_STREQ(transcode_content_type(TranscodeFormat::kOpus), "audio/ogg");
}

}  // namespace
}  // namespace hifi::media
