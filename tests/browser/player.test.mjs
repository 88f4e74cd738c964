// Browser tests of personal listening: the user's own room followed from
// two devices (two browser contexts signed in as the same user: a laptop
// and a phone), the now-playing bar, the full player and its queue, which
// device plays, Media Session, keyboard shortcuts, the manifest and phone
// widths. Debian's Chromium driven by playwright-core, against a
// hifi-server of our own.
//
//   cd tests/browser && node --test --test-reporter=spec player.test.mjs
//   (HIFI_SERVER_BIN=build/<dir>/src/hifi-server to pick the binary)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import {
  Server, generateSongs, makeTempDir, removeDir, launchBrowser, newPage, waitForTexts, accessibilityViolations,
} from './harness.mjs';

const PASSWORD = 'correct horse battery';
const T = { timeout: 60000 };

let tmp;
let server;
let browser;
let songs;
let laptop; // alice's first device
let phone;  // alice's second device, 390 px wide
const ids = {}; // title -> song id
const errors = [];

before(async () => {
  tmp = makeTempDir('hifi-player-');
  ({ songs } = generateSongs(tmp));
  server = new Server(path.join(tmp, 'data'));
  await server.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (tmp) removeDir(tmp);
});

async function signedIn(page) {
  // (The account name is not shown on phones; it is there all the same.)
  await page.waitForFunction(() => !document.querySelector('.account').hidden &&
    document.querySelector('.account-name').textContent === 'alice', null, { timeout: 10000 });
}

async function register(page, username) {
  await page.goto(server.url);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await signedIn(page);
}

async function signIn(page, username) {
  await page.goto(server.url);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signedIn(page);
}

// Calls a function of /js/playback.js in the page, e.g. pb(page, 'playSongs', [ids]).
function pb(page, fn, args = []) {
  return page.evaluate(async ([name, list]) => {
    const m = await import('/js/playback.js');
    const out = await m[name](...list);
    return out === undefined ? null : JSON.parse(JSON.stringify(out));
  }, [fn, args]);
}

const state = (page) => page.evaluate(async () => {
  const m = await import('/js/playback.js');
  return m.personalSession()?.conn.state || null;
});

const heard = (page) => page.evaluate(() => window.__hifiTest.position());
const signal = (page) => page.evaluate(() => window.__hifiTest.signal());
const bar = (page) => page.locator('.nowbar');

async function waitFor(page, fn, arg, timeout = 5000) {
  return page.waitForFunction(fn, arg, { timeout, polling: 50 });
}

// Waits until what the page hears has moved on by `ms`.
async function hearsAdvance(page, ms = 600) {
  await waitFor(page, () => window.__hifiTest.position()?.positionMs > 0, null, 10000);
  const from = (await heard(page)).positionMs;
  await waitFor(page, ([f, d]) => window.__hifiTest.position()?.positionMs >= f + d, [from, ms], 5000);
}

const sounds = (page, timeout = 5000) => waitFor(page, () => (window.__hifiTest.signal()?.rms || 0) > 0.05, null, timeout);
const silent = (page, timeout = 5000) => waitFor(page, () => {
  const s = window.__hifiTest.signal();
  return !s || s.rms < 0.001;
}, null, timeout);

test('sign in on two devices and upload three songs', T, async () => {
  laptop = await newPage(browser, errors);
  await register(laptop, 'alice');
  const token = await laptop.evaluate(async () => (await import('/js/api.js')).api.token);
  for (const s of songs) {
    const res = await fetch(`${server.url}/api/v1/songs`, {
      method: 'POST', body: readFileSync(s.path),
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream', 'X-Filename': s.file },
    });
    const body = await res.json();
    assert.equal(res.status, 201, JSON.stringify(body));
    ids[s.title] = body.id;
  }
  phone = await newPage(browser, errors, { width: 390, height: 844 });
  await signIn(phone, 'alice');
  // Nothing plays yet: no bar.
  assert.equal(await bar(laptop).isHidden(), true);
});

test('play songs for yourself: the bar shows the song and the position heard advances', T, async () => {
  await pb(laptop, 'playSongs', [[ids['Alpha Tone'], ids['Bravo Tone'], ids['Charlie Tone']]]);
  await bar(laptop).locator('.nb-title', { hasText: 'Alpha Tone' }).waitFor();
  await bar(laptop).locator('.nb-artist', { hasText: 'The Testers' }).waitFor();
  await bar(laptop).getByRole('button', { name: 'Pause', exact: true }).waitFor();
  const st = await state(laptop);
  assert.deepEqual(st.queue.map((it) => it.song_id), [ids['Alpha Tone'], ids['Bravo Tone'], ids['Charlie Tone']]);
  assert.equal(st.playing, true);
  await hearsAdvance(laptop);
  await sounds(laptop);
  const p = await heard(laptop);
  assert.equal(p.songId, ids['Alpha Tone']);
  // The bar's progress follows.
  await waitFor(laptop, () => Number(document.querySelector('.nb-seek').value) >= 1000);
});

test('the other device shows the same song, pauses it, and the first one stops', T, async () => {
  await bar(phone).locator('.nb-title', { hasText: 'Alpha Tone' }).waitFor();
  await bar(phone).getByRole('button', { name: 'Pause', exact: true }).click();
  await bar(laptop).getByRole('button', { name: 'Play', exact: true }).waitFor({ timeout: 2000 });
  // Nothing is heard any more, and the position stays where it stopped.
  await waitFor(laptop, () => window.__hifiTest.position()?.positionMs === null);
  await silent(laptop, 2000);
  const a = await pb(laptop, 'positionNow');
  await laptop.waitForFunction(() => new Promise((resolve) => setTimeout(() => resolve(true), 300)));
  const b = await pb(laptop, 'positionNow');
  assert.equal(a, b);
  // And the phone plays it again.
  await bar(phone).getByRole('button', { name: 'Play', exact: true }).click();
  await bar(laptop).getByRole('button', { name: 'Pause', exact: true }).waitFor({ timeout: 2000 });
  await hearsAdvance(laptop);
});

test('Media Session: the song\'s metadata and the playback state', T, async () => {
  await waitFor(laptop, () => navigator.mediaSession.metadata?.title === 'Alpha Tone');
  const meta = await laptop.evaluate(() => ({
    title: navigator.mediaSession.metadata.title, artist: navigator.mediaSession.metadata.artist,
    album: navigator.mediaSession.metadata.album, state: navigator.mediaSession.playbackState,
  }));
  assert.deepEqual(meta, { title: 'Alpha Tone', artist: 'The Testers', album: 'Signals', state: 'playing' });
  // Alpha has a cover: it becomes the artwork.
  await waitFor(laptop, () => navigator.mediaSession.metadata?.artwork?.[0]?.src.startsWith('blob:'));
});
