// App-wide quality checks of HiFi's web app: axe-core on every screen (light
// and dark, signed in as an admin with songs, a playlist, a favourite, a
// play in the history and a room; sign-in and registration signed out), a
// keyboard-only session (sign in, play an album, build a playlist, star a
// song: no mouse), the size of the first screen, screenshots of the main
// screens, and no errors in the pages.
//
//   cd tests/browser && HIFI_SERVER_BIN=... node --test --test-reporter=spec app.test.mjs
//
// Screenshots go to test-results/; with HIFI_SCREENSHOTS=docs they are
// written to docs/screenshots/ instead (the pictures the docs link to).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import {
  startSuite, stopSuite, newPage, waitForTexts, accessibilityViolations, repoRoot, apiCall, createAccount,
} from './harness.mjs';

const PASSWORD = 'correct horse battery';
const T = { timeout: 90000 };
const FIRST_SCREEN_LIMIT = 150 * 1024;
// User agents of the API sign-ins (Settings lists the sessions by them).
const UA = {
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  firefox: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  android: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36',
  mac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
};

let tmp;
let server;
let browser;
let token;            // alice's (the admin's) API session
const errors = [];
const dialogs = [];
const ids = {};       // song ids by title
const albums = {};    // album ids by name
let playlistId;
let roomId;

// Albums with covers, uploaded out of track order. Short, quiet songs keep
// the generation quick.
const ALBUMS = [
  {
    album: 'Night Drive', artist: 'Neon Avenue', year: 2019, cover: 'gradients=s=300x300:c0=0x1e3a8a:c1=0xf97316:x0=0:y0=0:x1=0:y1=300',
    tracks: ['City Lights', 'Overpass', 'Last Exit', 'Dashboard Glow'],
  },
  {
    album: 'Morning Light', artist: 'Clara Voss', year: 2021, cover: 'gradients=s=300x300:c0=0xfde68a:c1=0x0e7490:x0=0:y0=0:x1=300:y1=300',
    tracks: ['First Coffee', 'Open Window', 'Long Shadows'],
  },
  {
    album: 'Tidal Patterns', artist: 'The Harbour Lights', year: 2017, cover: 'gradients=s=300x300:c0=0x064e3b:c1=0xa7f3d0:x0=300:y0=0:x1=0:y1=300',
    tracks: ['Low Tide', 'Breakwater', 'Salt Air'],
  },
];

function generateAlbums(dir) {
  const ff = (...args) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
  const files = [];
  for (const [a, album] of ALBUMS.entries()) {
    const cover = path.join(dir, `cover-${a}.png`);
    ff('-f', 'lavfi', '-i', album.cover, '-frames:v', '1', cover);
    // Upload order: the last track first.
    const order = album.tracks.map((title, i) => ({ title, track: i + 1 })).reverse();
    for (const t of order) {
      const file = path.join(dir, `a${a}-t${t.track}.mp3`);
      ff('-f', 'lavfi', '-i', `sine=frequency=${220 + 40 * a + 20 * t.track}:duration=${24 + 7 * t.track}:sample_rate=22050`,
        '-i', cover, '-map', '0:a', '-map', '1:v', '-c:v', 'png', '-disposition:v', 'attached_pic',
        '-c:a', 'libmp3lame', '-b:a', '32k', '-ac', '1', '-id3v2_version', '3',
        '-metadata', `title=${t.title}`, '-metadata', `artist=${album.artist}`, '-metadata', `album=${album.album}`,
        '-metadata', `track=${t.track}`, '-metadata', `date=${album.year}`, '-metadata', 'genre=Electronic', file);
      files.push(file);
    }
  }
  return files;
}

before(async () => {
  let songs;
  ({ tmp, songs, server, browser } = await startSuite('hifi-app-'));
  const files = [...songs.map((s) => s.path), ...generateAlbums(tmp)];

  token = await account('alice'); // the first account: an admin
  await account('bob');
  for (const file of files) {
    const res = await fetch(`${server.url}/api/v1/songs`, {
      method: 'POST', body: readFileSync(file),
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream', 'X-Filename': path.basename(file) },
    });
    assert.equal(res.status, 201, `upload ${file}: ${res.status}`);
    const song = await res.json();
    ids[song.title] = song.id;
  }
  for (const a of (await call('GET', '/api/v1/albums')).body.items) albums[a.name] = a.id;

  // A playlist, a favourite, plays in the history, a room with a song.
  const pl = await call('POST', '/api/v1/playlists', {
    name: 'Evening Mix', song_ids: [ids['City Lights'], ids['Open Window'], ids['Breakwater'], ids['Alpha Tone']],
  });
  assert.equal(pl.status, 201, JSON.stringify(pl.body));
  playlistId = pl.body.id;
  await call('PATCH', `/api/v1/playlists/${playlistId}`, { description: 'Songs for the drive home' });
  assert.equal((await call('PUT', `/api/v1/songs/${ids['Overpass']}/star`)).status, 204);
  await call('PUT', `/api/v1/albums/${albums['Morning Light']}/star`);
  for (const title of ['Low Tide', 'City Lights', 'Alpha Tone']) {
    assert.equal((await call('POST', '/api/v1/me/history', { song_id: ids[title], client: 'HiFi web' })).status, 201);
  }
  const room = await call('POST', '/api/v1/rooms', { name: 'Living room' });
  assert.equal(room.status, 201);
  roomId = room.body.id;
  await call('POST', `/api/v1/rooms/${roomId}/commands`, { type: 'add', song_ids: [ids['Salt Air'], ids['Bravo Tone']] });
});

after(() => stopSuite({ tmp, server, browser }));

const call = (method, p, json, auth = token) => apiCall(server.url, auth, method, p, json);
const account = (username, ua = UA.iphone) => createAccount(server.url, username, PASSWORD, ua);

function watch(page) {
  page.on('dialog', (d) => { dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  return page;
}

// A page signed in as alice with a session of its own (through the API,
// handed to the page's storage before the app starts).
async function signedInPage(viewport, ua = UA.mac) {
  const page = watch(await newPage(browser, errors, viewport));
  const res = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': ua }, body: JSON.stringify({ username: 'alice', password: PASSWORD }),
  });
  const session = await res.json();
  await page.context().addInitScript((s) => {
    if (location.protocol === 'http:' && !sessionStorage.getItem('hifi.test.seeded')) {
      localStorage.setItem('hifi.session', JSON.stringify({ token: s.token, user: s.user, expires_at: s.expires_at }));
      sessionStorage.setItem('hifi.test.seeded', '1');
    }
  }, session);
  await page.goto(`${server.url}/#/home`);
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
  return page;
}

async function go(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.locator(ready).first().waitFor({ timeout: 10000 });
  // Nothing still loading.
  await page.waitForFunction(() => ![...document.querySelectorAll('main [role="status"]')]
    .some((e) => /^Loading/.test(e.textContent.trim())), null, { timeout: 10000 });
}

async function setTheme(page, theme) {
  await page.evaluate(async (t) => {
    localStorage.setItem('hifi.theme', t);
    (await import('/js/settings.js')).applyTheme(t);
  }, theme);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
}

async function until(what, check, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- 1. accessibility on every screen -----------------------------------------

const SCREENS = () => [
  ['home', '#/home', '.home-view .album-card'],
  ['library songs', '#/library/songs', '.song-row'],
  ['library albums', '#/library/albums', '.album-row, .album-card'],
  ['library artists', '#/library/artists', '.artist-row, .artist-card'],
  ['album', `#/albums/${albums['Night Drive']}`, '.tracks .song-item'],
  ['artist', '#/library/artists', '.artist-row, .artist-card'], // replaced below by the artist's page
  ['favourites', '#/favourites', '.favourites-view .song-item'],
  ['history', '#/history', '.history-view .song-item'],
  ['playlists', '#/playlists', '.playlist-card'],
  ['playlist', `#/playlists/${playlistId}`, '.pl-song'],
  ['player', '#/player', '.queue-item'],
  ['rooms', '#/rooms', '.room-card'],
  ['room', `#/rooms/${roomId}`, '.queue-item'],
  ['upload', '#/upload', '#upload-h'],
  ['settings', '#/settings', '.radio'],
  ['admin', '#/admin', '.user-card'],
  ['cluster', '#/cluster', '.member-card'],
];

test('axe-core: no serious or critical violations on every screen, light and dark, phone width, and signed out', T, async () => {
  const artists = (await call('GET', '/api/v1/artists')).body.items;
  const artistId = artists.find((a) => a.name === 'Neon Avenue').id;
  const screens = SCREENS().map(([name, hash, ready]) => (name === 'artist'
    ? ['artist', `#/artists/${artistId}`, '.artist-view .song-item'] : [name, hash, ready]));

  const page = await signedInPage(undefined, UA.firefox);
  // Something playing, so the now-playing bar is there too.
  await page.evaluate(async (list) => (await import('/js/playback.js')).playSongs(list), [ids['Last Exit'], ids['Low Tide']]);
  await page.locator('.nowbar:not([hidden])').waitFor();

  const found = [];
  for (const theme of ['light', 'dark']) {
    await setTheme(page, theme);
    for (const [name, hash, ready] of screens) {
      await go(page, hash, ready);
      for (const v of await accessibilityViolations(page)) found.push(`${name} (${theme}): ${v}`);
    }
    // The song action menu, the add-to-playlist dialog and the shortcuts dialog.
    await go(page, `#/albums/${albums['Night Drive']}`, '.tracks .song-item');
    await page.getByRole('button', { name: 'More actions for Overpass' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('menu').waitFor();
    for (const v of await accessibilityViolations(page)) found.push(`song menu (${theme}): ${v}`);
    await page.getByRole('menuitem', { name: 'Add to playlist…' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').getByRole('button', { name: /Evening Mix/ }).waitFor();
    for (const v of await accessibilityViolations(page)) found.push(`add to playlist dialog (${theme}): ${v}`);
    await page.keyboard.press('Escape');
    await until('the dialog closes', async () => (await page.getByRole('dialog').count()) === 0);
    await page.evaluate(() => { window.__beforeHelp = document.activeElement; });
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    for (const v of await accessibilityViolations(page)) found.push(`shortcuts dialog (${theme}): ${v}`);
    await page.keyboard.press('Escape');
    await until('the shortcuts close', async () => !(await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).isVisible()));
    // The dialog gives the focus back from its close event, a task after it
    // hides: wait for that, or it takes the focus from what comes next.
    await until('the focus is back where it was', () => page.evaluate(() => document.activeElement === window.__beforeHelp));
  }
  // The account menu, open.
  const account = page.getByRole('button', { name: /^Account/ });
  // Enter goes to what has the focus: make sure it is the button (a dialog
  // closed above may hand the focus back a moment later; focus again then).
  await until('the Account button keeps the focus', async () => {
    await account.focus();
    return account.evaluate((el) => new Promise((resolve) => setTimeout(() => resolve(document.activeElement === el), 100)));
  });
  await page.keyboard.press('Enter');
  await page.locator('#account-menu:not([hidden])').waitFor();
  for (const v of await accessibilityViolations(page)) found.push(`account menu (dark): ${v}`);
  await page.keyboard.press('Escape');
  await page.evaluate(async () => (await import('/js/playback.js')).togglePlay());
  await setTheme(page, 'light');
  await page.context().close();

  // Every screen at phone width too (the layouts differ).
  const phone = await signedInPage({ width: 390, height: 844 }, UA.iphone);
  for (const [name, hash, ready] of screens) {
    await go(phone, hash, ready);
    for (const v of await accessibilityViolations(phone)) found.push(`${name} (390 px): ${v}`);
  }
  await phone.context().close();

  // Signed out: sign-in and registration.
  const out = watch(await newPage(browser, errors));
  for (const theme of ['light', 'dark']) {
    await out.emulateMedia({ colorScheme: theme });
    await out.goto(`${server.url}/#/login`);
    await out.getByRole('button', { name: 'Sign in' }).waitFor();
    for (const v of await accessibilityViolations(out)) found.push(`login (${theme}): ${v}`);
    await out.goto(`${server.url}/#/register`);
    await out.getByRole('button', { name: 'Create account' }).waitFor();
    for (const v of await accessibilityViolations(out)) found.push(`register (${theme}): ${v}`);
  }
  await out.context().close();
  assert.deepEqual(found, []);
});

// ---- 2. keyboard only -----------------------------------------------------------

// What has the focus: tag, role, accessible-ish name.
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', name: '' };
    const labelled = el.getAttribute('aria-labelledby');
    const name = el.getAttribute('aria-label')
      || (labelled && labelled.split(' ').map((id) => document.getElementById(id)?.textContent || '').join(' '))
      || el.labels?.[0]?.textContent || el.textContent || '';
    // A focus indicator: an outline on it (or on a card around it that
    // shows :focus-within), a box shadow, or an input's accent border.
    const ring = (e) => { const cs = getComputedStyle(e); return cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0; };
    let shown = ring(el) || getComputedStyle(el).boxShadow !== 'none';
    for (let p = el.parentElement, i = 0; !shown && p && i < 3; p = p.parentElement, i++) shown = ring(p);
    if (!shown && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) shown = getComputedStyle(el).borderColor !== getComputedStyle(el.parentElement).color;
    return { tag: el.tagName.toLowerCase(), role: el.getAttribute('role') || '', name: name.trim().replace(/\s+/g, ' '), shown };
  });
}

// Presses Tab (or Shift+Tab) until the focused element satisfies `want`.
// Controls focused by the keyboard without a visible indicator (main itself
// takes the focus after a route change, without a ring, on purpose).
const unseenFocus = new Set();

async function tabTo(page, want, what, { back = false, max = 120 } = {}) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    const f = await focused(page);
    if (f.tag !== 'body' && f.tag !== 'main' && !f.shown) unseenFocus.add(`${f.tag}${f.role ? `[${f.role}]` : ''} "${f.name.slice(0, 40)}"`);
    if (want(f)) return f;
    seen.push(`${f.tag}${f.role ? `[${f.role}]` : ''} "${f.name.slice(0, 40)}"`);
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`could not reach ${what} with ${back ? 'Shift+Tab' : 'Tab'}; went through:\n  ${seen.join('\n  ')}`);
}

const named = (name, tag) => (f) => f.name === name && (!tag || f.tag === tag);

async function arrowTo(page, name, what) {
  for (let i = 0; i < 15; i++) {
    const f = await focused(page);
    if (f.name === name) return;
    await page.keyboard.press('ArrowDown');
  }
  throw new Error(`no ${what} in the menu`);
}

test('keyboard only: sign in, play an album in track order, build a playlist, star a song', T, async () => {
  const page = watch(await newPage(browser, errors));
  // Every pointer event would be counted: the test must not need one.
  await page.context().addInitScript(() => {
    window.__pointerEvents = 0;
    for (const type of ['pointerdown', 'mousedown', 'click']) {
      window.addEventListener(type, (e) => { if (e.isTrusted && (type !== 'click' || e.detail > 0)) window.__pointerEvents++; }, true);
    }
  });
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  // Sign in.
  await tabTo(page, (f) => f.tag === 'input' && /Username/.test(f.name), 'the username field');
  await page.keyboard.type('alice');
  await page.keyboard.press('Tab');
  assert.match((await focused(page)).name, /Password/);
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
  await page.locator('.home-view .album-card').first().waitFor();

  // Open an album from Home's recently added albums and play it.
  await tabTo(page, (f) => f.tag === 'a' && f.name === 'Night Drive', 'the Night Drive album card');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Night Drive', level: 1 }).waitFor();
  await waitForTexts(page, '.tracks .row-title', ALBUMS[0].tracks);
  await tabTo(page, named('Play', 'button'), 'the album\'s Play button');
  await page.keyboard.press('Enter');
  const want = ALBUMS[0].tracks.map((t) => ids[t]);
  const room = await until('the personal room plays the album', async () => {
    const { body } = await call('GET', '/api/v1/me/room', null,
      await page.evaluate(() => JSON.parse(localStorage.getItem('hifi.session')).token));
    const st = body?.state;
    return st && st.playing && JSON.stringify(st.queue.map((it) => it.song_id)) === JSON.stringify(want) ? body : null;
  });
  assert.equal(room.private, true);
  assert.equal(room.state.current, room.state.queue[0].id, 'from the first track');
  await page.locator('.nowbar:not([hidden])').getByText('City Lights').first().waitFor();

  // Add the album's second track to a new playlist through its action menu.
  await tabTo(page, named('More actions for Overpass', 'button'), 'Overpass\'s action menu');
  await page.keyboard.press('Enter');
  await page.getByRole('menu').waitFor();
  await arrowTo(page, 'Add to playlist…', 'Add to playlist…');
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: /Evening Mix/ }).waitFor();
  await tabTo(page, (f) => f.tag === 'input' && /Name/.test(f.name), 'the new playlist\'s name');
  await page.keyboard.type('Made by keyboard');
  await page.keyboard.press('Enter');
  await until('the dialog closes', async () => (await dialog.count()) === 0);
  assert.equal((await focused(page)).name, 'More actions for Overpass', 'the focus is back on the menu button');
  const made = await until('the new playlist', async () => (await call('GET', '/api/v1/playlists')).body.items
    .find((p) => p.name === 'Made by keyboard'));

  // "/" searches; add a found song to the same playlist.
  await page.keyboard.press('/');
  await until('the search field has the focus', async () => (await focused(page)).tag === 'input');
  await page.keyboard.type('Breakwater');
  await waitForTexts(page, '.song-row .row-title', ['Breakwater']);
  await tabTo(page, named('More actions for Breakwater', 'button'), 'Breakwater\'s action menu');
  await page.keyboard.press('ArrowDown'); // opens the menu too
  await page.getByRole('menu').waitFor();
  await arrowTo(page, 'Add to playlist…', 'Add to playlist…');
  await page.keyboard.press('Enter');
  await dialog.getByRole('button', { name: /Made by keyboard/ }).waitFor();
  await tabTo(page, (f) => f.tag === 'button' && f.name.startsWith('Made by keyboard'), 'the playlist in the dialog');
  await page.keyboard.press('Enter');
  await until('the dialog closes', async () => (await dialog.count()) === 0);
  const pl = (await call('GET', `/api/v1/playlists/${made.id}`)).body;
  assert.deepEqual(pl.songs.map((s) => s.id), [ids['Overpass'], ids['Breakwater']]);

  // Star the found song with Space.
  await tabTo(page, named('Favourite Breakwater', 'button'), 'Breakwater\'s star', { back: true });
  await page.keyboard.press('Space');
  await page.locator('.song-row .star-button[aria-pressed="true"]').waitFor();
  await until('Breakwater is a favourite', async () => {
    const { body } = await call('GET', '/api/v1/me/starred');
    return (body.songs || []).some((s) => s.id === ids['Breakwater']);
  });
  // Pause from the now-playing bar.
  await tabTo(page, named('Pause', 'button'), 'the now-playing bar\'s Pause button');
  await page.keyboard.press('Enter');
  await until('paused', async () => {
    const st = await page.evaluate(() => window.__hifiTest.personalState());
    return st && !st.playing;
  });
  assert.equal(await page.evaluate(() => window.__pointerEvents), 0, 'no pointer events');
  assert.deepEqual([...unseenFocus], [], 'every focused control shows the focus');
  await page.context().close();
});

// ---- 3. the first screen's size ----------------------------------------------------

test('speed: the first screen (HTML, JS, CSS on #/home) totals under 150 KB transferred', T, async (t) => {
  const page = await signedInPage(undefined, UA.android);
  await page.goto('about:blank'); // (signed in: the session stays in the context's storage)
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const requests = new Map(); // requestId -> {url, type, encoding, bytes, body}
  cdp.on('Network.responseReceived', (e) => {
    if (!['Document', 'Script', 'Stylesheet'].includes(e.type)) return;
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    requests.set(e.requestId, { url: e.response.url, type: e.type, encoding: headers['content-encoding'] || '', bytes: 0, body: 0 });
  });
  cdp.on('Network.dataReceived', (e) => { const r = requests.get(e.requestId); if (r) r.body += e.dataLength; });
  cdp.on('Network.loadingFinished', (e) => { const r = requests.get(e.requestId); if (r) r.bytes = e.encodedDataLength; });
  await page.goto(`${server.url}/#/home`, { waitUntil: 'networkidle' });
  await page.locator('.home-view .album-card').first().waitFor();
  await until('every response finished', async () => [...requests.values()].every((r) => r.bytes > 0));

  const list = [...requests.values()];
  const transferred = list.reduce((s, r) => s + r.bytes, 0);
  const uncompressed = list.reduce((s, r) => s + r.body, 0);
  // What gzip would make of the same files (level 6, each file on its own).
  const gzipped = list.reduce((s, r) => {
    const file = path.join(repoRoot, 'web', new URL(r.url).pathname === '/' ? 'index.html' : new URL(r.url).pathname);
    return s + gzipSync(readFileSync(file), { level: 6 }).length;
  }, 0);
  const compressed = list.filter((r) => r.encoding).length;
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  t.diagnostic(`${list.length} files (${list.filter((r) => r.type === 'Script').length} JS, ${list.filter((r) => r.type === 'Stylesheet').length} CSS): `
    + `${kb(transferred)} transferred (headers included), ${kb(uncompressed)} of content, ${compressed} served compressed; `
    + `gzip -6 of each file would total ${kb(gzipped)}`);
  assert.ok(list.some((r) => r.type === 'Document') && list.some((r) => r.url.endsWith('/js/app.js')), 'the page and its modules were measured');
  assert.ok(transferred < FIRST_SCREEN_LIMIT, `the first screen is ${kb(transferred)} transferred (limit ${kb(FIRST_SCREEN_LIMIT)})`);
  await page.context().close();
});

// ---- 4. screenshots for the docs ----------------------------------------------------

test('screenshots of the main screens (home, album, playlist, player, settings)', T, async () => {
  const dir = process.env.HIFI_SCREENSHOTS === 'docs'
    ? path.join(repoRoot, 'docs', 'screenshots') : path.join(repoRoot, 'tests', 'browser', 'test-results', 'screenshots');
  mkdirSync(dir, { recursive: true });
  const page = await signedInPage({ width: 1280, height: 860 });
  await page.emulateMedia({ colorScheme: 'light' });
  await setTheme(page, 'light');
  await page.evaluate(async (list) => (await import('/js/playback.js')).playSongs(list, { startIndex: 1 }),
    ALBUMS[1].tracks.map((t) => ids[t]));
  await page.locator('.nowbar:not([hidden])').getByText('Open Window').first().waitFor();
  await page.evaluate(async () => (await import('/js/playback.js')).seekBy(14000));
  await page.waitForFunction(() => (window.__hifiTest.personalState()?.position_ms || 0) >= 14000, null, { timeout: 5000 });
  // Covers are loaded before each picture.
  const coversLoaded = () => page.waitForFunction(() => [...document.querySelectorAll('img[data-cover]')]
    .filter((img) => { const r = img.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; })
    .every((img) => img.complete && img.naturalWidth > 0 && img.classList.contains('loaded')), null, { timeout: 10000 });
  const shots = [
    ['home', '#/home', '.home-view .album-card'],
    ['album', `#/albums/${albums['Night Drive']}`, '.tracks .song-item'],
    ['playlist', `#/playlists/${playlistId}`, '.pl-song'],
    ['player', '#/player', '.queue-item'],
    ['settings', '#/settings', '.radio'],
  ];
  for (const [name, hash, ready] of shots) {
    await go(page, hash, ready);
    await coversLoaded();
    await page.evaluate(() => document.activeElement?.blur());
    const file = path.join(dir, `${name}.png`);
    await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
    const size = statSync(file).size;
    assert.ok(size > 10000 && size < 400 * 1024, `${name}.png is ${size} bytes`);
  }
  await page.evaluate(async () => (await import('/js/playback.js')).togglePlay());
  await page.context().close();
});

// ---- 5. no errors ----------------------------------------------------------------

test('no errors in the pages', () => {
  assert.deepEqual(errors, []);
  assert.deepEqual(dialogs, []);
});
