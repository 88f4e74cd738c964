// RoomService over a real SQLite MetaStore: the room records, commands with
// compare-and-swap, the event stream, and auto-advance (driven by hand with a
// ManualClock, and once by the scheduler thread with the system clock).
#include "room/room_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_meta_store.h"
#include "support/eventually.h"

namespace hifi::room {
namespace {

// The owner of the rooms these tests create (they create them as "alice").
const User kOwner{"alice", "alice", "user", false, 0};

using Type = Command::Type;
using namespace std::chrono_literals;

// Records listener events; tests wait on it with a deadline.
class Recorder {
 public:
  void operator()(const RoomEvent& e) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    }
    cv_.notify_all();
  }

  // Waits until pred(events) holds; false after the deadline.
  bool wait_until(const std::function<bool(const std::vector<RoomEvent>&)>& pred,
                  std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
  }

  bool wait_for_revision(Revision revision) {
    return wait_until([&](const auto& events) {
      return std::any_of(events.begin(), events.end(),
                         [&](const RoomEvent& e) { return e.room.revision >= revision; });
    });
  }

  std::vector<RoomEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RoomEvent> events_;
};

Command add(std::vector<SongRef> songs, std::string by = "alice") {
  Command c;
  c.type = Type::kAdd;
  c.songs = std::move(songs);
  c.by = std::move(by);
  return c;
}

Command cmd(Type type, std::string expected = "", std::string by = "bob") {
  Command c;
  c.type = type;
  c.expected_item = std::move(expected);
  c.by = std::move(by);
  return c;
}

class RoomServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-room-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
    auto store = open_sqlite_meta_store(dir_ + "/meta.db");
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    service_ = start_service(clock_, recorder_);
  }

  void TearDown() override {
    service_.reset();
    second_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<RoomService> start_service(const Clock& clock, Recorder& recorder,
                                             RoomServiceOptions options = manual()) {
    auto service = std::make_unique<RoomService>(*store_, clock, options);
    service->set_listener([&recorder](const RoomEvent& e) { recorder(e); });
    auto s = service->start();
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return service;
  }

  static RoomServiceOptions manual() {
    RoomServiceOptions options;
    options.auto_advance = false;
    return options;
  }

  Room create_room(const std::string& name = "Kitchen") {
    auto room = service_->create(name, "alice");
    EXPECT_TRUE(room.is_ok()) << room.status().to_string();
    return room.is_ok() ? *room : Room{};
  }

  Room run(const std::string& id, const Command& c) {
    auto r = service_->execute(id, c);
    EXPECT_TRUE(r.is_ok()) << command_type_name(c.type) << ": " << r.status().to_string();
    return r.is_ok() ? *r : Room{};
  }

  Revision store_revision() {
    auto r = store_->current_revision();
    EXPECT_TRUE(r.is_ok());
    return r.is_ok() ? *r : -1;
  }

  std::string dir_;
  ManualClock clock_;
  Recorder recorder_;
  Recorder second_recorder_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<RoomService> service_;
  std::unique_ptr<RoomService> second_;
};

TEST(RoomNameTest, Validation) {
  EXPECT_TRUE(validate_room_name("a").is_ok());
  EXPECT_TRUE(validate_room_name("Friday night \xf0\x9f\x8e\xb6").is_ok());
  EXPECT_TRUE(validate_room_name(std::string(100, 'x')).is_ok());
  std::string hundred_e;
  for (int i = 0; i < 100; ++i) hundred_e += "\xc3\xa9";
  EXPECT_TRUE(validate_room_name(hundred_e).is_ok());
  for (const std::string& bad : {std::string(), std::string(101, 'x'), hundred_e + "e", std::string("tab\there"),
                                 std::string("new\nline"), std::string("del\x7f"), std::string("nul\0x", 5),
                                 std::string("\xff\xfe"), std::string("\xc3")}) {
    auto s = validate_room_name(bad);
    EXPECT_FALSE(s.is_ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
  }
}

TEST_F(RoomServiceTest, CreateGetListRemove) {
  const auto t0 = clock_.now_ms();
  Room a = create_room("Kitchen");
  EXPECT_FALSE(a.id.empty());
  EXPECT_EQ(a.name, "Kitchen");
  EXPECT_EQ(a.owner, "alice");
  EXPECT_EQ(a.created_at, t0);
  EXPECT_EQ(a.last_command, "create");
  EXPECT_EQ(a.last_command_by, "alice");
  EXPECT_GT(a.revision, 0);
  EXPECT_TRUE(a.state.queue.empty());
  EXPECT_EQ(a.state.current, "");

  clock_.advance_ms(10);
  Room b = create_room("Garden");
  EXPECT_NE(a.id, b.id);
  EXPECT_GT(b.revision, a.revision);

  auto got = service_->get(a.id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->name, "Kitchen");
  EXPECT_EQ(got->revision, a.revision);
  EXPECT_EQ(got->state, a.state);

  auto rooms = service_->list();
  ASSERT_EQ(rooms.size(), 2u);
  EXPECT_EQ(rooms[0].id, a.id);
  EXPECT_EQ(rooms[1].id, b.id);

  ASSERT_TRUE(service_->remove(a.id, kOwner).is_ok());
  EXPECT_EQ(service_->get(a.id).status().code(), Code::kNotFound);
  EXPECT_EQ(service_->remove(a.id, kOwner).code(), Code::kNotFound);
  EXPECT_EQ(service_->execute(a.id, add({{"s1", 1000}})).status().code(), Code::kNotFound);
  ASSERT_EQ(service_->list().size(), 1u);
  EXPECT_EQ(service_->list()[0].id, b.id);

  EXPECT_EQ(service_->create("", "alice").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(service_->get("nope").status().code(), Code::kNotFound);
}

TEST_F(RoomServiceTest, RoomsSurviveARestart) {
  Room a = create_room();
  run(a.id, add({{"s1", 1000}}));
  service_.reset();
  service_ = start_service(clock_, recorder_);
  auto got = service_->get(a.id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->state.queue.size(), 1u);
  EXPECT_EQ(got->last_command, "add");
}

TEST_F(RoomServiceTest, MaxRooms) {
  RoomServiceOptions options = manual();
  options.max_rooms = 2;
  service_.reset();
  service_ = start_service(clock_, recorder_, options);
  create_room("one");
  create_room("two");
  EXPECT_EQ(service_->create("three", "alice").status().code(), Code::kResourceExhausted);
}

TEST_F(RoomServiceTest, ExecuteAppliesAndBumpsTheRevision) {
  Room room = create_room();
  clock_.advance_ms(5);
  Room added = run(room.id, add({{"s1", 1000}, {"s2", 2000}}, "carol"));
  EXPECT_GT(added.revision, room.revision);
  EXPECT_EQ(added.revision, store_revision());
  EXPECT_EQ(added.last_command, "add");
  EXPECT_EQ(added.last_command_by, "carol");
  ASSERT_EQ(added.state.queue.size(), 2u);
  EXPECT_EQ(added.state.current, "q1");
  EXPECT_EQ(added.state.position_at, clock_.now_ms());

  Room played = run(room.id, cmd(Type::kPlay));
  EXPECT_GT(played.revision, added.revision);
  EXPECT_TRUE(played.state.playing);

  // The cache is up to date when execute returns.
  auto got = service_->get(room.id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->revision, played.revision);
  EXPECT_EQ(got->state, played.state);
  EXPECT_EQ(got->last_command, "play");
}

// Commands that change what is heard take effect the room's lead ahead, in
// their order (the fetch lead for those whose audio listeners must fetch
// first); queue edits take effect at once; the leads are bounded.
TEST_F(RoomServiceTest, PlaybackCommandsTakeEffectTheRoomsLeadAhead) {
  std::int64_t lead = 120;
  std::int64_t fetch = 0;  // added for the fetch lead
  service_->set_command_lead([&](const std::string&) { return CommandLeads{lead, lead + fetch}; });
  Room room = create_room();
  Room added = run(room.id, add({{"s1", 60000}, {"s2", 60000}}, "carol"));
  EXPECT_EQ(added.state.position_at, clock_.now_ms()) << "adding to the queue changes nothing heard";

  const auto t0 = clock_.now_ms();
  Room played = run(room.id, cmd(Type::kPlay));
  EXPECT_TRUE(played.state.playing);
  EXPECT_EQ(played.state.position_ms, 0);
  EXPECT_EQ(played.state.position_at, t0 + 120);

  // 30 ms later a pause with a smaller lead still lands after the play: it
  // stops where the play will have got to.
  clock_.advance_ms(30);
  lead = 10;
  Room paused = run(room.id, cmd(Type::kPause));
  EXPECT_FALSE(paused.state.playing);
  EXPECT_EQ(paused.state.position_at, t0 + 120);
  EXPECT_EQ(paused.state.position_ms, 0);

  // Played 1 s, then a seek: the position holds from its time on, which is
  // the fetch lead ahead.
  lead = 50;
  fetch = 70;
  run(room.id, cmd(Type::kPlay));
  clock_.advance_ms(1000);
  Command seek = cmd(Type::kSeek);
  seek.position_ms = 30000;
  Room sought = run(room.id, seek);
  EXPECT_EQ(sought.state.position_ms, 30000);
  EXPECT_EQ(sought.state.position_at, clock_.now_ms() + 120);
  fetch = 0;

  // A queue edit meanwhile keeps the pending time.
  Room moved = run(room.id, add({{"s3", 1000}}, "carol"));
  EXPECT_EQ(moved.state.position_at, sought.state.position_at);

  // Skip: the next item starts at the lead; an absurd lead is bounded.
  clock_.advance_ms(500);
  lead = 100000;
  Room skipped = run(room.id, cmd(Type::kSkip));
  EXPECT_EQ(skipped.state.current, "q2");
  EXPECT_EQ(skipped.state.position_at, clock_.now_ms() + kMaxCommandLeadMs);
  lead = -5;
  fetch = -100;  // a fetch lead below the held one counts as the held one
  clock_.advance_ms(1000);
  Room paused_now = run(room.id, cmd(Type::kPause));
  EXPECT_EQ(paused_now.state.position_at, clock_.now_ms());
  EXPECT_EQ(paused_now.state.position_ms, 1000 - kMaxCommandLeadMs);

  // A seek waits longer at most: the audio at its position must be fetched.
  lead = 100000;
  fetch = 100000;
  run(room.id, cmd(Type::kPlay));
  clock_.advance_ms(1000);
  Room far = run(room.id, seek);
  EXPECT_EQ(far.state.position_at, clock_.now_ms() + kMaxFetchCommandLeadMs);
}

// A timed command that lands after the current song has ended applies to
// the next song (the room moves on at the exact end first); commands that
// change nothing heard never move the pending time back.
TEST_F(RoomServiceTest, ATimedCommandPastTheSongsEndAppliesToTheNextSong) {
  service_->set_command_lead([](const std::string&) { return CommandLeads{150, 150}; });
  Room room = create_room();
  run(room.id, add({{"s1", 1000}, {"s2", 60000}}, "carol"));
  const auto t0 = clock_.now_ms();
  run(room.id, cmd(Type::kPlay));  // s1 plays from t0 + 150 to t0 + 1150
  clock_.advance_ms(1100);         // 50 ms before its end; the pause lands 100 ms after it
  Room paused = run(room.id, cmd(Type::kPause));
  EXPECT_EQ(paused.state.current, "q2");
  EXPECT_FALSE(paused.state.playing);
  EXPECT_EQ(paused.state.position_ms, 100);
  EXPECT_EQ(paused.state.position_at, t0 + 1100 + 150);
  EXPECT_EQ(paused.last_command, "pause");

  Room cleared = run(room.id, cmd(Type::kClear));
  const auto pending = cleared.state.position_at;
  EXPECT_GT(pending, clock_.now_ms());
  Room refilled = run(room.id, add({{"s3", 1000}}, "carol"));
  EXPECT_EQ(refilled.state.position_at, pending) << "an add must not move the pending clear back";
}

TEST_F(RoomServiceTest, ANoOpWritesNothing) {
  Room room = create_room();
  Room added = run(room.id, add({{"s1", 1000}}));
  const auto before = store_revision();
  Room paused = run(room.id, cmd(Type::kPause));
  EXPECT_EQ(paused.revision, added.revision);
  EXPECT_EQ(paused.state, added.state);
  EXPECT_EQ(paused.last_command, "add");
  EXPECT_EQ(store_revision(), before);
  Room repeat_off = run(room.id, cmd(Type::kRepeat));
  EXPECT_EQ(repeat_off.revision, added.revision);
  EXPECT_EQ(store_revision(), before);
}

TEST_F(RoomServiceTest, ARejectedCommandWritesNothing) {
  Room room = create_room();
  Room added = run(room.id, add({{"s1", 1000}, {"s2", 1000}}));
  const auto before = store_revision();
  EXPECT_EQ(service_->execute(room.id, cmd(Type::kSkip, "q9")).status().code(), Code::kFailedPrecondition);
  Command seek = cmd(Type::kSeek);
  seek.position_ms = -5;
  EXPECT_EQ(service_->execute(room.id, seek).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_revision(), before);
  EXPECT_EQ(service_->get(room.id)->state, added.state);
}

TEST_F(RoomServiceTest, AStalePreconditionFillsCurrent) {
  Room room = create_room();
  Room added = run(room.id, add({{"s1", 1000}, {"s2", 1000}}));
  const auto before = store_revision();
  Room current;
  auto r = service_->execute(room.id, cmd(Type::kSkip, "q2"), &current);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(current.id, room.id);
  EXPECT_EQ(current.revision, added.revision);
  EXPECT_EQ(current.state.current, "q1");
  EXPECT_EQ(store_revision(), before);

  // Other rejections fill it too.
  Room also;
  Command bad_seek = cmd(Type::kSeek);
  bad_seek.position_ms = -5;
  EXPECT_EQ(service_->execute(room.id, bad_seek, &also).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(also.revision, added.revision);
}

// 16 listeners adding songs at once: every command is applied exactly once,
// and the event stream shows every version, in order.
TEST_F(RoomServiceTest, ConcurrentCommandsAreEachAppliedOnce) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  Room room = create_room();
  std::latch start(kThreads);
  std::vector<std::vector<Result<Room>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        auto song = "t" + std::to_string(t) + "-" + std::to_string(i);
        results[t].push_back(service_->execute(room.id, add({{song, 1000 + i}}, "user" + std::to_string(t))));
      }
    });
  }
  for (auto& th : threads) th.join();

  std::set<Revision> returned;
  for (int t = 0; t < kThreads; ++t) {
    for (const auto& r : results[t]) {
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      EXPECT_TRUE(returned.insert(r->revision).second) << "two commands returned revision " << r->revision;
    }
  }
  ASSERT_EQ(returned.size(), static_cast<std::size_t>(kThreads * kPerThread));

  auto final_room = service_->get(room.id);
  ASSERT_TRUE(final_room.is_ok());
  ASSERT_EQ(final_room->state.queue.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::set<std::string> ids, songs;
  for (const auto& item : final_room->state.queue) {
    ids.insert(item.id);
    songs.insert(item.song_id);
  }
  EXPECT_EQ(ids.size(), final_room->state.queue.size());
  EXPECT_EQ(songs.size(), final_room->state.queue.size());  // each add landed once
  EXPECT_EQ(final_room->revision, *returned.rbegin());
  EXPECT_EQ(final_room->state.next_item_seq, kThreads * kPerThread + 1);

  // The listener saw the creation and then exactly the returned revisions, in order.
  ASSERT_TRUE(recorder_.wait_for_revision(*returned.rbegin()));
  std::vector<Revision> seen;
  for (const auto& e : recorder_.events()) {
    if (e.room.id == room.id && e.room.revision > room.revision) {
      EXPECT_EQ(e.type, RoomEvent::Type::kUpdated);
      seen.push_back(e.room.revision);
    }
  }
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a revision was delivered twice";
  EXPECT_EQ(std::set<Revision>(seen.begin(), seen.end()), returned);
  // No other writer: the revisions are consecutive.
  EXPECT_EQ(*returned.rbegin() - *returned.begin() + 1, static_cast<Revision>(returned.size()));
}

// Two nodes on one store, eight listeners on each, adding at once: commands
// through one node take turns, those of the other node lose compares and
// retry, and still every one is applied once.
TEST_F(RoomServiceTest, CommandsFromTwoNodesOnOneRoomAreEachAppliedOnce) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20;
  second_ = start_service(clock_, second_recorder_);
  Room room = create_room();
  ASSERT_TRUE(second_recorder_.wait_for_revision(room.revision));
  std::latch start(kThreads);
  std::vector<std::vector<Result<Room>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RoomService& node = t % 2 == 0 ? *service_ : *second_;
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        auto song = "t" + std::to_string(t) + "-" + std::to_string(i);
        results[t].push_back(node.execute(room.id, add({{song, 1000}}, "user" + std::to_string(t))));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<Revision> returned;
  for (const auto& per_thread : results) {
    for (const auto& r : per_thread) {
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      EXPECT_TRUE(returned.insert(r->revision).second);
    }
  }
  ASSERT_TRUE(second_recorder_.wait_for_revision(*returned.rbegin()));
  for (RoomService* node : {service_.get(), second_.get()}) {
    auto final_room = node->get(room.id);
    ASSERT_TRUE(final_room.is_ok());
    std::set<std::string> songs;
    for (const auto& item : final_room->state.queue) songs.insert(item.song_id);
    EXPECT_EQ(final_room->state.queue.size(), static_cast<std::size_t>(kThreads * kPerThread));
    EXPECT_EQ(songs.size(), static_cast<std::size_t>(kThreads * kPerThread));
  }
}

// Two listeners press skip for the same song at the same moment: one skip.
TEST_F(RoomServiceTest, RacingSkipsWithTheSameExpectedItemSkipOnce) {
  constexpr int kRounds = 20;
  Room room = create_room();
  std::vector<SongRef> songs;
  for (int i = 0; i < kRounds + 1; ++i) songs.push_back({"s" + std::to_string(i), 60'000});
  run(room.id, add(songs));
  run(room.id, cmd(Type::kPlay));
  for (int round = 0; round < kRounds; ++round) {
    const auto expected = "q" + std::to_string(round + 1);
    std::latch start(2);
    Result<Room> results[2] = {internal_error("not run"), internal_error("not run")};
    std::thread racers[2];
    for (int i = 0; i < 2; ++i) {
      racers[i] = std::thread([&, i] {
        start.arrive_and_wait();
        results[i] = service_->execute(room.id, cmd(Type::kSkip, expected, "racer" + std::to_string(i)));
      });
    }
    for (auto& th : racers) th.join();
    const int succeeded = results[0].is_ok() + results[1].is_ok();
    ASSERT_EQ(succeeded, 1) << "round " << round;
    const auto& loser = results[0].is_ok() ? results[1] : results[0];
    EXPECT_EQ(loser.status().code(), Code::kFailedPrecondition);
    auto now = service_->get(room.id);
    ASSERT_TRUE(now.is_ok());
    EXPECT_EQ(now->state.current, "q" + std::to_string(round + 2));
    EXPECT_TRUE(now->state.playing);
  }
}

TEST_F(RoomServiceTest, AdvanceDueRoomsAdvancesOnce) {
  Room room = create_room();
  Room other = create_room("Idle");  // never due: nothing playing
  run(other.id, add({{"x", 10}}));
  run(room.id, add({{"s1", 1000}, {"s2", 5000}}));
  Room playing = run(room.id, cmd(Type::kPlay));
  const auto started = clock_.now_ms();
  ASSERT_EQ(playing.state.ends_at(), started + 1000);

  EXPECT_EQ(service_->advance_due_rooms(), 0);
  clock_.advance_ms(999);
  EXPECT_EQ(service_->advance_due_rooms(), 0);
  clock_.advance_ms(1 + 250);  // 250 ms late
  EXPECT_EQ(service_->advance_due_rooms(), 1);
  const auto after = store_revision();
  EXPECT_EQ(service_->advance_due_rooms(), 0);
  EXPECT_EQ(store_revision(), after);

  auto got = service_->get(room.id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->state.current, "q2");
  EXPECT_TRUE(got->state.playing);
  EXPECT_EQ(got->state.position_ms, 0);
  EXPECT_EQ(got->state.position_at, started + 1000);
  EXPECT_EQ(got->state.position_at_time(clock_.now_ms()), 250);
  EXPECT_EQ(got->last_command, "advance");
  EXPECT_EQ(service_->get(other.id)->state.current, "q1");

  // The end of the queue stops playback once.
  clock_.advance_ms(5000);
  EXPECT_EQ(service_->advance_due_rooms(), 1);
  EXPECT_EQ(service_->advance_due_rooms(), 0);
  got = service_->get(room.id);
  EXPECT_EQ(got->state.current, "");
  EXPECT_FALSE(got->state.playing);
}

// Zero-length songs under repeat must not keep the scheduler busy for ever.
TEST_F(RoomServiceTest, ZeroLengthRepeatEndsAdvancing) {
  Room room = create_room();
  run(room.id, add({{"s1", 0}}));
  Command one = cmd(Type::kRepeat);
  one.mode = RepeatMode::kOne;
  run(room.id, one);
  run(room.id, cmd(Type::kPlay));
  int advanced = 0;
  for (int i = 0; i < 10 && service_->advance_due_rooms() > 0; ++i) ++advanced;
  EXPECT_EQ(advanced, 1);
  EXPECT_FALSE(service_->get(room.id)->state.playing);
}

// The node was down while two songs ended: catching up advances step by step,
// each next song starting exactly when the previous one ended.
TEST_F(RoomServiceTest, CatchesUpAfterARestart) {
  Room room = create_room();
  run(room.id, add({{"s1", 1000}, {"s2", 2000}, {"s3", 3000}}));
  run(room.id, cmd(Type::kPlay));
  const auto started = clock_.now_ms();
  service_.reset();  // the node goes down

  clock_.advance_ms(3500);  // s1 ended at +1000, s2 at +3000
  second_ = start_service(clock_, second_recorder_);
  int advances = 0;
  for (int n; (n = second_->advance_due_rooms()) > 0 && advances < 100;) advances += n;
  EXPECT_EQ(advances, 2);

  auto got = second_->get(room.id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->state.current, "q3");
  EXPECT_TRUE(got->state.playing);
  EXPECT_EQ(got->state.position_ms, 0);
  EXPECT_EQ(got->state.position_at, started + 3000);
  EXPECT_EQ(got->state.position_at_time(clock_.now_ms()), 500);

  // The advances were two versions, each starting when the previous song ended.
  ASSERT_TRUE(second_recorder_.wait_for_revision(got->revision));
  std::vector<std::int64_t> starts;
  for (const auto& e : second_recorder_.events()) {
    if (e.room.id == room.id && e.room.last_command == "advance") starts.push_back(e.room.state.position_at);
  }
  EXPECT_EQ(starts, (std::vector<std::int64_t>{started + 1000, started + 3000}));
}

TEST_F(RoomServiceTest, TwoServicesOnOneStoreAdvanceOnce) {
  second_ = start_service(clock_, second_recorder_);
  Room room = create_room();
  run(room.id, add({{"s1", 1000}, {"s2", 1000}}));
  Room played = run(room.id, cmd(Type::kPlay));
  ASSERT_TRUE(second_recorder_.wait_for_revision(played.revision));
  clock_.advance_ms(1000);
  std::latch start(2);
  int counts[2] = {0, 0};
  std::thread a([&] { start.arrive_and_wait(); counts[0] = service_->advance_due_rooms(); });
  std::thread b([&] { start.arrive_and_wait(); counts[1] = second_->advance_due_rooms(); });
  a.join();
  b.join();
  EXPECT_EQ(counts[0] + counts[1], 1);
  EXPECT_EQ(service_->get(room.id)->state.current, "q2");
  EXPECT_EQ(service_->get(room.id)->state.position_at, played.state.position_at + 1000);
}

TEST_F(RoomServiceTest, OnlyTheOwnerOrAnAdminDeletesARoom) {
  Room room = create_room();
  const User bob{"bob", "bob", "user", false, 0};
  const User root{"root", "root", "admin", false, 0};
  EXPECT_EQ(service_->remove(room.id, bob).code(), Code::kPermissionDenied);
  EXPECT_TRUE(service_->get(room.id).is_ok());
  EXPECT_TRUE(service_->remove(room.id, root).is_ok());
  EXPECT_EQ(service_->get(room.id).status().code(), Code::kNotFound);
}

TEST_F(RoomServiceTest, AddTakesDurationsFromTheSongLookup) {
  Recorder recorder;
  auto options = manual();
  options.song_lookup = [](const std::string& id) -> Result<SongRef> {
    if (id == "known") return SongRef{"known", 4321};
    return not_found("no song with id '" + id + "'");
  };
  auto service = start_service(clock_, recorder, options);
  auto room = service->create("Lookup", "alice");
  ASSERT_TRUE(room.is_ok());
  // The duration a caller claims does not count; the library's does.
  auto added = service->execute(room->id, add({{"known", 1}}));
  ASSERT_TRUE(added.is_ok()) << added.status().to_string();
  ASSERT_EQ(added->state.queue.size(), 1u);
  EXPECT_EQ(added->state.queue[0].duration_ms, 4321);
  // One unknown song refuses the whole command; nothing is written.
  auto refused = service->execute(room->id, add({{"known", 0}, {"missing", 0}}));
  EXPECT_EQ(refused.status().code(), Code::kNotFound);
  EXPECT_EQ(service->get(room->id)->state.queue.size(), 1u);
}

TEST_F(RoomServiceTest, ListenerGetsUpdatesAndDeletion) {
  Room room = create_room();
  Room added = run(room.id, add({{"s1", 1000}}));
  ASSERT_TRUE(service_->remove(room.id, kOwner).is_ok());
  const auto removed_at = store_revision();
  ASSERT_TRUE(recorder_.wait_for_revision(removed_at));
  auto events = recorder_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, RoomEvent::Type::kUpdated);
  EXPECT_EQ(events[0].room.revision, room.revision);
  EXPECT_EQ(events[0].room.last_command, "create");
  EXPECT_EQ(events[1].type, RoomEvent::Type::kUpdated);
  EXPECT_EQ(events[1].room.revision, added.revision);
  EXPECT_EQ(events[1].room.state, added.state);
  EXPECT_EQ(events[2].type, RoomEvent::Type::kDeleted);
  EXPECT_EQ(events[2].room.id, room.id);
  EXPECT_EQ(events[2].room.revision, removed_at);
}

// The scheduler thread advances by itself when a song ends.
TEST_F(RoomServiceTest, AutoAdvanceWithTheSystemClock) {
  service_.reset();
  RoomServiceOptions options;
  options.auto_advance = true;
  Recorder recorder;
  auto service = start_service(SystemClock::instance(), recorder, options);
  auto room = service->create("Live", "alice");
  ASSERT_TRUE(room.is_ok());
  ASSERT_TRUE(service->execute(room->id, add({{"short", 300}, {"long", 600'000}})).is_ok());
  auto played = service->execute(room->id, cmd(Type::kPlay));
  ASSERT_TRUE(played.is_ok());
  const auto ends = *played->state.ends_at();

  ASSERT_TRUE(recorder.wait_until([&](const auto& events) {
    return std::any_of(events.begin(), events.end(), [&](const RoomEvent& e) {
      return e.room.id == room->id && e.room.state.current == "q2";
    });
  })) << "no auto-advance within 10 s";
  auto got = service->get(room->id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->state.current, "q2");
  EXPECT_TRUE(got->state.playing);
  EXPECT_EQ(got->state.position_at, ends);
  EXPECT_EQ(got->last_command, "advance");
  EXPECT_EQ(got->last_command_by, "");
  EXPECT_GE(SystemClock::instance().now_ms(), ends);
  service.reset();
}

// The room view's watch ends (its SQLite watcher falls behind its buffer
// while the listener is slow): the view reloads rooms/, the listener learns
// what changed meanwhile, and a command written during the outage succeeds.
TEST_F(RoomServiceTest, AViewThatFellBehindReloadsAndCommandsStillSucceed) {
  SqliteOptions options;
  options.max_watch_backlog = 2;
  auto opened = open_sqlite_meta_store(dir_ + "/behind.db", options);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  auto store = std::move(opened).value();
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool held = false;
  Recorder recorder;
  RoomService service(*store, clock_, manual());
  service.set_listener([&](const RoomEvent& e) {
    {
      std::unique_lock lock(gate_mu);
      gate_cv.wait(lock, [&] { return !held; });
    }
    recorder(e);
  });
  ASSERT_TRUE(service.start().is_ok());
  auto kept = service.create("Kept", "alice");
  auto gone = service.create("Gone", "alice");
  ASSERT_TRUE(kept.is_ok() && gone.is_ok());

  {
    std::lock_guard lock(gate_mu);
    held = true;
  }
  // Written behind the service's back while its listener is stuck.
  auto record = store->get("rooms/" + kept->id);
  ASSERT_TRUE(record.is_ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->put(record->key, record->value).is_ok());
  ASSERT_TRUE(store->del("rooms/" + gone->id).is_ok());
  auto added = std::async(std::launch::async,
                          [&] { return service.execute(kept->id, add({{"s1", 1000}})); });
  {
    std::lock_guard lock(gate_mu);
    held = false;
  }
  gate_cv.notify_all();

  auto result = added.get();
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_TRUE(recorder.wait_until([&](const auto& events) {
    return std::any_of(events.begin(), events.end(), [&](const RoomEvent& e) {
      return e.type == RoomEvent::Type::kDeleted && e.room.id == gone->id;
    });
  }));
  EXPECT_TRUE(recorder.wait_for_revision(result->revision));
  EXPECT_EQ(service.get(gone->id).status().code(), Code::kNotFound);
  EXPECT_EQ(service.get(kept->id)->revision, result->revision);
  EXPECT_TRUE(::hifi::testing::eventually([&] { return !service.view_status().stale; }));
  EXPECT_EQ(service.view_status().reloads, 1u);
  service.stop();
}

}  // namespace
}  // namespace hifi::room
