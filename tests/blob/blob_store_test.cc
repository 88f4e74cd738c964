#include "blob/blob_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "common/sha256.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

// sha256("hello")
constexpr const char* kHelloSha =
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
ContentHash hello() { return ContentHash::parse(kHelloSha).value(); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    std::string tmpl = (fs::temp_directory_path() / "hifi-blob-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<BlobStore>(dir_ + "/store");
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::size_t temporaries() const { return count_files(store_->root() + "/tmp"); }
  std::size_t blobs() const { return count_files(store_->root() + "/blobs"); }

  std::string dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, CreatesLayout) {
  for (const char* sub : {"blobs", "tmp", "quarantine"}) {
    EXPECT_TRUE(fs::is_directory(store_->root() + "/" + sub)) << sub;
  }
}

TEST_F(BlobStoreTest, WriteAndCommitStoresContentUnderItsDigest) {
  auto writer = store_->begin_write(1024);
  ASSERT_TRUE(writer) << writer.status().to_string();
  BlobWriter& w = **writer;
  EXPECT_TRUE(w.temp_path().starts_with(store_->root() + "/tmp/"));
  EXPECT_TRUE(w.temp_path().ends_with(".part"));
  ASSERT_TRUE(w.write("hel"));
  ASSERT_TRUE(w.write(""));
  ASSERT_TRUE(w.write("lo"));
  EXPECT_EQ(w.size(), 5u);
  EXPECT_EQ(read_file(w.temp_path()), "hello");

  auto info = w.commit();
  ASSERT_TRUE(info) << info.status().to_string();
  EXPECT_EQ(info->sha256.hex(), kHelloSha);
  EXPECT_EQ(info->size, 5u);

  const std::string path = store_->path_for(hello());
  EXPECT_EQ(path, store_->root() + "/blobs/2c/f2/" + kHelloSha);
  EXPECT_EQ(read_file(path), "hello");
  EXPECT_TRUE(store_->exists(hello()));
  auto size = store_->size_of(hello());
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, 5u);
  EXPECT_EQ(temporaries(), 0u);
}

TEST_F(BlobStoreTest, TemporaryIsCreatedWithMode0644) {
  mode_t mask = ::umask(0);
  ::umask(mask);
  auto writer = store_->begin_write(16);
  ASSERT_TRUE(writer);
  struct stat st;
  ASSERT_EQ(::stat((*writer)->temp_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u & ~mask);
}

TEST_F(BlobStoreTest, DigestIsAvailableBeforeCommitAndMatches) {
  auto writer = store_->begin_write(1024);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write("hello"));
  Digest d = (*writer)->digest();
  EXPECT_EQ(to_hex(d), kHelloSha);
  EXPECT_EQ(to_hex((*writer)->digest()), kHelloSha);  // idempotent
  // The hash is final now; more bytes would make it lie.
  EXPECT_EQ((*writer)->write("x").code(), Code::kFailedPrecondition);
  auto info = (*writer)->commit();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sha256.hex(), kHelloSha);
  EXPECT_EQ(info->size, 5u);
}

TEST_F(BlobStoreTest, EmptyBlob) {
  auto info = store_->put("");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sha256.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(info->size, 0u);
  EXPECT_TRUE(store_->exists(info->sha256));
}

TEST_F(BlobStoreTest, IdenticalBytesTwiceGiveOneFile) {
  auto first = store_->put("same bytes");
  ASSERT_TRUE(first);
  auto writer = store_->begin_write(1024);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write("same "));
  ASSERT_TRUE((*writer)->write("bytes"));
  auto second = (*writer)->commit();
  ASSERT_TRUE(second) << second.status().to_string();
  EXPECT_EQ(first->sha256, second->sha256);
  EXPECT_EQ(blobs(), 1u);
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_EQ(read_file(store_->path_for(first->sha256)), "same bytes");
}

TEST_F(BlobStoreTest, ExactlyMaxSizeIsAccepted) {
  auto writer = store_->begin_write(5);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write("hello"));
  ASSERT_TRUE((*writer)->commit());
}

TEST_F(BlobStoreTest, MaxSizeExceededLeavesNoFileAnywhere) {
  auto writer = store_->begin_write(10);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write("123456"));
  Status s = (*writer)->write("78901");
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s.to_string();
  // Aborted at once, not only when the writer is destroyed.
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_EQ((*writer)->write("x").code(), Code::kFailedPrecondition);
  EXPECT_EQ((*writer)->commit().status().code(), Code::kFailedPrecondition);
  (*writer).reset();
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_EQ(blobs(), 0u);
}

TEST_F(BlobStoreTest, PutStoresMegabytes) {
  std::string big(3 << 20, 'x');
  auto info = store_->put(big);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, big.size());
  EXPECT_EQ(info->sha256.hex(), to_hex(sha256(big)));
}

TEST_F(BlobStoreTest, AbortRemovesTemporary) {
  auto writer = store_->begin_write(1024);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write("partial"));
  EXPECT_EQ(temporaries(), 1u);
  (*writer)->abort();
  EXPECT_EQ(temporaries(), 0u);
  (*writer)->abort();  // idempotent
  EXPECT_EQ((*writer)->commit().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(blobs(), 0u);
}

TEST_F(BlobStoreTest, DestructorAbortsUncommittedWriter) {
  {
    auto writer = store_->begin_write(1024);
    ASSERT_TRUE(writer);
    ASSERT_TRUE((*writer)->write("partial"));
    EXPECT_EQ(temporaries(), 1u);
  }
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_EQ(blobs(), 0u);
}

TEST_F(BlobStoreTest, DestructorKeepsCommittedBlob) {
  ContentHash sha;
  {
    auto writer = store_->begin_write(1024);
    ASSERT_TRUE(writer);
    ASSERT_TRUE((*writer)->write("kept"));
    auto info = (*writer)->commit();
    ASSERT_TRUE(info);
    sha = info->sha256;
  }
  EXPECT_TRUE(store_->exists(sha));
}

TEST_F(BlobStoreTest, CleanupTemporariesRemovesLeftovers) {
  for (int i = 0; i < 3; ++i) {
    std::ofstream(store_->root() + "/tmp/crashed" + std::to_string(i) + ".part") << "junk";
  }
  auto committed = store_->put("committed");
  ASSERT_TRUE(committed);
  EXPECT_EQ(store_->cleanup_temporaries(), 3u);
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_EQ(store_->cleanup_temporaries(), 0u);
  EXPECT_TRUE(store_->exists(committed->sha256));
}

TEST_F(BlobStoreTest, Remove) {
  auto info = store_->put("to be removed");
  ASSERT_TRUE(info);
  ASSERT_TRUE(store_->exists(info->sha256));
  EXPECT_TRUE(store_->remove(info->sha256));
  EXPECT_FALSE(store_->exists(info->sha256));
  EXPECT_FALSE(fs::exists(store_->path_for(info->sha256)));
  EXPECT_EQ(store_->remove(info->sha256).code(), Code::kNotFound);
  EXPECT_EQ(store_->size_of(info->sha256).status().code(), Code::kNotFound);
}

TEST_F(BlobStoreTest, InvalidShaNeverNamesAFile) {
  // The store takes only a ContentHash, and no such text parses as one.
  const std::string upper = "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824";
  for (const std::string& bad :
       {std::string(), std::string("../../etc/passwd"), upper, std::string(kHelloSha) + "0",
        std::string(kHelloSha).substr(1), std::string("2c/f2/") + kHelloSha}) {
    EXPECT_EQ(ContentHash::parse(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(BlobStoreTest, ListSkipsFilesNotNamedBySha) {
  auto info = store_->put("listed");
  ASSERT_TRUE(info);
  std::ofstream(fs::path(store_->path_for(info->sha256)).parent_path() / "not-a-sha") << "x";
  EXPECT_EQ(store_->list(), std::vector<ContentHash>{info->sha256});
}

TEST_F(BlobStoreTest, RelativeRootBecomesAbsolute) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  BlobStore relative("rel");
  fs::current_path(cwd);
  EXPECT_EQ(relative.root(), dir_ + "/rel");
  auto info = relative.put("x");
  ASSERT_TRUE(info);
  EXPECT_TRUE(fs::path(relative.path_for(info->sha256)).is_absolute());
  EXPECT_TRUE(fs::exists(relative.path_for(info->sha256)));
}

TEST_F(BlobStoreTest, ConstructorThrowsWhenRootCannotBeCreated) {
  std::ofstream(dir_ + "/plain-file") << "x";
  EXPECT_THROW(BlobStore(dir_ + "/plain-file/store"), std::runtime_error);
}

TEST_F(BlobStoreTest, ConcurrentWritersOfDifferentContent) {
  constexpr int kThreads = 8;
  constexpr int kBlobsPerThread = 25;
  std::vector<std::vector<ContentHash>> shas(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBlobsPerThread; ++i) {
        // Every thread also writes one blob all threads share, so commits
        // of identical bytes race too.
        std::string content = i == 0 ? std::string("shared")
                                     : "thread " + std::to_string(t) + " blob " +
                                           std::to_string(i) + std::string(i * 100, 'z');
        auto writer = store_->begin_write(1 << 20);
        if (!writer) return;
        for (std::size_t off = 0; off < content.size(); off += 7) {
          if (!(*writer)->write(std::string_view(content).substr(off, 7))) return;
        }
        auto info = (*writer)->commit();
        if (!info) return;
        shas[t].push_back(info->sha256);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<ContentHash> distinct;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(shas[t].size(), std::size_t{kBlobsPerThread}) << "thread " << t;
    for (int i = 0; i < kBlobsPerThread; ++i) {
      std::string content = i == 0 ? std::string("shared")
                                   : "thread " + std::to_string(t) + " blob " + std::to_string(i) +
                                         std::string(i * 100, 'z');
      EXPECT_EQ(shas[t][i].hex(), to_hex(sha256(content)));
      EXPECT_EQ(read_file(store_->path_for(shas[t][i])), content);
      distinct.insert(shas[t][i]);
    }
  }
  EXPECT_EQ(blobs(), distinct.size());
  EXPECT_EQ(distinct.size(), std::size_t{kThreads * (kBlobsPerThread - 1) + 1});
  EXPECT_EQ(temporaries(), 0u);
}


// The bytes of an open blob, read through its descriptor.
std::string read_open(const OpenedBlob& blob) {
  std::string out(blob.size, '\0');
  const auto n = ::pread(blob.file->fd(), out.data(), out.size(), 0);
  EXPECT_EQ(n, static_cast<ssize_t>(out.size()));
  return out;
}

std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()));
}

TEST_F(BlobStoreTest, OpenGivesTheBytesAndReusesTheDescriptor) {
  auto info = store_->put("hello").value();
  auto first = store_->open(info.sha256);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->size, 5u);
  EXPECT_EQ(read_open(*first), "hello");
  auto again = store_->open(info.sha256).value();
  EXPECT_EQ(again.file, first->file);  // the kept descriptor
  EXPECT_EQ(read_open(again), "hello");
  EXPECT_EQ(store_->open(ContentHash::of("absent")).status().code(), Code::kNotFound);
}

TEST_F(BlobStoreTest, OpenAfterRemoveAndUploadAgainReadsTheNewFile) {
  auto info = store_->put("hello").value();
  auto held = store_->open(info.sha256).value();
  ASSERT_TRUE(store_->remove(info.sha256));
  EXPECT_EQ(store_->open(info.sha256).status().code(), Code::kNotFound);
  // A response still sending from the old descriptor finishes its bytes.
  EXPECT_EQ(read_open(held), "hello");

  ASSERT_TRUE(store_->put("hello").is_ok());
  auto fresh = store_->open(info.sha256).value();
  EXPECT_NE(fresh.file, held.file);
  struct stat a {}, b {};
  ASSERT_EQ(::fstat(fresh.file->fd(), &a), 0);
  ASSERT_EQ(::stat(store_->path_for(info.sha256).c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // the file the path names now
  EXPECT_EQ(read_open(fresh), "hello");
}

TEST_F(BlobStoreTest, OpenNoticesAFileUnlinkedBehindTheStoresBack) {
  auto info = store_->put("hello").value();
  auto kept = store_->open(info.sha256).value().file;
  fs::remove(store_->path_for(info.sha256));
  EXPECT_EQ(store_->open(info.sha256).status().code(), Code::kNotFound);
  ASSERT_TRUE(store_->put("hello").is_ok());
  auto fresh = store_->open(info.sha256).value();
  EXPECT_NE(fresh.file, kept);
  EXPECT_EQ(read_open(fresh), "hello");
}

TEST_F(BlobStoreTest, QuarantineDropsTheKeptDescriptor) {
  auto info = store_->put("hello").value();
  ASSERT_TRUE(store_->open(info.sha256).is_ok());
  ASSERT_TRUE(store_->quarantine(info.sha256));
  // Renamed, still linked: only the store can tell that it is gone.
  EXPECT_EQ(store_->open(info.sha256).status().code(), Code::kNotFound);
}

TEST_F(BlobStoreTest, KeptDescriptorsAreBounded) {
  store_ = std::make_unique<BlobStore>(dir_ + "/store", 2);
  std::vector<ContentHash> shas;
  for (int i = 0; i < 10; ++i) shas.push_back(store_->put("blob " + std::to_string(i)).value().sha256);
  const auto before = open_descriptors();
  EXPECT_EQ(store_->kept_descriptors(), 0u);
  for (const auto& sha : shas) ASSERT_TRUE(store_->open(sha).is_ok());
  EXPECT_EQ(open_descriptors(), before + 2);
  EXPECT_EQ(store_->kept_descriptors(), 2u);
  // The two opened last are the ones kept.
  auto last = store_->open(shas.back()).value().file;
  EXPECT_EQ(store_->open(shas.back()).value().file, last);
  EXPECT_EQ(open_descriptors(), before + 2);

  BlobStore none(dir_ + "/store", 0);
  const auto unkept = open_descriptors();
  ASSERT_TRUE(none.open(shas.front()).is_ok());
  EXPECT_EQ(open_descriptors(), unkept);
  EXPECT_EQ(none.kept_descriptors(), 0u);
  // A removed blob's descriptor is let go (once no read holds it).
  last.reset();
  ASSERT_TRUE(store_->remove(shas.back()).is_ok());
  EXPECT_EQ(store_->kept_descriptors(), 1u);
  EXPECT_EQ(open_descriptors(), before + 1);
}

TEST_F(BlobStoreTest, ConcurrentOpensAndRemovesNeverServeARemovedBlob) {
  auto info = store_->put("hello").value();
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto opened = store_->open(info.sha256);
        if (opened.is_ok() && read_open(*opened) != "hello") ++wrong;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(store_->remove(info.sha256));
    ASSERT_TRUE(store_->put("hello").is_ok());
  }
  ASSERT_TRUE(store_->remove(info.sha256));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Once removed (and nothing racing), open says so.
  EXPECT_EQ(store_->open(info.sha256).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace hifi
