// Property tests of the room state machine: random command sequences (every
// client command, stale preconditions, internal advances at and after the
// end of songs) at random, monotone times.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "room/room_state.h"

namespace hifi::room {
namespace {

using Type = Command::Type;

constexpr std::int64_t kT0 = 1'700'000'000'000;

// A command in abstract form, resolved against the state it is applied to
// (item references pick an existing item or a made-up, possibly stale one).
struct Step {
  enum Kind {
    kAdd, kRemove, kMove, kClear, kPlay, kPause, kSeek, kSkip, kPrevious, kRepeat,
    kShuffle, kSpeaker,
    kAdvanceAtEnd,  // advance exactly when the current item ends (or now, if late)
    kAdvanceNow,    // advance at an arbitrary time, possibly too early
    kKinds
  };
  int kind = kPlay;
  std::int64_t dt = 0;        // time passing before the command
  std::int64_t a = 0, b = 0;  // item choice, index, position, mode ...
  int expect = 0;             // 0: no precondition, 1: the current item, 2: another item
  std::vector<std::int64_t> durations;
};

std::ostream& operator<<(std::ostream& os, const Step& s) {
  os << "{kind=" << s.kind << " dt=" << s.dt << " a=" << s.a << " b=" << s.b << " expect=" << s.expect
     << " durations=[";
  for (auto d : s.durations) os << d << ",";
  return os << "]}";
}

rc::Gen<std::int64_t> gen_duration() {
  return rc::gen::weightedOneOf<std::int64_t>({
      {1, rc::gen::just<std::int64_t>(0)},
      {3, rc::gen::inRange<std::int64_t>(0, 5000)},
      {3, rc::gen::inRange<std::int64_t>(0, 600'001)},
  });
}

rc::Gen<Step> gen_step() {
  return rc::gen::build<Step>(
      // Every kind, with play and advance-at-the-end weighted up so that runs
      // spend time playing and going through the queue.
      rc::gen::set(&Step::kind, rc::gen::weightedOneOf<int>({
                                    {6, rc::gen::inRange<int>(0, Step::kKinds)},
                                    {2, rc::gen::just<int>(Step::kPlay)},
                                    {3, rc::gen::just<int>(Step::kAdvanceAtEnd)},
                                })),
      rc::gen::set(&Step::dt, rc::gen::weightedOneOf<std::int64_t>({
                                  {2, rc::gen::just<std::int64_t>(0)},
                                  {4, rc::gen::inRange<std::int64_t>(0, 5000)},
                                  {2, rc::gen::inRange<std::int64_t>(0, 700'000)},
                              })),
      rc::gen::set(&Step::a, rc::gen::inRange<std::int64_t>(-3, 40)),
      rc::gen::set(&Step::b, rc::gen::inRange<std::int64_t>(-1000, 700'000)),
      rc::gen::set(&Step::expect, rc::gen::inRange<int>(0, 3)),
      rc::gen::set(&Step::durations,
                   rc::gen::mapcat(rc::gen::inRange<std::size_t>(0, 4), [](std::size_t n) {
                     return rc::gen::container<std::vector<std::int64_t>>(n, gen_duration());
                   })));
}

rc::Gen<std::vector<Step>> gen_steps() {
  return rc::gen::scale(2.0, rc::gen::container<std::vector<Step>>(gen_step()));
}

// An item id for choice a: one in the queue, or a made-up (often stale) one.
std::string pick_item(const RoomState& s, std::int64_t a) {
  if (!s.queue.empty() && a >= 0 && a % 4 != 3) return s.queue[a % s.queue.size()].id;
  return "q" + std::to_string(std::max<std::int64_t>(1, s.next_item_seq - 1 - (a & 3)));
}

struct Applied {
  Command command;
  std::int64_t now;
};

// Resolves a step against the state, advancing `now` (monotone).
Applied resolve(const Step& step, const RoomState& s, std::int64_t& now) {
  now += step.dt;
  Command c;
  c.by = "u" + std::to_string(step.a & 7);
  switch (step.kind) {
    case Step::kAdd:
      c.type = Type::kAdd;
      // At end, next, or an index (often out of bounds).
      c.at = step.a % 3 == 0 ? Command::kAtEnd
             : step.a % 3 == 1 ? Command::kAtNext
                               : step.b % (static_cast<std::int64_t>(s.queue.size()) + 3) - 1;
      for (std::size_t i = 0; i < step.durations.size(); ++i) {
        c.songs.push_back({"song" + std::to_string((step.b + i) % 50), step.durations[i]});
      }
      // Sometimes "play these now": replacing the queue, playing the first.
      c.replace = step.expect == 2 && step.b % 2 == 0;
      c.play = step.expect == 2 && step.a % 2 == 0;
      break;
    case Step::kShuffle:
      c.type = Type::kShuffle;
      c.seed = static_cast<std::uint64_t>(step.b) * 2654435761ULL + static_cast<std::uint64_t>(step.a);
      break;
    case Step::kSpeaker:
      c.type = Type::kSpeaker;
      c.device = step.a % 3 == 0 ? "" : "device-" + std::to_string(step.a % 5);
      break;
    case Step::kRemove:
      c.type = Type::kRemove;
      c.item_id = pick_item(s, step.a);
      break;
    case Step::kMove:
      c.type = Type::kMove;
      c.item_id = pick_item(s, step.a);
      c.to = step.b % (static_cast<std::int64_t>(s.queue.size()) + 2) - 1;
      break;
    case Step::kClear: c.type = Type::kClear; break;
    case Step::kPlay: c.type = Type::kPlay; break;
    case Step::kPause: c.type = Type::kPause; break;
    case Step::kSeek:
      c.type = Type::kSeek;
      c.position_ms = step.b;
      break;
    case Step::kSkip: c.type = Type::kSkip; break;
    case Step::kPrevious: c.type = Type::kPrevious; break;
    case Step::kRepeat:
      c.type = Type::kRepeat;
      c.mode = static_cast<RepeatMode>(((step.a % 3) + 3) % 3);
      break;
    case Step::kAdvanceAtEnd:
      c.type = Type::kAdvance;
      now -= step.dt;  // the scheduler runs at the end, or late
      if (auto end = s.ends_at()) now = std::max(now, *end);
      now += step.dt % 3 == 0 ? step.dt : 0;
      break;
    default:
      c.type = Type::kAdvance;
      break;
  }
  if (step.expect == 1 || step.kind == Step::kAdvanceAtEnd) {
    c.expected_item = s.current;
  } else if (step.expect == 2) {
    c.expected_item = pick_item(s, step.a + 3);
  }
  return {std::move(c), now};
}

// The documented invariants of a state, as RapidCheck assertions.
void check_invariants(const RoomState& s, std::int64_t now) {
  const auto* item = s.current_item();
  RC_ASSERT(s.current.empty() || item != nullptr);
  RC_ASSERT(s.position_ms >= 0);
  RC_ASSERT(s.position_ms <= (item ? item->duration_ms : 0));
  const auto pos = s.position_at_time(now);
  RC_ASSERT(pos >= 0);
  RC_ASSERT(pos <= (item ? item->duration_ms : 0));
  RC_ASSERT(!s.playing || item != nullptr);
  RC_ASSERT(s.ends_at().has_value() == s.playing);
  std::set<std::string> ids;
  for (const auto& q : s.queue) {
    RC_ASSERT(ids.insert(q.id).second);  // unique within the queue
    RC_ASSERT(q.duration_ms >= 0);
    RC_ASSERT(q.id.size() > 1 && q.id[0] == 'q');
    RC_ASSERT(std::stoll(q.id.substr(1)) < s.next_item_seq);
  }
  // Every reachable state survives its JSON form.
  auto back = state_from_json(to_json(s));
  RC_ASSERT(back.is_ok());
  RC_ASSERT(*back == s);
}

struct Run {
  std::vector<Applied> applied;
  std::vector<Result<RoomState>> results;
  RoomState final_state;
};

// Runs the steps from `initial`, checking every state on the way.
Run run(const RoomState& initial, const std::vector<Step>& steps, const Limits& limits) {
  Run out;
  RoomState s = initial;
  std::int64_t now = kT0;
  std::set<std::string> ever;  // every item id ever in the queue
  for (const auto& q : s.queue) ever.insert(q.id);
  for (const auto& step : steps) {
    auto applied = resolve(step, s, now);
    auto result = apply(s, applied.command, applied.now, limits);
    if (result.is_ok()) {
      const RoomState& next = *result;
      check_invariants(next, applied.now);
      check_invariants(next, applied.now + step.b);
      std::set<std::string> before;
      for (const auto& q : s.queue) before.insert(q.id);
      for (const auto& q : next.queue) {
        if (before.count(q.id)) continue;
        RC_ASSERT(applied.command.type == Type::kAdd);
        RC_ASSERT(ever.insert(q.id).second);  // a new item never reuses an id
      }
      RC_ASSERT(next.next_item_seq >= s.next_item_seq);
      if (applied.command.type != Type::kAdd) RC_ASSERT(next.queue.size() <= s.queue.size());
      if (applied.command.type == Type::kShuffle) {
        // The same items, the current one and those before it in place.
        auto sorted_ids = [](const RoomState& st) {
          std::vector<std::string> v;
          for (const auto& q : st.queue) v.push_back(q.id);
          std::sort(v.begin(), v.end());
          return v;
        };
        RC_ASSERT(sorted_ids(next) == sorted_ids(s));
        const int cur = s.index_of(s.current);
        for (int i = 0; i <= cur; ++i) RC_ASSERT(next.queue[i] == s.queue[i]);
        RC_ASSERT(next.current == s.current && next.playing == s.playing);
      }
      if (applied.command.type == Type::kAdd && applied.command.play) {
        RC_ASSERT(next.playing);
        RC_ASSERT(next.current_item()->song_id == applied.command.songs.front().song_id);
        RC_ASSERT(next.position_ms == 0);
      }
      if (applied.command.type == Type::kAdd && applied.command.replace) {
        RC_ASSERT(next.queue.size() == applied.command.songs.size());
      }
      RC_ASSERT(next.queue.size() <= limits.max_queue);
      // A precondition that does not hold is never ignored by the commands
      // that take one.
      const auto t = applied.command.type;
      if (!applied.command.expected_item.empty() &&
          (t == Type::kSeek || t == Type::kSkip || t == Type::kPrevious || t == Type::kAdvance)) {
        RC_ASSERT(applied.command.expected_item == s.current);
      }
      s = next;
    } else {
      const auto code = result.status().code();
      RC_ASSERT(code == Code::kFailedPrecondition || code == Code::kNotFound ||
                code == Code::kInvalidArgument || code == Code::kResourceExhausted);
      RC_ASSERT(!result.status().message().empty());
    }
    out.applied.push_back(applied);
    out.results.push_back(std::move(result));
  }
  out.final_state = s;
  return out;
}

RoomState initial_state(const std::vector<std::int64_t>& durations) {
  RoomState s;
  s.position_at = kT0;
  if (durations.empty()) return s;
  Command c;
  c.type = Type::kAdd;
  for (auto d : durations) c.songs.push_back({"init", d});
  return *apply(s, c, kT0);
}

RC_GTEST_PROP(RoomStateProperty, InvariantsHoldAndRunsAreDeterministic, ()) {
  const auto durations = *rc::gen::container<std::vector<std::int64_t>>(gen_duration());
  const auto steps = *gen_steps();
  Limits limits;
  limits.max_queue = *rc::gen::inRange<std::size_t>(1, 40);
  RC_PRE(durations.size() <= limits.max_queue);
  const RoomState initial = initial_state(durations);
  check_invariants(initial, kT0);

  const Run first = run(initial, steps, limits);

  // Replaying the same commands at the same times gives the same states.
  RoomState s = initial;
  for (std::size_t i = 0; i < first.applied.size(); ++i) {
    auto again = apply(s, first.applied[i].command, first.applied[i].now, limits);
    RC_ASSERT(again.is_ok() == first.results[i].is_ok());
    if (again.is_ok()) {
      RC_ASSERT(*again == *first.results[i]);
      s = *again;
    } else {
      RC_ASSERT(again.status().code() == first.results[i].status().code());
    }
  }
  RC_ASSERT(s == first.final_state);
  // And resolving the abstract steps again picks the same commands.
  const Run second = run(initial, steps, limits);
  RC_ASSERT(second.final_state == first.final_state);

  // What the runs exercised (printed as a distribution).
  bool advanced = false, stale = false, wrapped_or_stopped = false;
  for (std::size_t i = 0; i < first.applied.size(); ++i) {
    const auto& r = first.results[i];
    const auto type = first.applied[i].command.type;
    if (r.is_ok() && type == Type::kAdvance) advanced = true;
    if (r.is_ok() && type == Type::kAdvance && r->current.empty()) wrapped_or_stopped = true;
    if (!r.is_ok() && r.status().code() == Code::kFailedPrecondition && type != Type::kAdvance) stale = true;
  }
  RC_TAG(advanced ? "advanced" : "no advance", stale ? "rejected precondition" : "-",
         wrapped_or_stopped ? "advanced off the end" : "-");
}

// Many listeners pressing skip (or nodes advancing) for the same item: only
// the first acts. The only way a duplicate can still succeed is when the
// first landed on the very same item (repeat-all of a one-item queue, repeat
// one), where it cannot move past anything.
//
// Not covered: "previous" more than 3 s into a song restarts it, keeping the
// item, so a duplicate "previous" with the same expected item then goes back
// one more item. An item precondition cannot tell the two presses apart.
RC_GTEST_PROP(RoomStateProperty, DuplicateSkipNeverSkipsTwice, ()) {
  const auto durations = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::int64_t>>(gen_duration()));
  const auto steps = *gen_steps();
  const RoomState reached = run(initial_state(durations), steps, Limits{}).final_state;
  RC_PRE(!reached.current.empty());

  const bool skip = *rc::gen::arbitrary<bool>();  // otherwise advance
  const auto type = skip ? Type::kSkip : Type::kAdvance;
  Command press;
  press.type = type;
  press.by = "listener-1";
  press.expected_item = reached.current;
  std::int64_t now = std::max(kT0, reached.position_at) + *rc::gen::inRange<std::int64_t>(0, 1'000'000);
  if (type == Type::kAdvance) {
    RC_PRE(reached.ends_at().has_value());
    now = std::max(now, *reached.ends_at());
  }
  auto first = apply(reached, press, now);
  RC_ASSERT(first.is_ok());
  const RoomState after = *first;

  // Other listeners press the same button, a little later.
  const auto presses = *rc::gen::inRange(1, 5);
  for (int i = 0; i < presses; ++i) {
    now += *rc::gen::inRange<std::int64_t>(0, 2000);
    press.by = "listener-" + std::to_string(i + 2);
    auto again = apply(after, press, now);
    if (after.current != reached.current) {
      RC_ASSERT(!again.is_ok());
      RC_ASSERT(again.status().code() == Code::kFailedPrecondition);
    } else if (again.is_ok()) {
      // Restarting the same item again, never moving on from it.
      RC_ASSERT(again->current == after.current);
      RC_ASSERT(again->queue == after.queue);
    }
  }
  if (type == Type::kSkip) {
    // Exactly one step along the queue (or off its end).
    const int i = reached.index_of(reached.current);
    const int j = after.index_of(after.current);
    if (j >= 0) {
      RC_ASSERT(j == (i + 1) % static_cast<int>(after.queue.size()));
    } else {
      RC_ASSERT(i == static_cast<int>(reached.queue.size()) - 1);
    }
  }
}

}  // namespace
}  // namespace hifi::room
