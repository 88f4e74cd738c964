// Synchronised playback with the Web Audio API.
//
// Songs are fetched through signed stream URLs and decoded whole
// (decodeAudioData). Each stretch of audio to play is a "segment": one
// AudioBufferSourceNode started with start(when, offset), where `when` is an
// AudioContext time and `offset` the room's position for the server time at
// which the sample at `when` will be *heard*. The context time <-> local
// time map comes from getOutputTimestamp() (which pairs the frame being
// output with the performance.now() at which it is heard, so the output
// latency is included), falling back to currentTime + outputLatency; local
// time <-> server time comes from the clock sync.
//
// Every state change and every 500 ms the desired segments (the current item
// and, when its buffer is ready, the next one starting exactly when the
// current ends) are compared with the scheduled ones; a segment off by more
// than 5 ms is replaced, the old one stopping at the very moment the new one
// starts.

import { api } from './api.js';
import { roomPosition } from './clock.js';

const LEAD_S = 0.08;          // how far ahead a new segment starts
const TOLERANCE_MS = 5;       // re-schedule when off by more than this
const DRIFT_CHECK_MS = 500;
const CLOCK_SAMPLE_MS = 100;
const FADE_S = 0.004;
const MAX_BUFFERS = 3;

let current = null; // the player the test hook reads

export class SyncPlayer extends EventTarget {
  constructor(connection) {
    super();
    this.conn = connection;
    this.clock = connection.clock;
    this.ctx = null;
    this.master = null;
    this.enabled = false;
    this.volume = 1;
    this.segments = [];
    this.buffers = new Map(); // songId -> {promise, buffer, error, used}
    this.outputOffsets = [];  // recent (performanceTime - contextTime) samples, ms
    this.status = 'off';
    this.statusDetail = '';
    this.lastErrorMs = 0;
    this.resyncs = 0;
    this.timers = [];
    this.onChange = (e) => {
      if (e.detail.kind === 'state' || e.detail.kind === 'snapshot' || (e.detail.kind === 'clock' && e.detail.first)) {
        this.reconcile();
      }
    };
    connection.addEventListener('change', this.onChange);
  }

  // Must run inside a user gesture (a click on "Listen"): that is what lets
  // the page produce sound.
  async enable() {
    if (!this.ctx) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.ctx = new Ctx({ latencyHint: 'playback' });
      this.master = this.ctx.createGain();
      this.master.gain.value = this.volume;
      this.master.connect(this.ctx.destination);
      // A tap on the output, to tell sound from silence (see signal()).
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = 4096;
      this.master.connect(this.analyser);
      // Some browsers (iOS Safari) unlock audio only once something plays
      // inside the gesture: a single silent frame does it.
      const unlock = this.ctx.createBufferSource();
      unlock.buffer = this.ctx.createBuffer(1, 1, this.ctx.sampleRate);
      unlock.connect(this.ctx.destination);
      unlock.start(0);
      this.ctx.addEventListener('statechange', () => { this.outputOffsets = []; this.reconcile(); });
    }
    this.enabled = true;
    current = this;
    const resumed = this.ctx.resume();
    this.timers.push(setInterval(() => this.sampleOutputClock(), CLOCK_SAMPLE_MS));
    this.timers.push(setInterval(() => this.reconcile(), DRIFT_CHECK_MS));
    this.setStatus('starting');
    await resumed;
    this.sampleOutputClock();
    this.reconcile();
  }

  disable() {
    this.enabled = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const seg of this.segments) this.stopSegment(seg, 0);
    this.segments = [];
    this.buffers.clear();
    if (this.ctx) {
      this.ctx.close().catch(() => {});
      this.ctx = null;
      this.master = null;
      this.analyser = null;
    }
    this.outputOffsets = [];
    this.lastStopCtx = 0;
    if (current === this) current = null;
    this.setStatus('off');
  }

  destroy() {
    this.disable();
    this.conn.removeEventListener('change', this.onChange);
  }

  setVolume(v) {
    this.volume = v;
    if (this.master) this.master.gain.setTargetAtTime(v, this.ctx.currentTime, 0.02);
  }

  setStatus(status, detail = '') {
    if (status === this.status && detail === this.statusDetail) return;
    this.status = status;
    this.statusDetail = detail;
    this.dispatchEvent(new CustomEvent('status'));
  }

  // ---- clocks ------------------------------------------------------------

  sampleOutputClock() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== 'running' || !ctx.getOutputTimestamp) return;
    const ts = ctx.getOutputTimestamp();
    if (!(ts.contextTime > 0) || !(ts.performanceTime > 0)) return;
    this.outputOffsets.push(ts.performanceTime - ts.contextTime * 1000);
    if (this.outputOffsets.length > 21) this.outputOffsets.shift();
  }

  // performance.now() - contextTime*1000 for frames as they are heard.
  outputOffset() {
    if (this.outputOffsets.length) {
      const sorted = [...this.outputOffsets].sort((a, b) => a - b);
      return sorted[sorted.length >> 1];
    }
    const ctx = this.ctx;
    const latency = (ctx.outputLatency || 0) + (ctx.outputLatency ? 0 : ctx.baseLatency || 0);
    return performance.now() - ctx.currentTime * 1000 + latency * 1000;
  }

  // Local time (Unix ms) at which the frame at context time t is heard, and back.
  ctxToLocal(t) { return performance.timeOrigin + this.outputOffset() + t * 1000; }
  localToCtx(local) { return (local - performance.timeOrigin - this.outputOffset()) / 1000; }
  ctxToServer(t) { return this.clock.toServer(this.ctxToLocal(t)); }
  serverToCtx(s) { return this.localToCtx(this.clock.toLocal(s)); }

  // ---- buffers -----------------------------------------------------------

  loadBuffer(songId) {
    let entry = this.buffers.get(songId);
    if (entry && entry.error && performance.now() - entry.failedAt > 5000) entry = null; // retry
    if (entry) { entry.used = performance.now(); return entry; }
    entry = { buffer: null, error: null, used: performance.now() };
    const ctx = this.ctx;
    entry.promise = (async () => {
      const { url } = await api.streamUrl(songId);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`the song could not be fetched (HTTP ${res.status})`);
      const data = await res.arrayBuffer();
      return ctx.decodeAudioData(data);
    })().then((buffer) => {
      entry.buffer = buffer;
      if (this.ctx === ctx) this.reconcile();
      return buffer;
    }, (err) => {
      entry.error = err;
      entry.failedAt = performance.now();
      if (this.ctx === ctx) this.reconcile();
      return null;
    });
    this.buffers.set(songId, entry);
    this.evictBuffers();
    return entry;
  }

  evictBuffers() {
    if (this.buffers.size <= MAX_BUFFERS) return;
    const inUse = new Set(this.segments.map((s) => s.songId));
    const candidates = [...this.buffers.entries()].filter(([id]) => !inUse.has(id)).sort((a, b) => a[1].used - b[1].used);
    while (this.buffers.size > MAX_BUFFERS && candidates.length) this.buffers.delete(candidates.shift()[0]);
  }

  // ---- scheduling --------------------------------------------------------

  // What should be heard: [{item, anchor, end}] where `anchor` is the server
  // time at which the item's position 0 is (was) heard and `end` the server
  // time at which it stops.
  desired(state) {
    if (!state || !state.current || !state.playing) return [];
    const queue = state.queue || [];
    const index = queue.findIndex((it) => it.id === state.current);
    if (index < 0) return [];
    const item = queue[index];
    const anchor = state.position_at - state.position_ms;
    const end = anchor + item.duration_ms;
    const out = [{ item, anchor, end }];
    let next = null;
    if (state.repeat === 'one') next = item;
    else if (index + 1 < queue.length) next = queue[index + 1];
    else if (state.repeat === 'all' && queue.length) next = queue[0];
    if (next) out.push({ item: next, anchor: end, end: end + next.duration_ms, upcoming: true });
    return out;
  }

  reconcile() {
    const ctx = this.ctx;
    if (!this.enabled || !ctx) return;
    if (ctx.state !== 'running') { this.setStatus('starting', 'waiting for audio output'); return; }
    const state = this.conn.state;
    if (!this.clock.synced) { this.setStatus('syncing', 'synchronising the clock'); return; }
    const plan = this.desired(state);
    const now = ctx.currentTime;
    const startAt = now + LEAD_S;
    const serverAtStart = this.ctxToServer(startAt);
    const keep = new Set();
    let waiting = false;
    let failed = '';
    let maxError = 0;

    for (const want of plan) {
      if (want.end <= serverAtStart) continue; // already over
      const entry = this.loadBuffer(want.item.song_id);
      // Is a scheduled segment already right (within the tolerance)?
      const match = this.segments.find((seg) => !keep.has(seg) && !seg.stopping && seg.itemId === want.item.id &&
        Math.abs(this.segmentAnchor(seg) - want.anchor) <= TOLERANCE_MS);
      if (match) {
        keep.add(match);
        if (!want.upcoming) maxError = Math.max(maxError, Math.abs(this.segmentAnchor(match) - want.anchor));
        continue;
      }
      if (!entry.buffer) {
        if (!want.upcoming) failed = entry.error ? (entry.error.message || String(entry.error)) : failed;
        if (!want.upcoming && !entry.error) waiting = true;
        continue;
      }
      // Replace whatever plays this item now (or overlaps) with a fresh segment.
      const begin = Math.max(startAt, this.serverToCtx(want.anchor));
      const offset = (this.ctxToServer(begin) - want.anchor) / 1000;
      if (offset >= entry.buffer.duration) continue;
      const stopCtx = this.serverToCtx(want.end);
      const seg = this.startSegment(want.item, entry.buffer, begin, Math.max(0, offset), stopCtx, want.anchor);
      if (!want.upcoming) this.resyncs++;
      keep.add(seg);
      // The replaced segment of the same item stops exactly where this one starts.
      for (const old of this.segments) {
        if (!keep.has(old) && !old.stopping && old.itemId === want.item.id) this.stopSegment(old, begin);
      }
      this.segments.push(seg);
    }
    for (const seg of this.segments) if (!keep.has(seg) && !seg.stopping) this.stopSegment(seg, now);
    // Forget segments that have finished.
    this.segments = this.segments.filter((seg) => !(seg.ended || (seg.stopping && seg.stopAt < now - 0.5)));
    this.lastErrorMs = maxError;

    if (failed) this.setStatus('error', `Cannot play this song: ${failed}`);
    else if (!plan.length) this.setStatus(state?.current ? 'paused' : 'idle');
    else if (waiting) this.setStatus('loading', 'loading the song');
    else this.setStatus('playing');
  }

  // Server time at which this segment's position 0 is heard.
  segmentAnchor(seg) {
    return this.ctxToServer(seg.when) - seg.offset * 1000;
  }

  startSegment(item, buffer, when, offset, stopCtx, anchor) {
    const ctx = this.ctx;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    const gain = ctx.createGain();
    source.connect(gain).connect(this.master);
    if (offset > 0.001) {
      gain.gain.setValueAtTime(0, when);
      gain.gain.linearRampToValueAtTime(1, when + FADE_S);
    }
    source.start(when, offset);
    const seg = { itemId: item.id, songId: item.song_id, source, gain, when, offset, anchor, stopping: false, stopAt: Infinity, ended: false };
    // Never play past the item's end as the server sees it (decoders may pad).
    if (Number.isFinite(stopCtx) && stopCtx > when) {
      source.stop(stopCtx);
      seg.naturalEnd = stopCtx;
    }
    source.onended = () => { seg.ended = true; };
    return seg;
  }

  stopSegment(seg, at) {
    const ctx = this.ctx;
    seg.stopping = true;
    if (!ctx) return;
    const t = Math.max(at, ctx.currentTime + FADE_S + 0.002);
    try {
      const g = seg.gain.gain;
      g.cancelScheduledValues(t - FADE_S);
      g.setValueAtTime(1, t - FADE_S);
      g.linearRampToValueAtTime(0, t);
      seg.source.stop(t);
    } catch { /* already stopped */ }
    seg.stopAt = t;
    this.lastStopCtx = Math.max(this.lastStopCtx || 0, t);
  }

  // ---- what is heard now (the test hook) ---------------------------------

  // The position of the item heard at this instant, from the audio output
  // clock of the playing source, with the server time of that instant.
  heardPosition() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== 'running') return null;
    let heardCtx;
    let heardLocal;
    const ts = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
    if (ts && ts.contextTime > 0 && ts.performanceTime > 0) {
      heardCtx = ts.contextTime;
      heardLocal = performance.timeOrigin + ts.performanceTime;
    } else {
      heardCtx = ctx.currentTime;
      heardLocal = this.ctxToLocal(heardCtx);
    }
    const serverTimeMs = this.clock.toServer(heardLocal);
    const seg = this.segments.find((s) => s.when <= heardCtx && heardCtx < Math.min(s.stopAt, s.naturalEnd ?? Infinity) &&
      heardCtx < s.when + (s.source.buffer.duration - s.offset));
    const state = this.conn.state;
    const item = state?.queue?.find((it) => it.id === state.current);
    return {
      // The page's local clock (Unix ms) at the instant heard now, and its
      // estimate of the server's clock then.
      localMs: heardLocal,
      serverTimeMs,
      positionMs: seg ? (seg.offset + (heardCtx - seg.when)) * 1000 : null,
      // When what is heard now started to be heard, or when silence began.
      sinceServerMs: seg ? this.ctxToServer(seg.when) : (this.lastStopCtx ? this.ctxToServer(this.lastStopCtx) : null),
      songId: seg ? seg.songId : null,
      itemId: seg ? seg.itemId : null,
      expectedMs: state?.playing ? roomPosition(state, serverTimeMs, item?.duration_ms) : null,
      playing: Boolean(state?.playing),
      audioState: ctx.state,
      outputLatencyMs: (ctx.outputLatency || 0) * 1000,
      clockOffsetMs: this.clock.offset,
      clockRoundTripMs: this.clock.roundTrip,
      resyncs: this.resyncs,
    };
  }
}

// What the output carries now: its RMS level and its strongest frequency.
SyncPlayer.prototype.signal = function signal() {
  const a = this.analyser;
  if (!a || !this.ctx) return null;
  const wave = new Float32Array(a.fftSize);
  a.getFloatTimeDomainData(wave);
  let sum = 0;
  for (const v of wave) sum += v * v;
  const spectrum = new Float32Array(a.frequencyBinCount);
  a.getFloatFrequencyData(spectrum);
  let peak = 0;
  for (let i = 1; i < spectrum.length; i++) if (spectrum[i] > spectrum[peak]) peak = i;
  return { rms: Math.sqrt(sum / wave.length), peakHz: (peak * this.ctx.sampleRate) / a.fftSize };
};

// Read by the browser tests: window.__hifiTest.position().
window.__hifiTest = {
  position: () => (current ? current.heardPosition() : null),
  state: () => (current ? current.conn.state : null),
  signal: () => (current ? current.signal() : null),
};
