// Lyrics: LRC and plain text parsed, and tags read from files made by the
// ffmpeg CLI (skipped when it is not installed).
#include "media/lyrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace hifi::media {
namespace {

TEST(LyricsTest, LrcIsSyncedInTimeOrder) {
  auto l = parse_lyrics("[ar:Someone]\n[offset:-250]\n[00:01.00]One\n[00:02.5] Two\n[01:00.123][00:00.10]Zero and again\n");
  EXPECT_TRUE(l.synced);
  EXPECT_EQ(l.offset_ms, -250);
  EXPECT_EQ(l.lang, "xxx");
  ASSERT_EQ(l.lines.size(), 4u);
  EXPECT_EQ(l.lines[0].start_ms, 100);
  EXPECT_EQ(l.lines[0].text, "Zero and again");
  EXPECT_EQ(l.lines[1].start_ms, 1000);
  EXPECT_EQ(l.lines[1].text, "One");
  EXPECT_EQ(l.lines[2].start_ms, 2500);
  EXPECT_EQ(l.lines[2].text, "Two");
  EXPECT_EQ(l.lines[3].start_ms, 60123);
}

TEST(LyricsTest, PlainTextIsUnsyncedLines) {
  auto l = parse_lyrics("\nFirst line\r\n\n[Chorus]\nLast\n\n", "eng");
  EXPECT_FALSE(l.synced);
  EXPECT_EQ(l.lang, "eng");
  ASSERT_EQ(l.lines.size(), 4u);
  EXPECT_EQ(l.lines[0].text, "First line");
  EXPECT_EQ(l.lines[1].text, "");
  EXPECT_EQ(l.lines[2].text, "[Chorus]");
  EXPECT_EQ(l.lines[3].start_ms, -1);
}

TEST(LyricsTest, LongTextIsBounded) {
  std::string text;
  for (std::size_t i = 0; i < kMaxLyricsLines + 10; ++i) text += "la\n";
  EXPECT_EQ(parse_lyrics(text).lines.size(), kMaxLyricsLines);
  EXPECT_LE(parse_lyrics(std::string(kMaxLyricsBytes * 2, 'a')).lines[0].text.size(), kMaxLyricsBytes);
}

TEST(LyricsTest, ReadsTheTagsOfAFile) {
  if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) GTEST_SKIP() << "ffmpeg not installed";
  const auto dir = std::filesystem::temp_directory_path() / ("hifi-lyrics-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto flac = (dir / "synced.flac").string(), mp3 = (dir / "plain.mp3").string();
  const std::string ff = "ffmpeg -hide_banner -loglevel error -y -f lavfi -i sine=duration=1 ";
  ASSERT_EQ(std::system((ff + "-metadata 'lyrics=[00:00.50]Hello\n[00:01.25]World' " + flac).c_str()), 0);
  ASSERT_EQ(std::system((ff + "-c:a libmp3lame -metadata 'lyrics-fra=Bonjour\nMonde' " + mp3).c_str()), 0);

  auto synced = read_lyrics(flac);
  ASSERT_TRUE(synced) << synced.status().to_string();
  ASSERT_EQ(synced->size(), 1u);
  EXPECT_TRUE((*synced)[0].synced);
  ASSERT_EQ((*synced)[0].lines.size(), 2u);
  EXPECT_EQ((*synced)[0].lines[1].start_ms, 1250);
  EXPECT_EQ((*synced)[0].lines[1].text, "World");

  auto plain = read_lyrics(mp3);
  ASSERT_TRUE(plain) << plain.status().to_string();
  ASSERT_EQ(plain->size(), 1u);
  EXPECT_FALSE((*plain)[0].synced);
  EXPECT_EQ((*plain)[0].lang, "fra");
  ASSERT_EQ((*plain)[0].lines.size(), 2u);
  EXPECT_EQ((*plain)[0].lines[0].text, "Bonjour");

  EXPECT_FALSE(read_lyrics((dir / "missing.flac").string()));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hifi::media
