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
import path from 'node:path';
import { readFileSync } from 'node:fs';
import {
  Server, generateSongs, makeTempDir, removeDir, launchBrowser, newPage, waitForTexts, accessibilityViolations, repoRoot,
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

async function signIn(page, username, password) {
  await page.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Library' }).waitFor();
}

async function openPage(page, route, heading) {
  await page.goto(`${server.url}/#${route}`);
  if (heading) await page.getByRole('heading', { name: heading, exact: true }).first().waitFor();
}

async function noViolations(page, where) {
  assert.deepEqual(await accessibilityViolations(page), [], where);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(repoRoot, 'tests', 'browser', 'test-results', `${name}.png`) });
}

async function openAccountMenu(page) {
  await page.locator('#account-button').click();
  await page.locator('#account-menu').waitFor();
}

async function pageWith(username, password, viewport) {
  const page = await newPage(browser, errors, viewport);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(server.url);
  await signIn(page, username, password);
  return page;
}

// ---- setup ------------------------------------------------------------------

before(async () => {
  tmp = makeTempDir('hifi-lists-');
  const { songs } = generateSongs(tmp);
  server = new Server(path.join(tmp, 'data'));
  await server.start();
  browser = await launchBrowser();
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
  alice = await pageWith('alice', PASSWORD);
  bob = await pageWith('bob', BOB_PASSWORD);
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (tmp) removeDir(tmp);
});

// ---- playlists ----------------------------------------------------------------

test('create a playlist and add songs through the add-to-playlist dialog', T, async () => {
  await alice.getByRole('link', { name: 'Playlists' }).click();
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

  // Play and Shuffle ask the personal room to play the playlist's songs.
  const commands = [];
  await alice.route('**/api/v1/me/room', (route) => route.fulfill({ json: { ...room, private: true } }));
  await alice.route(`**/api/v1/rooms/${room.id}/commands`, (route) => {
    commands.push(route.request().postDataJSON());
    return route.fulfill({ json: room });
  });
  try {
    await alice.getByRole('button', { name: 'Play', exact: true }).click();
    await until('the play command', () => commands.length === 1);
    assert.deepEqual(commands[0], { type: 'add', song_ids: [songIds[0], songIds[2], songIds[1]], replace: true, play: true });
    await alice.getByRole('button', { name: 'Shuffle', exact: true }).click();
    await until('the shuffle command', () => commands.length === 2);
    assert.deepEqual([...commands[1].song_ids].sort(), [...songIds].sort());
    assert.equal(commands[1].replace, true);
    await alice.getByRole('button', { name: 'Play from Charlie Tone' }).click();
    await until('the play-from command', () => commands.length === 3);
    assert.deepEqual(commands[2].song_ids, [songIds[2], songIds[1]]);
  } finally {
    await alice.unroute('**/api/v1/me/room');
    await alice.unroute(`**/api/v1/rooms/${room.id}/commands`);
  }
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

test('settings: the sessions list, and signing out another session', T, async (t) => {
  const probe = await call('GET', '/api/v1/me/sessions', { token: await tokenOf(alice) });
  if (probe.status === 404) {
    t.skip('this hifi-server has no GET /api/v1/me/sessions yet (the sessions list shows "cannot list sessions yet")');
    await alice.getByText('This server cannot list sessions yet.').waitFor();
    return;
  }
  const other = await pageWith('alice', PASSWORD);
  await alice.reload();
  const card = alice.getByRole('region', { name: 'Signed-in sessions' });
  await card.locator('.item').nth(1).waitFor();
  assert.equal(await card.locator('.item').count(), 2);
  await card.locator('.item.current', { hasText: 'This device' }).waitFor();
  await card.locator('.item:not(.current)').getByRole('button', { name: /^Sign out / }).click();
  await until('one session left', async () => (await card.locator('.item').count()) === 1);
  // The other browser's next request is refused: back to the sign-in page.
  await other.getByRole('link', { name: 'Playlists' }).click();
  await other.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  await other.getByText('Your session has ended.', { exact: false }).waitFor();
  await other.context().close();
});

// The sessions card against answers shaped as the API contract says
// (GET /api/v1/me/sessions, DELETE one, DELETE all others), served by the
// page's network layer: the screen is checked even before the server has them.
test('settings: the sessions card lists, signs out one and all others (contract answers)', T, async () => {
  const now = Date.now();
  let sessions = [
    { id: 's1', device: 'Chrome on Linux', address: '127.0.0.1', created_at: now - 3600000, last_used_at: now, expires_at: now + 86400000, current: true },
    { id: 's2', device: 'Firefox on Android', address: '192.0.2.7', created_at: now - 7200000, last_used_at: now - 600000, expires_at: now + 86400000, current: false },
    { id: 's3', device: 'Safari on iPhone', address: '198.51.100.4', created_at: now - 86400000 * 3, last_used_at: now - 86400000 * 2, expires_at: now + 86400000, current: false },
  ];
  const deleted = [];
  const pattern = /\/api\/v1\/me\/sessions(\/[^/?]+)?(\?.*)?$/;
  await alice.route(pattern, (route) => {
    const req = route.request();
    const one = new URL(req.url()).pathname.split('/')[5];
    if (req.method() === 'GET') return route.fulfill({ json: { sessions } });
    if (req.method() === 'DELETE') {
      deleted.push(one || 'others');
      sessions = one ? sessions.filter((x) => x.id !== one) : sessions.filter((x) => x.current);
      return route.fulfill({ status: 204 });
    }
    return route.continue();
  });
  try {
    await openPage(alice, '/settings');
    await alice.reload(); // (the page may be on Settings already)
    await alice.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const card = alice.getByRole('region', { name: 'Signed-in sessions' });
    await card.locator('.item').nth(2).waitFor();
    assert.equal(await card.locator('.item').first().locator('.row-title').textContent(), 'Chrome on Linux This device');
    await card.getByText('192.0.2.7 · last used 10 minutes ago').waitFor();
    await noViolations(alice, '#/settings (sessions)');
    await card.getByRole('button', { name: 'Sign out Firefox on Android at 192.0.2.7' }).click();
    await until('two sessions', async () => (await card.locator('.item').count()) === 2);
    await card.getByRole('button', { name: 'Sign out all other sessions' }).click();
    await alice.getByRole('dialog', { name: 'Sign out everywhere else?' }).getByRole('button', { name: 'Sign out others' }).click();
    await until('one session', async () => (await card.locator('.item').count()) === 1);
    assert.equal(await card.getByRole('button', { name: 'Sign out all other sessions' }).isHidden(), true);
    assert.deepEqual(deleted, ['s2', 'others']);
  } finally {
    await alice.unroute(pattern);
  }
  await alice.reload();
  await alice.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
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

test('admin: create, disable, enable, promote, set a password and delete an account; invites; registration', T, async (t) => {
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
  const stats = await carol.locator('.user-stats').textContent();
  const listed = (await call('GET', '/api/v1/users', { token: await tokenOf(alice) })).body.items;
  if ('song_count' in listed[0]) {
    assert.match(await users.locator('.user-card', { hasText: 'alice' }).locator('.user-stats').textContent(), /3 songs uploaded · .+ stored/);
  } else {
    t.diagnostic('this hifi-server does not list song_count and storage_bytes yet');
    assert.doesNotMatch(stats, /uploaded/);
  }

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
  assert.match(await alice.getByRole('textbox', { name: 'Invite code', exact: true }).inputValue(), /^[0-9a-f]{32}$/);

  // Registration mode (GET/PATCH /api/v1/settings).
  const reg = alice.getByRole('region', { name: 'Registration' });
  const settings = await call('GET', '/api/v1/settings', { token: await tokenOf(alice) });
  if (settings.status === 404) {
    t.diagnostic('this hifi-server has no /api/v1/settings yet: the registration mode is shown read-only');
    await reg.getByText('Registration is open.', { exact: false }).waitFor();
  } else {
    const select = reg.getByLabel('Who may create an account');
    await until('the registration setting', () => select.isEnabled());
    await select.selectOption('invite');
    await reg.getByRole('button', { name: 'Save' }).click();
    await reg.getByText('Saved: registration is invite.').waitFor();
    assert.equal((await call('GET', '/healthz')).body.registration, 'invite');
    await select.selectOption('open');
    await reg.getByRole('button', { name: 'Save' }).click();
    await reg.getByText('Saved: registration is open.').waitFor();
  }

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

// The registration setting against answers shaped as the API contract says
// (GET/PATCH /api/v1/settings), when the server does not have it yet.
test('admin: the registration mode is saved through /api/v1/settings (contract answers)', T, async (t) => {
  if ((await call('GET', '/api/v1/settings', { token: await tokenOf(alice) })).status !== 404) {
    t.skip('the server has /api/v1/settings: the admin test above used it');
    return;
  }
  let registration = 'open';
  const patches = [];
  await alice.route('**/api/v1/settings', (route) => {
    const req = route.request();
    if (req.method() === 'PATCH') { patches.push(req.postDataJSON()); registration = req.postDataJSON().registration; }
    return route.fulfill({ json: { registration } });
  });
  try {
    await openPage(alice, '/admin', 'Admin');
    const reg = alice.getByRole('region', { name: 'Registration' });
    const select = reg.getByLabel('Who may create an account');
    await until('the registration setting', () => select.isEnabled());
    assert.equal(await select.inputValue(), 'open');
    await select.selectOption('closed');
    await reg.getByRole('button', { name: 'Save' }).click();
    await reg.getByText('Saved: registration is closed.').waitFor();
    assert.deepEqual(patches, [{ registration: 'closed' }]);
  } finally {
    await alice.unroute('**/api/v1/settings');
  }
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
