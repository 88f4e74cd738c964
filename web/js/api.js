// HiFi's HTTP API: fetch with the bearer token, problem+json errors, the
// session in localStorage, cover images as object URLs, and the list of
// cluster members to fall back on when this node stops answering.

const SESSION_KEY = 'hifi.session';
const SERVERS_KEY = 'hifi.servers';

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.type = problem.type || '';
    this.title = problem.title || '';
    this.detail = problem.detail || '';
    this.problem = problem;
  }
  // The stable part of the problem type: "urn:hifi:problem:not-found" -> "not-found".
  get slug() { return this.type.replace(/^urn:hifi:problem:/, ''); }
}

// A network failure (no HTTP answer at all), as opposed to an ApiError.
export class NetworkError extends Error {
  constructor(message) { super(message); this.name = 'NetworkError'; }
}

function trimSlash(url) { return url.replace(/\/+$/, ''); }

// "http://host:port/..." or "host:port" -> "http://host:port"; null when not
// an http(s) URL.
// The member a draining node's 503 names (an origin), or null for any other
// answer. Reads a clone, so the response stays readable.
export async function drainingMember(res) {
  if (res.status !== 503) return null;
  try {
    const body = await res.clone().json();
    return body?.type === 'urn:hifi:problem:draining' && body.member ? serverOrigin(body.member) : null;
  } catch {
    return null;
  }
}

export function serverOrigin(url) {
  if (typeof url !== 'string' || !url.trim()) return null;
  const text = url.trim();
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return trimSlash(u.origin);
  } catch {
    return null;
  }
}

const num = (v) => (Number.isFinite(v) ? v : null);

// A /api/v1/cluster answer (docs/api.yaml), or one of the older shapes
// ("members", "items" or "nodes" holding URLs, or objects with "url",
// "public_url" or "address"), in the shape api.cluster has.
export function parseCluster(res) {
  const list = Array.isArray(res) ? res : (res?.members || res?.items || res?.nodes || []);
  const leader = typeof res?.leader === 'string' ? res.leader : null;
  const members = [];
  for (const m of Array.isArray(list) ? list : []) {
    const raw = typeof m === 'string' ? m : (m?.advertise || m?.url || m?.public_url || m?.address);
    const url = serverOrigin(raw);
    if (!url) continue;
    const o = typeof m === 'object' && m ? m : {};
    const load = o.load && typeof o.load === 'object' ? {
      activeStreams: num(o.load.active_streams) ?? 0,
      connections: num(o.load.connections) ?? 0,
      websockets: num(o.load.websockets) ?? 0,
      bytesPerSecond: num(o.load.bytes_per_second) ?? 0,
    } : null;
    members.push({
      id: typeof o.id === 'string' ? o.id : '',
      url,
      health: typeof o.health === 'string' ? o.health : '',
      leader: o.leader === true || (leader !== null && o.id === leader),
      self: o.self === true || (typeof res?.self === 'string' && o.id === res.self),
      load,
      rank: Number.isInteger(o.rank) && o.rank >= 0 ? o.rank : null,
      diskFree: num(o.disk_free_bytes),
      diskTotal: num(o.disk_total_bytes),
      version: typeof o.version === 'string' ? o.version : '',
    });
  }
  return {
    available: true,
    self: typeof res?.self === 'string' ? res.self : null,
    leader,
    // Admins are told the leader, R and each member's load and disk; other
    // users each member's address, health and load rank.
    detailed: Boolean(res && typeof res === 'object' && !Array.isArray(res) && 'leader' in res),
    replicationFactor: num(res?.replication_factor),
    members,
    at: Date.now(),
  };
}

class Api extends EventTarget {
  constructor() {
    super();
    const saved = readJson(SESSION_KEY);
    this.token = saved?.token || null;
    this.user = saved?.user || null;
    this.expiresAt = saved?.expires_at || 0;
    // Servers this page may talk to: the origin that served it first, then
    // cluster members learned from /api/v1/cluster (when the node has it).
    const known = readJson(SERVERS_KEY);
    this.servers = [location.origin];
    for (const s of Array.isArray(known) ? known : []) this.addServer(s, false);
    this.active = 0;
    this.health = null;
    this.cluster = null;       // from discoverCluster()
    this.clusterError = null;  // why the last discoverCluster() failed
    this.clusterPromise = null;
  }

  get base() { return this.servers[this.active] || location.origin; }
  get signedIn() { return Boolean(this.token); }

  addServer(url, persist = true) {
    const origin = serverOrigin(url);
    if (!origin) return;
    if (!this.servers.includes(origin)) this.servers.push(origin);
    if (persist) localStorage.setItem(SERVERS_KEY, JSON.stringify(this.servers.slice(1)));
  }

  // Moves to the next server of the list (after a network failure).
  failover() {
    if (this.servers.length < 2) return false;
    this.active = (this.active + 1) % this.servers.length;
    this.dispatchEvent(new CustomEvent('server', { detail: this.base }));
    return true;
  }

  url(path, query, base = this.base) {
    const u = new URL(path, base + '/');
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
    }
    return u.toString();
  }

  wsUrl(path, query, base = this.base) {
    const u = new URL(this.url(path, query, base));
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  authHeaders() {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  // request('GET', '/api/v1/songs', {query, json, signal}) -> parsed JSON (or null).
  // Throws ApiError for an HTTP error, NetworkError when no server answers,
  // and the AbortError of `signal`.
  async request(method, path, { query, json, body, headers, signal, auth = true } = {}) {
    const init = { method, headers: { Accept: 'application/json', ...(auth ? this.authHeaders() : {}), ...headers }, signal };
    if (json !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    } else if (body !== undefined) {
      init.body = body;
    }
    const res = await this.fetchWithFailover(path, query, init);
    return this.parse(res, auth);
  }

  async fetchWithFailover(path, query, init) {
    let lastError;
    // Try the active server, then each other member once.
    for (let tried = 0; tried < this.servers.length; tried++) {
      let res;
      try {
        res = await fetch(this.url(path, query), init);
      } catch (err) {
        if (err.name === 'AbortError') throw err;
        lastError = err;
        if (!this.failover()) break;
        continue;
      }
      // A node leaving the cluster names one to use instead: go there.
      const member = await drainingMember(res);
      if (!member) return res;
      this.addServer(member);
      this.active = this.servers.indexOf(member);
      this.dispatchEvent(new CustomEvent('server', { detail: this.base }));
      lastError = new Error('the node is leaving the cluster');
    }
    throw new NetworkError(`cannot reach the server (${lastError?.message || 'network error'})`);
  }

  async parse(res, authed) {
    const type = res.headers.get('Content-Type') || '';
    let data = null;
    if (res.status !== 204 && /json/.test(type)) {
      try { data = await res.json(); } catch { data = null; }
    } else if (!res.ok) {
      data = { title: res.statusText, detail: (await res.text().catch(() => '')).slice(0, 300) };
    }
    if (!res.ok) {
      const err = new ApiError(res.status, data || {});
      if (res.status === 401 && authed && this.token) {
        this.clearSession();
        this.dispatchEvent(new CustomEvent('unauthorized'));
      }
      throw err;
    }
    return data;
  }

  get(path, query, opts = {}) { return this.request('GET', path, { ...opts, query }); }
  post(path, json, opts = {}) { return this.request('POST', path, { ...opts, json }); }

  async healthz() {
    this.health = await this.request('GET', '/healthz', { auth: false });
    return this.health;
  }

  // deviceName (optional) names the session in the list of signed-in sessions.
  async login(username, password, deviceName) {
    const json = { username, password };
    if (deviceName) json.device_name = deviceName;
    const res = await this.request('POST', '/api/v1/auth/login', { json, auth: false });
    this.setSession(res);
    return res.user;
  }

  register(username, password, inviteCode) {
    const json = { username, password };
    if (inviteCode) json.invite_code = inviteCode;
    return this.request('POST', '/api/v1/auth/register', { json, auth: false });
  }

  async logout() {
    try { await this.request('POST', '/api/v1/auth/logout'); } catch { /* signing out anyway */ }
    this.clearSession();
  }

  setSession({ token, user, expires_at: expiresAt }) {
    this.token = token;
    this.user = user;
    this.expiresAt = expiresAt;
    localStorage.setItem(SESSION_KEY, JSON.stringify({ token, user, expires_at: expiresAt }));
    this.dispatchEvent(new CustomEvent('session'));
  }

  clearSession() {
    this.token = null;
    this.user = null;
    localStorage.removeItem(SESSION_KEY);
    coverCache.clear();
    this.dispatchEvent(new CustomEvent('session'));
  }

  // Learns the members of the cluster and their load, when the node can
  // tell (GET /api/v1/cluster, signed in). Returns this.cluster:
  //   {available, self, leader, detailed, replicationFactor, members: [{id, url,
  //    health, leader, self, rank, load: {activeStreams, connections, websockets,
  //    bytesPerSecond}, diskFree, diskTotal, version}], at}
  // (load, disk, version and the leader for admins only: null otherwise)
  // available is false when the node has no such route (an older server).
  // Concurrent calls share one request.
  discoverCluster() {
    if (!this.clusterPromise) {
      this.clusterPromise = this.fetchCluster().finally(() => { this.clusterPromise = null; });
    }
    return this.clusterPromise;
  }

  async fetchCluster() {
    try {
      const res = await this.request('GET', '/api/v1/cluster');
      this.cluster = parseCluster(res);
      this.clusterError = null;
      for (const m of this.cluster.members) this.addServer(m.url);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.cluster = { ...parseCluster(null), available: false };
        this.clusterError = null;
      } else {
        this.clusterError = err; // offline or another error: keep what we know
      }
    }
    this.dispatchEvent(new CustomEvent('cluster', { detail: this.cluster }));
    return this.cluster;
  }

  // Servers in the order a long-lived connection (a room's WebSocket) should
  // try them: the cluster's members least loaded first (by rank, else
  // fewest active streams, then fewest connections; equals in random
  // order), then the other servers this page knows.
  spreadOrder() {
    const members = (this.cluster?.members || []).filter((m) => m.url)
      .map((m) => ({ m, tie: Math.random() }));
    const loadOf = (m) => {
      if (m.rank === null && !m.load) return [1, 0, 0, 0];
      return [0, m.rank ?? 0, m.load?.activeStreams ?? 0, m.load?.connections ?? 0];
    };
    members.sort((a, b) => {
      const la = loadOf(a.m);
      const lb = loadOf(b.m);
      for (let i = 0; i < la.length; i++) if (la[i] !== lb[i]) return la[i] - lb[i];
      return a.tie - b.tie;
    });
    const out = [];
    for (const url of [...members.map((x) => x.m.url), this.base, ...this.servers]) {
      if (url && !out.includes(url)) out.push(url);
    }
    return out;
  }

  // Covers need the bearer header, so <img> cannot load them directly: fetch
  // them and hand out object URLs (cached, least recently used evicted).
  cover(path) {
    if (!path) return Promise.resolve(null);
    const hit = coverCache.get(path);
    if (hit) {
      coverCache.delete(path);
      coverCache.set(path, hit);
      return hit.promise;
    }
    const entry = { url: null };
    entry.promise = fetch(this.url(path), { headers: this.authHeaders() })
      .then((res) => (res.ok ? res.blob() : null))
      .then((blob) => {
        if (!blob) return null;
        entry.url = URL.createObjectURL(blob);
        return entry.url;
      })
      .catch(() => null);
    coverCache.set(path, entry);
    while (coverCache.size > COVER_CACHE_SIZE) {
      const [oldKey, old] = coverCache.entries().next().value;
      coverCache.delete(oldKey);
      old.promise.then(() => { if (old.url) URL.revokeObjectURL(old.url); });
    }
    return entry.promise;
  }

  // A signed URL that needs no header (for fetch of the audio and downloads).
  async streamUrl(songId) {
    const res = await this.get(`/api/v1/songs/${encodeURIComponent(songId)}/stream-url`);
    return { url: this.url(res.url), expiresAt: res.expires_at };
  }
}

const COVER_CACHE_SIZE = 300;
const coverCache = new Map();
coverCache.clear = function clearCovers() {
  for (const entry of this.values()) if (entry.url) URL.revokeObjectURL(entry.url);
  Map.prototype.clear.call(this);
};

function readJson(key) {
  try { return JSON.parse(localStorage.getItem(key) || 'null'); } catch { return null; }
}

// One shared client for the whole page.
export const api = new Api();

// Song metadata by id, shared by the library, the queue and the player.
const songCache = new Map();
export function rememberSongs(songs) {
  for (const s of songs) songCache.set(s.id, Promise.resolve(s));
}
export function getSong(id) {
  let p = songCache.get(id);
  if (!p) {
    p = api.get(`/api/v1/songs/${encodeURIComponent(id)}`).catch((err) => {
      if (err instanceof ApiError && err.status === 404) {
        return { id, title: 'Song no longer in the library', artist: '', album: '', duration_ms: 0, cover_url: null, missing: true };
      }
      songCache.delete(id); // try again next time
      throw err;
    });
    songCache.set(id, p);
  }
  return p;
}

// A readable message for any error a view may show.
export function describeError(err) {
  if (err instanceof ApiError) return err.detail || err.title || `Error ${err.status}`;
  if (err instanceof NetworkError) return 'The server cannot be reached. Check your connection.';
  return err?.message || String(err);
}
