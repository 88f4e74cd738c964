// The web app's clock synchronisation (web/js/clock.js) under Node, with
// scripted time replies from a "server" whose clock is a known offset away
// from ours and a network whose delays we choose.
//
//   cd tests/browser && node --test clock.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSync, roomPosition, SETTLED_ROUND_TRIP_MS, SETTLED_SAMPLES } from '../../web/js/clock.js';

// A deterministic pseudo-random sequence in [0, 1).
function rng(seed) {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

// Delays drawn from a normal distribution, clipped at 0 as the test proxy
// (hifi-delay-proxy) clips them; deterministic per seed.
function delays(seed, mean, sd) {
  const rand = rng(seed);
  return () => Math.max(0, mean + sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

// One exchange: the request leaves at local time t0, takes `up` ms to reach
// the server (whose clock reads local + offset), is answered after `work` ms
// and the answer takes `down` ms to come back.
function exchange(clock, t0, offset, up, down, work = 0.2) {
  const t1 = t0 + up + offset;
  const t2 = t1 + work;
  const t3 = t0 + up + work + down;
  return clock.addSample({ type: 'time', t0, t1, t2 }, t3);
}

test('the offset estimate converges to the server clock offset', () => {
  for (const offset of [0, 300, -300, 1234.567, -98765.4]) {
    const clock = new ClockSync();
    const rand = rng(7);
    let now = 1.7e12;
    for (let i = 0; i < 30; i++) {
      // 1-5 ms each way, not symmetric.
      exchange(clock, now, offset, 1 + 4 * rand(), 1 + 4 * rand());
      now += 50;
    }
    assert.ok(clock.synced);
    assert.ok(Math.abs(clock.offset - offset) < 3, `offset ${offset}: estimate ${clock.offset}`);
    assert.ok(clock.uncertainty < 5, `uncertainty ${clock.uncertainty}`);
    // Converting both ways agrees with the injected clocks.
    assert.ok(Math.abs(clock.toServer(now) - (now + offset)) < 3);
    assert.ok(Math.abs(clock.toLocal(now + offset) - now) < 3);
  }
});

test('samples with a high round trip are ignored', () => {
  const offset = 500;
  const clock = new ClockSync();
  const rand = rng(11);
  let now = 1.7e12;
  // Mostly congested exchanges whose delay is all on the way back (each
  // alone would put the estimate ~100 ms off), and a third of quick ones:
  // more than the lowest quartile that the estimate keeps
  // (docs/protocol.md, "Clock synchronisation").
  for (let i = 0; i < 40; i++) {
    if (i % 3 === 0) exchange(clock, now, offset, 1 + rand(), 1 + rand());
    else exchange(clock, now, offset, 1 + rand(), 150 + 100 * rand());
    now += 50;
  }
  assert.ok(Math.abs(clock.offset - offset) < 3, `estimate ${clock.offset}, want ${offset}`);
  assert.ok(clock.uncertainty < 5, `uncertainty ${clock.uncertainty}`);
});

test('the estimate follows the server when its clock changes', () => {
  const clock = new ClockSync();
  let now = 1.7e12;
  for (let i = 0; i < 50; i++, now += 50) exchange(clock, now, 100, 2, 2);
  assert.ok(Math.abs(clock.offset - 100) < 1);
  // Another server (a reconnection elsewhere): reset, then its offset.
  clock.reset();
  assert.equal(clock.synced, false);
  for (let i = 0; i < 10; i++, now += 50) exchange(clock, now, -2500, 2, 2);
  assert.ok(Math.abs(clock.offset - -2500) < 1, `estimate ${clock.offset}`);
});

test('synced once one exchange took at most a ms, or after five', () => {
  // A busy machine's first exchanges: slow and lopsided, each alone off by
  // ms. The player does not place audio by them...
  const clock = new ClockSync();
  let now = 1.7e12;
  exchange(clock, now, 100, 3, 0.5);
  assert.equal(clock.synced, false);
  assert.equal(clock.uncertainty, Infinity);
  for (let i = 1; i < SETTLED_SAMPLES - 1; i++) exchange(clock, now += 10, 100, 0.5, 2 + i);
  assert.equal(clock.synced, false);
  // ...until the fifth.
  exchange(clock, now += 10, 100, 1, 1.2);
  assert.equal(clock.synced, true);
  // One fast exchange pins the offset within half of it.
  const fast = new ClockSync();
  exchange(fast, now, 100, 0.4, 0.5);
  assert.equal(fast.synced, true);
  const slow = new ClockSync();
  exchange(slow, now, 100, SETTLED_ROUND_TRIP_MS, 0.5);
  assert.equal(slow.synced, false);
  // A move to another node goes on with the estimate; a reset starts over.
  fast.carryOver();
  assert.equal(fast.synced, true);
  fast.reset();
  assert.equal(fast.synced, false);
});

test('impossible answers are rejected', () => {
  const clock = new ClockSync();
  const t0 = 1.7e12;
  // Answered before it was asked (negative round trip).
  assert.equal(clock.addSample({ t0, t1: t0 + 5, t2: t0 + 20 }, t0 + 10), false);
  // Missing or non-numeric fields.
  assert.equal(clock.addSample({ t0, t1: 'x', t2: t0 }, t0 + 10), false);
  assert.equal(clock.addSample({ t1: t0, t2: t0 }, t0 + 10), false);
  // A round trip beyond 10 s.
  assert.equal(clock.addSample({ t0, t1: t0, t2: t0 }, t0 + 20000), false);
  assert.equal(clock.synced, false);
  assert.equal(clock.uncertainty, Infinity);
});

test('the room position at a server time', () => {
  const state = { current: 'i1', playing: true, position_ms: 1000, position_at: 5000 };
  assert.equal(roomPosition(state, 5500, 60000), 1500);
  assert.equal(roomPosition(state, 70000, 60000), 60000);
  assert.equal(roomPosition({ ...state, playing: false }, 9000, 60000), 1000);
  assert.equal(roomPosition({ ...state, current: null }, 9000, 60000), 0);
});

test('time requests carry the lead the player needs, and 0 once it stops playing', () => {
  const clock = new ClockSync();
  assert.equal(clock.request().lead_ms, undefined, 'nothing to say before the player does');
  clock.outputLeadMs = 110; // scheduling lead + output latency
  assert.equal(clock.request().lead_ms, undefined, 'nothing to say before a round trip is known');
  const next = rng(7);
  for (let i = 0; i < 20; i++) exchange(clock, i * 100, 500, 10 + next() * 4, 10 + next() * 4);
  const lead = clock.request().lead_ms;
  // 110 + half a slow round trip (about 13 ms) + 10, in 5 ms steps.
  assert.ok(lead >= 125 && lead <= 135 && lead % 5 === 0, `lead ${lead}`);
  clock.outputLeadMs = NaN; // the player stopped (disabled, or a silent remote)
  assert.equal(clock.request().lead_ms, 0);
  assert.equal(clock.request().lead_ms, undefined, 'said once');
});

test('time requests carry the lead for a change whose audio the player must fetch first', () => {
  const clock = new ClockSync();
  clock.outputLeadMs = 110;
  for (let i = 0; i < 20; i++) exchange(clock, i * 100, 500, 10, 10, 0);
  const first = clock.request();
  // Before any wait was measured: the lead, a slow round trip and 50 ms.
  assert.equal(first.lead_ms, 130);
  assert.equal(first.fetch_lead_ms, 130 + 20 + 50);
  // Then the slowest but one of the latest ten waits, and 10 ms.
  for (const ms of [30, 42, 35, 300, 38]) clock.noteFetchWait(ms);
  assert.equal(clock.request().fetch_lead_ms, 185, '130 + 42 + 10, in 5 ms steps');
  for (let i = 0; i < 10; i++) clock.noteFetchWait(20);
  assert.equal(clock.request().fetch_lead_ms, 130 + 20 + 10, 'older waits are forgotten');
  // A wait is counted as 2 s at most; nonsense is left out.
  for (let i = 0; i < 10; i++) clock.noteFetchWait(60000);
  clock.noteFetchWait(NaN);
  clock.noteFetchWait(-5);
  assert.equal(clock.request().fetch_lead_ms, 130 + 2000 + 10);
  // A player that stops says lead 0 and nothing else.
  clock.outputLeadMs = NaN;
  assert.deepEqual(Object.keys(clock.request()).sort(), ['lead_ms', 't0', 'type']);
});

test('jitter of 20 ms +/- 10 ms each way averages out over many samples', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const delay = delays(seed, 20, 10);
    const clock = new ClockSync();
    let now = 1.7e12;
    for (let i = 0; i < 600; i++, now += 200) exchange(clock, now, 321.5, delay(), delay());
    assert.ok(clock.jittery, 'the path is seen as jittery: time requests come more often');
    assert.ok(Math.abs(clock.offset - 321.5) < 0.75, `seed ${seed}: estimate ${clock.offset}`);
  }
});

test('the fastest request and answer pin the offset on a path of 80 ms +/- 40 ms', () => {
  // Each sample alone is off by up to ~100 ms; a few requests and a few
  // answers went at the path's fastest (0 ms, as the test proxy draws them),
  // and no exchange can be faster than that: their bounds pin the offset.
  for (const seed of [1, 2, 3, 4, 5]) {
    const delay = delays(seed, 80, 40);
    const clock = new ClockSync();
    let now = 1.7e12;
    for (let i = 0; i < 300; i++, now += 100) exchange(clock, now, -4321.5, delay(), delay());
    assert.ok(Math.abs(clock.offset - -4321.5) < 0.01, `seed ${seed}: estimate ${clock.offset}`);
  }
});

test('bounds that cross (a clock stepped) leave the mean', () => {
  const clock = new ClockSync();
  let now = 1.7e12;
  exchange(clock, now, 100, 1, 1, 0);
  exchange(clock, now += 10, 100, 1, 1, 0);
  exchange(clock, now += 10, 110, 1, 1, 0);
  exchange(clock, now += 10, 110, 1, 1, 0);
  assert.equal(clock.offset, 105);
});

test('bounds older than a minute, or from the node before a move, are not used', () => {
  // One exchange at the path's fastest bounds the offset to 100 +/- 0.05;
  // then the server's clock is 3 ms on (or another node's is), and no
  // exchange since went at the fastest: symmetric round trips of 10 and
  // 50 ms, whose mean says 103.
  const run = (afterFirst) => {
    const clock = new ClockSync();
    let now = 1.7e12;
    exchange(clock, now, 100, 0.05, 0.05, 0);
    afterFirst(clock);
    const add = (n) => {
      for (let i = 0; i < n; i++) {
        now += 500;
        const d = i % 2 ? 25 : 5;
        exchange(clock, now, 103, d, d, 0);
      }
    };
    return { clock, add };
  };
  const { clock, add } = run(() => {});
  add(80); // 40 s
  assert.ok(Math.abs(clock.offset - 100.05) < 0.01, `within the minute the old bound holds: ${clock.offset}`);
  add(80); // 80 s
  assert.ok(Math.abs(clock.offset - 103) < 1e-9, `a minute later it does not: ${clock.offset}`);

  const moved = run((c) => c.carryOver());
  moved.add(10);
  // (The old node's sample still counts in the mean, which goes on smoothly:
  // 102.5 here; but its bound no longer holds the estimate at 100.05.)
  assert.ok(moved.clock.offset > 102 && moved.clock.offset <= 103, `after a move only the new node's bounds count: ${moved.clock.offset}`);
});
