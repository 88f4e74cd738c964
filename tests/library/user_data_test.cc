// Annotations, Playlists, PlayQueues and Shares against a real SQLite
// MetaStore and a ManualClock: what each keeps, who may see and change it,
// its limits, and that concurrent writers lose nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "common/random.h"
#include "library/annotations.h"
#include "library/play_queues.h"
#include "library/playlists.h"
#include "library/shares.h"
#include "store/meta_store.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

class UserDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir_ = fs::temp_directory_path() / ("hifi-user-data-test-" + random_hex(6));
    fs::create_directories(dir_);
    auto store = open_sqlite_meta_store((dir_ / "meta.db").string());
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    annotations_ = std::make_unique<Annotations>(*store_, clock_);
    ASSERT_TRUE(annotations_->start().is_ok());
    playlists_ = std::make_unique<Playlists>(*store_, clock_);
    ASSERT_TRUE(playlists_->start().is_ok());
  }
  void TearDown() override {
    annotations_.reset();
    playlists_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  static User user(const std::string& id, const std::string& role = "user") { return User{id, id, role, false, 0}; }

  fs::path dir_;
  ManualClock clock_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<Annotations> annotations_;
  std::unique_ptr<Playlists> playlists_;
};

TEST_F(UserDataTest, StarsAndRatingsArePerUserAndKind) {
  ASSERT_TRUE(annotations_->star("u1", ItemKind::kSong, "s1", true).is_ok());
  const auto at = clock_.now_ms();
  clock_.advance_ms(1000);
  // Starring again keeps the first time.
  ASSERT_TRUE(annotations_->star("u1", ItemKind::kSong, "s1", true).is_ok());
  EXPECT_EQ(annotations_->get("u1", ItemKind::kSong, "s1").starred_at, at);
  EXPECT_FALSE(annotations_->get("u2", ItemKind::kSong, "s1").starred());
  EXPECT_FALSE(annotations_->get("u1", ItemKind::kAlbum, "s1").starred());
  ASSERT_TRUE(annotations_->set_rating("u1", ItemKind::kAlbum, "a1", 4).is_ok());
  EXPECT_EQ(annotations_->of_user("u1", ItemKind::kAlbum).at("a1").rating, 4);
  EXPECT_EQ(annotations_->set_rating("u1", ItemKind::kAlbum, "a1", 6).code(), Code::kInvalidArgument);
  EXPECT_EQ(annotations_->star("u1", ItemKind::kSong, "a/b", true).code(), Code::kInvalidArgument);
  // Unstarring and unrating leave no record behind.
  ASSERT_TRUE(annotations_->star("u1", ItemKind::kSong, "s1", false).is_ok());
  ASSERT_TRUE(annotations_->set_rating("u1", ItemKind::kAlbum, "a1", 0).is_ok());
  auto left = store_->range("ann/");
  ASSERT_TRUE(left.is_ok());
  EXPECT_TRUE(left->kvs.empty());
}

TEST_F(UserDataTest, ConcurrentPlaysAreAllCounted) {
  constexpr int kThreads = 4, kPlays = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPlays; ++i) {
        auto s = annotations_->record_play("u1", Play{"s1", 1'000'000 + t * 100 + i, "test", ""});
        EXPECT_TRUE(s.is_ok()) << s.to_string();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(annotations_->get("u1", ItemKind::kSong, "s1").play_count, kThreads * kPlays);
  EXPECT_EQ(annotations_->total_plays("s1"), kThreads * kPlays);
  // A second view, loaded from the store, agrees.
  Annotations other(*store_, clock_);
  ASSERT_TRUE(other.start().is_ok());
  EXPECT_EQ(other.get("u1", ItemKind::kSong, "s1").play_count, kThreads * kPlays);
}

TEST_F(UserDataTest, HistoryIsNewestFirstAndPages) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(annotations_->record_play("u1", Play{"s" + std::to_string(i), 1'000'000 + i * 1000, "", ""}).is_ok());
  }
  // A late submission of an old play lands in its place, not at the top.
  ASSERT_TRUE(annotations_->record_play("u1", Play{"old", 500'000, "", ""}).is_ok());
  EXPECT_EQ(annotations_->get("u1", ItemKind::kSong, "s4").last_played, 1'004'000);
  std::vector<std::string> seen;
  std::string cursor;
  do {
    auto page = annotations_->history("u1", 2, cursor);
    ASSERT_TRUE(page.is_ok()) << page.status().to_string();
    for (const auto& p : page->items) seen.push_back(p.song_id);
    cursor = page->next;
  } while (!cursor.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"s4", "s3", "s2", "s1", "s0", "old"}));
  EXPECT_EQ(annotations_->history("u1", 2, "../x").status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(annotations_->history("u2", 10)->items.empty());
}

TEST_F(UserDataTest, NowPlayingKeepsOneEntryPerClientAndAges) {
  ASSERT_TRUE(annotations_->set_now_playing("u1", "s1", "Phone").is_ok());
  ASSERT_TRUE(annotations_->set_now_playing("u1", "s2", "Phone").is_ok());
  ASSERT_TRUE(annotations_->set_now_playing("u1", "s3", "Laptop").is_ok());
  auto now = annotations_->now_playing(60'000);
  ASSERT_TRUE(now.is_ok());
  ASSERT_EQ(now->size(), 2u);
  clock_.advance_ms(120'000);
  EXPECT_TRUE(annotations_->now_playing(60'000)->empty());
}

TEST_F(UserDataTest, PlaylistsAreEditedInPlaceByTheirOwner) {
  const auto alice = user("alice"), bob = user("bob"), admin = user("root", "admin");
  auto p = playlists_->create(alice, "  Mix  ", "", false, {"a", "b", "c"});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->name, "Mix");
  EXPECT_EQ(playlists_->get(p->id, bob).status().code(), Code::kNotFound);
  EXPECT_TRUE(playlists_->get(p->id, admin).is_ok());
  EXPECT_TRUE(playlists_->list(bob).empty());

  PlaylistEdit edit;
  edit.remove = {0, 2};
  edit.add = {"d", "e"};
  edit.insert_at = 0;
  auto changed = playlists_->update(p->id, alice, edit);
  ASSERT_TRUE(changed.is_ok()) << changed.status().to_string();
  EXPECT_EQ(changed->songs, (std::vector<std::string>{"d", "e", "b"}));
  PlaylistEdit move;
  move.move = std::make_pair<std::size_t, std::size_t>(2, 0);
  EXPECT_EQ(playlists_->update(p->id, alice, move)->songs, (std::vector<std::string>{"b", "d", "e"}));
  PlaylistEdit bad;
  bad.remove = {3};
  EXPECT_EQ(playlists_->update(p->id, alice, bad).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(playlists_->get(p->id, alice)->songs.size(), 3u);  // nothing changed

  PlaylistEdit publish;
  publish.is_public = true;
  ASSERT_TRUE(playlists_->update(p->id, alice, publish).is_ok());
  EXPECT_EQ(playlists_->list(bob).size(), 1u);
  PlaylistEdit rename;
  rename.name = "Bob's now";
  EXPECT_EQ(playlists_->update(p->id, bob, rename).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(playlists_->remove(p->id, bob).code(), Code::kPermissionDenied);
  EXPECT_TRUE(playlists_->update(p->id, admin, rename).is_ok());

  EXPECT_EQ(playlists_->create(alice, "", "", false, {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(playlists_->create(alice, "Big", "", false, std::vector<std::string>(kMaxPlaylistSongs + 1, "x"))
                .status()
                .code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(playlists_->forget_user("alice").is_ok());
  EXPECT_EQ(playlists_->get(p->id, admin).status().code(), Code::kNotFound);
}

TEST_F(UserDataTest, PlayQueuesAndBookmarks) {
  PlayQueues queues(*store_, clock_);
  EXPECT_FALSE(queues.get("u1")->has_value());
  ASSERT_TRUE(queues.save("u1", PlayQueue{{"a", "b"}, "b", 1234, 0, "Phone"}).is_ok());
  auto q = queues.get("u1");
  ASSERT_TRUE(q.is_ok() && q->has_value());
  EXPECT_EQ((*q)->current, "b");
  EXPECT_EQ((*q)->position_ms, 1234);
  EXPECT_EQ((*q)->changed_at, clock_.now_ms());
  EXPECT_EQ(queues.save("u1", PlayQueue{{"a"}, "z", 0, 0, ""}).code(), Code::kInvalidArgument);
  ASSERT_TRUE(queues.save("u1", PlayQueue{}).is_ok());
  EXPECT_FALSE(queues.get("u1")->has_value());

  ASSERT_TRUE(queues.set_bookmark("u1", "a", 10, "first").is_ok());
  clock_.advance_ms(10);
  ASSERT_TRUE(queues.set_bookmark("u1", "b", 20, "").is_ok());
  auto marks = queues.bookmarks("u1");
  ASSERT_TRUE(marks.is_ok());
  ASSERT_EQ(marks->size(), 2u);
  EXPECT_EQ((*marks)[0].song_id, "b");
  EXPECT_EQ(queues.delete_bookmark("u1", "c").code(), Code::kNotFound);
  ASSERT_TRUE(queues.forget_user("u1").is_ok());
  EXPECT_TRUE(queues.bookmarks("u1")->empty());
}

TEST_F(UserDataTest, SharesOpenUntilTheyExpireAndCountVisits) {
  Shares shares(*store_, clock_);
  const auto alice = user("alice"), bob = user("bob");
  auto s = shares.create(alice, {"a", "b"}, "for you", clock_.now_ms() + 60'000);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->id.size(), 32u);
  EXPECT_EQ(shares.visit(s->id, true)->visit_count, 1);
  EXPECT_EQ(shares.visit(s->id, false)->visit_count, 1);
  EXPECT_EQ(shares.get(s->id, bob).status().code(), Code::kNotFound);
  EXPECT_TRUE(shares.list(bob)->empty());
  EXPECT_EQ(shares.remove(s->id, bob).code(), Code::kNotFound);
  clock_.advance_ms(60'000);
  EXPECT_EQ(shares.visit(s->id, true).status().code(), Code::kNotFound);
  EXPECT_EQ(shares.list(alice)->size(), 1u);  // the owner still sees it, and may extend it
  ShareEdit extend;
  extend.expires_at = 0;
  ASSERT_TRUE(shares.update(s->id, alice, extend).is_ok());
  EXPECT_TRUE(shares.visit(s->id, true).is_ok());
  EXPECT_EQ(shares.create(alice, {}, "", 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(shares.create(alice, {"a"}, "", clock_.now_ms() - 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(shares.visit("not-an-id", true).status().code(), Code::kNotFound);
  ASSERT_TRUE(shares.remove(s->id, alice).is_ok());
  EXPECT_EQ(shares.visit(s->id, true).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace hifi
