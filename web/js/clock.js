// Clock synchronisation with the server over the room's WebSocket
// (docs/protocol.md, "Clock synchronisation").
//
// Local time is performance.timeOrigin + performance.now(): monotonic, in
// Unix milliseconds, anchored to the wall clock once. For each answer:
//   round_trip = (T3 - T0) - (t2 - t1)
//   offset     = ((t1 - T0) + (t2 - T3)) / 2     server ≈ local + offset
// Each sample is off by half the difference of its two one-way delays. The
// estimate (as `hifi listen`'s, src/client/clock_sync.h) looks at as many of
// the latest samples as the jitter of the round trips calls for (at least
// 120, up to 3000), leaves out those queued one way (round trip above the
// 75th percentile, or above the 25th plus twice its distance from the
// fastest), and takes the mean of the middle 80 % of their offsets. No
// one-way delay is negative, so each exchange also bounds the offset:
// t2 - T3 <= offset <= t1 - T0 (widened by the timer's granularity). The
// mean is kept within the tightest bounds of the last minute's samples from
// this server, which close in on the offset once a request and an answer
// have each gone at their path's fastest.

export function localNow() {
  return performance.timeOrigin + performance.now();
}

const MAX_SAMPLES = 3000;
// The player's latest waits for the audio of a jump (fetched and decoded),
// of which the slowest but one sets the fetch lead; at most 2 s of them.
const FETCH_SAMPLES = 10;
const MAX_FETCH_WAIT_MS = 2000;
// The bounds come from the last minute's samples, at most this many: over
// longer, two clocks' rates may differ enough to move them.
const BOUNDS_WINDOW_MS = 60000;
const BOUNDS_SAMPLES = 600;
// The estimate is good enough to place audio by (`synced`) once one
// exchange took at most this long (plus the timer's granularity: the offset
// is then within half of it) or this many have been taken (a busy machine
// or a slow path: their mean, within their bounds). Placed on a worse first
// guess, the audio would be heard off by it until the player followed the
// better estimate. As hifi listen's ClockSync::settled().
export const SETTLED_ROUND_TRIP_MS = 1;
export const SETTLED_SAMPLES = 5;

// How coarse performance.now() is: browsers round it (0.1 ms in Chrome, 1 ms
// in Firefox, finer when the page is cross-origin isolated), so T0 may read
// late and T3 early by up to that much; each sample's bounds are widened by
// it. The smallest step seen over a few milliseconds, at most 1 ms.
let granularity = null;
function timerGranularityMs() {
  if (granularity === null) {
    const start = performance.now();
    let last = start;
    let step = Infinity;
    for (let t = start; t - start < 3; t = performance.now()) {
      if (t !== last) { step = Math.min(step, t - last); last = t; }
    }
    granularity = Math.min(1, Number.isFinite(step) ? step : 1);
  }
  return granularity;
}

export class ClockSync {
  constructor() {
    this.samples = [];
    this.offset = 0;
    this.roundTrip = Infinity;
    this.synced = false;
    this.outputLeadMs = NaN; // set by the player
    this.fetchWaits = [];     // ms from a jump's news to its audio decoded (noteFetchWait)
    this.jittery = false;
    this.generation = 0;      // carryOver() counts moves; bounds come from the latest only
  }

  reset() {
    this.samples = [];
    this.synced = false;
    this.roundTrip = Infinity;
  }

  // Another server of the same cluster (a move): its clock keeps the same
  // time, so the estimate goes on smoothly with the samples so far, but
  // only its own exchanges bound the offset from now on.
  carryOver() {
    this.generation++;
  }

  // A time request. Once the player has said how long its audio takes to
  // be heard (outputLeadMs), it carries the command lead this listener
  // needs: that, half a slow round trip and a margin (docs/protocol.md,
  // "Commands that land on the same sample").
  request() {
    const msg = { type: 'time', t0: localNow() };
    const lead = this.neededLeadMs();
    if (lead !== null) {
      msg.lead_ms = lead;
      this.reportedLead = lead > 0;
      if (lead > 0) msg.fetch_lead_ms = this.neededFetchLeadMs(lead);
    }
    return msg;
  }

  // How long the player waited for the audio at a new position: from when
  // it asked for it to when it was decoded (a seek, a join, a song not
  // fetched ahead).
  noteFetchWait(ms) {
    if (!(ms >= 0)) return;
    this.fetchWaits.push(Math.min(ms, MAX_FETCH_WAIT_MS));
    if (this.fetchWaits.length > FETCH_SAMPLES) this.fetchWaits.shift();
  }

  // The lead for a change whose audio the player must fetch first
  // (`fetch_lead_ms`): the lead plus the slowest but one of its latest
  // waits for such audio and 10 ms, in 5 ms steps. Before any was measured:
  // the lead, a slow round trip (the request) and 50 ms (the server cutting
  // the piece, and decoding it), as `hifi listen` counts.
  neededFetchLeadMs(lead = this.neededLeadMs()) {
    if (!(lead > 0)) return lead;
    let wait;
    if (this.fetchWaits.length) {
      const sorted = [...this.fetchWaits].sort((a, b) => a - b);
      wait = sorted[Math.max(0, sorted.length - 2)] + 10;
    } else {
      wait = this.slowRoundTrip() + 50;
    }
    return Math.ceil((lead + wait) / 5) * 5;
  }

  // The 90th percentile of the round trips measured.
  slowRoundTrip() {
    if (!this.samples.length) return 0;
    const trips = this.samples.map((s) => s.roundTrip).sort((a, b) => a - b);
    return trips[Math.min(trips.length - 1, Math.ceil(trips.length * 0.9) - 1)];
  }

  // null before anything can be said; 0 once the player stopped playing
  // (disabled, or a silent remote), so that the server stops waiting for it.
  neededLeadMs() {
    if (this.outputLeadMs === 0) return 0;
    if (!Number.isFinite(this.outputLeadMs)) return this.reportedLead ? 0 : null;
    if (!this.samples.length) return null;
    return Math.ceil((this.outputLeadMs + this.slowRoundTrip() / 2 + 10) / 5) * 5;
  }

  // Feeds an answer {t0, t1, t2}; returns true when it was usable.
  addSample(msg, t3 = localNow()) {
    const { t0, t1, t2 } = msg;
    if (![t0, t1, t2].every(Number.isFinite)) return false;
    const roundTrip = (t3 - t0) - (t2 - t1);
    if (roundTrip < 0 || roundTrip > 10000) return false;
    const offset = ((t1 - t0) + (t2 - t3)) / 2;
    const g = timerGranularityMs();
    this.samples.push({ roundTrip, offset, at: t3, low: t2 - t3 - g, high: t1 - t0 + g, generation: this.generation });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    this.recompute();
    return true;
  }

  recompute() {
    const quantile = (sorted, q) => sorted[Math.floor((sorted.length - 1) * q)];
    const all = this.samples.map((x) => x.roundTrip).sort((a, b) => a - b);
    const spread = quantile(all, 0.75) - quantile(all, 0.25);
    this.jittery = spread > 10;
    const needed = Math.ceil(((spread / 2.7 / 0.25) ** 2) / 0.6);
    const recent = this.samples.slice(-Math.min(this.samples.length, Math.max(needed, 120)));
    const trips = recent.map((x) => x.roundTrip).sort((a, b) => a - b);
    const fastest = trips[0];
    const q25 = quantile(trips, 0.25);
    const limit = Math.min(quantile(trips, 0.75), q25 + 2 * (q25 - fastest));
    const offsets = recent.filter((x) => x.roundTrip <= limit).map((x) => x.offset).sort((a, b) => a - b);
    const trim = Math.floor(offsets.length / 10);
    const middle = offsets.slice(trim, offsets.length - trim);
    const mean = middle.reduce((a, b) => a + b, 0) / middle.length;
    let low = -Infinity;
    let high = Infinity;
    const latest = this.samples[this.samples.length - 1];
    for (const x of recent.slice(-BOUNDS_SAMPLES)) {
      if (x.at < latest.at - BOUNDS_WINDOW_MS || x.generation !== latest.generation) continue;
      low = Math.max(low, x.low);
      high = Math.min(high, x.high);
    }
    // Crossed bounds: a clock stepped within them; they say nothing then.
    this.offset = low > high ? mean : Math.min(high, Math.max(low, mean));
    this.roundTrip = limit;
    this.synced = this.synced || this.samples.length >= SETTLED_SAMPLES ||
      fastest <= SETTLED_ROUND_TRIP_MS + timerGranularityMs();
  }

  // Server time (Unix ms, fractional) now, or at a given local time.
  serverNow() { return localNow() + this.offset; }
  toServer(local) { return local + this.offset; }
  toLocal(server) { return server - this.offset; }

  // Error bound of one kept sample (half the worst kept round trip).
  get uncertainty() { return this.synced ? this.roundTrip / 2 : Infinity; }
}

// The position (ms) of a room's current item at server time `t`
// (docs/protocol.md, "The state").
//
// For a playing state whose position_at is later than `t` (a timed command
// still to come) this extrapolates the new state backwards, clamped at 0;
// the player itself keeps what it was playing until position_at.
export function roomPosition(state, t, durationMs) {
  if (!state || !state.current) return 0;
  let pos = state.position_ms;
  if (state.playing) pos += t - state.position_at;
  if (Number.isFinite(durationMs) && durationMs > 0) pos = Math.min(pos, durationMs);
  return Math.max(0, pos);
}
