// The room's WebSocket: follows the room's state, keeps the clock in sync,
// reconnects by itself (with ?since= and backoff) and, when its node stops
// answering, moves to another member of the cluster. It joins the
// least-loaded member (api.spreadOrder()), and keeps the member list fresh
// while the room is open.

import { api, ApiError, serverOrigin } from './api.js';
import { ClockSync } from './clock.js';
import { thisDevice } from './device.js';

const BURST = 10;             // time requests at (re)connection...
const BURST_GAP_MS = 10;      // ...this far apart (the player waits for clock.synced),
const SYNC_EVERY_MS = 1000;   // then steadily, to average jitter out and follow drift;
const SYNC_JITTERY_MS = 200;  // more often on a path whose round trips vary a lot.
const SILENCE_LIMIT_MS = 12000; // no message for this long: the link is dead.
const MAX_BACKOFF_MS = 8000;
const CLUSTER_REFRESH_MS = 30000; // how often the member list is refreshed

export class RoomConnection extends EventTarget {
  constructor(roomId) {
    super();
    this.roomId = roomId;
    this.room = null;        // {id, name, owner, created_at}
    this.state = null;       // the room state (docs/protocol.md)
    this.revision = 0;
    this.listeners = [];     // the first listeners by username (the server lists at most 50)
    this.listenerCount = 0;  // how many listen in all
    this.status = 'idle';    // idle | connecting | open | waiting | deleted | closed | error
    this.statusDetail = '';
    this.clock = new ClockSync();
    this.ws = null;
    this.attempt = 0;
    this.failuresHere = 0;
    this.timers = new Set();
    this.syncTimer = 0;
    this.watchdog = 0;
    this.lastMessageAt = 0;
    this.closed = false;
    this.retryAt = 0;
    this.server = null;      // the node the socket goes (or last went) to
    this.failed = new Set(); // nodes that failed since the last good connection
    this.moveTo = null;      // where a draining node told this socket to go
    this.clusterTimer = 0;
    this.onOnline = () => { if (this.status === 'waiting') this.connectNow(); };
    window.addEventListener('online', this.onOnline);
  }

  async open() {
    this.closed = false;
    this.setStatus('connecting', '');
    clearInterval(this.clusterTimer);
    this.clusterTimer = setInterval(() => api.discoverCluster(), CLUSTER_REFRESH_MS);
    // Know the members and their load before choosing one (briefly: an
    // older or slow node must not hold the room up).
    await Promise.race([api.discoverCluster(), new Promise((resolve) => setTimeout(resolve, 1500))]);
    if (!this.closed && !this.ws) this.connect();
  }

  close() {
    this.closed = true;
    clearInterval(this.clusterTimer);
    window.removeEventListener('online', this.onOnline);
    this.teardown();
    this.setStatus('closed');
  }

  // The node to connect to: the current one while it works, else the
  // least-loaded member that has not failed lately.
  chooseServer() {
    if (this.server) return this.server;
    const order = api.spreadOrder();
    let candidates = order.filter((s) => !this.failed.has(s));
    if (!candidates.length) {
      // Every node failed: start over, from the least loaded.
      this.failed.clear();
      candidates = order;
    }
    this.server = candidates[0] || api.base;
    return this.server;
  }

  // The listing of a state or a presence message; servers from before
  // listings were bounded send no count and list everyone.
  takeListeners(o) {
    if (!Array.isArray(o?.listeners)) return;
    this.listeners = o.listeners;
    this.listenerCount = Number.isInteger(o.listener_count) ? o.listener_count : o.listeners.length;
  }

  // Applies a state from a command's answer or a 409 problem, when newer.
  applyState(state) {
    if (!state || typeof state.revision !== 'number') return;
    if (state.revision <= this.revision) return;
    this.revision = state.revision;
    this.state = state;
    this.takeListeners(state);
    this.emit('state', { command: null });
  }

  // Sends a command to the room (docs/protocol.md) and applies the state
  // it answers with; resolves to the room.
  async command(body) {
    try {
      const room = await api.post(`/api/v1/rooms/${encodeURIComponent(this.roomId)}/commands`, body);
      this.applyState(room?.state);
      return room;
    } catch (err) {
      // A failed precondition carries the room as it is now: catch up at once.
      if (err instanceof ApiError && err.problem?.state) this.applyState(err.problem.state);
      throw err;
    }
  }

  emit(kind, detail = {}) {
    this.dispatchEvent(new CustomEvent('change', { detail: { kind, ...detail } }));
  }

  setStatus(status, detail = '') {
    this.status = status;
    this.statusDetail = detail;
    this.emit('status');
  }

  later(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  teardown() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.syncTimer);
    clearInterval(this.watchdog);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
  }

  connectNow() {
    this.teardown();
    this.connect();
  }

  connect() {
    if (this.closed) return;
    // Which of the user's devices this is (the room lists them, and a
    // personal room says which one plays).
    const device = thisDevice();
    const query = { access_token: api.token, device: device.id, device_name: device.name };
    if (this.revision > 0) query.since = this.revision;
    const server = this.chooseServer();
    this.setStatus('connecting', server);
    let ws;
    try {
      ws = new WebSocket(api.wsUrl(`/api/v1/rooms/${encodeURIComponent(this.roomId)}/ws`, query, server));
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.failuresHere = 0;
      this.failed.clear();
      this.lastMessageAt = performance.now();
      this.setStatus('open', server);
      this.startClockSync();
      this.watchdog = setInterval(() => {
        if (performance.now() - this.lastMessageAt > SILENCE_LIMIT_MS) {
          this.teardown();
          this.scheduleReconnect('no answer from the server');
        }
      }, 2000);
    };
    ws.onmessage = (e) => this.onMessage(e.data);
    ws.onerror = () => { /* onclose follows with the details */ };
    ws.onclose = (e) => {
      this.ws = null;
      this.teardown();
      if (this.closed || this.status === 'deleted') return;
      if (e.code === 4401 || e.code === 1008) { this.setStatus('error', 'not allowed'); return; }
      if (this.moveTo) {
        // Told where to go: reconnect there at once (with since=), keeping
        // the clock estimate (same cluster, same time) so playback goes on.
        this.server = this.moveTo;
        this.moveTo = null;
        this.clock.carryOver();
        this.attempt = 0;
        this.failuresHere = 0;
        this.setStatus('waiting', `moving to ${this.server}`);
        this.later(() => this.connect(), 0);
        return;
      }
      if (!opened) this.failuresHere++;
      this.scheduleReconnect(opened ? 'connection lost' : 'cannot connect');
    };
  }

  scheduleReconnect(reason) {
    if (this.closed) return;
    // Failing to connect may mean the room is gone or the session expired,
    // which the WebSocket cannot tell us: ask over HTTP (a 401 signs out).
    if (this.failuresHere > 0) this.checkRoom();
    // Two failed attempts in a row on this node: try the least-loaded of the
    // other members (with a fresh member list, when it comes in time).
    if (this.failuresHere >= 2 && this.server && api.spreadOrder().some((s) => s !== this.server)) {
      this.failed.add(this.server);
      this.server = null;
      this.failuresHere = 0;
      this.clock.reset(); // another node: another clock offset
      api.discoverCluster();
    }
    const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt);
    const delay = this.attempt === 0 ? 100 : base / 2 + Math.random() * base / 2;
    this.attempt++;
    this.retryAt = performance.now() + delay;
    this.setStatus('waiting', reason);
    this.later(() => this.connect(), delay);
  }

  async checkRoom() {
    try {
      await api.get(`/api/v1/rooms/${encodeURIComponent(this.roomId)}`);
    } catch (err) {
      if (err.status === 404) {
        this.teardown();
        this.setStatus('deleted', 'the room no longer exists');
      } else if (err.status === 401) {
        this.close();
      }
    }
  }

  startClockSync() {
    for (let i = 0; i < BURST; i++) this.later(() => this.send(this.clock.request()), i * BURST_GAP_MS);
    // Its interval follows the jitter of the round trips.
    this.startClockTimer(SYNC_EVERY_MS);
  }

  startClockTimer(every) {
    clearInterval(this.syncTimer);
    this.syncEvery = every;
    this.syncTimer = setInterval(() => {
      this.send(this.clock.request());
      const want = this.clock.jittery ? SYNC_JITTERY_MS : SYNC_EVERY_MS;
      if (want !== this.syncEvery) this.startClockTimer(want);
    }, every);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  onMessage(data) {
    const t3 = performance.timeOrigin + performance.now();
    this.lastMessageAt = performance.now();
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    switch (msg.type) {
      case 'time': {
        // first: the estimate just became good enough to play by.
        const was = this.clock.synced;
        if (this.clock.addSample(msg, t3)) this.emit('clock', { first: !was && this.clock.synced });
        break;
      }
      case 'snapshot':
        this.room = msg.room;
        this.revision = msg.revision;
        this.state = msg.state;
        this.takeListeners(msg.state);
        this.emit('snapshot');
        this.emit('state', { command: null });
        break;
      case 'state':
        if (msg.revision <= this.revision) break; // old news
        this.revision = msg.revision;
        this.state = msg.state;
        this.takeListeners(msg.state);
        this.emit('state', { command: msg.command });
        break;
      case 'presence':
        this.takeListeners(msg);
        if (this.state) this.state = { ...this.state, listeners: this.listeners, listener_count: this.listenerCount };
        this.emit('presence');
        break;
      case 'deleted':
        this.teardown();
        this.setStatus('deleted', 'the room was deleted');
        break;
      case 'move': {
        // This node is leaving the cluster; it closes the socket next.
        const to = serverOrigin(msg.to);
        if (to) {
          api.addServer(to);
          this.moveTo = to;
        }
        break;
      }
      case 'error':
        console.warn('room socket error', msg.code, msg.detail);
        if (msg.code === 'not-found') {
          this.teardown();
          this.setStatus('deleted', msg.detail || 'the room no longer exists');
        }
        break;
      default:
        break; // pong and future types
    }
  }
}
