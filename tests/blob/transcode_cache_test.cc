#include "blob/transcode_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/random.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

class TranscodeCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hifi-tcache-" + random_hex(6));
  }
  void TearDown() override { fs::remove_all(dir_); }

  static TranscodeCache::Entry put(TranscodeCache& cache, const std::string& key, const std::string& bytes) {
    auto w = cache.begin(key);
    EXPECT_TRUE(w.is_ok());
    EXPECT_TRUE((*w)->write(bytes.substr(0, bytes.size() / 2)).is_ok());
    EXPECT_TRUE((*w)->write(bytes.substr(bytes.size() / 2)).is_ok());
    auto e = (*w)->commit();
    EXPECT_TRUE(e.is_ok());
    return *e;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  std::size_t files() const {
    std::size_t n = 0;
    for (const auto& f : fs::recursive_directory_iterator(dir_)) n += f.is_regular_file() ? 1 : 0;
    return n;
  }

  fs::path dir_;
};

TEST_F(TranscodeCacheTest, AFinishedEntryIsFoundWithItsBytesSizeAndDigest) {
  TranscodeCache cache(dir_.string(), 1 << 20);
  ASSERT_TRUE(cache.open().is_ok());
  EXPECT_FALSE(cache.find("abc-opus-96"));
  const auto e = put(cache, "abc-opus-96", "hello");
  auto found = cache.find("abc-opus-96");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->path, e.path);
  EXPECT_EQ(found->size, 5u);
  EXPECT_EQ(found->digest, ContentHash::of("hello"));
  EXPECT_EQ(read(found->path), "hello");
  EXPECT_EQ(cache.size_bytes(), 5u);
}

TEST_F(TranscodeCacheTest, AnUnfinishedEntryLeavesNothing) {
  TranscodeCache cache(dir_.string(), 1 << 20);
  ASSERT_TRUE(cache.open().is_ok());
  {
    auto w = cache.begin("abc-mp3-128");
    ASSERT_TRUE(w.is_ok());
    ASSERT_TRUE((*w)->write("half of it").is_ok());
  }  // the client went away
  EXPECT_FALSE(cache.find("abc-mp3-128"));
  EXPECT_EQ(files(), 0u);
}

TEST_F(TranscodeCacheTest, EvictsTheLeastRecentlyUsedBeyondTheCapacity) {
  TranscodeCache cache(dir_.string(), 25);
  ASSERT_TRUE(cache.open().is_ok());
  put(cache, "a", std::string(10, 'a'));
  put(cache, "b", std::string(10, 'b'));
  ASSERT_TRUE(cache.find("a"));  // a is now more recent than b
  put(cache, "c", std::string(10, 'c'));
  EXPECT_TRUE(cache.find("a"));
  EXPECT_FALSE(cache.find("b"));
  EXPECT_TRUE(cache.find("c"));
  EXPECT_EQ(cache.size_bytes(), 20u);
  EXPECT_EQ(files(), 2u);
  // Larger than the whole capacity: not kept.
  put(cache, "d", std::string(30, 'd'));
  EXPECT_FALSE(cache.find("d"));
  EXPECT_LE(cache.size_bytes(), 25u);
}

TEST_F(TranscodeCacheTest, ReopenKeepsEntriesAndDropsTemporaries) {
  {
    TranscodeCache cache(dir_.string(), 1 << 20);
    ASSERT_TRUE(cache.open().is_ok());
    put(cache, "kept", "bytes");
  }
  std::ofstream(dir_ / "tmp" / "left.part") << "crash";
  std::ofstream(dir_ / "stray") << "not an entry";
  TranscodeCache cache(dir_.string(), 1 << 20);
  ASSERT_TRUE(cache.open().is_ok());
  auto e = cache.find("kept");
  ASSERT_TRUE(e);
  EXPECT_EQ(read(e->path), "bytes");
  EXPECT_EQ(files(), 1u);
  // A smaller capacity at the next start evicts at once.
  TranscodeCache small(dir_.string(), 2);
  ASSERT_TRUE(small.open().is_ok());
  EXPECT_EQ(small.entries(), 0u);
  EXPECT_EQ(files(), 0u);
}

TEST_F(TranscodeCacheTest, RefusesMalformedKeys) {
  TranscodeCache cache(dir_.string(), 1 << 20);
  ASSERT_TRUE(cache.open().is_ok());
  EXPECT_EQ(cache.begin("../escape").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(cache.begin("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(cache.begin("a.b").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hifi
