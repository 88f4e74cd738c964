#include "library/media_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "common/sha256.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Every input is generated at test time with the ffmpeg and sox CLIs, so no
// binary fixtures live in the repository.
class MediaProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v ffmpeg >/dev/null 2>&1 && command -v sox >/dev/null 2>&1") != 0) {
      skip_reason_ = new std::string("ffmpeg or sox not installed");
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "hifi-probe-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      failure_ = new std::string("mkdtemp failed");
      return;
    }
    dir_ = new std::string(tmpl);
    generate();
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

  static std::string read(const std::string& name) {
    std::ifstream in(path(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static void write(const std::string& name, std::string_view bytes) {
    std::ofstream(path(name), std::ios::binary).write(bytes.data(), bytes.size());
  }

 protected:
  static void run(const std::string& command) {
    if (failure_ != nullptr) return;
    const std::string full = "cd '" + *dir_ + "' && " + command + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) failure_ = new std::string("failed: " + command);
  }

  static std::string tags(const std::string& title) {
    return " -metadata 'title=" + title +
           "' -metadata 'artist=Björk & Friends' -metadata album=Album"
           " -metadata 'album_artist=Various Artists' -metadata genre=Electronic"
           " -metadata date=2021 -metadata track=3/12 -metadata disc=2/3 ";
  }

  // A FLAC picture block (the payload of a Vorbis comment
  // METADATA_BLOCK_PICTURE), built by hand because ffmpeg 5.1 cannot attach
  // pictures to Ogg.
  static std::string picture_block(const std::string& png) {
    std::string out;
    auto u32 = [&](std::uint32_t v) {
      for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
    };
    u32(3);  // front cover
    u32(9);
    out += "image/png";
    u32(0);  // no description
    u32(64);
    u32(64);
    u32(24);
    u32(0);
    u32(static_cast<std::uint32_t>(png.size()));
    out += png;
    return out;
  }

  static void generate() {
    const std::string ff = "ffmpeg -nostdin -v error -y ";
    const std::string tone = "-f lavfi -i sine=frequency=440:sample_rate=44100:duration=2 -ac 2 ";
    run(ff + tone + tags("Tone MP3") + "-c:a libmp3lame -b:a 128k -id3v2_version 3 tone.mp3");
    run(ff + tone + tags("Tone FLAC") + "-c:a flac tone.flac");
    run(ff + tone + tags("Tone Vorbis") + "-c:a libvorbis tone.ogg");
    run(ff + tone + tags("Tone Opus") + "-c:a libopus tone.opus");
    run(ff + tone + tags("Tone WAV") + "-c:a pcm_s16le tone.wav");
    run(ff + tone + tags("Tone AAC") + "-c:a aac tone.m4a");
    run(ff + tone + tags("Tone ALAC") + "-c:a alac alac.m4a");
    run(ff + tone + tags("Tone ADTS") + "-c:a aac -write_id3v2 1 tone.aac");
    // Untagged, from sox: the caller falls back to the file name.
    run("sox -n -r 48000 -c 1 -b 16 plain.wav synth 2.5 sine 220");
    run("sox -n -r 22050 -c 2 -b 16 plain.aiff synth 2 sine 330");

    run(ff + "-f lavfi -i color=c=red:s=64x64 -frames:v 1 cover.png");
    run(ff +
        "-i tone.mp3 -i cover.png -map 0 -map 1 -c copy -id3v2_version 3"
        " -metadata:s:v 'title=Album cover' -metadata:s:v 'comment=Cover (front)' cover.mp3");
    run(ff +
        "-i tone.flac -i cover.png -map 0 -map 1 -c copy -disposition:v attached_pic "
        "cover.flac");
    run(ff +
        "-i tone.m4a -i cover.png -map 0 -map 1 -c copy -disposition:v attached_pic "
        "cover.m4a");
    if (failure_ != nullptr) return;
    const std::string block = base64_encode(picture_block(read("cover.png")));
    run(ff + tone + tags("Covered Vorbis") + "-metadata METADATA_BLOCK_PICTURE=" + block +
        " -c:a libvorbis cover.ogg");
    run(ff + tone + tags("Covered Opus") + "-metadata METADATA_BLOCK_PICTURE=" + block +
        " -c:a libopus cover.opus");

    run(ff + "-f lavfi -i testsrc=size=160x120:rate=10 -t 1 -c:v mpeg4 video.mp4");
    run("head -c 100 tone.flac > truncated.flac");
    run("sox -n -r 44100 -c 2 -b 16 header-only.wav trim 0 0");
    run("cp tone.mp3 'odd:name.mp3'");
    run("printf 'These are my notes.\\nNot music.\\n' > notes.txt");
    run(": > empty.mp3");
    run("printf '#EXTM3U\\n#EXTINF:2,\\ntone.mp3\\n#EXT-X-ENDLIST\\n' > playlist.m3u8");
    if (failure_ != nullptr) return;
    // Fixed seed: the bytes are the same on every run.
    std::mt19937 rng(20240601);
    std::string noise(64 << 10, '\0');
    for (char& c : noise) c = static_cast<char>(rng() & 0xff);
    write("random.bin", noise);
  }

  static std::string* dir_;
  static std::string* failure_;
  static std::string* skip_reason_;
};

std::string* MediaProbeTest::dir_ = nullptr;
std::string* MediaProbeTest::failure_ = nullptr;
std::string* MediaProbeTest::skip_reason_ = nullptr;

struct Expected {
  const char* file;
  const char* format;
  const char* codec;
  const char* content_type;
  int sample_rate;
  const char* title;
  // RIFF INFO (what ffmpeg writes to WAV) has no album artist or disc field.
  bool has_album_artist_and_disc = true;
};

constexpr Expected kTagged[] = {
    {"tone.mp3", "mp3", "mp3", "audio/mpeg", 44100, "Tone MP3"},
    {"tone.flac", "flac", "flac", "audio/flac", 44100, "Tone FLAC"},
    {"tone.ogg", "ogg", "vorbis", "audio/ogg", 44100, "Tone Vorbis"},
    {"tone.opus", "ogg", "opus", "audio/ogg", 48000, "Tone Opus"},
    {"tone.wav", "wav", "pcm_s16le", "audio/wav", 44100, "Tone WAV", false},
    {"tone.m4a", "mov,mp4,m4a,3gp,3g2,mj2", "aac", "audio/mp4", 44100, "Tone AAC"},
    {"alac.m4a", "mov,mp4,m4a,3gp,3g2,mj2", "alac", "audio/mp4", 44100, "Tone ALAC"},
    {"tone.aac", "aac", "aac", "audio/aac", 44100, "Tone ADTS"},
};

TEST_F(MediaProbeTest, ReadsTechnicalDataAndTagsOfEveryFormat) {
  for (const Expected& e : kTagged) {
    SCOPED_TRACE(e.file);
    auto info = probe_media(path(e.file));
    ASSERT_TRUE(info) << info.status().to_string();
    EXPECT_EQ(info->format, e.format);
    EXPECT_EQ(info->codec, e.codec);
    EXPECT_EQ(info->content_type, e.content_type);
    EXPECT_EQ(info->sample_rate, e.sample_rate);
    EXPECT_EQ(info->channels, 2);
    EXPECT_NEAR(info->duration_ms, 2000, 100);
    EXPECT_GT(info->bitrate, 0);
    EXPECT_EQ(info->title, e.title);
    EXPECT_EQ(info->artist, "Björk & Friends");
    EXPECT_EQ(info->album, "Album");
    EXPECT_EQ(info->genre, "Electronic");
    EXPECT_EQ(info->year, 2021);
    EXPECT_EQ(info->track, 3);
    if (e.has_album_artist_and_disc) {
      EXPECT_EQ(info->album_artist, "Various Artists");
      EXPECT_EQ(info->disc, 2);
    } else {
      EXPECT_EQ(info->album_artist, "");
      EXPECT_EQ(info->disc, 0);
    }
    EXPECT_TRUE(info->cover_bytes.empty());
    EXPECT_TRUE(info->cover_mime.empty());
  }
}

TEST_F(MediaProbeTest, UntaggedFilesHaveEmptyTags) {
  auto wav = probe_media(path("plain.wav"));
  ASSERT_TRUE(wav) << wav.status().to_string();
  EXPECT_EQ(wav->format, "wav");
  EXPECT_EQ(wav->content_type, "audio/wav");
  EXPECT_EQ(wav->sample_rate, 48000);
  EXPECT_EQ(wav->channels, 1);
  EXPECT_NEAR(wav->duration_ms, 2500, 100);
  EXPECT_EQ(wav->title, "");
  EXPECT_EQ(wav->artist, "");
  EXPECT_EQ(wav->album, "");
  EXPECT_EQ(wav->track, 0);
  EXPECT_EQ(wav->year, 0);

  auto aiff = probe_media(path("plain.aiff"));
  ASSERT_TRUE(aiff) << aiff.status().to_string();
  EXPECT_EQ(aiff->format, "aiff");
  EXPECT_EQ(aiff->codec, "pcm_s16be");
  EXPECT_EQ(aiff->content_type, "audio/aiff");
  EXPECT_EQ(aiff->sample_rate, 22050);
  EXPECT_NEAR(aiff->duration_ms, 2000, 100);
  EXPECT_EQ(aiff->title, "");
}

TEST_F(MediaProbeTest, ReadsEmbeddedCoverArt) {
  const std::string png = read("cover.png");
  ASSERT_FALSE(png.empty());
  for (const char* file : {"cover.mp3", "cover.flac", "cover.m4a", "cover.ogg", "cover.opus"}) {
    SCOPED_TRACE(file);
    auto info = probe_media(path(file));
    ASSERT_TRUE(info) << info.status().to_string();
    EXPECT_EQ(info->cover_mime, "image/png");
    EXPECT_EQ(info->cover_bytes, png);
    // The picture stream does not hide the audio.
    EXPECT_NEAR(info->duration_ms, 2000, 100);
    EXPECT_EQ(info->channels, 2);
  }
  auto mp3 = probe_media(path("cover.mp3"));
  ASSERT_TRUE(mp3);
  EXPECT_EQ(mp3->codec, "mp3");
  EXPECT_EQ(mp3->title, "Tone MP3");
}

TEST_F(MediaProbeTest, ColonInPathIsNotAProtocol) {
  auto info = probe_media(path("odd:name.mp3"));
  ASSERT_TRUE(info) << info.status().to_string();
  EXPECT_EQ(info->codec, "mp3");
}

TEST_F(MediaProbeTest, RejectsNonAudio) {
  for (const char* file : {"notes.txt", "random.bin", "empty.mp3", "cover.png", "truncated.flac",
                           "header-only.wav", "video.mp4", "playlist.m3u8"}) {
    SCOPED_TRACE(file);
    auto info = probe_media(path(file));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.status().code(), Code::kUnsupported) << info.status().to_string();
    EXPECT_FALSE(info.status().message().empty());
  }
}

TEST_F(MediaProbeTest, SaysWhyAFileIsRejected) {
  EXPECT_EQ(probe_media(path("video.mp4")).status().message(), "no audio stream");
  EXPECT_THAT(probe_media(path("notes.txt")).status().message(), StartsWith("not an audio file"));
  EXPECT_THAT(probe_media(path("empty.mp3")).status().message(), HasSubstr("empty"));
  EXPECT_THAT(probe_media(path("header-only.wav")).status().message(),
              StartsWith("could not decode any audio"));
}

TEST_F(MediaProbeTest, ProbesConcurrently) {
  const std::vector<std::string> files = {"tone.mp3",  "tone.flac", "cover.ogg", "tone.opus",
                                          "cover.m4a", "notes.txt", "video.mp4"};
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 5; ++round) {
        for (const std::string& f : files) {
          if (probe_media(path(f))) ++accepted;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), 4 * 5 * 5);
}

TEST_F(MediaProbeTest, MissingFileIsAnIoError) {
  EXPECT_EQ(probe_media(path("does-not-exist.mp3")).status().code(), Code::kIoError);
}

TEST_F(MediaProbeTest, DirectoryIsUnsupported) {
  EXPECT_EQ(probe_media(*dir_).status().code(), Code::kUnsupported);
}

}  // namespace
}  // namespace hifi
