// Shared pieces of the browser tests: a hifi-server of our own on a free
// port with a temporary data dir, generated songs, and Debian's Chromium
// driven by playwright-core (which never downloads a browser).

import { spawn, execFileSync } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const webRoot = path.join(repoRoot, 'web');
export const serverBin = path.resolve(repoRoot, process.env.HIFI_SERVER_BIN || 'build/release/src/hifi-server');
export const chromiumPath = process.env.HIFI_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--autoplay-policy=no-user-gesture-required',
  // Keep timers and audio running at full rate in every context.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export class Server {
  constructor(dataDir, args = []) {
    this.dataDir = dataDir;
    this.args = args;
    this.proc = null;
    this.url = null;
    this.log = '';
  }

  // Starts hifi-server (on `listen`, by default a free port) and resolves
  // once it logs the address it listens on.
  start(listen = '127.0.0.1:0') {
    if (!existsSync(serverBin)) throw new Error(`no hifi-server at ${serverBin} (build it, or set HIFI_SERVER_BIN)`);
    this.proc = spawn(serverBin, ['--listen', listen, '--data-dir', this.dataDir, '--web-root', webRoot, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = this.proc;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hifi-server did not start:\n${this.log}`)), 20000);
      const onData = (chunk) => {
        this.log += chunk.toString();
        const m = this.log.match(/listening on (http:\/\/[\d.]+:\d+)/);
        if (m && !this.url) {
          this.url = m[1];
          clearTimeout(timer);
          resolve(this.url);
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.on('exit', (code) => {
        if (!this.url) { clearTimeout(timer); reject(new Error(`hifi-server exited with ${code}:\n${this.log}`)); }
      });
    });
  }

  async restart() {
    const port = new URL(this.url).port;
    await this.stop();
    this.url = null;
    this.log = '';
    return this.start(`127.0.0.1:${port}`);
  }

  stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), 15000);
      proc.once('exit', () => { clearTimeout(kill); resolve(); });
      proc.kill('SIGTERM');
    });
  }
}

// A one-member etcd cluster on free loopback ports, for tests of a real
// cluster of hifi-server nodes; `endpoint` is its client URL once started.
export class Etcd {
  constructor(dataDir) {
    this.dataDir = dataDir;
    this.proc = null;
    this.endpoint = null;
  }

  async start() {
    const bin = process.env.HIFI_ETCD || 'etcd';
    const [client, peer] = [await freePort(), await freePort()];
    this.endpoint = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    this.proc = spawn(bin, ['--name', 'm1', '--data-dir', this.dataDir,
      '--listen-client-urls', this.endpoint, '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `m1=${peerUrl}`], { stdio: 'ignore' });
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.endpoint}/health`);
        if ((await res.json()).health === 'true') return this.endpoint;
      } catch { /* not up yet */ }
      if (this.proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd (${bin}) did not become healthy`);
  }

  stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }
}

// A loopback port nothing listens on right now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Three short songs with tags (one with embedded cover art), a file that is
// not audio, generated with ffmpeg.
export function generateSongs(dir) {
  const ff = (...args) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
  const cover = path.join(dir, 'cover.png');
  ff('-f', 'lavfi', '-i', 'testsrc2=size=240x240:rate=1', '-frames:v', '1', cover);
  const songs = [
    { file: 'alpha.mp3', title: 'Alpha Tone', artist: 'The Testers', album: 'Signals', freq: 440, seconds: 30,
      codec: ['-c:a', 'libmp3lame', '-b:a', '128k', '-id3v2_version', '3'], cover: true },
    { file: 'bravo.ogg', title: 'Bravo Tone', artist: 'Band of Sines', album: 'Waves', freq: 554, seconds: 30,
      codec: ['-c:a', 'libvorbis', '-q:a', '3'] },
    { file: 'charlie.flac', title: 'Charlie Tone', artist: 'The Testers', album: 'Signals', freq: 659, seconds: 30,
      codec: ['-c:a', 'flac'] },
  ];
  for (const [i, s] of songs.entries()) {
    s.path = path.join(dir, s.file);
    const inputs = ['-f', 'lavfi', '-i', `sine=frequency=${s.freq}:duration=${s.seconds}:sample_rate=44100`];
    const maps = s.cover
      ? ['-i', cover, '-map', '0:a', '-map', '1:v', '-c:v', 'png', '-disposition:v', 'attached_pic',
        '-metadata:s:v', 'title=Album cover', '-metadata:s:v', 'comment=Cover (front)']
      : [];
    ff(...inputs, ...maps, ...s.codec,
      '-metadata', `title=${s.title}`, '-metadata', `artist=${s.artist}`, '-metadata', `album=${s.album}`,
      '-metadata', `track=${i + 1}`, s.path);
  }
  const bogus = path.join(dir, 'not-a-song.mp3');
  writeFileSync(bogus, 'These are not the bytes of a song.\n'.repeat(40));
  return { songs, bogus };
}

export function makeTempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
}

// A page in a fresh browser context (its own storage: its own user), with
// page errors collected for the final check. With clockSkewMs, the pages of
// the context see a wall clock that far ahead of the host's (Date.now() and
// performance.timeOrigin, which the web app's clock sync reads): like a
// device whose clock is off.
export async function newPage(browser, errors, viewport = { width: 1280, height: 860 }, { clockSkewMs = 0 } = {}) {
  const context = await browser.newContext({ viewport });
  if (clockSkewMs) {
    await context.addInitScript((skew) => {
      const origin = performance.timeOrigin + skew;
      Object.defineProperty(Performance.prototype, 'timeOrigin', { get: () => origin, configurable: true });
      const realNow = Date.now;
      Date.now = () => realNow() + skew;
    }, clockSkewMs);
  }
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`${err.message}\n${err.stack || ''}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource|WebSocket connection to/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return page;
}

// Waits until the texts of `selector`'s matches equal `expected` (in order).
export async function waitForTexts(page, selector, expected, timeout = 5000) {
  try {
    await page.waitForFunction(([sel, want]) => {
      const got = [...document.querySelectorAll(sel)].map((e) => e.textContent.trim());
      return JSON.stringify(got) === JSON.stringify(want);
    }, [selector, expected], { timeout });
  } catch (err) {
    const got = await page.$$eval(selector, (els) => els.map((e) => e.textContent.trim()));
    throw new Error(`${selector}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)} (${err.message.split('\n')[0]})`);
  }
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Runs axe-core (npm) on the page as it is now and returns the serious and
// critical violations, each as "rule: target (summary)". axe is evaluated
// through the DevTools protocol, which the app's Content-Security-Policy
// does not apply to, so the app's policy stays as strict as in production.
let axeSource = null;
export async function accessibilityViolations(page, { exclude = [] } = {}) {
  if (!axeSource) {
    const { createRequire } = await import('node:module');
    const { readFileSync } = await import('node:fs');
    axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  }
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (excluded) => {
    const result = await window.axe.run({ exclude: excluded.map((s) => [s]) }, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
    }));
  }, exclude);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.targets.join(', ')} (${v.help})`);
}

// ---- a test file's fixtures ---------------------------------------------------

// A test file's server and browser: a temporary directory with the
// generated songs (generateSongs), a hifi-server with its data directory
// there, and Chromium. Stop them with stopSuite() (after()).
export async function startSuite(prefix, serverArgs = []) {
  const suite = { tmp: makeTempDir(prefix) };
  try {
    Object.assign(suite, generateSongs(suite.tmp));
    suite.server = new Server(path.join(suite.tmp, 'data'), serverArgs);
    await suite.server.start();
    suite.browser = await launchBrowser();
    return suite;
  } catch (err) {
    await stopSuite(suite);
    throw err;
  }
}

export async function stopSuite({ browser, server, tmp }) {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (tmp) removeDir(tmp);
}

// Screenshots for looking at the UI (kept in test-results/, not committed).
export async function shot(page, name, fullPage = false) {
  await page.screenshot({ path: path.join(repoRoot, 'tests', 'browser', 'test-results', `${name}.png`), fullPage });
}

// The screens the docs show: written to docs/ with HIFI_SCREENSHOTS=docs,
// else to test-results/ like the others.
export async function docsShot(page, name) {
  const dir = process.env.HIFI_SCREENSHOTS === 'docs' ? path.join(repoRoot, 'docs') : path.join(repoRoot, 'tests', 'browser', 'test-results');
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

// ---- accounts -----------------------------------------------------------------

// Fills in and sends the sign-in form on the page.
export async function submitSignIn(page, username, password) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// From the sign-in page: "Create an account", fills in the form and sends it.
export async function submitRegistration(page, username, password) {
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
}

// A call to the server's API with a bearer token: {status, body (JSON or null)}.
export async function apiCall(base, token, method, p, json) {
  const res = await fetch(`${base}${p}`, {
    method, headers: { Authorization: `Bearer ${token}`, ...(json ? { 'Content-Type': 'application/json' } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const type = res.headers.get('content-type') || '';
  return { status: res.status, body: /json/.test(type) ? await res.json() : null };
}

// Registers an account through the API and signs in (as `userAgent`, when
// given): the session's token.
export async function createAccount(base, username, password, userAgent = null) {
  const json = { 'Content-Type': 'application/json' };
  const reg = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST', headers: json, body: JSON.stringify({ username, password }),
  });
  assert.equal(reg.status, 201, `register ${username}`);
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST', headers: userAgent ? { ...json, 'User-Agent': userAgent } : json, body: JSON.stringify({ username, password }),
  });
  return (await res.json()).token;
}
