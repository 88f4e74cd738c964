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
import { execFileSync } from 'node:child_process';
import {
  startSuite, stopSuite, newPage, waitForTexts, accessibilityViolations, shot, docsShot,
  submitSignIn, submitRegistration,
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
  ({ tmp, songs, server, browser } = await startSuite('hifi-player-'));
});

after(() => stopSuite({ tmp, server, browser }));

async function signedIn(page) {
  // (The account name is not shown on phones; it is there all the same.)
  await page.waitForFunction(() => !document.querySelector('.account').hidden &&
    document.querySelector('.account-name').textContent === 'alice', null, { timeout: 10000 });
}

async function register(page, username) {
  await page.goto(server.url);
  await submitRegistration(page, username, PASSWORD);
  await signedIn(page);
}

async function signIn(page, username) {
  await page.goto(server.url);
  await submitSignIn(page, username, PASSWORD);
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

const state = (page) => page.evaluate(() => window.__hifiTest.personalState());

const heard = (page) => page.evaluate(() => window.__hifiTest.position());
const signal = (page) => page.evaluate(() => window.__hifiTest.signal());
const bar = (page) => page.locator('.nowbar');

// Waits until `fn` (run in the page, synchronous: a promise would count as
// true at once) returns a truthy value.
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
  const st = await state(laptop);
  assert.equal(st.playing, false);
  assert.ok(st.position_ms > 0, `paused at ${st.position_ms} ms`);
  assert.equal(await pb(laptop, 'positionNow'), st.position_ms);
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

const go = (page, hash) => page.evaluate((h) => { location.hash = h; }, hash);
const playerQueue = '.pl-queue .queue-item .row-title';

test('choose which device plays: the other one becomes a silent remote', T, async () => {
  // Name the phone, from the player view.
  await go(phone, '#/player');
  await phone.getByLabel('This device’s name').fill('Phone');
  await phone.getByRole('button', { name: 'Rename' }).click();
  // Both devices play for now (the room plays on every device).
  await sounds(laptop);
  await sounds(phone);
  // The laptop's "Play on" lists the phone by its new name once the server does.
  const laptopPick = bar(laptop).getByLabel('Play on');
  await laptopPick.locator('option', { hasText: /^Phone$/ }).waitFor({ state: 'attached', timeout: 5000 });

  // The phone plays, the laptop is a remote.
  await phone.locator('.pl-devices').getByLabel('Play on').selectOption({ label: 'Phone (this device)' });
  await silent(laptop);
  await sounds(phone);
  await bar(laptop).locator('.nb-where', { hasText: 'On Phone' }).waitFor();
  await phone.locator('.pl-where', { hasText: 'On this device' }).waitFor();
  // The remote still controls it: pause and play from the laptop.
  await bar(laptop).getByRole('button', { name: 'Pause', exact: true }).click();
  await silent(phone);
  await bar(laptop).getByRole('button', { name: 'Play', exact: true }).click();
  await sounds(phone);
  await silent(laptop, 1000);

  // And back to the laptop, chosen from the laptop's bar.
  await laptopPick.selectOption({ label: 'This device' });
  await silent(phone);
  await sounds(laptop);
  await phone.locator('.pl-where', { hasText: 'On Chrome on Linux' }).waitFor();
});

test('play an album in track order', T, async () => {
  const albums = await laptop.evaluate(async () => (await (await import('/js/api.js')).api.get('/api/v1/albums')).items);
  const signals = albums.find((a) => a.name === 'Signals');
  await pb(laptop, 'playAlbum', [signals.id]);
  await go(laptop, '#/player');
  await waitForTexts(laptop, playerQueue, ['Alpha Tone', 'Charlie Tone']);
  const st = await state(laptop);
  assert.deepEqual(st.queue.map((it) => it.song_id), [ids['Alpha Tone'], ids['Charlie Tone']]);
  assert.equal(st.current, st.queue[0].id);
  assert.equal(st.playing, true);
  await laptop.locator('.pl-now .np-title', { hasText: 'Alpha Tone' }).waitFor();
  await laptop.locator('.queue-item.current .badge', { hasText: 'Now playing' }).waitFor();
  // The bar is not shown on the player itself.
  assert.equal(await bar(laptop).isHidden(), true);
  // Choosing a queue item plays it.
  await laptop.getByRole('button', { name: /^Play Charlie Tone/ }).click();
  await laptop.locator('.pl-now .np-title', { hasText: 'Charlie Tone' }).waitFor();
  await waitFor(laptop, (id) => window.__hifiTest.position()?.songId === id, ids['Charlie Tone']);
});

test('shuffle and repeat change the queue and the state, on both devices', T, async () => {
  const three = [ids['Alpha Tone'], ids['Bravo Tone'], ids['Charlie Tone']];
  await pb(laptop, 'playSongs', [[...three, ...three, ...three]]);
  await waitFor(laptop, () => document.querySelectorAll('.pl-queue .queue-item').length === 9);
  const before = await state(laptop);
  await laptop.getByRole('button', { name: 'Shuffle the queue' }).click();
  // (The chance that a shuffle of eight items leaves them in order is 1 in 40,320.)
  await waitFor(laptop, (order) => {
    const st = window.__hifiTest.personalState();
    return JSON.stringify(st.queue.map((it) => it.id)) !== JSON.stringify(order);
  }, before.queue.map((it) => it.id));
  const after = await state(laptop);
  assert.equal(after.current, before.current);
  assert.equal(after.queue[0].id, before.queue[0].id);
  const rest = (q) => q.slice(1).map((it) => it.id);
  assert.deepEqual([...rest(after.queue)].sort(), [...rest(before.queue)].sort());
  assert.notDeepEqual(rest(after.queue), rest(before.queue));
  // The phone's player shows the new order.
  await waitFor(phone, (order) => JSON.stringify([...document.querySelectorAll('.pl-queue .queue-item')].map((li) => li.dataset.id)) === JSON.stringify(order),
    after.queue.map((it) => it.id));

  for (const [label, mode] of [['Queue', 'all'], ['This song', 'one'], ['Off', 'off']]) {
    await laptop.getByLabel('Repeat').selectOption({ label });
    for (const page of [laptop, phone]) {
      await waitFor(page, (m) => window.__hifiTest.personalState()?.repeat === m, mode);
    }
    assert.equal(await phone.getByLabel('Repeat').inputValue(), mode);
  }

  // Shuffled play: the same songs, the first one among them.
  await pb(laptop, 'playSongs', [[...three, ...three], { shuffle: true }]);
  const st = await state(laptop);
  assert.deepEqual(st.queue.map((it) => it.song_id).sort(), [...three, ...three].sort());
  assert.equal(st.current, st.queue[0].id);
  assert.equal(st.playing, true);
});

test('the bar works by keyboard, and the keyboard shortcuts', T, async () => {
  await go(laptop, '#/library/songs');
  await laptop.locator('.song-row').first().waitFor();
  await pb(laptop, 'playSongs', [[ids['Alpha Tone'], ids['Bravo Tone'], ids['Charlie Tone']]]);
  const b = bar(laptop);
  await b.locator('.nb-title', { hasText: 'Alpha Tone' }).waitFor();
  const playing = (page, want) => waitFor(page, (w) => window.__hifiTest.personalState()?.playing === w, want);
  const current = (page, id) => waitFor(page, (want) => {
    const st = window.__hifiTest.personalState();
    return st?.queue.find((it) => it.id === st.current)?.song_id === want;
  }, id);
  const positionIs = (page, ms) => waitFor(page, (want) => {
    const st = window.__hifiTest.personalState();
    return st && !st.playing && st.position_ms === want;
  }, ms);

  // The bar's buttons: Enter and Space.
  await b.getByRole('button', { name: 'Pause', exact: true }).focus();
  await laptop.keyboard.press('Enter');
  await playing(laptop, false);
  await laptop.keyboard.press('Space'); // the focus stays on the same button
  await playing(laptop, true);
  await b.getByRole('button', { name: 'Next', exact: true }).focus();
  await laptop.keyboard.press('Enter');
  await current(laptop, ids['Bravo Tone']);
  await b.locator('.nb-title', { hasText: 'Bravo Tone' }).waitFor();
  // The seek slider: the arrow keys seek by 5 s.
  await b.getByRole('button', { name: 'Pause', exact: true }).click();
  await playing(laptop, false);
  await pb(laptop, 'seekTo', [2000]);
  await b.getByRole('slider', { name: 'Seek' }).focus();
  await laptop.keyboard.press('ArrowRight');
  await positionIs(laptop, 7000);
  await laptop.keyboard.press('ArrowLeft');
  await laptop.keyboard.press('ArrowLeft');
  await positionIs(laptop, 0);

  // The shortcuts, with nothing focused.
  await laptop.evaluate(() => document.activeElement?.blur());
  await laptop.keyboard.press('Space');
  await playing(laptop, true);
  await laptop.keyboard.press('Space');
  await playing(laptop, false);
  await laptop.keyboard.press('n');
  await current(laptop, ids['Charlie Tone']);
  await laptop.keyboard.press('p');
  await current(laptop, ids['Bravo Tone']);
  await laptop.keyboard.press('ArrowRight');
  await positionIs(laptop, 10000);
  await laptop.keyboard.press('ArrowRight');
  await positionIs(laptop, 20000);
  await laptop.keyboard.press('ArrowLeft');
  await positionIs(laptop, 10000);
  // "/" goes to the search field; typing there is not a shortcut.
  await laptop.keyboard.press('/');
  await waitFor(laptop, () => document.activeElement?.type === 'search');
  await laptop.keyboard.type('n');
  assert.equal(await laptop.evaluate(() => document.activeElement.value), 'n');
  await laptop.keyboard.press('Backspace');
  await current(laptop, ids['Bravo Tone']);
  await laptop.evaluate(() => document.activeElement?.blur());

  // "?" opens the help dialog (focus inside), Escape closes it.
  await laptop.keyboard.press('?');
  const dialog = laptop.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await dialog.waitFor();
  await waitFor(laptop, () => document.activeElement?.closest('dialog')?.open === true);
  for (const key of ['Space', 'Next song', 'Search']) await dialog.getByText(key, { exact: true }).first().waitFor();
  assert.deepEqual(await accessibilityViolations(laptop), [], 'the help dialog');
  await laptop.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
});

test('reload keeps the personal queue and the position', T, async () => {
  await pb(laptop, 'seekTo', [12000]);
  const before = await state(laptop);
  assert.equal(before.playing, false);
  await laptop.reload();
  await bar(laptop).locator('.nb-title', { hasText: 'Bravo Tone' }).waitFor();
  const after = await state(laptop);
  assert.deepEqual(after.queue, before.queue);
  assert.equal(after.current, before.current);
  assert.equal(after.position_ms, 12000);
  await waitFor(laptop, () => document.querySelector('.nb-seek').value === '12000');
  // And it plays on from there.
  await bar(laptop).getByRole('button', { name: 'Play', exact: true }).click();
  await waitFor(laptop, () => window.__hifiTest.position()?.positionMs > 12000, null, 10000);
});

test('no serious accessibility violations: the bar, the player', T, async () => {
  await go(laptop, '#/library/songs');
  await bar(laptop).waitFor();
  // (The song list itself is the library's, checked by its own tests.)
  assert.deepEqual(await accessibilityViolations(laptop, { exclude: ['.vlist'] }), [], 'with the bar');
  await shot(laptop, 'bar-desktop');
  // Dark, and a narrower window (the volume gives way).
  await laptop.emulateMedia({ colorScheme: 'dark' });
  await laptop.setViewportSize({ width: 800, height: 700 });
  assert.deepEqual(await accessibilityViolations(laptop, { exclude: ['.vlist'] }), [], 'with the bar, dark, 800 px');
  assert.equal(await laptop.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), 0);
  await shot(laptop, 'bar-dark-800');
  await go(laptop, '#/player');
  await laptop.locator('.pl-queue .queue-item').first().waitFor();
  assert.deepEqual(await accessibilityViolations(laptop), [], '#/player, dark');
  await shot(laptop, 'player-dark');
  await laptop.emulateMedia({ colorScheme: 'light' });
  await laptop.setViewportSize({ width: 1280, height: 860 });
  assert.deepEqual(await accessibilityViolations(laptop), [], '#/player');
  // The player screen for the docs.
  await docsShot(laptop, 'player-screen');
});

test('phone width: the bar and the player fit and work', T, async () => {
  const overflow = () => phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await go(phone, '#/library/songs');
  await bar(phone).locator('.nb-title', { hasText: 'Bravo Tone' }).waitFor();
  assert.equal(await overflow(), 0);
  const box = await bar(phone).boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `the bar spans ${box.x}..${box.x + box.width}`);
  for (const name of ['Pause', 'Next']) {
    const r = await bar(phone).getByRole('button', { name, exact: true }).boundingBox();
    assert.ok(r.x + r.width <= 390 && r.width >= 40, `${name} at ${r.x}, ${r.width} wide`);
  }
  await shot(phone, 'bar-phone');
  await bar(phone).getByRole('button', { name: 'Pause', exact: true }).click();
  await laptop.getByRole('region', { name: 'Now playing' }).getByRole('button', { name: 'Play', exact: true }).waitFor({ timeout: 2000 });
  await bar(phone).getByRole('link', { name: 'Open the player' }).click();
  await phone.getByRole('heading', { name: 'Player' }).waitFor();
  assert.equal(await overflow(), 0);
  assert.deepEqual(await accessibilityViolations(phone), [], '#/player on a phone');
  await shot(phone, 'player-phone', true);
});

test('a room shared with others shows in the bar while listening there, until you play for yourself', T, async () => {
  const room = await laptop.evaluate(async (songId) => {
    const { api } = await import('/js/api.js');
    const r = await api.post('/api/v1/rooms', { name: 'Kitchen' });
    await api.post(`/api/v1/rooms/${r.id}/commands`, { type: 'add', song_ids: [songId] });
    return r;
  }, ids['Charlie Tone']);
  await go(laptop, `#/rooms/${room.id}`);
  await laptop.getByRole('heading', { name: 'Kitchen' }).waitFor();
  await laptop.getByRole('button', { name: 'Listen', exact: true }).click();
  await laptop.getByRole('button', { name: 'Stop listening' }).waitFor();
  // The bar is not on the room's own view; elsewhere it shows the room.
  assert.equal(await bar(laptop).isHidden(), true);
  await go(laptop, '#/library/songs');
  await bar(laptop).locator('.nb-where', { hasText: 'Listening in Kitchen' }).waitFor();
  await bar(laptop).locator('.nb-title', { hasText: 'Charlie Tone' }).waitFor();
  assert.equal(await bar(laptop).getByRole('link', { name: 'Open Kitchen' }).getAttribute('href'), `#/rooms/${room.id}`);
  // Playing for yourself ends listening in the room.
  await pb(laptop, 'playSongs', [[ids['Alpha Tone']]]);
  await bar(laptop).locator('.nb-title', { hasText: 'Alpha Tone' }).waitFor();
  await bar(laptop).locator('.nb-where', { hasText: /^On / }).waitFor();
  await waitFor(laptop, (id) => window.__hifiTest.position()?.songId === id, ids['Alpha Tone'], 10000);
});

test('the web app manifest is served, parses, and its icons exist', T, async () => {
  const res = await fetch(`${server.url}/manifest.webmanifest`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/manifest\+json/);
  const manifest = JSON.parse(await res.text());
  assert.equal(manifest.name, 'HiFi');
  assert.equal(manifest.display, 'standalone');
  assert.ok(manifest.start_url.startsWith('/'));
  const sizes = new Set();
  for (const icon of manifest.icons) {
    const r = await fetch(new URL(icon.src, server.url));
    assert.equal(r.status, 200, icon.src);
    assert.equal(r.headers.get('content-type'), icon.type, icon.src);
    const bytes = Buffer.from(await r.arrayBuffer());
    if (icon.type === 'image/png') {
      // The PNG's own size (IHDR) is the one the manifest says.
      const size = `${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`;
      assert.equal(size, icon.sizes, icon.src);
      sizes.add(size);
    }
  }
  assert.ok(sizes.has('192x192') && sizes.has('512x512'), [...sizes].join(', '));
  // Chromium finds and parses it without errors.
  const cdp = await laptop.context().newCDPSession(laptop);
  const parsed = await cdp.send('Page.getAppManifest');
  assert.match(parsed.url, /\/manifest\.webmanifest$/);
  assert.deepEqual(parsed.errors, []);
  await cdp.detach();
});

test('the queue: reorder by keyboard and by dragging, remove, seen on the other device', T, async () => {
  await pb(laptop, 'playSongs', [[ids['Alpha Tone'], ids['Bravo Tone'], ids['Charlie Tone']]]);
  await go(laptop, '#/player');
  await go(phone, '#/player');
  await waitForTexts(laptop, playerQueue, ['Alpha Tone', 'Bravo Tone', 'Charlie Tone']);
  // Alpha down one place, with the keyboard; the focus stays on its handle.
  await laptop.getByRole('button', { name: /^Move Alpha Tone/ }).focus();
  await laptop.keyboard.press('ArrowDown');
  await waitForTexts(phone, playerQueue, ['Bravo Tone', 'Alpha Tone', 'Charlie Tone']);
  await waitFor(laptop, () => document.activeElement?.getAttribute('aria-label') === 'Move Alpha Tone, position 2 of 3');
  // Charlie to the top, dragged by its handle.
  const from = await laptop.getByRole('button', { name: /^Move Charlie Tone/ }).boundingBox();
  const to = await laptop.locator('.pl-queue .queue-item').first().boundingBox();
  await laptop.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await laptop.mouse.down();
  await laptop.mouse.move(from.x + from.width / 2, to.y + 4, { steps: 8 });
  await laptop.mouse.up();
  await waitForTexts(phone, playerQueue, ['Charlie Tone', 'Bravo Tone', 'Alpha Tone']);
  // Remove one.
  await laptop.getByRole('button', { name: 'Remove Bravo Tone from the queue' }).click();
  await waitForTexts(phone, playerQueue, ['Charlie Tone', 'Alpha Tone']);
  await waitForTexts(laptop, playerQueue, ['Charlie Tone', 'Alpha Tone']);
});

test('when the device that plays goes away, the others stay remotes until one of them plays', T, async () => {
  const tablet = await newPage(browser, errors, { width: 800, height: 1000 });
  await signIn(tablet, 'alice');
  await go(tablet, '#/player');
  await tablet.getByLabel('This device’s name').fill('Tablet');
  await tablet.getByRole('button', { name: 'Rename' }).click();
  const tabletPick = tablet.locator('.pl-devices').getByLabel('Play on');
  await tabletPick.locator('option', { hasText: 'Tablet (this device)' }).waitFor({ state: 'attached' });
  await tabletPick.selectOption({ label: 'Tablet (this device)' });
  if (!(await state(tablet)).playing) await tablet.getByRole('button', { name: 'Play', exact: true }).click();
  await sounds(tablet);
  await silent(laptop);
  await laptop.locator('.pl-where', { hasText: 'On Tablet' }).waitFor();

  // The tablet is closed: the laptop and the phone say so, and stay silent.
  await tablet.context().close();
  await laptop.locator('.pl-where', { hasText: 'On Tablet (not connected)' }).waitFor();
  await phone.locator('.pl-where', { hasText: 'On Tablet (not connected)' }).waitFor();
  await silent(laptop, 1000);
  await silent(phone, 1000);

  // Play pressed on the laptop plays it there.
  const now = laptop.getByRole('region', { name: 'Now playing' });
  if ((await state(laptop)).playing) {
    await now.getByRole('button', { name: 'Pause', exact: true }).click();
    await now.getByRole('button', { name: 'Play', exact: true }).waitFor();
  }
  await now.getByRole('button', { name: 'Play', exact: true }).click();
  await sounds(laptop);
  await laptop.locator('.pl-where', { hasText: 'On this device' }).waitFor();
  await phone.locator('.pl-where', { hasText: 'On Chrome on Linux' }).waitFor();
  await silent(phone, 1000);
});

test('a hostile title shows as text in the bar, the player and the media session', T, async () => {
  const hostile = '<img src=x onerror=alert(1)>';
  const file = path.join(tmp, 'hostile.flac');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=330:duration=5',
    '-c:a', 'flac', '-metadata', `title=${hostile}`, '-metadata', `artist=${hostile}`, file]);
  const token = await laptop.evaluate(async () => (await import('/js/api.js')).api.token);
  const res = await fetch(`${server.url}/api/v1/songs`, {
    method: 'POST', body: readFileSync(file),
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'audio/flac', 'X-Filename': 'hostile.flac' },
  });
  assert.equal(res.status, 201);
  const song = await res.json();
  let dialogs = 0;
  laptop.on('dialog', (d) => { dialogs++; d.dismiss(); });
  await go(laptop, '#/library/songs');
  await pb(laptop, 'playSongs', [[song.id]]);
  await bar(laptop).locator('.nb-title', { hasText: hostile }).waitFor();
  assert.equal(await bar(laptop).locator('.nb-artist').textContent(), hostile);
  assert.equal(await bar(laptop).locator('.nb-meta img').count(), 0);
  await waitFor(laptop, (t) => navigator.mediaSession.metadata?.title === t, hostile);
  await go(laptop, '#/player');
  await laptop.locator('.pl-now .np-title', { hasText: hostile }).waitFor();
  await waitForTexts(laptop, playerQueue, [hostile]);
  assert.equal(await laptop.locator('.pl-now .np-meta img, .pl-queue .row-main img').count(), 0);
  // The player's "Keyboard shortcuts" button opens the help too.
  await laptop.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  await laptop.getByRole('dialog', { name: 'Keyboard shortcuts' }).getByRole('button', { name: 'Close' }).click();
  await waitFor(laptop, () => document.activeElement?.textContent === 'Keyboard shortcuts');
  assert.equal(dialogs, 0);
});

test('no errors in the pages', () => {
  assert.deepEqual(errors, []);
});
