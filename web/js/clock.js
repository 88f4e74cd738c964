// Clock synchronisation with the server over the room's WebSocket
// (docs/protocol.md, "Clock synchronisation").
//
// Local time is performance.timeOrigin + performance.now(): monotonic, in
// Unix milliseconds, anchored to the wall clock once. For each answer:
//   round_trip = (T3 - T0) - (t2 - t1)
//   offset     = ((t1 - T0) + (t2 - T3)) / 2     server ≈ local + offset
// The estimate keeps the last 50 samples, discards those whose round trip
// is above the lowest quartile, and takes the median offset of the rest.

export function localNow() {
  return performance.timeOrigin + performance.now();
}

const MAX_SAMPLES = 50;

export class ClockSync {
  constructor() {
    this.samples = [];
    this.offset = 0;
    this.roundTrip = Infinity;
    this.synced = false;
    this.outputLeadMs = NaN; // set by the player
  }

  reset() {
    this.samples = [];
    this.synced = false;
    this.roundTrip = Infinity;
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
    }
    return msg;
  }

  // null before anything can be said; 0 once the player stopped playing
  // (disabled, or a silent remote), so that the server stops waiting for it.
  neededLeadMs() {
    if (this.outputLeadMs === 0) return 0;
    if (!Number.isFinite(this.outputLeadMs)) return this.reportedLead ? 0 : null;
    if (!this.samples.length) return null;
    const trips = this.samples.map((s) => s.roundTrip).sort((a, b) => a - b);
    const slow = trips[Math.min(trips.length - 1, Math.ceil(trips.length * 0.9) - 1)];
    return Math.ceil((this.outputLeadMs + slow / 2 + 10) / 5) * 5;
  }

  // Feeds an answer {t0, t1, t2}; returns true when it was usable.
  addSample(msg, t3 = localNow()) {
    const { t0, t1, t2 } = msg;
    if (![t0, t1, t2].every(Number.isFinite)) return false;
    const roundTrip = (t3 - t0) - (t2 - t1);
    if (roundTrip < 0 || roundTrip > 10000) return false;
    const offset = ((t1 - t0) + (t2 - t3)) / 2;
    this.samples.push({ roundTrip, offset, at: t3 });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    this.recompute();
    return true;
  }

  recompute() {
    const byRtt = [...this.samples].sort((a, b) => a.roundTrip - b.roundTrip);
    const keep = byRtt.slice(0, Math.max(1, Math.ceil(byRtt.length / 4)));
    const offsets = keep.map((s) => s.offset).sort((a, b) => a - b);
    const mid = offsets.length >> 1;
    this.offset = offsets.length % 2 ? offsets[mid] : (offsets[mid - 1] + offsets[mid]) / 2;
    this.roundTrip = keep[keep.length - 1].roundTrip;
    this.synced = true;
  }

  // Server time (Unix ms, fractional) now, or at a given local time.
  serverNow() { return localNow() + this.offset; }
  toServer(local) { return local + this.offset; }
  toLocal(server) { return server - this.offset; }

  // Error bound of the estimate (half the worst kept round trip).
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
