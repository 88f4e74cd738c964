// Real-browser tests of HiFi's playlists, settings and admin screens:
// Debian's Chromium, driven by playwright-core, against a hifi-server of our own.
//
//   cd tests/browser && node --test --test-reporter=spec lists.test.mjs
//   (HIFI_SERVER_BIN=build/<dir>/src/hifi-server to pick the binary)
//
// The tests run in order and share one server: alice (the first account,
// admin) and bob, each in their own browser context, and three songs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  startSuite, stopSuite, newPage, waitForTexts, accessibilityViolations, shot, submitSignIn,
} from './harness.mjs';

let PASSWORD = 'correct horse battery';
const BOB_PASSWORD = 'another horse battery';
const T = { timeout: 60000 };
const HOSTILE = '<img src=x onerror=alert(1)>';

let tmp;
let server;
let browser;
let alice;   // page of alice's context
let bob;     // page of bob's context
let songIds; // [Alpha, Bravo, Charlie]
let playlistId;
let secondId;
let inviteCode; // made in the admin test
const dialogs = []; // alert() and friends: none expected
const errors = [];

// ---- helpers ----------------------------------------------------------------

async function call(method, p, { token, json } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(server.url + p, { method, headers, body: json !== undefined ? JSON.stringify(json) : undefined });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  return { status: res.status, body };
}

async function login(username, password) {
  const res = await call('POST', '/api/v1/auth/login', { json: { username, password } });
  return res.status === 200 ? res.body.token : null;
}

const tokenOf = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('hifi.session') || 'null')?.token);

// Waits until fn() returns a truthy value (polling, with a deadline).
async function until(what, fn, timeout = 5000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function playlistTitles(id) {
  const res = await call('GET', `/api/v1/playlists/${id}`, { token: await tokenOf(alice) });
  return res.body.songs.map((s) => s.title);
}

async function waitForPlaylistOrder(id, titles) {
  await until(`the playlist order ${titles.join(', ')}`, async () => JSON.stringify(await playlistTitles(id)) === JSON.stringify(titles));
}

// Signing in lands on Home.
async function signIn(page, username, password) {
  await page.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  await submitSignIn(page, username, password);
  await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
}

async function openPage(page, route, heading) {
  await page.goto(`${server.url}/#${route}`);
  if (heading) await page.getByRole('heading', { name: heading, exact: true }).first().waitFor();
}

async function noViolations(page, where) {
  assert.deepEqual(await accessibilityViolations(page), [], where);
}

async function openAccountMenu(page) {
  await page.locator('#account-button').click();
  await page.locator('#account-menu').waitFor();
}

// A new browser context signed in; `deviceName` is the name this browser
// gives itself (as chosen in the player), else the default one.
async function pageWith(username, password, viewport, { deviceName } = {}) {
  const page = await newPage(browser, errors, viewport);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(server.url);
  if (deviceName) {
    await page.evaluate((name) => import('/js/device.js').then((m) => m.setDeviceName(name)), deviceName);
    await page.reload();
  }
  await signIn(page, username, password);
  return page;
}

const deviceNameOf = (page) => page.evaluate(() => import('/js/device.js').then((m) => m.thisDevice().name));

// The signed-in user's personal room, as the server has it.
async function personalRoom(page) {
  const res = await call('GET', '/api/v1/me/room', { token: await tokenOf(page) });
  assert.equal(res.status, 200);
  return res.body;
}

const queueSongs = (room) => room.state.queue.map((it) => it.song_id);
const currentSong = (room) => room.state.queue.find((it) => it.id === room.state.current)?.song_id;

// ---- setup ------------------------------------------------------------------

before(async () => {
  let songs;
  ({ tmp, songs, server, browser } = await startSuite('hifi-lists-'));
  assert.equal((await call('POST', '/api/v1/auth/register', { json: { username: 'alice', password: PASSWORD } })).status, 201);
  assert.equal((await call('POST', '/api/v1/auth/register', { json: { username: 'bob', password: BOB_PASSWORD } })).status, 201);
  const token = await login('alice', PASSWORD);
  songIds = [];
  for (const s of songs) {
    const form = new FormData();
    form.append('file', new Blob([readFileSync(s.path)]), s.file);
    const res = await fetch(`${server.url}/api/v1/songs`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
    assert.ok(res.ok, `upload ${s.file}: ${res.status}`);
    songIds.push((await res.json()).id);
  }
  assert.equal((await call('POST', '/api/v1/auth/logout', { token })).status, 204);
  alice = await pageWith('alice', PASSWORD);
  bob = await pageWith('bob', BOB_PASSWORD);
});

after(() => stopSuite({ tmp, server, browser }));

// ---- playlists ----------------------------------------------------------------

test('create a playlist and add songs through the add-to-playlist dialog', T, async () => {
  await alice.getByRole('link', { name: 'Playlists', exact: true }).click();
  await alice.getByRole('heading', { name: 'Playlists', exact: true }).waitFor();
  await alice.getByText('You have no playlists yet.', { exact: false }).waitFor();
  await noViolations(alice, '#/playlists (empty)');
  await alice.getByLabel('Name').fill('Road trip');
  await alice.getByRole('button', { name: 'Create playlist' }).click();
  await alice.getByRole('heading', { name: 'Road trip', level: 1 }).waitFor();
  playlistId = new URL(alice.url()).hash.split('/')[2];
  assert.match(playlistId, /^[0-9a-f]{16}$/);
  await alice.getByText('No songs yet.', { exact: false }).waitFor();

  // Other views open the dialog with songs (a song, an album, a selection).
  await alice.evaluate((ids) => {
    import('/js/playlists.js').then((m) => { window.__added = m.addToPlaylistDialog(ids); });
  }, songIds);
  const dialog = alice.getByRole('dialog', { name: 'Add 3 songs to a playlist' });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: /^Road trip/ }).waitFor();
  assert.equal(await alice.evaluate(() => document.activeElement.textContent), 'Road trip0 songs · 0:00');
  await noViolations(alice, 'add-to-playlist dialog');
  await shot(alice, 'lists-add-dialog');
  await dialog.getByRole('button', { name: /^Road trip/ }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await alice.evaluate(() => window.__added.then((p) => p.id)), playlistId);
  // The open playlist page shows them at once, with the total length.
  await waitForTexts(alice, '.pl-song .row-title', ['Alpha Tone', 'Bravo Tone', 'Charlie Tone']);
  await alice.locator('.pl-meta', { hasText: '3 songs · 1:30' }).waitFor();
  await noViolations(alice, '#/playlists/<id>');

  // The dialog can create a playlist too (here with one song, by keyboard).
  await alice.evaluate((ids) => {
    import('/js/playlists.js').then((m) => { window.__added = m.addToPlaylistDialog(ids); });
  }, [songIds[1]]);
  const again = alice.getByRole('dialog', { name: 'Add 1 song to a playlist' });
  await again.getByRole('button', { name: /^Road trip/ }).waitFor();
  await again.getByLabel('Name').fill('Second list');
  await alice.keyboard.press('Enter');
  await again.waitFor({ state: 'detached' });
  secondId = await alice.evaluate(() => window.__added.then((p) => p.id));
  assert.deepEqual(await playlistTitles(secondId), ['Bravo Tone']);
  await alice.getByText('Created Second list with 1 song').waitFor();
});

test('reorder by drag and by keyboard; the order is kept after a reload', T, async () => {
  const titles = '.pl-song .row-title';
  // Drag Alpha's handle below Charlie.
  const handle = alice.getByRole('button', { name: 'Move Alpha Tone, position 1 of 3' });
  const from = await handle.boundingBox();
  const last = await alice.locator('.pl-song').nth(2).boundingBox();
  await alice.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await alice.mouse.down();
  for (let i = 1; i <= 8; i++) {
    await alice.mouse.move(from.x + from.width / 2, from.y + from.height / 2 + ((last.y + last.height * 0.8 - from.y) * i) / 8);
  }
  await alice.mouse.up();
  await waitForTexts(alice, titles, ['Bravo Tone', 'Charlie Tone', 'Alpha Tone']);
  await waitForPlaylistOrder(playlistId, ['Bravo Tone', 'Charlie Tone', 'Alpha Tone']);

  // Keyboard: arrow keys on a handle, announced in the live region.
  await alice.getByRole('button', { name: 'Move Alpha Tone, position 3 of 3' }).focus();
  await alice.keyboard.press('ArrowUp');
  await waitForTexts(alice, titles, ['Bravo Tone', 'Alpha Tone', 'Charlie Tone']);
  await alice.locator('#announcer', { hasText: 'Alpha Tone moved to position 2 of 3' }).waitFor();
  assert.equal(await alice.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move Alpha Tone, position 2 of 3');
  await alice.keyboard.press('Home');
  await waitForTexts(alice, titles, ['Alpha Tone', 'Bravo Tone', 'Charlie Tone']);
  // Alt+arrows from anywhere in a row (here its "play from" button).
  await alice.getByRole('button', { name: 'Play from Charlie Tone' }).focus();
  await alice.keyboard.press('Alt+ArrowUp');
  await waitForTexts(alice, titles, ['Alpha Tone', 'Charlie Tone', 'Bravo Tone']);
  await alice.locator('#announcer', { hasText: 'Charlie Tone moved to position 2 of 3' }).waitFor();
  await waitForPlaylistOrder(playlistId, ['Alpha Tone', 'Charlie Tone', 'Bravo Tone']);

  await alice.reload();
  await waitForTexts(alice, titles, ['Alpha Tone', 'Charlie Tone', 'Bravo Tone']);

  // Remove one, then put it back through the dialog.
  await alice.getByRole('button', { name: 'Remove Bravo Tone from the playlist' }).click();
  await waitForTexts(alice, titles, ['Alpha Tone', 'Charlie Tone']);
  await waitForPlaylistOrder(playlistId, ['Alpha Tone', 'Charlie Tone']);
  await alice.evaluate((ids) => { import('/js/playlists.js').then((m) => m.addToPlaylistDialog(ids)); }, [songIds[1]]);
  await alice.getByRole('dialog').getByRole('button', { name: /^Road trip/ }).click();
  await waitForTexts(alice, titles, ['Alpha Tone', 'Charlie Tone', 'Bravo Tone']);
});

test('rename, describe and make public; others see it read-only', T, async () => {
  await alice.getByRole('button', { name: 'Edit details' }).click();
  const form = alice.getByRole('form', { name: 'Playlist details' });
  await form.getByLabel('Name').fill('Road trip 2025');
  await form.getByLabel('Description').fill('Songs for the drive');
  await form.getByLabel(/^Public/).check();
  await form.getByRole('button', { name: 'Save' }).click();
  await alice.getByRole('heading', { name: 'Road trip 2025', level: 1 }).waitFor();
  await alice.locator('.pl-comment', { hasText: 'Songs for the drive' }).waitFor();
  await alice.locator('.pl-head .badge', { hasText: 'Public' }).waitFor();
  const saved = (await call('GET', `/api/v1/playlists/${playlistId}`, { token: await tokenOf(alice) })).body;
  assert.equal(saved.name, 'Road trip 2025');
  assert.equal(saved.comment, 'Songs for the drive');
  assert.equal(saved.public, true);

  await openPage(bob, '/playlists', 'Playlists');
  await bob.getByRole('heading', { name: 'Public playlists of others' }).waitFor();
  await bob.getByRole('link', { name: 'Road trip 2025' }).click();
  await bob.getByRole('heading', { name: 'Road trip 2025', level: 1 }).waitFor();
  await waitForTexts(bob, '.pl-song .row-title', ['Alpha Tone', 'Charlie Tone', 'Bravo Tone']);
  await bob.getByText('only its owner can change it', { exact: false }).waitFor();
  assert.equal(await bob.locator('.drag-handle').count(), 0);
  assert.equal(await bob.getByRole('button', { name: /^Remove / }).count(), 0);
  assert.equal(await bob.getByRole('button', { name: 'Edit details' }).count(), 0);
  assert.equal(await bob.getByRole('button', { name: 'Delete playlist' }).count(), 0);
  await noViolations(bob, '#/playlists/<id> read-only');
});

test('play, shuffle and add to a room', T, async () => {
  const token = await tokenOf(alice);
  const room = (await call('POST', '/api/v1/rooms', { token, json: { name: 'Kitchen' } })).body;
  await alice.getByRole('button', { name: 'Add to a room' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Add to a room' });
  await dialog.getByLabel('Room').selectOption({ label: 'Kitchen' });
  await noViolations(alice, 'add-to-room dialog');
  await dialog.getByRole('button', { name: 'Add to room' }).click();
  await dialog.waitFor({ state: 'detached' });
  const queued = await until('the room queue', async () => {
    const r = (await call('GET', `/api/v1/rooms/${room.id}`, { token })).body;
    return r.state.queue.length === 3 ? r.state.queue.map((it) => it.song_id) : null;
  });
  assert.deepEqual(queued, [songIds[0], songIds[2], songIds[1]]);

  // Play, Shuffle and "play from" play in alice's personal room.
  const order = [songIds[0], songIds[2], songIds[1]];
  await alice.getByRole('button', { name: 'Play', exact: true }).click();
  let mine = await until('the playlist playing in the personal room', async () => {
    const r = await personalRoom(alice);
    return r.state.playing && JSON.stringify(queueSongs(r)) === JSON.stringify(order) ? r : null;
  });
  assert.equal(mine.private, true);
  assert.equal(currentSong(mine), songIds[0], 'from the first song');
  assert.deepEqual(queueSongs(await personalRoom(bob)), [], 'bob\'s own room is another one');

  const before = mine.state.selection;
  await alice.getByRole('button', { name: 'Shuffle', exact: true }).click();
  mine = await until('the playlist shuffled in the personal room', async () => {
    const r = await personalRoom(alice);
    return r.state.playing && r.state.selection > before ? r : null;
  });
  assert.deepEqual([...queueSongs(mine)].sort(), [...songIds].sort(), 'the same songs');
  assert.equal(mine.state.queue.length, 3);
  assert.equal(currentSong(mine), queueSongs(mine)[0], 'from the top of the shuffled queue');

  const again = mine.state.selection;
  await alice.getByRole('button', { name: 'Play from Charlie Tone' }).click();
  mine = await until('the playlist playing from Charlie Tone', async () => {
    const r = await personalRoom(alice);
    return r.state.playing && r.state.selection > again && currentSong(r) === songIds[2] ? r : null;
  });
  assert.deepEqual(queueSongs(mine), order);
  await alice.locator('.nowbar', { hasText: 'Charlie Tone' }).first().waitFor();

  // Quiet for the next tests.
  assert.equal((await call('POST', `/api/v1/rooms/${mine.id}/commands`, { token, json: { type: 'pause' } })).status, 200);
  await until('the personal room paused', async () => !(await personalRoom(alice)).state.playing);
});

test('share: a link with an expiry that opens the public page', T, async () => {
  await alice.getByRole('button', { name: 'Share' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Share a link' });
  await dialog.getByLabel('Expires').selectOption({ label: 'In 1 day' });
  await noViolations(alice, 'share dialog');
  await dialog.getByRole('button', { name: 'Create link' }).click();
  const link = dialog.getByRole('textbox', { name: 'Share link' });
  await link.waitFor();
  const url = await link.inputValue();
  assert.match(url, /\/share\/[0-9a-f]{32}$/);
  await dialog.getByText(/The link works until/).waitFor();
  const share = (await call('GET', '/api/v1/shares', { token: await tokenOf(alice) })).body.items[0];
  assert.ok(Math.abs(share.expires_at - (Date.now() + 86400000)) < 60000, 'expires in a day');
  await dialog.getByRole('button', { name: 'Copy share link' }).click();
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'detached' });

  const visitorContext = await browser.newContext();
  const visitor = await visitorContext.newPage();
  const res = await visitor.goto(url);
  assert.equal(res.status(), 200);
  await visitor.getByText('Alpha Tone').first().waitFor();
  await visitor.getByText('Songs for the drive').first().waitFor();
  await visitorContext.close();
});

test('a hostile playlist name shows as text everywhere', T, async () => {
  const token = await tokenOf(alice);
  const hostile = (await call('POST', '/api/v1/playlists', { token, json: { name: HOSTILE, comment: HOSTILE, public: true } })).body;
  await openPage(alice, '/playlists', 'Playlists');
  await alice.getByRole('link', { name: HOSTILE }).waitFor();
  await alice.getByRole('link', { name: HOSTILE }).click();
  await alice.getByRole('heading', { name: HOSTILE, level: 1 }).waitFor();
  await alice.locator('.pl-comment', { hasText: HOSTILE }).waitFor();
  await alice.evaluate(() => { import('/js/playlists.js').then((m) => m.addToPlaylistDialog(['x'])); });
  await alice.getByRole('dialog').getByRole('button', { name: new RegExp(`^${HOSTILE.replace(/[()]/g, '\\$&')}`) }).waitFor();
  assert.equal(await alice.locator('img[src="x"]').count(), 0);
  await alice.keyboard.press('Escape');
  await alice.getByRole('dialog').waitFor({ state: 'detached' });
  await openPage(bob, '/playlists', 'Playlists');
  await bob.getByRole('link', { name: HOSTILE }).waitFor();
  assert.equal(await bob.locator('img[src="x"]').count(), 0);
  assert.deepEqual(dialogs, []);
  await call('DELETE', `/api/v1/playlists/${hostile.id}`, { token });
});

test('delete a playlist', T, async () => {
  await openPage(alice, `/playlists/${secondId}`, 'Second list');
  await alice.getByRole('button', { name: 'Delete playlist' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Delete this playlist?' });
  await noViolations(alice, 'confirm dialog');
  // Cancel keeps it; confirming deletes it.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await alice.evaluate(() => document.activeElement.textContent), 'Delete playlist');
  await alice.getByRole('button', { name: 'Delete playlist' }).click();
  await dialog.getByRole('button', { name: 'Delete playlist' }).click();
  await alice.getByRole('heading', { name: 'Playlists', exact: true }).waitFor();
  await alice.getByRole('link', { name: 'Road trip 2025' }).waitFor();
  assert.equal(await alice.getByRole('link', { name: 'Second list' }).count(), 0);
  assert.equal((await call('GET', `/api/v1/playlists/${secondId}`, { token: await tokenOf(alice) })).status, 404);
  await noViolations(alice, '#/playlists');
  await shot(alice, 'lists-playlists');
});

// ---- the account menu ---------------------------------------------------------

test('the account menu holds Settings, Admin (for admins), Cluster and Sign out', T, async () => {
  await openAccountMenu(alice);
  const items = async (page) => page.locator('#account-menu li:not([hidden])').allTextContents();
  assert.deepEqual(await items(alice), ['Settings', 'Admin', 'Cluster', 'Sign out']);
  assert.equal(await alice.evaluate(() => document.activeElement.textContent), 'Settings');
  await alice.keyboard.press('ArrowDown');
  assert.equal(await alice.evaluate(() => document.activeElement.textContent), 'Admin');
  await alice.keyboard.press('Escape');
  await alice.locator('#account-menu').waitFor({ state: 'hidden' });
  assert.equal(await alice.evaluate(() => document.activeElement.id), 'account-button');
  await openAccountMenu(bob);
  assert.deepEqual(await items(bob), ['Settings', 'Cluster', 'Sign out']);
  await bob.getByRole('link', { name: 'Cluster' }).click();
  await bob.getByRole('heading', { name: 'Cluster' }).waitFor();
  await openPage(bob, '/admin', 'Admin');
  await bob.getByText('Only an admin of this server can open this page.', { exact: false }).waitFor();
});

// ---- settings -------------------------------------------------------------------

test('settings: theme light, dark or the system\'s, and the streaming quality', T, async () => {
  await openAccountMenu(alice);
  await alice.getByRole('link', { name: 'Settings' }).click();
  await alice.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  await noViolations(alice, '#/settings');
  const bg = () => alice.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const LIGHT = 'rgb(244, 245, 248)';
  const DARK = 'rgb(17, 20, 26)';
  await alice.emulateMedia({ colorScheme: 'light' });
  assert.equal(await bg(), LIGHT);
  await alice.getByLabel('Dark', { exact: true }).check();
  assert.equal(await bg(), DARK);
  assert.equal(await alice.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await noViolations(alice, '#/settings (dark)');
  await shot(alice, 'lists-settings-dark');
  await alice.reload();
  await alice.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  assert.equal(await bg(), DARK, 'the theme is applied at start');
  assert.equal(await alice.getByLabel('Dark', { exact: true }).isChecked(), true);
  await alice.getByLabel('Follow the system').check();
  assert.equal(await bg(), LIGHT);
  await alice.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await bg(), DARK);
  await alice.getByLabel('Light', { exact: true }).check();
  assert.equal(await bg(), LIGHT, 'the light theme wins over a dark system');
  await alice.getByLabel('Follow the system').check();
  await alice.emulateMedia({ colorScheme: 'light' });

  // The data saver, under the player's own key.
  await alice.getByLabel('Data saver (Opus, 64 kbit/s)').check();
  assert.equal(await alice.evaluate(() => localStorage.getItem('hifi.dataSaver')), '1');
  await alice.getByLabel('Lossless (FLAC, as good as the file)').check();
  assert.equal(await alice.evaluate(() => localStorage.getItem('hifi.dataSaver')), '0');

  // What alice's three uploads take, and that she has no limit.
  const storage = alice.getByRole('region', { name: 'Storage' });
  const me = (await call('GET', '/api/v1/me', { token: await tokenOf(alice) })).body;
  const size = await alice.evaluate((n) => import('/js/dom.js').then((m) => m.formatBytes(n)), me.storage_bytes);
  await storage.getByText(`3 songs uploaded: ${size}. No storage limit.`).waitFor();
});

async function ping(query) {
  const res = await fetch(`${server.url}/rest/ping?v=1.16.1&c=test&f=json&${new URLSearchParams(query)}`);
  return (await res.json())['subsonic-response'];
}

test('settings: an app password and an API key work in a Subsonic app until revoked', T, async () => {
  const card = alice.getByRole('region', { name: 'App passwords' });
  await card.getByLabel('Name (what it is for)').fill('Test phone');
  await card.getByRole('button', { name: 'Create app password' }).click();
  const password = await card.getByRole('textbox', { name: 'Password', exact: true }).inputValue();
  assert.match(password, /^[a-z0-9]{4}(-[a-z0-9]{4}){5}$/);
  assert.equal(await card.getByRole('textbox', { name: 'Server URL', exact: true }).inputValue(), server.url);
  assert.equal(await card.getByRole('textbox', { name: 'User name', exact: true }).inputValue(), 'alice');
  await card.getByText('shown only this once', { exact: false }).waitFor();
  await noViolations(alice, '#/settings (app password shown)');
  assert.equal((await ping({ u: 'alice', p: password })).status, 'ok');
  await card.getByRole('button', { name: 'Done' }).click();
  await card.getByRole('button', { name: 'Revoke app password Test phone' }).click();
  await alice.getByRole('dialog', { name: 'Revoke “Test phone”?' }).getByRole('button', { name: 'Revoke' }).click();
  await card.getByText('No app passwords yet.').waitFor();
  const refused = await ping({ u: 'alice', p: password });
  assert.equal(refused.status, 'failed');
  assert.equal(refused.error.code, 40);

  const keys = alice.getByRole('region', { name: 'API keys' });
  await keys.getByLabel('Name (what it is for)').fill('Feishin');
  await keys.getByRole('button', { name: 'Create API key' }).click();
  const key = await keys.getByRole('textbox', { name: 'API key', exact: true }).inputValue();
  assert.equal((await ping({ apiKey: key })).status, 'ok');
  await keys.getByRole('button', { name: 'Revoke API key Feishin' }).click();
  await alice.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await keys.getByText('No API keys yet.').waitFor();
  const gone = await ping({ apiKey: key });
  assert.equal(gone.status, 'failed');
  assert.equal(gone.error.code, 44);
});

test('settings: the sessions list names each device, and signs out another session', T, async () => {
  // alice signs in on a second browser that calls itself "Kitchen laptop".
  const other = await pageWith('alice', PASSWORD, undefined, { deviceName: 'Kitchen laptop' });
  const here = await deviceNameOf(alice);
  assert.ok(here, 'this browser has a device name ("Chrome on Linux"…)');
  await openPage(alice, '/settings', 'Settings');
  await alice.reload(); // (the page may be on Settings already)
  await alice.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  const card = alice.getByRole('region', { name: 'Signed-in sessions' });
  await card.locator('.item').nth(1).waitFor();
  assert.equal(await card.locator('.item').count(), 2);
  await card.getByText('2 sessions').waitFor();
  assert.equal(await card.locator('.item.current .row-title').textContent(), `${here} This device`);
  assert.equal(await card.locator('.item:not(.current) .row-title').textContent(), 'Kitchen laptop');
  await card.locator('.item:not(.current)', { hasText: 'last used' }).waitFor();
  await noViolations(alice, '#/settings (sessions)');

  const otherToken = await tokenOf(other);
  assert.equal((await call('GET', '/api/v1/me', { token: otherToken })).status, 200);
  await card.getByRole('button', { name: /^Sign out Kitchen laptop/ }).click();
  await until('one session left', async () => (await card.locator('.item').count()) === 1);
  await card.getByText('1 session').waitFor();
  assert.equal(await card.getByRole('button', { name: 'Sign out all other sessions' }).isHidden(), true);
  assert.equal((await call('GET', '/api/v1/me', { token: otherToken })).status, 401, 'the ended session is refused');
  // The other browser's next request is refused: back to the sign-in page.
  await other.getByRole('link', { name: 'Playlists', exact: true }).click();
  await other.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  await other.getByText('Your session has ended.', { exact: false }).waitFor();
  await other.context().close();
});

test('settings: sign out all other sessions', T, async () => {
  const phone = await pageWith('alice', PASSWORD, { width: 390, height: 844 }, { deviceName: 'Phone' });
  const tablet = await pageWith('alice', PASSWORD, undefined, { deviceName: 'Tablet' });
  const tokens = [await tokenOf(phone), await tokenOf(tablet)];
  await alice.reload();
  await alice.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  const card = alice.getByRole('region', { name: 'Signed-in sessions' });
  await card.locator('.item').nth(2).waitFor();
  assert.deepEqual((await card.locator('.item:not(.current) .row-title').allTextContents()).sort(), ['Phone', 'Tablet']);
  await card.getByRole('button', { name: 'Sign out all other sessions' }).click();
  const confirm = alice.getByRole('dialog', { name: 'Sign out everywhere else?' });
  await noViolations(alice, 'sign out others dialog');
  await confirm.getByRole('button', { name: 'Sign out others' }).click();
  await until('one session', async () => (await card.locator('.item').count()) === 1);
  await card.locator('.item.current', { hasText: 'This device' }).waitFor();
  assert.equal(await card.getByRole('button', { name: 'Sign out all other sessions' }).isHidden(), true);
  for (const t of tokens) assert.equal((await call('GET', '/api/v1/me', { token: t })).status, 401);
  assert.equal((await call('GET', '/api/v1/me', { token: await tokenOf(alice) })).status, 200, 'this one goes on');
  await tablet.reload();
  await tablet.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  await phone.context().close();
  await tablet.context().close();
});

test('settings: change the password, then sign in with the new one', T, async () => {
  const card = alice.getByRole('region', { name: 'Password' });
  await card.getByLabel('Current password').fill('not my password');
  await card.getByLabel('New password', { exact: true }).fill('a brand new secret');
  await card.getByLabel('Confirm the new password').fill('a brand new secret');
  await card.getByRole('button', { name: 'Change password' }).click();
  await card.getByText('The current password is wrong.').waitFor();
  await card.getByLabel('Current password').fill(PASSWORD);
  await card.getByLabel('Confirm the new password').fill('a brand new secreT');
  await card.getByRole('button', { name: 'Change password' }).click();
  await card.getByText('The two new passwords differ.').waitFor();
  await card.getByLabel('Confirm the new password').fill('a brand new secret');
  await card.getByRole('button', { name: 'Change password' }).click();
  await card.getByText('Password changed.', { exact: false }).waitFor();
  PASSWORD = 'a brand new secret';

  await openAccountMenu(alice);
  await alice.getByRole('button', { name: 'Sign out' }).click();
  await alice.getByLabel('Username').fill('alice');
  await alice.getByLabel('Password').fill('correct horse battery');
  await alice.getByRole('button', { name: 'Sign in' }).click();
  await alice.getByText('Wrong username or password.').waitFor();
  await signIn(alice, 'alice', PASSWORD);
});

// ---- admin ------------------------------------------------------------------------

test('admin: create, disable, enable, promote, set a password and delete an account; invites; storage', T, async () => {
  await openAccountMenu(alice);
  await alice.getByRole('link', { name: 'Admin' }).click();
  await alice.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
  const users = alice.getByRole('region', { name: 'Accounts' });
  await users.locator('.user-card').nth(1).waitFor();
  await noViolations(alice, '#/admin');

  await users.getByLabel('Username').fill('carol');
  await users.getByLabel('Password', { exact: true }).fill('carol password');
  await users.getByRole('button', { name: 'Create account' }).click();
  const carol = users.locator('.user-card', { hasText: 'carol' });
  await carol.waitFor();
  assert.ok(await login('carol', 'carol password'), 'carol can sign in');

  // Storage per user: what each one uploaded (alice the three songs).
  const listed = (await call('GET', '/api/v1/users', { token: await tokenOf(alice) })).body.items;
  const byName = Object.fromEntries(listed.map((u) => [u.username, u]));
  assert.equal(byName.alice.song_count, 3);
  assert.ok(byName.alice.storage_bytes > 0);
  const aliceStats = await users.locator('.user-card', { hasText: 'alice' }).locator('.user-stats').textContent();
  const size = await alice.evaluate((n) => import('/js/dom.js').then((m) => m.formatBytes(n)), byName.alice.storage_bytes);
  assert.match(size, /^\d+(\.\d)? (KiB|MiB)$/);
  assert.ok(aliceStats.includes(`3 songs uploaded · ${size} stored`), aliceStats);
  assert.ok((await users.locator('.user-card', { hasText: 'bob' }).locator('.user-stats').textContent()).includes('0 songs uploaded · 0 B stored'));
  assert.ok((await carol.locator('.user-stats').textContent()).includes('0 songs uploaded'));

  // A storage limit of her own, then back to the server's default (none).
  await carol.getByRole('button', { name: 'Set the storage limit of carol' }).click();
  const limit = alice.getByRole('dialog', { name: 'Storage limit of carol' });
  await limit.getByLabel('Limit in MiB').fill('5');
  await noViolations(alice, 'storage limit dialog');
  await limit.getByRole('button', { name: 'Save' }).click();
  await limit.waitFor({ state: 'detached' });
  await until('carol\'s limit on her card', async () => /0 B of 5(\.0)? MiB stored/.test(await carol.locator('.user-stats').textContent()));
  const carolToken = await login('carol', 'carol password');
  const me = (await call('GET', '/api/v1/me', { token: carolToken })).body;
  assert.equal(me.storage_quota_bytes, 5 * 1048576);
  assert.equal(me.storage_bytes, 0);
  await carol.getByRole('button', { name: 'Set the storage limit of carol' }).click();
  await limit.getByLabel('Limit in MiB').fill('');
  await limit.getByRole('button', { name: 'Save' }).click();
  await until('carol back on the default', async () => (await carol.locator('.user-stats').textContent()).includes('no limit'));
  assert.equal((await call('GET', '/api/v1/me', { token: carolToken })).body.storage_quota_bytes, 0);

  await carol.getByRole('button', { name: 'Disable carol' }).click();
  await carol.getByText('Disabled').waitFor();
  assert.equal(await login('carol', 'carol password'), null, 'a disabled account cannot sign in');
  await carol.getByRole('button', { name: 'Enable carol' }).click();
  await carol.getByRole('button', { name: 'Disable carol' }).waitFor();
  assert.ok(await login('carol', 'carol password'));

  await carol.getByRole('button', { name: 'Make admin: carol' }).click();
  await carol.locator('.badge', { hasText: 'Admin' }).waitFor();
  await carol.getByRole('button', { name: 'Remove admin role from carol' }).click();
  await carol.getByRole('button', { name: 'Make admin: carol' }).waitFor();

  await carol.getByRole('button', { name: 'Set password for carol' }).click();
  const pw = alice.getByRole('dialog', { name: 'New password for carol' });
  await pw.getByLabel('New password').fill('carol second password');
  await noViolations(alice, 'set password dialog');
  await pw.getByRole('button', { name: 'Set password' }).click();
  await pw.waitFor({ state: 'detached' });
  assert.equal(await login('carol', 'carol password'), null);
  assert.ok(await login('carol', 'carol second password'));

  // Invite codes, shown once.
  await alice.getByRole('button', { name: 'Create invite code' }).click();
  inviteCode = await alice.getByRole('textbox', { name: 'Invite code', exact: true }).inputValue();
  assert.match(inviteCode, /^[0-9a-f]{32}$/);

  // Delete, with a confirmation.
  await carol.getByRole('button', { name: 'Delete carol' }).click();
  await alice.getByRole('dialog', { name: 'Delete carol?' }).getByRole('button', { name: 'Delete account' }).click();
  await carol.waitFor({ state: 'detached' });
  assert.equal(await login('carol', 'carol second password'), null);
  // An admin cannot disable, demote or delete themselves here.
  assert.equal(await users.getByRole('button', { name: 'Disable alice' }).isDisabled(), true);
  await alice.getByRole('link', { name: 'Open the cluster view' }).click();
  await alice.getByRole('heading', { name: 'Cluster' }).waitFor();
});

// A signed-out browser on the sign-up page.
async function registerPage() {
  const page = await newPage(browser, errors);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(`${server.url}/#/register`);
  await page.getByRole('heading', { name: 'Create your HiFi account' }).waitFor();
  return page;
}

async function fillRegistration(page, username, password) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
}

test('admin: the registration mode is saved, and sign-up follows it', T, async () => {
  await openPage(alice, '/admin', 'Admin');
  const reg = alice.getByRole('region', { name: 'Registration' });
  const select = reg.getByLabel('Who may create an account');
  await until('the registration setting', () => select.isEnabled());
  assert.equal(await select.inputValue(), 'open');
  const save = async (mode) => {
    await select.selectOption(mode);
    await reg.getByRole('button', { name: 'Save' }).click();
    await reg.getByText(`Saved: registration is ${mode}.`).waitFor();
    assert.equal((await call('GET', '/api/v1/settings', { token: await tokenOf(alice) })).body.registration, mode);
    assert.equal((await call('GET', '/healthz')).body.registration, mode);
  };

  // Invite-only: the sign-up form asks for a code, and the admin's works.
  await save('invite');
  await alice.reload();
  await until('the saved mode shown after a reload', async () => (await select.isEnabled()) && (await select.inputValue()) === 'invite');
  let visitor = await registerPage();
  const code = visitor.getByLabel('Invite code');
  await code.waitFor();
  await fillRegistration(visitor, 'dave', 'dave password');
  await visitor.getByRole('button', { name: 'Create account' }).click();
  await visitor.getByText('Enter your invite code.').waitFor();
  await code.fill('0'.repeat(32));
  await visitor.getByRole('button', { name: 'Create account' }).click();
  await visitor.getByText('Registration refused:', { exact: false }).waitFor();
  await noViolations(visitor, '#/register (invite)');
  await code.fill(inviteCode);
  await visitor.getByRole('button', { name: 'Create account' }).click();
  await visitor.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
  assert.ok(await login('dave', 'dave password'), 'dave signed up with the invite');
  await visitor.context().close();

  // Closed: the form says so and the server refuses.
  await save('closed');
  visitor = await registerPage();
  await visitor.getByText('Registration is closed on this server', { exact: false }).waitFor();
  await fillRegistration(visitor, 'erin', 'erin password');
  await visitor.getByRole('button', { name: 'Create account' }).click();
  await visitor.getByText('Registration refused:', { exact: false }).waitFor();
  assert.equal(await visitor.getByRole('heading', { name: 'Create your HiFi account' }).isVisible(), true);
  assert.equal(await login('erin', 'erin password'), null, 'no account was made');
  assert.equal((await call('POST', '/api/v1/auth/register', { json: { username: 'erin', password: 'erin password' } })).status, 403);
  await visitor.context().close();

  await save('open');
  assert.equal((await call('POST', '/api/v1/auth/register', { json: { username: 'erin', password: 'erin password' } })).status, 201);
});

test('phone width: the screens fit in 390 px, light and dark', T, async () => {
  const page = await pageWith('alice', PASSWORD, { width: 390, height: 844 });
  for (const theme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: theme });
    for (const [route, ready] of [['/playlists', '.playlist-card'], [`/playlists/${playlistId}`, '.pl-song'], ['/settings', '.radio'], ['/admin', '.user-card']]) {
      await page.goto(`${server.url}/#${route}`);
      await page.locator(ready).first().waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${route} is ${width} px wide`);
      if (theme === 'dark') await noViolations(page, `${route} at 390 px, dark`);
    }
    if (theme === 'light') {
      await page.goto(`${server.url}/#/playlists/${playlistId}`);
      await page.locator('.pl-song').first().waitFor();
      await shot(page, 'lists-playlist-phone');
    }
  }
  await openAccountMenu(page);
  const box = await page.locator('#account-menu').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, 'the account menu fits');
  await page.context().close();
});

test('no errors in the pages', () => {
  assert.deepEqual(errors, []);
  assert.deepEqual(dialogs, []);
});
