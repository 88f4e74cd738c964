// Example-based tests of the room state machine: every command, its
// preconditions and edge cases, and the JSON form.
#include "room/room_state.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace hifi::room {
namespace {

namespace json = boost::json;
using Type = Command::Type;

constexpr std::int64_t kT0 = 1'700'000'000'000;

Command add(std::vector<SongRef> songs, std::int64_t at = Command::kAtEnd, std::string by = "alice") {
  Command c;
  c.type = Type::kAdd;
  c.songs = std::move(songs);
  c.at = at;
  c.by = std::move(by);
  return c;
}

Command cmd(Type type, std::string expected = "") {
  Command c;
  c.type = type;
  c.by = "bob";
  c.expected_item = std::move(expected);
  return c;
}

Command remove_item(std::string id) {
  Command c = cmd(Type::kRemove);
  c.item_id = std::move(id);
  return c;
}

Command move_item(std::string id, std::int64_t to) {
  Command c = cmd(Type::kMove);
  c.item_id = std::move(id);
  c.to = to;
  return c;
}

Command seek(std::int64_t position, std::string expected = "") {
  Command c = cmd(Type::kSeek, std::move(expected));
  c.position_ms = position;
  return c;
}

Command repeat(RepeatMode mode) {
  Command c = cmd(Type::kRepeat);
  c.mode = mode;
  return c;
}

// Applies a command that must succeed.
RoomState ok(const RoomState& s, const Command& c, std::int64_t now) {
  auto r = apply(s, c, now);
  EXPECT_TRUE(r.is_ok()) << command_type_name(c.type) << ": " << r.status().to_string();
  return r.is_ok() ? *r : s;
}

// Applies a command that must be rejected with `code`. That a rejection
// changes nothing needs no check here: apply() takes the state by const
// reference and returns no state on error; that nothing is written is
// RoomServiceTest's to prove.
void rejected(const RoomState& s, const Command& c, std::int64_t now, Code code) {
  auto r = apply(s, c, now);
  ASSERT_FALSE(r.is_ok()) << command_type_name(c.type) << " was accepted";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
}

// A queue of songs "s1".. with the given durations, added at kT0 (so the
// first item q1 is selected and paused at position 0).
RoomState queue_of(std::vector<std::int64_t> durations) {
  std::vector<SongRef> songs;
  for (std::size_t i = 0; i < durations.size(); ++i) songs.push_back({"s" + std::to_string(i + 1), durations[i]});
  return ok(RoomState{}, add(songs), kT0);
}

std::vector<std::string> ids(const RoomState& s) {
  std::vector<std::string> out;
  for (const auto& item : s.queue) out.push_back(item.id);
  return out;
}

using Ids = std::vector<std::string>;

// ---- add ----

TEST(RoomStateAdd, FirstAddSelectsTheFirstItemPaused) {
  auto s = ok(RoomState{}, add({{"s1", 1000}, {"s2", 2000}}), kT0);
  EXPECT_EQ(ids(s), (Ids{"q1", "q2"}));
  EXPECT_EQ(s.current, "q1");
  EXPECT_FALSE(s.playing);
  EXPECT_EQ(s.position_ms, 0);
  EXPECT_EQ(s.position_at, kT0);
  EXPECT_EQ(s.next_item_seq, 3);
  EXPECT_EQ(s.queue[0], (QueueItem{"q1", "s1", "alice", 1000}));
  EXPECT_EQ(s.queue[1], (QueueItem{"q2", "s2", "alice", 2000}));
}

TEST(RoomStateAdd, AtEndAppendsWithoutTouchingPlayback) {
  auto s = ok(queue_of({1000}), cmd(Type::kPlay), kT0 + 10);
  auto t = ok(s, add({{"s9", 5}}, Command::kAtEnd, "carol"), kT0 + 500);
  EXPECT_EQ(ids(t), (Ids{"q1", "q2"}));
  EXPECT_EQ(t.queue[1].added_by, "carol");
  EXPECT_EQ(t.current, "q1");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, s.position_ms);
  EXPECT_EQ(t.position_at, s.position_at);
}

TEST(RoomStateAdd, AtNextInsertsRightAfterTheCurrentItem) {
  auto s = queue_of({1000, 1000, 1000});
  s = ok(s, cmd(Type::kSkip), kT0);  // current q2
  auto t = ok(s, add({{"x", 1}, {"y", 2}}, Command::kAtNext), kT0);
  EXPECT_EQ(ids(t), (Ids{"q1", "q2", "q4", "q5", "q3"}));
  EXPECT_EQ(t.current, "q2");
}

TEST(RoomStateAdd, AtNextWithNothingSelectedAppendsAndSelects) {
  auto s = ok(queue_of({1000}), cmd(Type::kSkip), kT0);  // past the end: nothing selected
  ASSERT_EQ(s.current, "");
  auto t = ok(s, add({{"x", 1}}, Command::kAtNext), kT0 + 1);
  EXPECT_EQ(ids(t), (Ids{"q1", "q2"}));
  EXPECT_EQ(t.current, "q2");
  EXPECT_FALSE(t.playing);
}

TEST(RoomStateAdd, AtIndex) {
  auto s = queue_of({1, 2});
  EXPECT_EQ(ids(ok(s, add({{"x", 1}}, 0), kT0)), (Ids{"q3", "q1", "q2"}));
  EXPECT_EQ(ids(ok(s, add({{"x", 1}}, 1), kT0)), (Ids{"q1", "q3", "q2"}));
  EXPECT_EQ(ids(ok(s, add({{"x", 1}}, 2), kT0)), (Ids{"q1", "q2", "q3"}));
  EXPECT_EQ(ok(s, add({{"x", 1}}, 0), kT0).current, "q1");
}

TEST(RoomStateAdd, BadIndexIsInvalidArgument) {
  auto s = queue_of({1, 2});
  rejected(s, add({{"x", 1}}, 3), kT0, Code::kInvalidArgument);
  rejected(s, add({{"x", 1}}, -3), kT0, Code::kInvalidArgument);
  rejected(RoomState{}, add({{"x", 1}}, 1), kT0, Code::kInvalidArgument);
}

TEST(RoomStateAdd, RejectsNoSongsNegativeDurationAndFullQueue) {
  auto s = queue_of({1, 2});
  rejected(s, add({}), kT0, Code::kInvalidArgument);
  rejected(s, add({{"x", 1}, {"y", -1}}), kT0, Code::kInvalidArgument);
  Limits limits;
  limits.max_queue = 3;
  EXPECT_TRUE(apply(s, add({{"x", 1}}), kT0, limits).is_ok());
  auto full = apply(s, add({{"x", 1}, {"y", 1}}), kT0, limits);
  ASSERT_FALSE(full.is_ok());
  EXPECT_EQ(full.status().code(), Code::kResourceExhausted);
}

TEST(RoomStateAdd, ItemIdsAreNeverReused) {
  auto s = queue_of({1, 2});
  s = ok(s, remove_item("q2"), kT0);
  s = ok(s, add({{"x", 1}}), kT0);
  EXPECT_EQ(ids(s), (Ids{"q1", "q3"}));
  s = ok(s, cmd(Type::kClear), kT0);
  s = ok(s, add({{"x", 1}}), kT0);
  EXPECT_EQ(ids(s), (Ids{"q4"}));
}

TEST(RoomStateAdd, ReplaceAndPlayMakesTheQueueExactlyTheSongsPlayingTheFirst) {
  auto s = queue_of({1000, 2000, 3000});
  s = ok(s, cmd(Type::kPlay), kT0);
  auto c = add({{"x", 5000}, {"y", 6000}});
  c.replace = true;
  c.play = true;
  s = ok(s, c, kT0 + 500);
  EXPECT_EQ(ids(s), (Ids{"q4", "q5"}));
  EXPECT_EQ(s.current, "q4");
  EXPECT_TRUE(s.playing);
  EXPECT_EQ(s.position_ms, 0);
  EXPECT_EQ(s.position_at, kT0 + 500);
}

TEST(RoomStateAdd, PlayWithoutReplaceJumpsToTheFirstAddedSong) {
  auto s = queue_of({1000, 2000});
  auto c = add({{"x", 5000}}, Command::kAtNext);
  c.play = true;
  auto before = s.selection;
  s = ok(s, c, kT0);
  EXPECT_EQ(ids(s), (Ids{"q1", "q3", "q2"}));
  EXPECT_EQ(s.current, "q3");
  EXPECT_TRUE(s.playing);
  EXPECT_GT(s.selection, before);
}

TEST(RoomStateAdd, ReplaceWithoutPlaySelectsTheFirstPaused) {
  auto s = queue_of({1000});
  s = ok(s, cmd(Type::kPlay), kT0);
  auto c = add({{"x", 5000}});
  c.replace = true;
  s = ok(s, c, kT0);
  EXPECT_EQ(ids(s), (Ids{"q2"}));
  EXPECT_EQ(s.current, "q2");
  EXPECT_FALSE(s.playing);
}

TEST(RoomStateAdd, ReplaceCountsOnlyTheNewSongsAgainstTheLimit) {
  Limits limits;
  limits.max_queue = 2;
  auto s = queue_of({1, 2});
  auto c = add({{"x", 1}, {"y", 1}});
  c.replace = true;
  auto r = apply(s, c, kT0, limits);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->queue.size(), 2u);
}

// ---- shuffle and speaker ----

TEST(RoomStateShuffle, ReordersOnlyTheItemsAfterTheCurrentOneDeterministically) {
  std::vector<std::int64_t> durations(20, 1000);
  auto s = queue_of(durations);
  s = ok(s, cmd(Type::kSkip), kT0);  // q2 is current
  auto c = cmd(Type::kShuffle);
  c.seed = 42;
  auto a = ok(s, c, kT0);
  auto b = ok(s, c, kT0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.queue[0].id, "q1");
  EXPECT_EQ(a.queue[1].id, "q2");
  EXPECT_EQ(a.current, "q2");
  EXPECT_NE(ids(a), ids(s)) << "20 items stayed in order";
  auto sorted = ids(a);
  std::sort(sorted.begin(), sorted.end());
  auto want = ids(s);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(sorted, want);
  c.seed = 43;
  EXPECT_NE(ids(ok(s, c, kT0)), ids(a));
}

TEST(RoomStateSpeaker, SetsTheDeviceAndSurvivesJson) {
  RoomState s;
  EXPECT_EQ(s.speaker, "");
  auto c = cmd(Type::kSpeaker);
  c.device = "laptop-1";
  s = ok(s, c, kT0);
  EXPECT_EQ(s.speaker, "laptop-1");
  auto back = state_from_json(to_json(s));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->speaker, "laptop-1");
}

// ---- remove ----

TEST(RoomStateRemove, OtherItemLeavesPlaybackAlone) {
  auto s = ok(queue_of({1000, 1000, 1000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, remove_item("q3"), kT0 + 300);
  EXPECT_EQ(ids(t), (Ids{"q1", "q2"}));
  EXPECT_EQ(t.current, "q1");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_at_time(kT0 + 400), 400);
}

TEST(RoomStateRemove, CurrentWhilePlayingNextKeepsPlayingFromTheStart) {
  auto s = ok(queue_of({1000, 2000, 3000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, remove_item("q1"), kT0 + 300);
  EXPECT_EQ(ids(t), (Ids{"q2", "q3"}));
  EXPECT_EQ(t.current, "q2");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 300);
  EXPECT_EQ(t.ends_at(), kT0 + 2300);
}

TEST(RoomStateRemove, CurrentWhilePausedNextStaysPaused) {
  auto s = queue_of({1000, 2000});
  auto t = ok(s, remove_item("q1"), kT0 + 300);
  EXPECT_EQ(t.current, "q2");
  EXPECT_FALSE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
}

TEST(RoomStateRemove, LastItemWhenCurrentStops) {
  auto s = ok(queue_of({1000, 2000}), cmd(Type::kSkip), kT0);
  s = ok(s, cmd(Type::kPlay), kT0);
  ASSERT_EQ(s.current, "q2");
  auto t = ok(s, remove_item("q2"), kT0 + 300);
  EXPECT_EQ(ids(t), (Ids{"q1"}));
  EXPECT_EQ(t.current, "");
  EXPECT_FALSE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.ends_at(), std::nullopt);
}

TEST(RoomStateRemove, UnknownItemIsNotFound) {
  rejected(queue_of({1}), remove_item("q9"), kT0, Code::kNotFound);
  rejected(queue_of({1}), remove_item(""), kT0, Code::kNotFound);
}

// ---- move ----

TEST(RoomStateMove, ForwardBackwardAndBounds) {
  auto s = queue_of({1, 2, 3, 4});
  EXPECT_EQ(ids(ok(s, move_item("q1", 3), kT0)), (Ids{"q2", "q3", "q4", "q1"}));
  EXPECT_EQ(ids(ok(s, move_item("q4", 0), kT0)), (Ids{"q4", "q1", "q2", "q3"}));
  EXPECT_EQ(ids(ok(s, move_item("q2", 2), kT0)), (Ids{"q1", "q3", "q2", "q4"}));
  EXPECT_EQ(ok(s, move_item("q3", 2), kT0), s);
  rejected(s, move_item("q1", 4), kT0, Code::kInvalidArgument);
  rejected(s, move_item("q1", -1), kT0, Code::kInvalidArgument);
  rejected(s, move_item("q7", 0), kT0, Code::kNotFound);
}

TEST(RoomStateMove, MovingTheCurrentItemKeepsPlayback) {
  auto s = ok(queue_of({1000, 1000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, move_item("q1", 1), kT0 + 200);
  EXPECT_EQ(t.current, "q1");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_at_time(kT0 + 200), 200);
}

// ---- clear ----

TEST(RoomStateClear, EmptiesAndStops) {
  auto s = ok(queue_of({1000, 1000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kClear), kT0 + 5);
  EXPECT_TRUE(t.queue.empty());
  EXPECT_EQ(t.current, "");
  EXPECT_FALSE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.next_item_seq, 3);
  EXPECT_TRUE(apply(RoomState{}, cmd(Type::kClear), kT0).is_ok());
}

// ---- play / pause ----

TEST(RoomStatePlay, EmptyQueueIsFailedPrecondition) {
  rejected(RoomState{}, cmd(Type::kPlay), kT0, Code::kFailedPrecondition);
}

TEST(RoomStatePlay, StartsTheSelectedItemNow) {
  auto s = ok(queue_of({10'000}), cmd(Type::kPlay), kT0 + 100);
  EXPECT_TRUE(s.playing);
  EXPECT_EQ(s.position_ms, 0);
  EXPECT_EQ(s.position_at, kT0 + 100);
  EXPECT_EQ(s.position_at_time(kT0 + 2100), 2000);
  EXPECT_EQ(s.ends_at(), kT0 + 10'100);
}

TEST(RoomStatePlay, WithNothingSelectedStartsTheFirstItem) {
  auto s = ok(queue_of({1000, 1000}), cmd(Type::kSkip), kT0);
  s = ok(s, cmd(Type::kSkip), kT0);
  ASSERT_EQ(s.current, "");
  auto t = ok(s, cmd(Type::kPlay), kT0 + 7);
  EXPECT_EQ(t.current, "q1");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_at, kT0 + 7);
}

TEST(RoomStatePlay, ResumesFromThePausedPosition) {
  auto s = ok(queue_of({60'000}), cmd(Type::kPlay), kT0);
  s = ok(s, cmd(Type::kPause), kT0 + 5000);
  EXPECT_EQ(s.position_ms, 5000);
  auto t = ok(s, cmd(Type::kPlay), kT0 + 10'000);
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 5000);
  EXPECT_EQ(t.position_at, kT0 + 10'000);
  EXPECT_EQ(t.position_at_time(kT0 + 12'000), 7000);
  EXPECT_EQ(t.ends_at(), kT0 + 65'000);
}

TEST(RoomStatePlay, AlreadyPlayingIsIdentical) {
  auto s = ok(queue_of({60'000}), cmd(Type::kPlay), kT0);
  EXPECT_EQ(ok(s, cmd(Type::kPlay), kT0 + 3000), s);
}

TEST(RoomStatePlay, AFinishedItemStartsOver) {
  auto s = ok(queue_of({1000}), seek(1000), kT0);
  auto t = ok(s, cmd(Type::kPlay), kT0 + 50);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 50);
}

TEST(RoomStatePause, FreezesThePositionComputedFromNow) {
  auto s = ok(queue_of({60'000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kPause), kT0 + 1234);
  EXPECT_FALSE(t.playing);
  EXPECT_EQ(t.position_ms, 1234);
  EXPECT_EQ(t.position_at, kT0 + 1234);
  EXPECT_EQ(t.position_at_time(kT0 + 99'999), 1234);
  EXPECT_EQ(t.ends_at(), std::nullopt);
}

TEST(RoomStatePause, PastTheEndFreezesAtTheDuration) {
  auto s = ok(queue_of({1000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kPause), kT0 + 5000);
  EXPECT_EQ(t.position_ms, 1000);
}

TEST(RoomStatePause, WhenPausedIsIdentical) {
  auto s = queue_of({1000});
  EXPECT_EQ(ok(s, cmd(Type::kPause), kT0 + 10), s);
  EXPECT_EQ(ok(RoomState{}, cmd(Type::kPause), kT0 + 10), RoomState{});
}

// ---- seek ----

TEST(RoomStateSeek, SetsThePositionNow) {
  auto s = ok(queue_of({60'000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, seek(30'000), kT0 + 100);
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 30'000);
  EXPECT_EQ(t.position_at, kT0 + 100);
  EXPECT_EQ(t.position_at_time(kT0 + 1100), 31'000);
  auto paused = ok(queue_of({60'000}), seek(20'000), kT0 + 5);
  EXPECT_FALSE(paused.playing);
  EXPECT_EQ(paused.position_at_time(kT0 + 10'000), 20'000);
}

TEST(RoomStateSeek, ClampsToTheDuration) {
  auto t = ok(queue_of({60'000}), seek(90'000), kT0);
  EXPECT_EQ(t.position_ms, 60'000);
}

TEST(RoomStateSeek, Rejections) {
  auto s = queue_of({60'000});
  rejected(s, seek(-1), kT0, Code::kInvalidArgument);
  rejected(RoomState{}, seek(0), kT0, Code::kFailedPrecondition);
  rejected(s, seek(10, "q7"), kT0, Code::kFailedPrecondition);
  EXPECT_TRUE(apply(s, seek(10, "q1"), kT0).is_ok());
}

// ---- skip ----

TEST(RoomStateSkip, MovesToTheNextItemKeepingPlayOrPause) {
  auto s = queue_of({1000, 2000});
  auto paused = ok(s, cmd(Type::kSkip), kT0 + 10);
  EXPECT_EQ(paused.current, "q2");
  EXPECT_FALSE(paused.playing);
  EXPECT_EQ(paused.position_ms, 0);
  EXPECT_EQ(paused.position_at, kT0 + 10);

  auto playing = ok(ok(s, cmd(Type::kPlay), kT0), cmd(Type::kSkip, "q1"), kT0 + 400);
  EXPECT_EQ(playing.current, "q2");
  EXPECT_TRUE(playing.playing);
  EXPECT_EQ(playing.position_ms, 0);
  EXPECT_EQ(playing.position_at, kT0 + 400);
}

TEST(RoomStateSkip, StaleExpectedItemChangesNothing) {
  auto s = ok(queue_of({1000, 2000, 3000}), cmd(Type::kPlay), kT0);
  rejected(s, cmd(Type::kSkip, "q2"), kT0 + 5, Code::kFailedPrecondition);
  rejected(s, cmd(Type::kSkip, "q99"), kT0 + 5, Code::kFailedPrecondition);
}

TEST(RoomStateSkip, TwoListenersSkippingTheSameItemSkipOnce) {
  auto s = ok(queue_of({1000, 2000, 3000}), cmd(Type::kPlay), kT0);
  const auto press = cmd(Type::kSkip, "q1");
  auto first = ok(s, press, kT0 + 100);
  ASSERT_EQ(first.current, "q2");
  auto second = apply(first, press, kT0 + 101);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(first.current, "q2");
}

TEST(RoomStateSkip, AtTheEndOfTheQueue) {
  auto s = ok(queue_of({1000, 2000}), cmd(Type::kSkip), kT0);
  s = ok(s, cmd(Type::kPlay), kT0);
  ASSERT_EQ(s.current, "q2");

  auto off = ok(s, cmd(Type::kSkip), kT0 + 10);
  EXPECT_EQ(off.current, "");
  EXPECT_FALSE(off.playing);
  EXPECT_EQ(ids(off), (Ids{"q1", "q2"}));

  auto all = ok(ok(s, repeat(RepeatMode::kAll), kT0), cmd(Type::kSkip), kT0 + 10);
  EXPECT_EQ(all.current, "q1");
  EXPECT_TRUE(all.playing);
  EXPECT_EQ(all.position_at, kT0 + 10);

  auto one = ok(ok(s, repeat(RepeatMode::kOne), kT0), cmd(Type::kSkip), kT0 + 10);
  EXPECT_EQ(one.current, "");  // skip leaves the item even when repeating it
}

TEST(RoomStateSkip, NothingSelectedIsFailedPrecondition) {
  rejected(RoomState{}, cmd(Type::kSkip), kT0, Code::kFailedPrecondition);
  auto s = ok(queue_of({1000}), cmd(Type::kSkip), kT0);
  rejected(s, cmd(Type::kSkip), kT0, Code::kFailedPrecondition);
}

// ---- previous ----

TEST(RoomStatePrevious, MoreThanThreeSecondsInRestarts) {
  auto s = ok(ok(queue_of({60'000, 60'000}), cmd(Type::kSkip), kT0), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kPrevious, "q2"), kT0 + 3001);
  EXPECT_EQ(t.current, "q2");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 3001);
}

TEST(RoomStatePrevious, EarlyGoesToThePreviousItem) {
  auto s = ok(ok(queue_of({60'000, 60'000}), cmd(Type::kSkip), kT0), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kPrevious), kT0 + 3000);
  EXPECT_EQ(t.current, "q1");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 3000);
  // Paused stays paused.
  auto p = ok(ok(queue_of({60'000, 60'000}), cmd(Type::kSkip), kT0), cmd(Type::kPrevious), kT0 + 9000);
  EXPECT_EQ(p.current, "q1");
  EXPECT_FALSE(p.playing);
}

TEST(RoomStatePrevious, AtTheFirstItem) {
  auto s = ok(queue_of({60'000, 60'000}), cmd(Type::kPlay), kT0);
  auto off = ok(s, cmd(Type::kPrevious), kT0 + 1000);
  EXPECT_EQ(off.current, "q1");
  EXPECT_EQ(off.position_at, kT0 + 1000);
  auto all = ok(ok(s, repeat(RepeatMode::kAll), kT0), cmd(Type::kPrevious), kT0 + 1000);
  EXPECT_EQ(all.current, "q2");
  EXPECT_TRUE(all.playing);
}

TEST(RoomStatePrevious, NothingSelectedSelectsTheLastItemPaused) {
  auto s = ok(ok(queue_of({1000, 1000}), cmd(Type::kSkip), kT0), cmd(Type::kSkip), kT0);
  ASSERT_EQ(s.current, "");
  auto t = ok(s, cmd(Type::kPrevious), kT0 + 5);
  EXPECT_EQ(t.current, "q2");
  EXPECT_FALSE(t.playing);
  rejected(RoomState{}, cmd(Type::kPrevious), kT0, Code::kFailedPrecondition);
}

TEST(RoomStatePrevious, StaleExpectedItemChangesNothing) {
  auto s = ok(queue_of({1000, 1000}), cmd(Type::kSkip), kT0);
  rejected(s, cmd(Type::kPrevious, "q1"), kT0, Code::kFailedPrecondition);
}

TEST(RoomStatePrevious, ASecondPressForTheSamePlayDoesNotGoBackTwice) {
  // Both presses name the play they saw: q2, 10 s in.
  auto s = ok(ok(queue_of({60'000, 60'000}), cmd(Type::kSkip), kT0), cmd(Type::kPlay), kT0);
  auto press = cmd(Type::kPrevious, "q2");
  press.expected_selection = s.selection;
  auto restarted = ok(s, press, kT0 + 10'000);
  EXPECT_EQ(restarted.current, "q2");  // restarted, still current
  EXPECT_EQ(restarted.position_at, kT0 + 10'000);
  EXPECT_GT(restarted.selection, s.selection);
  // The duplicate (a retry, or a second listener) must not go back to q1.
  rejected(restarted, press, kT0 + 10'500, Code::kFailedPrecondition);
  // A press made after seeing the restart does go back.
  auto again = cmd(Type::kPrevious, "q2");
  again.expected_selection = restarted.selection;
  EXPECT_EQ(ok(restarted, again, kT0 + 10'500).current, "q1");
}

TEST(RoomStateSelection, GrowsWithEverySelectionAndSurvivesJson) {
  auto s = queue_of({1000, 1000});
  const auto first = s.selection;
  auto skipped = ok(s, cmd(Type::kSkip), kT0);
  EXPECT_EQ(skipped.selection, first + 1);
  auto paused = ok(skipped, cmd(Type::kPause), kT0);
  EXPECT_EQ(paused.selection, skipped.selection);  // no new selection
  auto round_trip = state_from_json(to_json(skipped));
  ASSERT_TRUE(round_trip.is_ok());
  EXPECT_EQ(*round_trip, skipped);
  // Records written before the counter existed read as selection 0.
  auto old = to_json(skipped);
  old.erase("selection");
  EXPECT_EQ(state_from_json(old)->selection, 0);
}

// ---- repeat ----

TEST(RoomStateRepeat, SetsTheModeAndNamesRoundTrip) {
  auto s = queue_of({1000});
  for (auto mode : {RepeatMode::kAll, RepeatMode::kOne, RepeatMode::kOff}) {
    auto t = ok(s, repeat(mode), kT0);
    EXPECT_EQ(t.repeat, mode);
    auto parsed = parse_repeat_mode(repeat_mode_name(mode));
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_EQ(ok(s, repeat(RepeatMode::kOff), kT0), s);
  EXPECT_EQ(parse_repeat_mode("ALL").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(parse_repeat_mode("").status().code(), Code::kInvalidArgument);
}

TEST(RoomStateCommandNames, RoundTripAndAdvanceIsInternal) {
  for (auto type : {Type::kAdd, Type::kRemove, Type::kMove, Type::kClear, Type::kPlay, Type::kPause,
                    Type::kSeek, Type::kSkip, Type::kPrevious, Type::kRepeat, Type::kSelect,
                    Type::kShuffle, Type::kSpeaker}) {
    auto parsed = parse_command_type(command_type_name(type));
    ASSERT_TRUE(parsed.is_ok()) << command_type_name(type);
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_STREQ(command_type_name(Type::kAdvance), "advance");
  EXPECT_EQ(parse_command_type("advance").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(parse_command_type("Play").status().code(), Code::kInvalidArgument);
}

// ---- advance ----

TEST(RoomStateAdvance, BeforeTheEndIsFailedPrecondition) {
  auto s = ok(queue_of({1000, 1000}), cmd(Type::kPlay), kT0);
  rejected(s, cmd(Type::kAdvance, "q1"), kT0 + 999, Code::kFailedPrecondition);
  // Not playing: nothing ends.
  rejected(queue_of({1000}), cmd(Type::kAdvance, "q1"), kT0 + 5000, Code::kFailedPrecondition);
  rejected(RoomState{}, cmd(Type::kAdvance), kT0, Code::kFailedPrecondition);
}

TEST(RoomStateAdvance, AtTheEndStartsTheNextItemAtTheEndTime) {
  auto s = ok(queue_of({1000, 2000}), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kAdvance, "q1"), kT0 + 1000);
  EXPECT_EQ(t.current, "q2");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 1000);
  EXPECT_EQ(t.ends_at(), kT0 + 3000);
}

TEST(RoomStateAdvance, AppliedLateStillStartsAtTheExactEndTime) {
  auto s = ok(queue_of({1000, 20'000}), cmd(Type::kPlay), kT0);
  s = ok(s, cmd(Type::kPause), kT0 + 400);
  s = ok(s, cmd(Type::kPlay), kT0 + 5000);  // ends at kT0 + 5600
  auto t = ok(s, cmd(Type::kAdvance, "q1"), kT0 + 12'600);
  EXPECT_EQ(t.current, "q2");
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 5600);
  EXPECT_EQ(t.position_at_time(kT0 + 12'600), 7000);
}

TEST(RoomStateAdvance, RepeatOneRestartsTheSameItemAtTheEndTime) {
  auto s = ok(ok(queue_of({1000, 2000}), repeat(RepeatMode::kOne), kT0), cmd(Type::kPlay), kT0);
  auto t = ok(s, cmd(Type::kAdvance, "q1"), kT0 + 1500);
  EXPECT_EQ(t.current, "q1");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_ms, 0);
  EXPECT_EQ(t.position_at, kT0 + 1000);
  EXPECT_EQ(t.ends_at(), kT0 + 2000);
  // The same advance again is rejected: the repeated item has not ended.
  rejected(t, cmd(Type::kAdvance, "q1"), kT0 + 1500, Code::kFailedPrecondition);
}

TEST(RoomStateAdvance, EndOfQueueStopsOrWraps) {
  auto s = ok(ok(queue_of({1000, 2000}), cmd(Type::kSkip), kT0), cmd(Type::kPlay), kT0);
  auto off = ok(s, cmd(Type::kAdvance, "q2"), kT0 + 2500);
  EXPECT_EQ(off.current, "");
  EXPECT_FALSE(off.playing);
  EXPECT_EQ(off.position_ms, 0);
  EXPECT_EQ(ids(off), (Ids{"q1", "q2"}));
  rejected(off, cmd(Type::kAdvance, "q2"), kT0 + 2600, Code::kFailedPrecondition);

  auto all = ok(ok(s, repeat(RepeatMode::kAll), kT0), cmd(Type::kAdvance, "q2"), kT0 + 2500);
  EXPECT_EQ(all.current, "q1");
  EXPECT_TRUE(all.playing);
  EXPECT_EQ(all.position_at, kT0 + 2000);
}

TEST(RoomStateAdvance, SecondAdvanceWithTheSameItemIsRejected) {
  auto s = ok(queue_of({1000, 2000, 3000}), cmd(Type::kPlay), kT0);
  const auto advance = cmd(Type::kAdvance, "q1");
  auto t = ok(s, advance, kT0 + 5000);  // late: q2 has also ended by now
  ASSERT_EQ(t.current, "q2");
  rejected(t, advance, kT0 + 5000, Code::kFailedPrecondition);
  // Catching up is a separate advance of q2, starting q3 when q2 ended.
  auto u = ok(t, cmd(Type::kAdvance, "q2"), kT0 + 5000);
  EXPECT_EQ(u.current, "q3");
  EXPECT_EQ(u.position_at, kT0 + 3000);
}

TEST(RoomStateAdvance, ZeroLengthItemsAreAdvancedThrough) {
  auto s = ok(queue_of({0, 0, 1000}), cmd(Type::kPlay), kT0);
  EXPECT_EQ(s.ends_at(), kT0);
  s = ok(s, cmd(Type::kAdvance, "q1"), kT0);
  s = ok(s, cmd(Type::kAdvance, "q2"), kT0);
  EXPECT_EQ(s.current, "q3");
  EXPECT_EQ(s.position_at, kT0);
  EXPECT_EQ(s.ends_at(), kT0 + 1000);
}

// Repeating something that takes no time would advance for ever (each
// advance due again at once, at the same time): it stops instead.
TEST(RoomStateAdvance, RepeatingAZeroLengthCycleStops) {
  auto one = ok(ok(queue_of({0, 1000}), repeat(RepeatMode::kOne), kT0), cmd(Type::kPlay), kT0);
  auto t = ok(one, cmd(Type::kAdvance, "q1"), kT0 + 10);
  EXPECT_NE(t, one);
  EXPECT_FALSE(t.playing);
  EXPECT_EQ(t.ends_at(), std::nullopt);

  auto all = ok(ok(queue_of({0, 0}), repeat(RepeatMode::kAll), kT0), cmd(Type::kPlay), kT0);
  all = ok(all, cmd(Type::kAdvance, "q1"), kT0 + 10);
  EXPECT_EQ(all.current, "q2");
  all = ok(all, cmd(Type::kAdvance, "q2"), kT0 + 10);
  EXPECT_FALSE(all.playing);
  EXPECT_EQ(all.ends_at(), std::nullopt);

  // With any item of some length, repeat-all keeps going round.
  auto mixed = ok(ok(queue_of({1000, 0}), repeat(RepeatMode::kAll), kT0), cmd(Type::kSkip), kT0);
  mixed = ok(mixed, cmd(Type::kPlay), kT0);
  mixed = ok(mixed, cmd(Type::kAdvance, "q2"), kT0);
  EXPECT_EQ(mixed.current, "q1");
  EXPECT_TRUE(mixed.playing);
}

// ---- JSON ----

TEST(RoomStateJson, RoundTrips) {
  auto s = queue_of({1000, 2000, 0});
  s = ok(s, add({{"s\"quoted\" \xc3\xa9", 42}}, 1, "user-7"), kT0);
  s = ok(s, cmd(Type::kSkip), kT0);
  s = ok(s, cmd(Type::kPlay), kT0 + 10);
  s = ok(s, repeat(RepeatMode::kOne), kT0 + 20);
  s = ok(s, seek(17), kT0 + 30);
  for (const RoomState& state : {RoomState{}, s, ok(s, cmd(Type::kClear), kT0 + 40)}) {
    auto back = state_from_json(to_json(state));
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(*back, state);
    // And through text.
    auto parsed = json::parse(json::serialize(to_json(state)));
    auto again = state_from_json(parsed.as_object());
    ASSERT_TRUE(again.is_ok());
    EXPECT_EQ(*again, state);
  }
  EXPECT_TRUE(to_json(RoomState{}).at("current").is_null());
  EXPECT_EQ(to_json(s).at("repeat"), "one");
}

void expect_rejected(const json::object& o, const std::string& why) {
  auto r = state_from_json(o);
  ASSERT_FALSE(r.is_ok()) << why << ": accepted " << json::serialize(o);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << why;
}

TEST(RoomStateJson, RejectsCorruptStates) {
  const auto good = to_json(ok(queue_of({1000, 2000}), seek(500), kT0));
  ASSERT_TRUE(state_from_json(good).is_ok());

  auto o = good;
  o["current"] = "q9";
  expect_rejected(o, "current not in queue");
  o = good;
  o["repeat"] = "sometimes";
  expect_rejected(o, "bad repeat");
  o = good;
  o["repeat"] = 1;
  expect_rejected(o, "repeat not a string");
  o = good;
  o.erase("playing");
  expect_rejected(o, "missing field");
  o = good;
  o["playing"] = "yes";
  expect_rejected(o, "playing not a bool");
  o = good;
  o["position_ms"] = 1.5;
  expect_rejected(o, "fractional position");
  o = good;
  o["queue"] = json::object{};
  expect_rejected(o, "queue not an array");
  o = good;
  o["queue"].as_array()[0].as_object().erase("song_id");
  expect_rejected(o, "item without song");
  o = good;
  o["queue"].as_array()[1].as_object()["id"] = "q1";
  expect_rejected(o, "duplicate item ids");
  o = good;
  o["queue"].as_array()[1].as_object()["duration_ms"] = -5;
  expect_rejected(o, "negative duration");
  o = good;
  o["position_ms"] = 1001;
  expect_rejected(o, "position past the end of the current item");
  o = good;
  o["position_ms"] = -1;
  expect_rejected(o, "negative position");
  o = good;
  o["current"] = nullptr;
  o["playing"] = true;
  o["position_ms"] = 0;
  expect_rejected(o, "playing with nothing selected");
  o = good;
  o["next_item_seq"] = 2;
  expect_rejected(o, "next_item_seq would reuse q2");
  expect_rejected(json::object{}, "empty object");
}


TEST(RoomState, SelectJumpsToAnItemKeepingPlayOrPause) {
  auto s = ok(queue_of({60'000, 60'000, 30'000}), cmd(Type::kPlay), kT0);
  Command c = cmd(Type::kSelect);
  c.item_id = "q3";
  c.position_ms = 10'000;
  auto t = ok(s, c, kT0 + 5000);
  EXPECT_EQ(t.current, "q3");
  EXPECT_TRUE(t.playing);
  EXPECT_EQ(t.position_at_time(kT0 + 5000), 10'000);
  EXPECT_EQ(t.selection, s.selection + 1);
  c.item_id = "q1";
  c.position_ms = 999'999;  // capped at the item's duration
  auto paused = ok(ok(t, cmd(Type::kPause), kT0 + 6000), c, kT0 + 7000);
  EXPECT_EQ(paused.current, "q1");
  EXPECT_FALSE(paused.playing);
  EXPECT_EQ(paused.position_ms, 60'000);
  c.item_id = "q9";
  EXPECT_EQ(apply(s, c, kT0).status().code(), Code::kNotFound);
  c.item_id = "q2";
  c.position_ms = -1;
  EXPECT_EQ(apply(s, c, kT0).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hifi::room
