// The web app while the node it uses leaves the cluster: two real
// hifi-server nodes on a real etcd member; a page listening in a room on one
// of them; that node is drained (POST /api/v1/cluster/members/{id}/drain).
// The room's socket is told to move and reconnects to the other node, the
// page's API calls follow the node's 503 "draining" to the member it names,
// and a command given through the other node reaches the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  Server, Etcd, makeTempDir, removeDir, launchBrowser, newPage, generateSongs,
} from './harness.mjs';

const PASSWORD = 'correct horse battery';
const T = { timeout: 90000 };

let tmp;
let etcd;
let nodes = [];
let browser;
let songs;
const errors = [];

before(async () => {
  tmp = makeTempDir('hifi-drain-');
  ({ songs } = generateSongs(tmp));
  etcd = new Etcd(path.join(tmp, 'etcd'));
  await etcd.start();
  process.env.HIFI_CLUSTER_SECRET = 'browser-drain-secret-0123456789';
  for (const name of ['a', 'b']) {
    const node = new Server(path.join(tmp, name), ['--etcd', etcd.endpoint, '--member-ttl', '2s', '--replicas', '2']);
    await node.start();
    nodes.push(node);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const node of nodes) await node.stop();
  await etcd?.stop();
  if (tmp) removeDir(tmp);
});

async function call(base, method, urlPath, { token, json, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const res = await fetch(`${base}${urlPath}`, init);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

test('a page in a room moves to another node when its node drains, without a reload', T, async () => {
  const [a, b] = nodes;
  await call(a.url, 'POST', '/api/v1/auth/register', { json: { username: 'alice', password: PASSWORD } });
  const login = await call(b.url, 'POST', '/api/v1/auth/login', { json: { username: 'alice', password: PASSWORD } });
  assert.equal(login.status, 200);
  const token = login.json.token;
  const { readFileSync } = await import('node:fs');
  const up = await call(a.url, 'POST', '/api/v1/songs', {
    token, body: readFileSync(songs[2].path), headers: { 'Content-Type': 'audio/flac' },
  });
  assert.equal(up.status, 201, JSON.stringify(up.json));
  const room = await call(a.url, 'POST', '/api/v1/rooms', { token, json: { name: 'Leaving party' } });
  assert.equal(room.status, 201);
  const roomId = room.json.id;
  await call(a.url, 'POST', `/api/v1/rooms/${roomId}/commands`, { token, json: { type: 'add', song_ids: [up.json.id] } });

  // Both nodes see each other before the page asks for the members.
  for (let i = 0; i < 100; i++) {
    const view = await call(a.url, 'GET', '/api/v1/cluster', { token });
    if (view.json.members.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const members = (await call(a.url, 'GET', '/api/v1/cluster', { token })).json.members;
  assert.equal(members.length, 2);

  const page = await newPage(browser, errors);
  // Every WebSocket the page opens, in order.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.socketsOpened = [];
    window.socketsConnecting = 0;
    window.socketsOpen = new Set(); // the paths (rooms) of the sockets open now
    window.WebSocket = class extends Native {
      constructor(url, protocols) {
        super(url, protocols);
        window.socketsOpened.push(String(url));
        window.socketsConnecting++;
        const path = new URL(String(url)).pathname;
        let connecting = true;
        const settled = () => { if (connecting) { connecting = false; window.socketsConnecting--; } };
        this.addEventListener('open', () => { settled(); window.socketsOpen.add(path); });
        this.addEventListener('close', () => { settled(); window.socketsOpen.delete(path); });
      }
    };
  });
  await page.goto(a.url);
  await page.evaluate((session) => localStorage.setItem('hifi.session', JSON.stringify(session)),
    { token, expires_at: login.json.expires_at, user: login.json.user });
  await page.goto(`${a.url}/#/rooms/${roomId}`);
  await page.reload(); // signed in
  const connected = page.locator('.conn', { hasText: 'Connected to' });
  await connected.waitFor({ timeout: 15000 });
  const hostPort = (await connected.textContent()).match(/Connected to (\S+)/)[1];
  const leaving = [a, b].find((n) => n.url.endsWith(hostPort));
  const staying = leaving === a ? b : a;
  assert.ok(leaving, `connected to ${hostPort}, one of the nodes`);
  const leavingId = members.find((m) => m.advertise === leaving.url).id;

  // The page has two rooms open: the one shown and the user's own (personal
  // playback). Both are connected, and no socket is still on its way, before
  // the drain: what opens after it is the move.
  await page.waitForFunction(() => window.socketsOpen.size >= 2 && window.socketsConnecting === 0,
    null, { timeout: 15000 });
  const openedBefore = await page.evaluate(() => window.socketsOpened.length);
  const asked = await call(staying.url, 'POST', `/api/v1/cluster/members/${leavingId}/drain`, { token });
  assert.equal(asked.status, 202, JSON.stringify(asked.json));
  const stayingHost = new URL(staying.url).host;
  await page.locator('.conn', { hasText: `Connected to ${stayingHost}` }).waitFor({ timeout: 20000 });
  // The drained node exits by itself (0) once its copies are elsewhere.
  const code = await new Promise((resolve) => {
    if (leaving.proc.exitCode !== null) resolve(leaving.proc.exitCode);
    leaving.proc.once('exit', (c) => resolve(c));
  });
  assert.equal(code, 0, leaving.log.slice(-2000));
  assert.match(leaving.log, /told to move to/);
  // Told where to go, the socket went straight there: it never tried the
  // leaving node again.
  const sockets = (await page.evaluate(() => window.socketsOpened)).slice(openedBefore).map((u) => new URL(u).host);
  assert.ok(sockets.length > 0);
  assert.deepEqual(sockets.filter((h) => h !== stayingHost), [], sockets.join(', '));

  // A command through the node that stays reaches the page.
  const play = await call(staying.url, 'POST', `/api/v1/rooms/${roomId}/commands`, { token, json: { type: 'play' } });
  assert.equal(play.status, 200);
  await page.getByRole('button', { name: 'Pause' }).first().waitFor({ timeout: 10000 });
  // The page's API calls go to a node that answers.
  const me = await page.evaluate(async () => {
    const { api } = await import('/js/api.js');
    return (await api.get('/api/v1/me')).username;
  });
  assert.equal(me, 'alice');
  assert.deepEqual(errors, []);
  await page.context().close();
});
