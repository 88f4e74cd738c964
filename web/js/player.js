// Synchronised playback with the Web Audio API.
//
// Songs are never fetched or decoded whole. The player asks the server for
// pieces of a song (GET .../stream?format=flac&offset_ms=&duration_ms=, or
// Opus with the data saver on), each a small file decodeAudioData can take,
// cut so that consecutive pieces follow each other sample for sample. It
// keeps pieces from a few seconds behind to about a minute ahead of what
// is heard, fetching in order of need, and drops the rest.
//
// Each item is scheduled against one "zero": the AudioContext time at which
// the item's position 0 is (or would have been) heard. A piece plays as an
// AudioBufferSourceNode started at zero + its start, so pieces (and the next
// item, whose zero is this item's zero + its duration) chain without a gap.
// The zero comes from the room's state: `anchor` = the server time at which
// position 0 is heard; context time <-> local time comes from
// getOutputTimestamp() (which pairs the frame being output with the
// performance.now() at which it is heard, so the output latency is
// included), falling back to currentTime + outputLatency; local time <->
// server time comes from the clock sync.
//
// Every state change and every 500 ms the scheduled zero of each item to
// play is compared with the state's; one off by more than 5 ms is replaced,
// the old segments stopping at the very moment the new ones start. A timed
// command (its position_at still to come) is scheduled for that instant on
// the audio clock, so pause, play, seek and skip land on the same sample
// for every listener.

import { api, drainingMember } from './api.js';
import { roomPosition } from './clock.js';
import { OutputClock } from './output_clock.js';

const LEAD_S = 0.08;          // how far ahead a new segment starts
const TOLERANCE_MS = 5;       // re-schedule when off by more than this
const FOLLOW_MS = 0.5;        // follow (without a jump) when off by more than this
const DRIFT_CHECK_MS = 500;
const CLOCK_SAMPLE_MS = 100;
const FADE_S = 0.004;
const PIECE_MS = 10000;
const MIN_PIECE_MS = 1000;      // a piece shorter than this runs on to the next grid point
const FIRST_PIECE_MS = 2000;    // the first piece after a start or a seek, at most
const SCHEDULE_AHEAD_S = 12;    // pieces scheduled on the audio clock ahead of now
const FETCH_AHEAD_MS = 60000;   // pieces fetched and decoded ahead of what is heard
const KEEP_BEHIND_MS = 5000;    // pieces kept behind what is heard (small seeks back)
const MAX_FETCHES = 1;          // pieces being fetched at once
const DATA_SAVER_KEY = 'hifi.dataSaver';

let current = null; // the player the test hook reads: the last one enabled
const enabledPlayers = new Set();

export class SyncPlayer extends EventTarget {
  constructor(connection) {
    super();
    this.conn = connection;
    this.clock = connection.clock;
    this.ctx = null;
    this.master = null;
    this.enabled = false;
    this.silent = false;      // a remote: the audio output stays, nothing is played
    this.volume = 1;
    this.segments = [];
    this.pieces = new Map();  // songId -> [{startMs, endMs, buffer, error, promise, used}]
    this.zero = new Map();    // itemId -> context time at which its position 0 is heard
    this.urls = new Map();    // songId -> {url, expiresAt} (signed stream URLs)
    this.fetching = 0;
    this.fetchWaitMs = null;  // the last wait for a piece that what is heard waited for
    this.piecesFetched = 0;
    this.piecesAborted = 0;   // fetches of pieces dropped on their way (dropPiece)
    this.outputClock = new OutputClock(TOLERANCE_MS); // performanceTime - contextTime for frames as heard
    this.outputDelays = [];   // recent delays from rendering a frame to hearing it, ms
    this.status = 'off';
    this.statusDetail = '';
    this.lastErrorMs = 0;
    this.resyncs = 0;
    this.follows = 0;         // errors followed across a piece (followAcrossNextPiece)
    this.outputShiftMs = 0;   // added to each measure of the output clock (the test hook's shiftOutput)
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
      this.ctx.addEventListener('statechange', () => { this.resetOutputClock(); this.reconcile(); });
    }
    this.enabled = true;
    current = this;
    enabledPlayers.add(this);
    const resumed = this.ctx.resume();
    this.timers.push(setInterval(() => this.sampleOutputClock(), CLOCK_SAMPLE_MS));
    this.timers.push(setInterval(() => this.reconcile(), DRIFT_CHECK_MS));
    this.setStatus('starting');
    this.reconcile(); // fetches the first piece while the output starts
    await resumed;
    this.sampleOutputClock();
    this.reconcile();
  }

  disable() {
    this.enabled = false;
    this.clock.outputLeadMs = NaN; // no longer plays: reports a lead of 0
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const seg of this.segments) this.stopSegment(seg, 0);
    this.segments = [];
    for (const list of this.pieces.values()) for (const p of list) this.dropPiece(p);
    this.pieces.clear();
    this.zero.clear();
    if (this.ctx) {
      this.ctx.close().catch(() => {});
      this.ctx = null;
      this.master = null;
      this.analyser = null;
    }
    this.resetOutputClock();
    this.lastStopCtx = 0;
    enabledPlayers.delete(this);
    if (current === this) current = [...enabledPlayers].pop() || null;
    this.setStatus('off');
  }

  destroy() {
    this.disable();
    this.conn.removeEventListener('change', this.onChange);
  }

  // Silent: this device shows and controls the room but plays nothing (the
  // audio output stays open, so it can play again without a new gesture).
  setSilent(on) {
    if (this.silent === Boolean(on)) return;
    this.silent = Boolean(on);
    this.reconcile();
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

  resetOutputClock() {
    this.outputClock.reset();
    this.outputDelays = [];
  }

  sampleOutputClock() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== 'running' || !ctx.getOutputTimestamp) return;
    const ts = ctx.getOutputTimestamp();
    if (!(ts.contextTime > 0) || !(ts.performanceTime > 0)) return;
    if (this.outputClock.add(ts.performanceTime - ts.contextTime * 1000 + this.outputShiftMs, performance.now())) {
      this.reconcile();
    }
    // The frames rendered but not yet heard: what a segment started now
    // waits for on top of its scheduling lead.
    const delay = (ctx.currentTime - ts.contextTime) * 1000 - (performance.now() - ts.performanceTime);
    if (delay >= 0 && delay < 1000) this.outputDelays.push(delay);
    if (this.outputDelays.length > 21) this.outputDelays.shift();
  }

  // How long after it is rendered a frame is heard, in seconds: the second
  // largest of the recent measures of the output clock (Chromium on Linux
  // reports outputLatency 0, and a baseLatency below what is heard), at
  // least what the context reports.
  outputDelayS() {
    const ctx = this.ctx;
    const reported = ctx.outputLatency || ctx.baseLatency || 0;
    if (this.outputDelays.length < 3) return reported;
    const sorted = [...this.outputDelays].sort((a, b) => a - b);
    return Math.max(reported, sorted[sorted.length - 2] / 1000);
  }

  // performance.now() - contextTime*1000 for frames as they are heard.
  outputOffset() {
    if (this.outputClock.level !== null) return this.outputClock.level;
    const ctx = this.ctx;
    const latency = (ctx.outputLatency || 0) + (ctx.outputLatency ? 0 : ctx.baseLatency || 0);
    return performance.now() - ctx.currentTime * 1000 + latency * 1000;
  }

  // Local time (Unix ms) at which the frame at context time t is heard, and back.
  ctxToLocal(t) { return performance.timeOrigin + this.outputOffset() + t * 1000; }
  localToCtx(local) { return (local - performance.timeOrigin - this.outputOffset()) / 1000; }
  ctxToServer(t) { return this.clock.toServer(this.ctxToLocal(t)); }
  serverToCtx(s) { return this.localToCtx(this.clock.toLocal(s)); }

  // ---- pieces ------------------------------------------------------------

  get dataSaver() { return localStorage.getItem(DATA_SAVER_KEY) === '1'; }
  set dataSaver(on) {
    // Pieces fetched already play out; the next ones come at the new quality.
    localStorage.setItem(DATA_SAVER_KEY, on ? '1' : '0');
  }

  async signedUrl(songId) {
    const hit = this.urls.get(songId);
    if (hit && hit.expiresAt - Date.now() > 60000) return hit.url;
    const fresh = await api.streamUrl(songId);
    this.urls.set(songId, fresh);
    return fresh.url;
  }

  // The piece of the song that holds position `pos` (ms), made (and queued
  // for fetching) when there is none: it starts at `pos` and ends at the
  // next grid point, where the next known piece starts, or at the song's end.
  // `needNow`: what is heard waits for it (the first piece after a jump);
  // it is fetched before the pieces fetched ahead, and how long it took is
  // what the player reports as its fetch lead (clock.noteFetchWait).
  pieceAt(songId, pos, durationMs, needNow = false) {
    let list = this.pieces.get(songId);
    if (!list) { list = []; this.pieces.set(songId, list); }
    const now = performance.now();
    for (const p of list) {
      if (p.startMs <= pos && pos < p.endMs) {
        if (needNow && !p.buffer && p.waitFrom === undefined) p.waitFrom = now;
        if (p.error && now - p.failedAt > (p.retryAfterMs || 5000)) { p.error = null; p.queued = true; this.pumpFetches(); }
        p.used = now;
        return p;
      }
    }
    // Whole milliseconds (the server cuts there, sample for sample), on a
    // grid of PIECE_MS so that everyone in a room asks for the same pieces
    // (which the server then has cached); a run starts with a piece of at
    // most FIRST_PIECE_MS from `pos`, then one to the grid.
    const startMs = Math.floor(pos);
    let endMs = (Math.floor(startMs / PIECE_MS) + 1) * PIECE_MS;
    if (endMs - startMs < MIN_PIECE_MS) endMs += PIECE_MS;
    // The first piece of a run is short, so that sound starts soon.
    if (!list.some((p) => p.endMs === startMs)) endMs = Math.min(endMs, startMs + FIRST_PIECE_MS);
    for (const p of list) if (p.startMs > startMs && p.startMs < endMs) endMs = p.startMs;
    const last = durationMs > 0 && endMs >= durationMs - 500;
    if (last) endMs = Math.max(durationMs, startMs + 1);
    const piece = { songId, startMs, endMs, last, buffer: null, error: null, used: now, queued: true, order: now,
      waitFrom: needNow ? now : undefined };
    list.push(piece);
    list.sort((a, b) => a.startMs - b.startMs);
    this.pumpFetches();
    return piece;
  }

  // Starts fetches of queued pieces: those that what is heard waits for
  // first, then the longest queued. A piece waited for does not wait for a
  // fetch ahead in flight (one more fetch at once).
  pumpFetches() {
    for (;;) {
      const waited = (p) => p.waitFrom !== undefined;
      const sooner = (a, b) => (waited(a) !== waited(b) ? waited(a) : a.order < b.order);
      let next = null;
      for (const list of this.pieces.values()) {
        for (const p of list) if (p.queued && (!next || sooner(p, next))) next = p;
      }
      if (!next || this.fetching >= MAX_FETCHES + (waited(next) ? 1 : 0)) return;
      next.queued = false;
      this.fetchPiece(next);
    }
  }

  async fetchPiece(piece) {
    const ctx = this.ctx;
    this.fetching++;
    // Aborted when the piece is dropped while on its way (a jump away from
    // it): the transcoder it holds on the server is then free for the
    // pieces the new position needs.
    const abort = new AbortController();
    piece.abort = abort;
    try {
      const url = await this.signedUrl(piece.songId);
      const quality = this.dataSaver ? '&format=opus&bitrate=64' : '&format=flac';
      // The last piece runs to the song's end, whatever the decoder finds there.
      const length = piece.last ? '' : `&duration_ms=${Math.round(piece.endMs - piece.startMs)}`;
      abort.signal.throwIfAborted();
      const res = await fetch(`${url}${quality}&offset_ms=${Math.round(piece.startMs)}${length}`, { signal: abort.signal });
      if (!res.ok) {
        // The node is leaving the cluster: the next try asks for a URL on
        // another node (the API follows the node it names).
        if (await drainingMember(res)) this.urls.delete(piece.songId);
        const err = new Error(res.status === 503 ? 'the server is busy' : `the song could not be fetched (HTTP ${res.status})`);
        // Busy: the server's transcoders are taken for a moment (a piece takes
        // 10-60 ms); ask again soon (with some spread) rather than after the
        // whole Retry-After, and sooner still for a piece what is heard waits
        // for (a seek's first piece, refused while pieces fetched ahead held
        // the transcoders, was heard 300-400 ms late).
        err.busy = res.status === 503;
        const waitedFor = piece.waitFrom !== undefined;
        // Refused: the URL ended before its time (the account signed out
        // everywhere or changed its password); the next try asks for a new one.
        const refused = res.status === 403;
        if (refused) this.urls.delete(piece.songId);
        err.retryAfterMs = err.busy ? (waitedFor ? 20 + Math.random() * 40 : 150 + Math.random() * 250)
          : refused ? 1000 : 5000;
        throw err;
      }
      const data = await res.arrayBuffer();
      if (this.ctx !== ctx) return;
      piece.buffer = await ctx.decodeAudioData(data);
      this.piecesFetched++;
      if (piece.waitFrom !== undefined) {
        this.fetchWaitMs = performance.now() - piece.waitFrom;
        this.clock.noteFetchWait(this.fetchWaitMs);
      }
    } catch (err) {
      if (abort.signal.aborted) return; // dropped: nobody waits for it (finally still runs)
      piece.error = err;
      piece.busy = Boolean(err.busy);
      piece.failedAt = performance.now();
      piece.retryAfterMs = err.retryAfterMs;
      if (piece.busy && this.ctx === ctx) setTimeout(() => this.reconcile(), err.retryAfterMs + 1);
    } finally {
      this.fetching--;
      if (piece.abort === abort) piece.abort = null;
      if (abort.signal.aborted && this.ctx === ctx) this.pumpFetches();
    }
    if (this.ctx === ctx) {
      this.pumpFetches();
      this.reconcile();
    }
  }

  // Drops pieces no item to play needs: those of other songs, and those
  // outside [heard - KEEP_BEHIND_MS, heard + FETCH_AHEAD_MS] of a song to play.
  dropPieces(windows) {
    for (const [songId, list] of this.pieces) {
      const w = windows.get(songId);
      const inUse = new Set(this.segments.filter((s) => !s.stopping).map((s) => s.piece));
      const kept = list.filter((p) => inUse.has(p) || (w && p.endMs > w.from - KEEP_BEHIND_MS && p.startMs < w.to));
      for (const p of list) if (!kept.includes(p)) this.dropPiece(p);
      if (kept.length) this.pieces.set(songId, kept);
      else this.pieces.delete(songId);
    }
  }

  // Forgets a piece: it is not fetched, and a fetch of it on its way is
  // aborted.
  dropPiece(piece) {
    piece.queued = false;
    if (piece.abort) {
      piece.abort.abort();
      piece.abort = null;
      this.piecesAborted++;
    }
  }

  // How much decoded audio the player holds (for the tests and the status).
  bufferedSeconds() {
    let s = 0;
    for (const list of this.pieces.values()) for (const p of list) if (p.buffer) s += p.buffer.duration;
    return s;
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
    const state = this.conn.state;
    if (ctx.state !== 'running') {
      // While the audio output starts, the first piece is on its way.
      this.prefetch(state);
      this.setStatus('starting', 'waiting for audio output');
      return;
    }
    if (!this.clock.synced) { this.setStatus('syncing', 'synchronising the clock'); return; }
    const plan = this.silent ? [] : this.desired(state);
    const now = ctx.currentTime;
    // A timed command (position_at still to come) changes what is heard at
    // exactly that instant: what plays now runs on until then, and what
    // replaces it starts then. Otherwise, as soon as can be scheduled.
    // A silent remote needs no lead: it reports 0.
    this.clock.outputLeadMs = this.silent ? NaN : (this.outputDelayS() + LEAD_S) * 1000;
    const changeAt = state && Number.isFinite(state.position_at) ? this.serverToCtx(state.position_at) : -Infinity;
    const startAt = Math.max(now + LEAD_S, changeAt);
    const keep = new Set();
    const replaceAt = new Map(); // itemId -> when its new segments start
    const windows = new Map();   // songId -> {from, to}: what to keep fetched
    let waiting = false;
    let failed = '';
    let maxError = 0;
    let previous = null; // {zero, durationMs} of the item before, to chain on

    for (const want of plan) {
      const item = want.item;
      // With repeat one, the item after this one is the same item.
      const key = want.upcoming ? `${item.id}#next` : item.id;
      const durationS = item.duration_ms / 1000;
      // Where this item's position 0 is heard: the scheduled zero while it
      // is within the tolerance; else from the state (or chained on the
      // item before, so that the next song follows without a gap).
      let zero = this.zero.get(key);
      const wantZero = previous ? previous.zero + previous.durationMs / 1000 : this.serverToCtx(want.anchor);
      const error = zero === undefined ? Infinity : Math.abs(zero - wantZero) * 1000;
      if (error > (previous ? 0.01 : TOLERANCE_MS)) {
        zero = wantZero;
        this.zero.set(key, zero);
        replaceAt.set(key, startAt);
      } else if (!want.upcoming) {
        maxError = Math.max(maxError, error);
        if (error > FOLLOW_MS && changeAt <= now && (this.followWithinPiece(key, item, zero, wantZero, now) ||
            this.followAcrossNextPiece(key, item, zero, wantZero, now))) {
          zero = wantZero;
          this.zero.set(key, zero);
        }
      }
      previous = { zero, durationMs: item.duration_ms };
      // A timed change lands on the item's own timeline: at its zero plus the
      // state's position. (The instant computed now may differ from the one
      // the zero was set with by what the clock estimates moved since, a
      // fraction of a ms; taken from it, a kept zero would start the item
      // that much before its position, in a piece of its own.)
      const from = !want.upcoming && state.current === item.id && changeAt > now + LEAD_S
        ? Math.max(now + LEAD_S, zero + state.position_ms / 1000) : startAt;
      if (zero + durationS <= from) continue; // already over

      // (To the µs, and onto a whole ms within 2 µs of one: a jump timed on
      // the room's instant lands on its position, not a rounding error of the
      // clock arithmetic before it (on numbers of 1.8e12 ms, about a µs), in
      // a piece of its own.)
      let pos = Math.max(0, Math.round((from - zero) * 1e6) / 1e3);
      if (Math.abs(pos - Math.round(pos)) <= 0.002) pos = Math.round(pos);
      const fetchUntil = from + FETCH_AHEAD_MS / 1000; // context time
      const w = windows.get(item.song_id);
      windows.set(item.song_id, { from: Math.min(pos, w ? w.from : Infinity), to: Math.max((fetchUntil - zero) * 1000, w ? w.to : 0) });
      let first = true;
      while (pos < item.duration_ms && zero + pos / 1000 < fetchUntil) {
        const piece = this.pieceAt(item.song_id, pos, item.duration_ms, first && !want.upcoming);
        const scheduleIt = zero + pos / 1000 < from + SCHEDULE_AHEAD_S;
        if (!piece.buffer) {
          if (first && !want.upcoming) {
            if (piece.error && !piece.busy) failed = piece.error.message || String(piece.error);
            else waiting = true;
          }
          if (scheduleIt) break; // nothing after a gap is scheduled
        } else if (scheduleIt) {
          const seg = this.segments.find((s) => !s.stopping && s.key === key && s.piece === piece && s.zero === zero);
          if (seg) {
            keep.add(seg);
          } else {
            const pieceWhen = zero + piece.startMs / 1000;
            const begin = Math.max(from, zero + pos / 1000);
            const offset = begin - pieceWhen;
            if (offset < piece.buffer.duration) {
              const stopAt = Math.min(zero + durationS, zero + piece.endMs / 1000);
              const made = this.startSegment(item, key, piece, zero, begin, offset, stopAt, first && pos > 1);
              if (first && !want.upcoming) this.resyncs++;
              keep.add(made);
              this.segments.push(made);
            }
          }
        }
        first = false;
        pos = piece.endMs;
      }
    }
    for (const seg of this.segments) {
      if (keep.has(seg) || seg.stopping) continue;
      // A replaced segment stops exactly where its replacement starts.
      this.stopSegment(seg, replaceAt.get(seg.key) ?? Math.max(now, changeAt));
    }
    // Forget segments that have finished, and zeros of items not planned.
    this.segments = this.segments.filter((seg) => !(seg.ended || (seg.stopping && seg.stopAt < now - 0.5)));
    const planned = new Set(plan.map((w) => (w.upcoming ? `${w.item.id}#next` : w.item.id)));
    for (const id of this.zero.keys()) if (!planned.has(id)) this.zero.delete(id);
    this.dropPieces(windows);
    this.lastErrorMs = maxError;

    if (this.silent) this.setStatus('remote');
    else if (failed) this.setStatus('error', `Cannot play this song: ${failed}`);
    else if (!plan.length) this.setStatus(state?.current ? 'paused' : 'idle');
    else if (waiting) this.setStatus('loading', 'loading the song');
    else this.setStatus('playing');
  }

  // Starts fetching the piece that will be heard first, from the server
  // clock alone (no audio clock yet): the piece begins a little before the
  // position, so it still holds it when the output is running.
  prefetch(state) {
    const want = this.clock.synced && !this.silent ? this.desired(state)[0] : null;
    if (!want) return;
    const pos = this.clock.serverNow() - want.anchor;
    if (pos < want.item.duration_ms) this.pieceAt(want.item.song_id, Math.max(0, pos), want.item.duration_ms, true);
  }

  // Server time at which this segment's item position 0 is heard.
  segmentAnchor(seg) {
    return this.ctxToServer(seg.zero);
  }

  // Plays `piece` from `offset` s into it at context time `when` until
  // `stopAt`, fading in when it starts mid-stream (a seek or a resync).
  startSegment(item, key, piece, zero, when, offset, stopAt, fadeIn) {
    const ctx = this.ctx;
    const source = ctx.createBufferSource();
    source.buffer = piece.buffer;
    const gain = ctx.createGain();
    source.connect(gain).connect(this.master);
    if (fadeIn && offset > 0.001) {
      gain.gain.setValueAtTime(0, when);
      gain.gain.linearRampToValueAtTime(1, when + FADE_S);
    }
    source.start(when, offset);
    const seg = { key, itemId: item.id, songId: item.song_id, piece, zero, source, gain, when, offset,
      stopping: false, stopAt: Infinity, ended: false };
    // Never play past the piece's or the item's end (decoders may pad).
    if (Number.isFinite(stopAt) && stopAt > when) {
      source.stop(stopAt);
      seg.naturalEnd = stopAt;
    }
    source.onended = () => { seg.ended = true; };
    return seg;
  }

  // Follows a small error of the item's zero (the audio clock drifting from
  // the server's, the output's delay moving by a few ms) in the piece heard
  // now: from just after the scheduling lead it plays a little faster or
  // slower (at most 1000 ppm, for at least 1 s) until it is on the new
  // zero, and the pieces after it are scheduled on the new zero. Returns
  // false when the piece heard now ends before that is done (then the next
  // piece can take it: followAcrossNextPiece), or one is under way.
  followWithinPiece(key, item, oldZero, newZero, now) {
    const { mine, horizon, playing } = this.heardSegment(key, now);
    if (!playing || playing.zero !== oldZero) return false;
    const at = now + LEAD_S;
    const shift = oldZero - newZero;                  // s of content to gain (or lose, < 0)
    const span = Math.max(1, Math.abs(shift) * 1000); // s the rate changes for
    const durationS = item.duration_ms / 1000;
    const newEnd = Math.min(newZero + durationS, newZero + playing.piece.endMs / 1000);
    // Done well before the piece's end, on either zero.
    if (at + span + 0.1 > Math.min(playing.naturalEnd, newEnd)) return false;
    for (const sg of mine) if (sg.when > horizon) this.stopSegment(sg, sg.when);
    const rate = 1 + shift / span;
    playing.source.playbackRate.setValueAtTime(rate, at);
    playing.source.playbackRate.setValueAtTime(1, at + span);
    // (A later stop() replaces the earlier one.)
    playing.source.stop(newEnd);
    playing.naturalEnd = newEnd;
    playing.rate = rate;
    playing.ramp = { zeroBefore: oldZero, at, span, shift };
    playing.zero = newZero;
    this.follows++;
    return true;
  }

  // For the follows: the item's segments in order, the instant up to which
  // one counts as started, and the one heard now, when it has a known end
  // and no follow under way (one at a time).
  heardSegment(key, now) {
    const mine = this.segments.filter((sg) => !sg.stopping && sg.key === key).sort((a, b) => a.when - b.when);
    const horizon = now + FADE_S + 0.02;
    let playing = mine.filter((sg) => sg.when <= horizon).pop();
    if (playing && (!Number.isFinite(playing.naturalEnd) || (playing.ramp && playing.ramp.at + playing.ramp.span > now))) {
      playing = undefined;
    }
    return { mine, horizon, playing };
  }

  // The position (s) of its item a segment plays at context time t: on its
  // zero, or, while it follows a change of the zero, moving from the old one
  // to the new.
  segmentPositionS(seg, t) {
    const r = seg.ramp;
    if (!r) return t - seg.zero;
    return t - r.zeroBefore + r.shift * Math.min(1, Math.max(0, (t - r.at) / r.span));
  }

  // Follows a small error of the item's zero (the audio clock drifting from
  // the server's, the output's delay moving by a few ms) without a jump:
  // the next piece, not yet started, is played from where the current one
  // stops, a little faster or slower (at most 1000 ppm, for at least 1 s)
  // until it is on the new zero, and the pieces after it are scheduled on
  // the new zero. Returns false when there is no such piece yet.
  followAcrossNextPiece(key, item, oldZero, newZero, now) {
    const { mine, horizon, playing } = this.heardSegment(key, now);
    if (!playing || playing.piece.last) return false;
    const boundary = playing.piece.endMs;
    const next = (this.pieces.get(item.song_id) || []).find((p) => p.startMs === boundary && p.buffer);
    const bridgeAt = playing.naturalEnd;  // the old zero + the boundary
    const shift = oldZero - newZero;      // s of content to gain (or lose, < 0)
    const span = Math.max(1, Math.abs(shift) * 1000); // s of the piece the rate changes over
    // (After the scheduling lead: what reconcile schedules from now on
    // starts there, and must find the piece heard now still on its way.)
    if (!next || bridgeAt <= now + LEAD_S + 0.02 || span > next.buffer.duration - 0.1) return false;
    for (const sg of mine) if (sg.when > horizon) this.stopSegment(sg, sg.when);
    const stopAt = Math.min(newZero + item.duration_ms / 1000, newZero + next.endMs / 1000);
    const seg = this.startSegment(item, key, next, newZero, bridgeAt, 0, stopAt, false);
    seg.rate = 1 + shift / span;
    seg.source.playbackRate.setValueAtTime(seg.rate, bridgeAt);
    seg.source.playbackRate.setValueAtTime(1, bridgeAt + span);
    seg.ramp = { zeroBefore: oldZero, at: bridgeAt, span, shift };
    this.segments.push(seg);
    // The piece heard now runs on as scheduled; it is counted as on the
    // new zero, so that it is kept (its end is where the new one starts).
    playing.zero = newZero;
    playing.rate = 1;
    playing.ramp = { zeroBefore: oldZero, at: bridgeAt, span, shift };
    this.follows++;
    return true;
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
      this.segmentPositionS(s, heardCtx) * 1000 < s.piece.startMs + s.source.buffer.duration * 1000);
    const state = this.conn.state;
    const item = state?.queue?.find((it) => it.id === state.current);
    return {
      // The page's local clock (Unix ms) at the instant heard now, and its
      // estimate of the server's clock then.
      localMs: heardLocal,
      serverTimeMs,
      positionMs: seg ? this.segmentPositionS(seg, heardCtx) * 1000 : null,
      contextTime: heardCtx,
      // When what is heard now started to be heard, or when silence began.
      sinceServerMs: seg ? this.ctxToServer(seg.when) : (this.lastStopCtx ? this.ctxToServer(this.lastStopCtx) : null),
      songId: seg ? seg.songId : null,
      itemId: seg ? seg.itemId : null,
      expectedMs: state?.playing ? roomPosition(state, serverTimeMs, item?.duration_ms) : null,
      playing: Boolean(state?.playing),
      audioState: ctx.state,
      outputLatencyMs: (ctx.outputLatency || 0) * 1000,
      outputDelayMs: this.outputDelayS() * 1000,
      // performance.now() - contextTime * 1000 for frames as they are
      // heard (what the schedule is placed by), and its latest measure.
      outputOffsetMs: this.outputOffset(),
      outputOffsetLatestMs: this.outputClock.latest,
      clockOffsetMs: this.clock.offset,
      clockRoundTripMs: this.clock.roundTrip,
      resyncs: this.resyncs,
      follows: this.follows,
      outputSamples: this.outputClock.samples,
      outputSteps: this.outputClock.steps,
      bufferedSeconds: this.bufferedSeconds(),
      piecesFetched: this.piecesFetched,
      piecesAborted: this.piecesAborted,
      // The last wait for the audio at a new position, and the leads this
      // player reports (docs/protocol.md).
      fetchWaitMs: this.fetchWaitMs,
      leadMs: this.clock.neededLeadMs(),
      fetchLeadMs: this.clock.neededFetchLeadMs(),
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
  // Moves the output clock's measures from now on by `ms`, as a step in the
  // output's delay would (the player follows it; the position heard shows it).
  shiftOutput: (ms) => { if (current) current.outputShiftMs += ms; },
  // The scheduled pieces, in context time: when each starts and stops.
  segments: () => (current ? current.segments.map((s) => ({
    songId: s.songId, itemId: s.itemId, pieceStartMs: s.piece.startMs, pieceEndMs: s.piece.endMs,
    when: s.when, offset: s.offset, end: s.naturalEnd ?? null, stopping: s.stopping, rate: s.rate ?? 1,
    rampAt: s.ramp ? s.ramp.at : null, rampEnd: s.ramp ? s.ramp.at + s.ramp.span : null,
  })) : []),
};
