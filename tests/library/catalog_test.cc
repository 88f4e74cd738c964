// Catalog over a real SQLite MetaStore, a BlobStore and a ManualClock, fed
// with WAV files generated in memory.
#include "library/catalog.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "blob/blob_store.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/base64.h"
#include "common/sha256.h"
#include "common/text.h"
#include "store/meta_store.h"
#include "support/eventually.h"

namespace hifi {
namespace {

// The user the tests' uploads are made as (the helpers' default uploader).
const User kUploader{"u1", "alice", "user", false, 0};
const User kAdmin{"u0", "root", "admin", false, 0};

namespace fs = std::filesystem;
using hifi::testing::eventually;
using namespace std::chrono_literals;

// A mono 16-bit PCM WAV of a sine tone; different frequencies give different
// bytes. `info` adds a LIST/INFO chunk (e.g. {"INAM", title}, {"IART",
// artist}, {"IPRD", album}, {"ICRD", year}) that TagLib and FFmpeg read.
std::string make_wav(double frequency_hz, const std::vector<std::pair<std::string, std::string>>& info = {},
                     double seconds = 0.25, int rate = 8000) {
  const auto frames = static_cast<std::uint32_t>(seconds * rate);
  auto u32 = [](std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  auto u16 = [](std::string& out, std::uint16_t v) {
    for (int i = 0; i < 2; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  std::string list;
  if (!info.empty()) {
    list += "INFO";
    for (const auto& [id, value] : info) {
      list += id;
      u32(list, static_cast<std::uint32_t>(value.size() + 1));
      list += value;
      list += '\0';
      if ((value.size() + 1) % 2 != 0) list += '\0';
    }
  }
  std::string body = "WAVE";
  body += "fmt ";
  u32(body, 16);
  u16(body, 1);  // PCM
  u16(body, 1);  // mono
  u32(body, static_cast<std::uint32_t>(rate));
  u32(body, static_cast<std::uint32_t>(rate) * 2);
  u16(body, 2);
  u16(body, 16);
  if (!list.empty()) {
    body += "LIST";
    u32(body, static_cast<std::uint32_t>(list.size()));
    body += list;
  }
  body += "data";
  u32(body, frames * 2);
  for (std::uint32_t i = 0; i < frames; ++i) {
    auto sample = static_cast<std::int16_t>(12000 * std::sin(2 * M_PI * frequency_hz * i / rate));
    u16(body, static_cast<std::uint16_t>(sample));
  }
  std::string out = "RIFF";
  u32(out, static_cast<std::uint32_t>(body.size()));
  return out + body;
}

std::string make_temp_dir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-" +
                        name + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return {};
  }
  return pattern;
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

std::vector<std::string> titles_of(const std::vector<Song>& songs) {
  std::vector<std::string> out;
  for (const auto& s : songs) out.push_back(s.title);
  return out;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir_ = make_temp_dir("catalog-test");
    ASSERT_FALSE(dir_.empty());
    open();
  }

  void TearDown() override {
    close();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  void open() {
    auto store = open_sqlite_meta_store(dir_ + "/meta.db");
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    blobs_ = std::make_unique<BlobStore>(dir_);
    catalog_ = std::make_unique<Catalog>(*store_, *blobs_, clock_);
    auto s = catalog_->start();
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }

  void close() {
    catalog_.reset();
    blobs_.reset();
    store_.reset();
  }

  Result<UploadOutcome> upload(Catalog& catalog, const std::string& bytes,
                               const std::string& filename, const std::string& uploader = "u1") {
    auto writer = blobs_->begin_write(1 << 24);
    if (!writer) return writer.status();
    if (auto s = (*writer)->write(bytes); !s) return s;
    return catalog.add_upload(**writer, filename, uploader);
  }

  // Uploads through the fixture's catalog, failing the test on error.
  Song add(const std::string& bytes, const std::string& filename) {
    auto r = upload(*catalog_, bytes, filename);
    EXPECT_TRUE(r.is_ok()) << filename << ": " << r.status().to_string();
    if (!r.is_ok()) return {};
    EXPECT_TRUE(r->created) << filename;
    return r->song;
  }

  Song add_tone(double frequency, const std::string& filename) {
    return add(make_wav(frequency), filename);
  }

  SongPage must_query(const SongQuery& q) {
    auto r = catalog_->query(q);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : SongPage{};
  }

  // Every page of a query, following `next`.
  std::vector<Song> all_pages(SongQuery q) {
    std::vector<Song> out;
    for (int guard = 0; guard < 1000; ++guard) {
      auto page = must_query(q);
      out.insert(out.end(), page.items.begin(), page.items.end());
      if (page.next.empty()) break;
      q.cursor = page.next;
    }
    return out;
  }

  std::size_t temporaries() const { return count_files(fs::path(dir_) / "tmp"); }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, AddUploadPublishesTheSong) {
  const auto bytes = make_wav(440);
  const auto sha = ContentHash::of(bytes);
  auto r = upload(*catalog_, bytes, "music/Björk.wav", "uploader-1");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->created);
  const Song& song = r->song;
  EXPECT_EQ(song.sha256, sha);
  EXPECT_EQ(song.id, sha.hex().substr(0, 32));
  EXPECT_EQ(song.size, bytes.size());
  EXPECT_EQ(song.title, "Björk");  // from the file name, without folder or extension
  EXPECT_EQ(song.filename, "music/Björk.wav");
  EXPECT_TRUE(song.artist.empty());
  EXPECT_TRUE(song.album.empty());
  EXPECT_EQ(song.format, "wav");
  EXPECT_EQ(song.codec, "pcm_s16le");
  EXPECT_EQ(song.sample_rate, 8000);
  EXPECT_EQ(song.channels, 1);
  EXPECT_NEAR(static_cast<double>(song.duration_ms), 250.0, 5.0);
  EXPECT_EQ(song.uploaded_by, "uploader-1");
  EXPECT_EQ(song.uploaded_at, clock_.now_ms());
  EXPECT_FALSE(song.cover_sha256.has_value());

  // Visible at once (read-your-writes), durable, and recorded in the store.
  EXPECT_TRUE(blobs_->exists(sha));
  EXPECT_EQ(catalog_->size(), 1u);
  auto got = catalog_->get(song.id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->title, "Björk");
  auto found = catalog_->find_by_sha256(sha);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, song.id);
  EXPECT_FALSE(catalog_->find_by_sha256(ContentHash()).has_value());
  auto kv = store_->get("songs/" + song.id);
  ASSERT_TRUE(kv.is_ok());
  auto stored = song_from_json(kv->value);
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  EXPECT_EQ(stored->sha256, sha);
  EXPECT_EQ(temporaries(), 0u);
}

TEST_F(CatalogTest, SameBytesAreOneSong) {
  const auto bytes = make_wav(440);
  auto first = add(bytes, "First.wav");
  clock_.advance_ms(1000);
  auto second = upload(*catalog_, bytes, "Second.wav", "someone-else");
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->song.id, first.id);
  EXPECT_EQ(second->song.title, "First");  // the existing song, unchanged
  EXPECT_EQ(second->song.uploaded_at, first.uploaded_at);
  EXPECT_EQ(catalog_->size(), 1u);
  EXPECT_EQ(temporaries(), 0u);  // the duplicate's temporary is gone
  EXPECT_EQ(count_files(fs::path(dir_) / "blobs"), 1u);
}

TEST_F(CatalogTest, AKnownSongWhoseBytesAreMissingHereKeepsTheUpload) {
  // As on a second node of a cluster: the catalog knows the song, this
  // node's disk does not have it.
  const auto bytes = make_wav(450);
  auto song = add(bytes, "Known.wav");
  ASSERT_TRUE(blobs_->remove(song.sha256).is_ok());
  ASSERT_FALSE(blobs_->exists(song.sha256));
  auto again = upload(*catalog_, bytes, "Again.wav");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->song.id, song.id);
  EXPECT_TRUE(blobs_->exists(song.sha256));
  EXPECT_EQ(temporaries(), 0u);
}

TEST_F(CatalogTest, ConcurrentUploadsOfTheSameBytesCreateOneSong) {
  const auto bytes = make_wav(523.25);
  constexpr int kThreads = 4;
  std::vector<Result<UploadOutcome>> results(kThreads, Result<UploadOutcome>(internal_error("")));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      results[i] = upload(*catalog_, bytes, "copy" + std::to_string(i) + ".wav");
    });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  std::set<std::string> ids;
  for (auto& r : results) {
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    created += r->created ? 1 : 0;
    ids.insert(r->song.id);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(catalog_->size(), 1u);
  EXPECT_TRUE(blobs_->exists(ContentHash::of(bytes)));
  EXPECT_EQ(temporaries(), 0u);
}

TEST_F(CatalogTest, NonAudioIsRejected) {
  auto r = upload(*catalog_, std::string(4096, 'x'), "not-audio.wav");
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_EQ(catalog_->size(), 0u);
  EXPECT_EQ(temporaries(), 0u);
  EXPECT_EQ(count_files(fs::path(dir_) / "blobs"), 0u);
}

TEST_F(CatalogTest, TitleFallsBackToUntitled) {
  EXPECT_EQ(add_tone(300, "").title, "Untitled");
  EXPECT_EQ(add_tone(310, ".wav").title, ".wav");  // a leading dot is not an extension
  EXPECT_EQ(add_tone(320, "dir/").title, "Untitled");
  auto bad = add_tone(330, "bad\xff.wav");
  EXPECT_EQ(bad.title, "Untitled");
  EXPECT_TRUE(bad.filename.empty());  // invalid UTF-8 is not kept
  EXPECT_EQ(add_tone(340, "C:\\Music\\Song\tName.flac").title, "Song Name");  // a tab is a space
}

TEST_F(CatalogTest, SearchIsCaseAndFormInsensitive) {
  auto bjork = add_tone(440, "Björk.wav");
  add_tone(450, "Sigur Rós - Hoppípolla.wav");
  add_tone(460, "Straße.wav");
  add_tone(470, "Something Else.wav");

  for (const char* needle : {"Björk", "BJÖRK", "björk", "bjo\xcc\x88rk", "BJO\xcc\x88RK", "jör"}) {
    SongQuery q;
    q.text = needle;
    auto page = must_query(q);
    ASSERT_EQ(page.items.size(), 1u) << needle;
    EXPECT_EQ(page.items[0].id, bjork.id) << needle;
  }
  SongQuery q;
  q.text = "HOPPÍPOLLA";
  EXPECT_EQ(titles_of(must_query(q).items),
            std::vector<std::string>{"Sigur Rós - Hoppípolla"});
  q.text = "STRASSE";  // full case folding: ß folds to ss
  EXPECT_EQ(titles_of(must_query(q).items), std::vector<std::string>{"Straße"});
  q.text = "no such thing";
  EXPECT_TRUE(must_query(q).items.empty());
  q.text = "";
  EXPECT_EQ(must_query(q).items.size(), 4u);
}

TEST_F(CatalogTest, SortsByTitleAndUploadTime) {
  // Uploaded in an order that differs from title order.
  add_tone(440, "charlie.wav");
  clock_.advance_ms(1000);
  add_tone(450, "Alpha.wav");
  clock_.advance_ms(1000);
  add_tone(460, "bravo.wav");

  SongQuery q;
  q.sort = SongSort::kTitle;
  EXPECT_EQ(titles_of(must_query(q).items),
            (std::vector<std::string>{"Alpha", "bravo", "charlie"}));  // case-insensitive
  q.descending = true;
  EXPECT_EQ(titles_of(must_query(q).items),
            (std::vector<std::string>{"charlie", "bravo", "Alpha"}));
  q.sort = SongSort::kUploadedAt;
  q.descending = false;
  EXPECT_EQ(titles_of(must_query(q).items),
            (std::vector<std::string>{"charlie", "Alpha", "bravo"}));
  q.descending = true;
  EXPECT_EQ(titles_of(must_query(q).items),
            (std::vector<std::string>{"bravo", "Alpha", "charlie"}));
}

TEST(SongSort, Parse) {
  EXPECT_EQ(parse_song_sort("title").value(), SongSort::kTitle);
  EXPECT_EQ(parse_song_sort("artist").value(), SongSort::kArtist);
  EXPECT_EQ(parse_song_sort("album").value(), SongSort::kAlbum);
  EXPECT_EQ(parse_song_sort("uploaded_at").value(), SongSort::kUploadedAt);
  EXPECT_EQ(parse_song_sort("duration").value(), SongSort::kDuration);
  for (std::string_view bad : {"Title", "", "title ", "size"}) {
    auto r = parse_song_sort(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST(SongRecord, FromJsonNeedsAnObjectWithIdAndSha256) {
  EXPECT_FALSE(song_from_json("not json").is_ok());
  EXPECT_FALSE(song_from_json("[1]").is_ok());
  EXPECT_FALSE(song_from_json(R"({"id":"a"})").is_ok());
  EXPECT_FALSE(song_from_json(R"({"sha256":"b"})").is_ok());
  const std::string sha(64, 'b');
  auto song = song_from_json(R"({"id":"a","sha256":")" + sha + R"(","title":"T","track":3})");
  ASSERT_TRUE(song.is_ok()) << song.status().to_string();
  EXPECT_EQ(song->sha256.hex(), sha);
  EXPECT_FALSE(song->cover_sha256.has_value());
  EXPECT_EQ(song->title, "T");
  EXPECT_EQ(song->track, 3);
}

TEST(SongRecord, FromJsonParsesTheHashesOnce) {
  // A sha256 that is not 64 lowercase hex digits never becomes a song.
  auto bad = song_from_json(R"({"id":"a","sha256":"b"})");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  const std::string sha(64, 'b');
  EXPECT_FALSE(song_from_json(R"({"id":"a","sha256":")" + sha + R"(","cover_sha256":"../x"})").is_ok());
  // The JSON keeps hex strings; an empty cover_sha256 means no cover.
  Song s;
  s.id = "a";
  s.sha256 = ContentHash::of("song");
  auto plain = song_to_json_object(s);
  EXPECT_EQ(plain["sha256"].as_string(), s.sha256.hex());
  EXPECT_EQ(plain["cover_sha256"].as_string(), "");
  s.cover_sha256 = ContentHash::of("cover");
  auto again = song_from_json(song_to_json(s));
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(again->sha256, s.sha256);
  EXPECT_EQ(again->cover_sha256, s.cover_sha256);
}

TEST_F(CatalogTest, PagesCoverEverySongOnceEvenWhenSongsArriveBetweenPages) {
  std::set<std::string> original;
  for (int i = 0; i < 7; ++i) {
    original.insert(add_tone(300 + 10 * i, "song" + std::to_string(i) + ".wav").id);
    clock_.advance_ms(1000);
  }
  for (bool descending : {false, true}) {
    SongQuery q;
    q.sort = SongSort::kUploadedAt;
    q.descending = descending;
    q.limit = 3;
    std::vector<std::string> seen;
    std::string added_id;
    for (int page_no = 0; page_no < 100; ++page_no) {
      auto page = must_query(q);
      EXPECT_LE(page.items.size(), 3u);
      for (auto& s : page.items) seen.push_back(s.id);
      if (page_no == 0) {
        // A new song between pages: newest, so it sorts after the cursor
        // when ascending and before it when descending.
        clock_.advance_ms(1000);
        added_id = add_tone(1000 + (descending ? 1 : 0), "late.wav").id;
      }
      if (page.next.empty()) break;
      q.cursor = page.next;
    }
    std::set<std::string> unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), seen.size()) << "duplicates, descending=" << descending;
    for (const auto& id : original) {
      EXPECT_EQ(unique.count(id), 1u) << id;
    }
    if (!descending) {
      EXPECT_EQ(unique.count(added_id), 1u) << "missed the song added later";
    }
    original.insert(added_id);
  }
}

TEST_F(CatalogTest, PagesAreStableAcrossEqualSortKeys) {
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.insert(add_tone(200 + 7 * i, "Same Title.wav").id);
  for (bool descending : {false, true}) {
    SongQuery q;
    q.sort = SongSort::kTitle;
    q.descending = descending;
    q.limit = 2;
    auto all = all_pages(q);
    ASSERT_EQ(all.size(), 7u);
    std::set<std::string> seen;
    for (auto& s : all) seen.insert(s.id);
    EXPECT_EQ(seen, ids);
    // Ties are broken by id, in the requested direction.
    for (std::size_t i = 1; i < all.size(); ++i) {
      if (descending) {
        EXPECT_GT(all[i - 1].id, all[i].id);
      } else {
        EXPECT_LT(all[i - 1].id, all[i].id);
      }
    }
  }
}

TEST_F(CatalogTest, PagingWithASearchAndACursorOfARemovedSong) {
  for (int i = 0; i < 5; ++i) add_tone(300 + 10 * i, "match " + std::to_string(i) + ".wav");
  add_tone(900, "other.wav");
  SongQuery q;
  q.text = "MATCH";
  q.sort = SongSort::kTitle;
  q.limit = 2;
  auto first = must_query(q);
  ASSERT_EQ(titles_of(first.items), (std::vector<std::string>{"match 0", "match 1"}));
  ASSERT_FALSE(first.next.empty());
  // The song the cursor points at goes away: paging carries on after it.
  ASSERT_TRUE(catalog_->remove(first.items[1].id, kAdmin).is_ok());
  q.cursor = first.next;
  auto rest = all_pages(q);
  EXPECT_EQ(titles_of(rest), (std::vector<std::string>{"match 2", "match 3", "match 4"}));
}

TEST_F(CatalogTest, MalformedCursorIsInvalidArgument) {
  add_tone(440, "a.wav");
  for (const std::string& cursor :
       {std::string("!!!not base64!!!"), base64_encode("not json"), base64_encode("[1,2]"),
        base64_encode(R"({"k":"a"})"), base64_encode(R"({"k":1,"i":"x"})"),
        base64_encode(R"({"k":"a","i":null})")}) {
    SongQuery q;
    q.cursor = cursor;
    auto r = catalog_->query(q);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << cursor;
  }
  // A well-formed cursor from another query is not an error.
  SongQuery q;
  q.cursor = base64_encode(R"({"k":"zzz","i":"x"})");
  EXPECT_TRUE(catalog_->query(q).is_ok());
}

TEST_F(CatalogTest, LimitIsClampedTo1Through500) {
  // 501 song records written straight to the store (the catalog's feed picks
  // them up), which is much faster than probing 501 uploads.
  std::vector<Op> ops;
  for (int i = 0; i < 501; ++i) {
    Song s;
    s.sha256 = ContentHash::of("song " + std::to_string(i));
    s.id = s.sha256.hex().substr(0, 32);
    s.title = "Song " + std::to_string(i);
    s.uploaded_at = 1000 + i;
    ops.push_back(Op::put("songs/" + s.id, song_to_json(s)));
  }
  auto txn = store_->txn({}, ops);
  ASSERT_TRUE(txn.is_ok() && txn->succeeded);
  ASSERT_TRUE(eventually([&] { return catalog_->size() == 501; }));

  SongQuery q;
  q.limit = 0;
  auto one = must_query(q);
  EXPECT_EQ(one.items.size(), 1u);
  EXPECT_FALSE(one.next.empty());
  q.limit = 100000;
  auto max = must_query(q);
  EXPECT_EQ(max.items.size(), 500u);
  ASSERT_FALSE(max.next.empty());
  q.cursor = max.next;
  auto last = must_query(q);
  EXPECT_EQ(last.items.size(), 1u);
  EXPECT_TRUE(last.next.empty());
  // Exactly a full last page has no `next`.
  q.cursor.clear();
  q.limit = 501;
  EXPECT_EQ(must_query(q).items.size(), 500u);
  q.text = "Song 1";  // Song 1, 10-19, 100-199: 111 songs
  q.limit = 111;
  auto exact = must_query(q);
  EXPECT_EQ(exact.items.size(), 111u);
  EXPECT_TRUE(exact.next.empty());
}

TEST_F(CatalogTest, OnlyTheUploaderOrAnAdminRemovesASong) {
  auto song = add_tone(440, "mine.wav");
  const User stranger{"u2", "bob", "user", false, 0};
  const User admin{"u3", "root", "admin", false, 0};
  EXPECT_EQ(catalog_->remove(song.id, stranger).code(), Code::kPermissionDenied);
  EXPECT_TRUE(catalog_->get(song.id).is_ok());
  EXPECT_TRUE(blobs_->exists(song.sha256));
  EXPECT_TRUE(catalog_->remove(song.id, admin).is_ok());
  EXPECT_EQ(catalog_->get(song.id).status().code(), Code::kNotFound);
}

TEST_F(CatalogTest, RemoveDeletesTheSongAndItsBlob) {
  auto keep = add_tone(440, "keep.wav");
  auto gone = add_tone(450, "gone.wav");
  ASSERT_TRUE(blobs_->exists(gone.sha256));
  ASSERT_TRUE(catalog_->remove(gone.id, kUploader).is_ok());
  EXPECT_FALSE(blobs_->exists(gone.sha256));
  EXPECT_EQ(catalog_->get(gone.id).status().code(), Code::kNotFound);
  EXPECT_FALSE(catalog_->find_by_sha256(gone.sha256).has_value());
  EXPECT_EQ(store_->get("songs/" + gone.id).status().code(), Code::kNotFound);
  EXPECT_EQ(catalog_->remove(gone.id, kUploader).code(), Code::kNotFound);
  EXPECT_EQ(catalog_->remove("no-such-song", kUploader).code(), Code::kNotFound);
  EXPECT_EQ(titles_of(must_query({}).items), std::vector<std::string>{"keep"});
  EXPECT_TRUE(blobs_->exists(keep.sha256));

  // The same bytes can be uploaded again afterwards.
  auto again = upload(*catalog_, make_wav(450), "again.wav");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_TRUE(again->created);
  EXPECT_EQ(again->song.id, gone.id);
  EXPECT_TRUE(blobs_->exists(gone.sha256));
}

TEST_F(CatalogTest, ASecondCatalogFollowsTheStore) {
  Catalog other(*store_, *blobs_, clock_);
  ASSERT_TRUE(other.start().is_ok());
  EXPECT_EQ(other.size(), 0u);

  auto song = add_tone(440, "Shared.wav");
  ASSERT_TRUE(eventually([&] { return other.get(song.id).is_ok(); }));
  EXPECT_EQ(other.get(song.id)->title, "Shared");
  SongQuery q;
  q.text = "shared";
  EXPECT_EQ(other.query(q)->items.size(), 1u);

  // Uploading the same bytes through the other catalog finds the song.
  auto dup = upload(other, make_wav(440), "dup.wav");
  ASSERT_TRUE(dup.is_ok()) << dup.status().to_string();
  EXPECT_FALSE(dup->created);
  EXPECT_EQ(dup->song.id, song.id);

  // And the first catalog sees what the second adds and removes.
  auto from_other = upload(other, make_wav(550), "From Other.wav");
  ASSERT_TRUE(from_other.is_ok()) << from_other.status().to_string();
  ASSERT_TRUE(eventually([&] { return catalog_->get(from_other->song.id).is_ok(); }));
  ASSERT_TRUE(other.remove(song.id, kUploader).is_ok());
  ASSERT_TRUE(eventually([&] { return !catalog_->get(song.id).is_ok(); }));
  EXPECT_EQ(catalog_->size(), 1u);
}

TEST_F(CatalogTest, ARestartedCatalogLoadsEverything) {
  std::map<std::string, Song> before;
  for (int i = 0; i < 3; ++i) {
    auto s = add_tone(400 + 20 * i, "Song " + std::to_string(i) + ".wav");
    before[s.id] = s;
    clock_.advance_ms(1000);
  }
  close();
  open();
  EXPECT_EQ(catalog_->size(), 3u);
  for (const auto& [id, s] : before) {
    auto got = catalog_->get(id);
    ASSERT_TRUE(got.is_ok()) << id;
    EXPECT_EQ(song_to_json(*got), song_to_json(s));
    EXPECT_TRUE(blobs_->exists(s.sha256));
  }
  // And it keeps following changes after the restart.
  auto more = add_tone(900, "After Restart.wav");
  EXPECT_EQ(catalog_->size(), 4u);
  EXPECT_TRUE(catalog_->get(more.id).is_ok());
}

TEST_F(CatalogTest, UntaggedSongsHaveNoAlbumsOrArtists) {
  add_tone(440, "One.wav");
  add_tone(450, "Two.wav");
  EXPECT_TRUE(catalog_->albums("").empty());
  EXPECT_TRUE(catalog_->artists("").empty());
  EXPECT_EQ(catalog_->album("0000000000000000").status().code(), Code::kNotFound);
}

TEST_F(CatalogTest, TaggedSongsAreGroupedIntoAlbumsAndArtists) {
  auto tagged = [](double f, const std::string& title, const std::string& artist,
                   const std::string& album, const std::string& year) {
    return make_wav(f, {{"INAM", title}, {"IART", artist}, {"IPRD", album}, {"ICRD", year}});
  };
  auto a1 = add(tagged(300, "Jóga", "Björk", "Homogenic", "1997"), "x1.wav");
  // The tag reader must see the INFO chunk, or nothing below is meaningful.
  ASSERT_EQ(a1.title, "Jóga");
  ASSERT_EQ(a1.artist, "Björk");
  ASSERT_EQ(a1.album, "Homogenic");
  EXPECT_EQ(a1.year, 1997);
  add(tagged(310, "Bachelorette", "BJÖRK", "HOMOGENIC", "1997"), "x2.wav");  // same album, folded
  add(tagged(320, "Hyperballad", "Björk", "Post", "1995"), "x3.wav");
  add(tagged(330, "Svefn-g-englar", "Sigur Rós", "Ágætis byrjun", "1999"), "x4.wav");
  add(tagged(340, "Homogenic", "Someone Else", "Homogenic", "2001"), "x5.wav");  // same name, other artist
  add_tone(350, "untagged.wav");

  auto albums = catalog_->albums("");
  ASSERT_EQ(albums.size(), 4u);
  // Sorted by artist, then album name (folded).
  // Names that differ only in case are one album; either spelling may name it.
  EXPECT_EQ(fold_for_search(albums[0].name), "homogenic");
  EXPECT_EQ(fold_for_search(albums[0].artist), "björk");
  EXPECT_EQ(albums[0].song_count, 2);
  EXPECT_EQ(albums[0].year, 1997);
  EXPECT_NEAR(static_cast<double>(albums[0].duration_ms), 500.0, 10.0);
  EXPECT_EQ(albums[1].name, "Post");
  EXPECT_EQ(albums[2].name, "Ágætis byrjun");
  EXPECT_EQ(albums[3].name, "Homogenic");
  EXPECT_EQ(albums[3].artist, "Someone Else");
  EXPECT_NE(albums[0].id, albums[3].id);

  auto one = catalog_->album(albums[0].id);
  ASSERT_TRUE(one.is_ok());
  EXPECT_EQ(one->song_count, 2);
  EXPECT_EQ(catalog_->albums("homogenic").size(), 2u);
  EXPECT_EQ(catalog_->albums("SIGUR").size(), 1u);  // matches the artist too

  auto artists = catalog_->artists("");
  ASSERT_EQ(artists.size(), 3u);
  EXPECT_EQ(fold_for_search(artists[0].name), "björk");
  EXPECT_EQ(artists[0].song_count, 3);
  EXPECT_EQ(artists[0].album_count, 2);
  EXPECT_EQ(artists[1].name, "Sigur Rós");
  EXPECT_EQ(artists[1].song_count, 1);
  EXPECT_EQ(artists[1].album_count, 1);
  EXPECT_EQ(artists[2].name, "Someone Else");
  EXPECT_EQ(catalog_->artists("bjo\xcc\x88rk").size(), 1u);

  // Songs of one album and of one artist.
  SongQuery q;
  q.album_id = albums[0].id;
  q.sort = SongSort::kTitle;
  EXPECT_EQ(titles_of(must_query(q).items),
            (std::vector<std::string>{"Bachelorette", "Jóga"}));
  q = {};
  q.artist_id = artists[0].id;
  q.sort = SongSort::kTitle;
  EXPECT_EQ(titles_of(must_query(q).items),
            (std::vector<std::string>{"Bachelorette", "Hyperballad", "Jóga"}));
  // Search looks at artist and album too.
  q = {};
  q.text = "ágætis";
  EXPECT_EQ(titles_of(must_query(q).items), std::vector<std::string>{"Svefn-g-englar"});
}

}  // namespace
}  // namespace hifi
