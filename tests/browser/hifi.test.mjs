// Real-browser tests of HiFi's web app: Debian's Chromium, driven by
// playwright-core, against a hifi-server of our own.
//
//   cd tests/browser && npm ci && node --test hifi.test.mjs
//   (HIFI_SERVER_BIN=build/<dir>/src/hifi-server to pick the binary)
//
// The tests run in order and share one server and two users: alice (the
// first, admin) and bob, each in their own browser context.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import {
  startSuite, stopSuite, newPage, waitForTexts, median, shot, docsShot, submitSignIn, submitRegistration,
} from './harness.mjs';

const PASSWORD = 'correct horse battery';
const ROOM = 'Friday night';
const T = { timeout: 60000 };

let tmp;
let server;
let browser;
let songs;
let bogus;
let alice; // page of alice's context
let bob;   // page of bob's context, whose clock is BOB_SKEW_MS ahead of the host's
const BOB_SKEW_MS = 300;
const errors = [];

before(async () => {
  ({ tmp, songs, bogus, server, browser } = await startSuite('hifi-browser-'));
});

after(() => stopSuite({ tmp, server, browser }));

async function register(page, username) {
  await page.goto(server.url);
  await page.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  await submitRegistration(page, username, PASSWORD);
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
}

async function signIn(page, username) {
  await submitSignIn(page, username, PASSWORD);
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
}

test('register, sign out and sign in; the invite code field appears when the server asks for one', T, async () => {
  alice = await newPage(browser, errors);
  await register(alice, 'alice');
  await alice.locator('#account-button').click(); // the account menu
  await alice.getByRole('button', { name: 'Sign out' }).click();
  await alice.getByRole('heading', { name: 'Sign in to HiFi' }).waitFor();
  // A wrong password is reported, then the right one signs in.
  await alice.getByLabel('Username').fill('alice');
  await alice.getByLabel('Password').fill('not the password');
  await alice.getByRole('button', { name: 'Sign in' }).click();
  await alice.getByText('Wrong username or password.').waitFor();
  await signIn(alice, 'alice');
  assert.equal(await alice.locator('.account-name').textContent(), 'alice');

  bob = await newPage(browser, errors, undefined, { clockSkewMs: BOB_SKEW_MS });
  await register(bob, 'bob');

  // Invite-only registration (as the server's /healthz would say it).
  const probe = await newPage(browser, errors, { width: 390, height: 800 });
  await probe.route('**/healthz', async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    await route.fulfill({ response: res, json: { ...body, registration: 'invite' } });
  });
  await probe.goto(`${server.url}/#/register`);
  await probe.getByLabel('Invite code').waitFor();
  await shot(probe, 'register-invite-phone');
  await probe.context().close();
});

test('upload three generated songs, a duplicate and a file that is not audio', T, async () => {
  await alice.getByRole('link', { name: 'Upload', exact: true }).click();
  const input = alice.getByLabel('Choose files');
  assert.equal(await input.getAttribute('type'), 'file');
  assert.equal(await input.evaluate((el) => el.multiple), true);
  await input.setInputFiles([...songs.map((s) => s.path), bogus]);

  const items = alice.locator('.upload-item');
  for (const s of songs) {
    await items.filter({ hasText: s.file }).locator('.upload-status', { hasText: `Added: ${s.title} — ${s.artist}` }).waitFor();
  }
  // The server's reason is shown for the rejected file.
  const rejected = items.filter({ hasText: 'not-a-song.mp3' }).locator('.upload-status');
  await rejected.filter({ hasText: /^Rejected: .+/ }).waitFor();
  const reason = (await rejected.textContent()).replace(/^Rejected: /, '');
  const direct = await alice.evaluate(async () => {
    const { api } = await import('/js/api.js');
    const form = new FormData();
    form.append('file', new Blob(['These are not the bytes of a song.\n'.repeat(40)]), 'again.mp3');
    const res = await fetch('/api/v1/songs', { method: 'POST', body: form, headers: { Authorization: `Bearer ${api.token}` } });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(direct.status, 415);
  assert.equal(reason, direct.body.detail);

  // Progress bars reach the end, one per file.
  assert.equal(await items.count(), 4);
  for (const value of await alice.locator('.upload-item progress').evaluateAll((els) => els.map((e) => e.value))) {
    assert.equal(value, 100);
  }

  // The same bytes again: reported as a duplicate.
  await alice.getByLabel('Choose files').setInputFiles([songs[1].path]);
  await items.nth(4).locator('.upload-status', { hasText: `Already in the library: ${songs[1].title}` }).waitFor();
  await alice.getByText('Done: 3 added, 1 already in the library, 1 rejected.').waitFor();

  // Drag and drop works too (a drop event carrying a file).
  const bytes = readFileSync(songs[2].path).toString('base64');
  const dataTransfer = await alice.evaluateHandle(([b64, name]) => {
    const dt = new DataTransfer();
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([raw], name, { type: 'audio/flac' }));
    return dt;
  }, [bytes, songs[2].file]);
  await alice.locator('.dropzone').dispatchEvent('drop', { dataTransfer });
  await items.nth(5).locator('.upload-status', { hasText: `Already in the library: ${songs[2].title}` }).waitFor();
  await alice.getByText('Done: 3 added, 2 already in the library, 1 rejected.').waitFor();
  await shot(alice, 'upload-results');

  // The library shows them, with the embedded cover art.
  await alice.getByRole('link', { name: 'Library' }).click();
  await waitForTexts(alice, '.song-row .row-title', ['Bravo Tone', 'Alpha Tone', 'Charlie Tone']);
  await alice.waitForFunction(() => {
    const img = [...document.querySelectorAll('.song-row')].find((r) => r.textContent.includes('Alpha Tone'))?.querySelector('img');
    return img && img.src.startsWith('blob:') && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 5000 });
  // Download (in the song's action menu) goes through a signed URL with download=1.
  await alice.getByRole('button', { name: 'More actions for Charlie Tone' }).click();
  const [download] = await Promise.all([
    alice.waitForEvent('download'),
    alice.getByRole('menuitem', { name: 'Download' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'charlie.flac');
  await download.cancel();
  await shot(alice, 'library-desktop');
});

test('search as you type, albums and artists', T, async () => {
  const search = alice.getByLabel('Search songs');
  await search.fill('brav');
  await waitForTexts(alice, '.song-row .row-title', ['Bravo Tone']);
  await search.fill('testers');
  await waitForTexts(alice, '.song-row .row-title', ['Alpha Tone', 'Charlie Tone']);
  await search.fill('no such song');
  await alice.getByText('No songs match “no such song”.').waitFor();
  await search.fill('');
  await waitForTexts(alice, '.song-row .row-title', ['Bravo Tone', 'Alpha Tone', 'Charlie Tone']);

  await alice.getByRole('link', { name: 'Albums' }).click();
  await waitForTexts(alice, '.album-row .row-title', ['Waves', 'Signals']);
  await alice.getByRole('link', { name: 'Signals' }).click();
  await waitForTexts(alice, '.tracks .row-title', ['Alpha Tone', 'Charlie Tone']);
  await alice.getByRole('link', { name: 'Library', exact: true }).click();
  await alice.getByRole('link', { name: 'Artists' }).click();
  await waitForTexts(alice, '.artist-row .row-title', ['Band of Sines', 'The Testers']);
  await alice.getByRole('link', { name: 'Songs' }).click();
  await waitForTexts(alice, '.song-row .row-title', ['Bravo Tone', 'Alpha Tone', 'Charlie Tone']);
});

test('the song list stays small in the DOM with 12,000 songs', T, async () => {
  const page = await newPage(browser, errors);
  await page.goto(server.url);
  await page.evaluate((token) => localStorage.setItem('hifi.session', token), await alice.evaluate(() => localStorage.getItem('hifi.session')));
  const TOTAL = 12000;
  let pages = 0;
  await page.route(/\/api\/v1\/songs\?/, async (route) => {
    const url = new URL(route.request().url());
    const start = Number(url.searchParams.get('cursor') || 0);
    const limit = Number(url.searchParams.get('limit') || 50);
    const items = [];
    for (let i = start; i < Math.min(TOTAL, start + limit); i++) {
      items.push({ id: String(i).padStart(32, '0'), title: `Song ${i + 1}`, artist: 'Many', album: 'Lots', duration_ms: 180000, cover_url: null, filename: '' });
    }
    pages++;
    await route.fulfill({ json: { items, next: start + limit < TOTAL ? String(start + limit) : null } });
  });
  await page.goto(`${server.url}/#/library/songs`);
  await page.reload(); // start again, signed in
  await page.locator('.song-row .row-title', { hasText: /^Song 1$/ }).waitFor();
  const started = Date.now();
  const domRows = async () => {
    const rows = await page.locator('.song-row').count();
    assert.ok(rows < 80, `${rows} rows in the DOM`);
  };
  await domRows();
  // Scroll to the end, page after page.
  while (!(await page.locator('.song-row .row-title', { hasText: /^Song 12000$/ }).count())) {
    await page.locator('.vlist').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await page.waitForFunction(() => !document.querySelector('.vlist-more:not([hidden])'), null, { timeout: 5000 });
    await domRows();
    assert.ok(Date.now() - started < 30000, 'scrolling to the end took too long');
  }
  assert.ok(pages >= TOTAL / 200, `loaded ${pages} pages`);
  await page.getByText('12000 songs').waitFor();
  // At the end of the list, with every song loaded, still only a window of rows.
  await domRows();
  await page.context().close();
});

test('create a room; both users see it with its listeners', T, async () => {
  await alice.getByRole('link', { name: 'Rooms' }).click();
  await alice.getByLabel('Room name').fill(ROOM);
  await alice.getByRole('button', { name: 'Create room' }).click();
  await alice.getByRole('heading', { name: ROOM }).waitFor();
  await alice.locator('.conn', { hasText: /^Connected/ }).waitFor();

  await bob.getByRole('link', { name: 'Rooms' }).click();
  await bob.getByRole('link', { name: ROOM }).click();
  await bob.getByRole('heading', { name: ROOM }).waitFor();
  for (const page of [alice, bob]) {
    await waitForTexts(page, '.listener-list li > span:last-child', page === alice ? ['alice (you)', 'bob'] : ['alice', 'bob (you)']);
  }
  // The rooms list says who is listening.
  const lister = await alice.context().newPage();
  await lister.goto(`${server.url}/#/rooms`);
  await lister.locator('.room-card', { hasText: ROOM }).getByText('2 listening: alice, bob').waitFor();
  await lister.close();
});

const queueTitles = '.queue-item .row-title';

// How long one listener may take to see another's command: generous, since
// a loaded test machine is slow; every wait ends as soon as the change shows.
const STEP_MS = 5000;

test('queue, play, pause, skip, seek, reorder and remove, each seen in the other context', T, async () => {
  // Add the three songs from the room's search.
  for (const title of ['Alpha Tone', 'Bravo Tone', 'Charlie Tone']) {
    await alice.getByRole('button', { name: `Add ${title} to the queue` }).click();
  }
  await waitForTexts(bob, queueTitles, ['Alpha Tone', 'Bravo Tone', 'Charlie Tone']);
  await bob.locator('.np-title', { hasText: 'Alpha Tone' }).waitFor();

  // Play and pause (the button's name follows the state everywhere).
  await alice.getByRole('button', { name: 'Play', exact: true }).click();
  await bob.getByRole('button', { name: 'Pause', exact: true }).waitFor({ timeout: STEP_MS });
  await bob.locator('.queue-item.current .badge', { hasText: 'Now playing' }).waitFor({ timeout: STEP_MS });
  await alice.getByRole('button', { name: 'Pause', exact: true }).click();
  await bob.getByRole('button', { name: 'Play', exact: true }).waitFor({ timeout: STEP_MS });

  // Skip.
  await alice.getByRole('button', { name: 'Skip' }).click();
  await bob.locator('.np-title', { hasText: 'Bravo Tone' }).waitFor({ timeout: STEP_MS });
  // Previous (less than 3 s played: the previous song), then skip again.
  await bob.getByRole('button', { name: 'Previous' }).click();
  await alice.locator('.np-title', { hasText: 'Alpha Tone' }).waitFor({ timeout: STEP_MS });
  await alice.getByRole('button', { name: 'Skip' }).click();
  await bob.locator('.np-title', { hasText: 'Bravo Tone' }).waitFor({ timeout: STEP_MS });

  // Seek by clicking the middle of the progress bar (Bravo is 30 s long).
  const bar = alice.getByRole('slider', { name: 'Seek' });
  const box = await bar.boundingBox();
  await alice.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await bob.waitForFunction(() => {
    const v = Number(document.querySelector('main .seek').value);
    return v > 12000 && v < 18000;
  }, null, { timeout: STEP_MS });

  // Drag Charlie (third) to the top.
  const handle = alice.getByRole('button', { name: /^Move Charlie Tone/ });
  const first = alice.locator('.queue-item').first();
  const from = await handle.boundingBox();
  const to = await first.boundingBox();
  await alice.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await alice.mouse.down();
  await alice.mouse.move(from.x + from.width / 2, to.y + 4, { steps: 8 });
  await alice.mouse.up();
  await waitForTexts(alice, queueTitles, ['Charlie Tone', 'Alpha Tone', 'Bravo Tone']);
  await waitForTexts(bob, queueTitles, ['Charlie Tone', 'Alpha Tone', 'Bravo Tone'], STEP_MS);

  // Bob reorders with the keyboard: Alpha down one place.
  await bob.getByRole('button', { name: /^Move Alpha Tone/ }).focus();
  await bob.keyboard.press('ArrowDown');
  await waitForTexts(alice, queueTitles, ['Charlie Tone', 'Bravo Tone', 'Alpha Tone'], STEP_MS);

  // Remove, and add it back.
  await bob.getByRole('button', { name: 'Remove Alpha Tone from the queue' }).click();
  await waitForTexts(alice, queueTitles, ['Charlie Tone', 'Bravo Tone'], STEP_MS);
  await bob.getByRole('button', { name: 'Add Alpha Tone to the queue' }).click();
  await waitForTexts(alice, queueTitles, ['Charlie Tone', 'Bravo Tone', 'Alpha Tone'], STEP_MS);
});

// Reads the test hook of both pages: what each hears now, at which instant
// of the host's clock (the page's local clock less its known skew), and the
// room's state as the page knows it.
async function readPositions() {
  const [a, b] = await Promise.all([alice, bob].map(async (page) => {
    const { p, state } = await page.evaluate(() => ({ p: window.__hifiTest.position(), state: window.__hifiTest.state() }));
    if (p) p.hostMs = p.localMs - (page === bob ? BOB_SKEW_MS : 0);
    return { ...p, state };
  }));
  return { a, b };
}

// Heard position - host time: equal values mean the same sample is heard at
// the same instant. On the host's clock, not each page's own estimate of
// the server's, so a page whose clock sync is off by any amount shows it.
const heardOrigin = (p) => p.positionMs - p.hostMs;

// How far a page's heard position is from the room's position at that
// instant of the host's clock (which is the server's clock: same machine).
function errorVsRoom(p) {
  const { state } = p;
  const item = state.queue.find((it) => it.id === state.current);
  let want = state.position_ms + (state.playing ? p.hostMs - state.position_at : 0);
  want = Math.max(0, Math.min(want, item.duration_ms));
  return Math.abs(p.positionMs - want);
}

// Waits until both pages hear what window.__hifiHeard(p, arg) accepts (set
// with setHeard(): installed as a function, since the page's
// Content-Security-Policy forbids building code from strings), and returns
// for each how long after the change took effect on the server (position_at
// of the new state) it started to be heard.
async function heardChange(arg = null) {
  const out = [];
  for (const page of [alice, bob]) {
    const handle = await page.waitForFunction((a) => {
      const p = window.__hifiTest.position();
      return window.__hifiHeard(p, a) ? { p, state: window.__hifiTest.state() } : null;
    }, arg, { timeout: 3000 });
    const { p, state } = await handle.jsonValue();
    out.push(Math.round(p.sinceServerMs - state.position_at));
  }
  return out;
}

// Installs `fn` as the page's window.__hifiHeard, for heardChange().
async function setHeard(fn) {
  for (const page of [alice, bob]) await page.evaluate(fn);
}

test('two contexts playing one room, one with its clock 300 ms off, hear the same position within 10 ms', T, async () => {
  await bob.setViewportSize({ width: 390, height: 844 }); // bob is on a phone
  for (const page of [alice, bob]) {
    await page.getByRole('button', { name: 'Listen', exact: true }).click();
    await page.getByRole('button', { name: 'Stop listening' }).waitFor();
  }
  // The AudioContext runs and its clock advances (no sound card here).
  const audio = await alice.evaluate(() => window.__hifiTest.position());
  assert.equal(audio.audioState, 'running');

  await alice.getByRole('button', { name: 'Play', exact: true }).click();
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => window.__hifiTest.position()?.positionMs > 0, null, { timeout: 10000 });
  }
  const diffs = [];
  const errorsVsServer = [];
  let songId = null;
  for (let i = 0; i < 12; i++) {
    const { a, b } = await readPositions();
    assert.ok(a.positionMs !== null && b.positionMs !== null, 'both pages play');
    assert.equal(a.songId, b.songId);
    songId = a.songId;
    // Bob's clock sync measured his skew (the server runs on the host).
    assert.ok(Math.abs(b.clockOffsetMs + BOB_SKEW_MS) < 20, `bob's clock offset is ${b.clockOffsetMs} ms`);
    diffs.push(Math.abs(heardOrigin(a) - heardOrigin(b)));
    errorsVsServer.push(errorVsRoom(a), errorVsRoom(b));
    // Spread the samples over more than a second of playback: wait until
    // alice has played another 100 ms.
    await alice.waitForFunction((from) => window.__hifiTest.position()?.positionMs >= from + 100,
      a.positionMs, { timeout: 5000 });
  }
  // And the output really carries the song (each test song is a sine tone).
  const titles = await alice.evaluate(async () => {
    const { api } = await import('/js/api.js');
    const page = await api.get('/api/v1/songs');
    return Object.fromEntries(page.items.map((s) => [s.id, s.title]));
  });
  const freq = songs.find((s) => s.title === titles[songId]).freq;
  for (const page of [alice, bob]) {
    const sig = await page.evaluate(() => window.__hifiTest.signal());
    assert.ok(sig.rms > 0.05, `output level ${sig.rms}`);
    assert.ok(Math.abs(sig.peakHz - freq) < 25, `output peaks at ${sig.peakHz} Hz, the song is ${freq} Hz`);
  }
  console.log(`sync: |alice - bob| median ${median(diffs).toFixed(2)} ms, max ${Math.max(...diffs).toFixed(2)} ms; ` +
    `|heard - server| max ${Math.max(...errorsVsServer).toFixed(2)} ms`);
  assert.ok(Math.max(...diffs) < 10, `positions differ by up to ${Math.max(...diffs).toFixed(2)} ms`);
  assert.ok(Math.max(...errorsVsServer) < 10, `a page is off the server's position by ${Math.max(...errorsVsServer).toFixed(2)} ms`);

  // The room screen for the docs: playing, with a queue and two listeners.
  await docsShot(alice, 'room-screen');
  await shot(bob, 'room-phone', true);

  // Bob pauses: both stop hearing within a fraction of a second. The paused
  // state's position_at is the server time the pause took effect; the hook
  // says (in server time) when each page fell silent.
  await bob.getByRole('button', { name: 'Pause', exact: true }).click();
  await setHeard(() => { window.__hifiHeard = (p) => p?.positionMs === null; });
  const paused = await heardChange();
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => window.__hifiTest.signal().rms < 0.001, null, { timeout: STEP_MS });
  }
  // Alice plays and skips: both hear the next song within a fraction of a second.
  await alice.getByRole('button', { name: 'Play', exact: true }).click();
  await setHeard(() => { window.__hifiHeard = (p, id) => p?.songId === id; });
  await heardChange(songId);
  await alice.getByRole('button', { name: 'Skip' }).click();
  await setHeard(() => { window.__hifiHeard = (p, id) => p?.songId && p.songId !== id && p.positionMs > 0; });
  const skipped = await heardChange(songId);
  console.log(`pause heard after ${paused.join(' and ')} ms, skip after ${skipped.join(' and ')} ms (server time)`);
  for (const ms of [...paused, ...skipped]) assert.ok(ms < 500, `a change took ${ms} ms to be heard`);

  const { a, b } = await readPositions();
  assert.ok(Math.abs(heardOrigin(a) - heardOrigin(b)) < 10, `after the skip, positions differ by ${Math.abs(heardOrigin(a) - heardOrigin(b)).toFixed(2)} ms`);
});

// Sends a room command as the page's user.
async function roomCommand(page, command) {
  const id = await roomId();
  return page.evaluate(async ([room, cmd]) => {
    const { api } = await import('/js/api.js');
    return api.post(`/api/v1/rooms/${room}/commands`, cmd);
  }, [id, command]);
}

test('the player streams pieces a minute ahead at most, chains them and the next song without a gap, and the data saver fetches Opus', T, async () => {
  const requests = [];
  const onRequest = (req) => { if (req.url().includes('/stream?')) requests.push(new URL(req.url()).searchParams); };
  alice.on('request', onRequest);
  try {
    // Near the end of the current song: its last piece and the next song's
    // first are both scheduled (with the whole queue repeating, whichever
    // song plays has a next one).
    await roomCommand(alice, { type: 'repeat', mode: 'all' });
    await roomCommand(alice, { type: 'seek', position_ms: 24000 });
    const chained = await alice.waitForFunction(() => {
      const p = window.__hifiTest.position();
      const segs = window.__hifiTest.segments().filter((s) => !s.stopping);
      if (!p || !(p.positionMs >= 24000)) return null;
      const cur = segs.find((s) => s.songId === p.songId);
      const next = segs.find((s) => s.songId !== p.songId && s.pieceStartMs === 0);
      return cur && next ? { cur, next, buffered: p.bufferedSeconds } : null;
    }, null, { timeout: 5000 }).catch(async (err) => {
      console.log(JSON.stringify(await alice.evaluate(() => ({ p: window.__hifiTest.position(), segs: window.__hifiTest.segments(), st: window.__hifiTest.state() }))));
      throw err;
    });
    const { cur, next, buffered } = await chained.jsonValue();
    // The next song's first sample is scheduled at the very instant the
    // current song's last one ends (context time, in seconds).
    assert.ok(Math.abs(next.when - cur.end) < 1e-6, `next song at ${next.when}, current ends at ${cur.end}`);
    assert.equal(next.offset, 0);
    assert.ok(buffered <= 75, `${buffered} s of audio decoded ahead`);

    // Within a song, each piece starts where the one before ends.
    await roomCommand(alice, { type: 'seek', position_ms: 5000 });
    const inSong = await alice.waitForFunction(() => {
      const p = window.__hifiTest.position();
      const segs = window.__hifiTest.segments().filter((s) => !s.stopping && p && s.songId === p.songId);
      const a = segs.find((s) => s.pieceEndMs === 10000);
      const b = segs.find((s) => s.pieceStartMs === 10000);
      return a && b ? { a, b } : null;
    }, null, { timeout: 5000 });
    const { a, b } = await inSong.jsonValue();
    assert.ok(Math.abs(b.when - a.end) < 1e-6, `piece at ${b.when}, the one before ends at ${a.end}`);
    for (const q of requests) {
      assert.equal(q.get('format'), 'flac');
      assert.ok(q.has('offset_ms'), 'every piece names its offset');
    }

    // Data saver: pieces fetched from now on come as Opus at 64 kbit/s
    // (after a skip, the song after the next one is fetched ahead).
    requests.length = 0;
    // (The setting lives in Settings; it is this key of the page's storage.)
    await alice.evaluate(() => localStorage.setItem('hifi.dataSaver', '1'));
    await roomCommand(alice, { type: 'skip' });
    const deadline = Date.now() + 5000;
    while (!requests.some((q) => q.get('format') === 'opus') && Date.now() < deadline) await alice.waitForTimeout(20);
    const opus = requests.find((q) => q.get('format') === 'opus');
    assert.ok(opus, 'a piece was fetched as Opus');
    assert.equal(opus.get('bitrate'), '64');
  } finally {
    alice.off('request', onRequest);
    await alice.evaluate(() => localStorage.setItem('hifi.dataSaver', '0'));
    await roomCommand(alice, { type: 'repeat', mode: 'off' });
  }
});

test('a two-hour song: bounded heap and decoded audio, and sound soon after a seek deep into it and after joining mid-song', { timeout: 150000 }, async () => {
  // Two hours of a tone (8 kHz mono FLAC compresses to a few MB), made now.
  const file = path.join(tmp, 'two-hours.flac');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    'sine=frequency=392:sample_rate=8000:duration=7200', '-c:a', 'flac', '-metadata', 'title=Two Hours', file]);
  const token = await alice.evaluate(async () => (await import('/js/api.js')).api.token);
  const up = await fetch(`${server.url}/api/v1/songs`, {
    method: 'POST', body: readFileSync(file),
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'audio/flac', 'X-Filename': 'two-hours.flac' },
  });
  const upBody = await up.text();
  assert.equal(up.status, 201, upBody);
  const longId = JSON.parse(upBody).id;
  // Alice's fetches ahead from 20 s on are held back (as a slow transcode
  // would be) until the seek below: the piece on its way then is aborted,
  // so that it does not hold a transcoder the new position needs.
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  const heldPiece = (url) => url.pathname.endsWith(`/songs/${longId}/stream`) &&
    Number(url.searchParams.get('offset_ms')) >= 20000 && Number(url.searchParams.get('offset_ms')) < 6000000;
  const held = [];
  await alice.route(heldPiece, async (route) => {
    held.push(Number(new URL(route.request().url()).searchParams.get('offset_ms')));
    await released;
    await route.continue().catch(() => {}); // (aborted by the page meanwhile)
  });
  const failed = [];
  const onFailed = (req) => { if (heldPiece(new URL(req.url()))) failed.push(req.failure()?.errorText); };
  alice.on('requestfailed', onFailed);
  await roomCommand(alice, { type: 'add', song_ids: [longId], at: 'next' });
  await roomCommand(alice, { type: 'skip' });
  await alice.waitForFunction((id) => window.__hifiTest.position()?.songId === id, longId, { timeout: 10000 });
  const deadlineHeld = Date.now() + 10000;
  while (!held.length && Date.now() < deadlineHeld) await alice.waitForTimeout(20);
  assert.deepEqual(held, [20000], 'a piece fetched ahead is on its way');
  const abortedBefore = (await alice.evaluate(() => window.__hifiTest.position())).piecesAborted;

  // A seek to minute 100: heard after one short piece is transcoded from
  // there (the server seeks in the file; nothing before is fetched).
  const requests = [];
  const onRequest = (req) => { if (req.url().includes(`/songs/${longId}/stream?`)) requests.push(Number(new URL(req.url()).searchParams.get('offset_ms'))); };
  alice.on('request', onRequest);
  // The room times the seek with the lead the players report for a change
  // whose audio they must fetch (fetch_lead_ms): their own lead, plus how
  // long they last waited for such audio (here: the skip above), plus
  // 10 ms. Without it the seek came with the plain lead, and was heard
  // 65-82 ms after the room's instant.
  const timed = await alice.evaluate(async ([room]) => {
    const { api } = await import('/js/api.js');
    const p = window.__hifiTest.position();
    const before = performance.timeOrigin + performance.now() + p.clockOffsetMs;
    const answer = await api.post(`/api/v1/rooms/${room}/commands`, { type: 'seek', position_ms: 6000000 });
    return { lead: answer.state.position_at - before, leadMs: p.leadMs, fetchLeadMs: p.fetchLeadMs, fetchWaitMs: p.fetchWaitMs };
  }, [await roomId()]);
  assert.ok(timed.fetchWaitMs > 0, `the player measured its wait for the skip's audio: ${JSON.stringify(timed)}`);
  assert.ok(timed.fetchLeadMs > timed.leadMs + 10, `fetch lead: ${JSON.stringify(timed)}`);
  assert.ok(timed.lead >= timed.leadMs + 15, `the seek came ${timed.lead.toFixed(1)} ms ahead: ${JSON.stringify(timed)}`);
  const seek = await alice.waitForFunction((id) => {
    const p = window.__hifiTest.position();
    const st = window.__hifiTest.state();
    return p?.songId === id && p.positionMs >= 6000000 ? p.sinceServerMs - st.position_at : null;
  }, longId, { timeout: 10000 });
  const seekMs = Math.round(await seek.jsonValue());
  release();
  await alice.unroute(heldPiece);
  alice.off('requestfailed', onFailed);
  const abortedAfter = (await alice.evaluate(() => window.__hifiTest.position())).piecesAborted;
  assert.equal(abortedAfter - abortedBefore, 1, 'the piece fetched ahead for the old position was aborted at the seek');
  assert.deepEqual(failed, ['net::ERR_ABORTED'], 'its request was aborted');
  const seekWaitMs = (await alice.evaluate(() => window.__hifiTest.position())).fetchWaitMs;
  alice.off('request', onRequest);
  // Once the page asked for the new position, nothing before it.
  const first = requests.findIndex((offset) => offset >= 6000000);
  assert.ok(first >= 0, 'the piece at the position was fetched');
  assert.ok(requests.slice(first).every((offset) => offset >= 6000000), `pieces fetched: ${requests.join(', ')}`);

  // Bob joins (listens again) in the middle of it.
  await bob.getByRole('button', { name: 'Stop listening' }).click();
  const t0 = Date.now();
  await bob.getByRole('button', { name: 'Listen', exact: true }).click();
  await bob.waitForFunction((id) => window.__hifiTest.position()?.songId === id && window.__hifiTest.position().positionMs > 0,
    longId, { timeout: 10000 });
  const joinMs = Date.now() - t0;

  // Play on for a few pieces: the decoded audio and the JS heap stay bounded.
  const from = (await alice.evaluate(() => window.__hifiTest.position())).positionMs;
  await alice.waitForFunction((f) => window.__hifiTest.position()?.positionMs >= f + 3000, from, { timeout: 10000 });
  const cdp = await alice.context().newCDPSession(alice);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const p = await alice.evaluate(() => window.__hifiTest.position());
  console.log(`two-hour song: sound ${seekMs} ms after a seek to minute 100 (timed ${timed.lead.toFixed(0)} ms ahead, ` +
    `its audio there ${seekWaitMs.toFixed(0)} ms after the news; ` +
    `fetch lead ${timed.fetchLeadMs} ms, lead ${timed.leadMs} ms), ${joinMs} ms after joining; ` +
    `${p.bufferedSeconds.toFixed(1)} s decoded, JS heap ${(usedSize / 1048576).toFixed(1)} MB; ` +
    `alice: ${p.resyncs} jumps, ${p.follows} follows, ${p.outputSteps} output steps`);
  assert.ok(p.bufferedSeconds <= 75, `${p.bufferedSeconds} s of audio decoded`);
  assert.ok(usedSize < 150 * 1048576, `JS heap ${usedSize} bytes`);
  const { a, b } = await readPositions();
  assert.ok(Math.abs(heardOrigin(a) - heardOrigin(b)) < 10, `positions differ by ${Math.abs(heardOrigin(a) - heardOrigin(b)).toFixed(2)} ms`);

  // A step of 3 ms in bob's output delay (under the 5 ms at which a player
  // jumps, and as likely the measure's own wander): bob's estimate of the
  // output clock moves to it at 500 ppm, and he follows it without a jump,
  // in follows of 0.5 ms or more at up to 1000 ppm faster or slower (no
  // click, no gap), until what he hears has moved by the step as the page's
  // real output clock shows it (give or take the errors under 0.5 ms that
  // are not followed, before and after).
  // Taken early in a piece (pieces are 10 s), the piece heard follows;
  // taken late in one, the piece after it may.
  const followStep = async (ms, inPiece) => {
    await bob.waitForFunction(([lo, hi]) => {
      const p = window.__hifiTest.position();
      return p?.positionMs > 0 && p.positionMs % 10000 >= lo && p.positionMs % 10000 <= hi;
    }, inPiece ? [100, 1500] : [5300, 5800], { timeout: 15000, polling: 20 });
    const base = await bob.evaluate(() => window.__hifiTest.position());
    await bob.evaluate((step) => window.__hifiTest.shiftOutput(step), ms);
    const followed = await bob.waitForFunction((n) => {
      const p = window.__hifiTest.position();
      if (!p || p.follows <= n) return null;
      const [seg] = window.__hifiTest.segments().filter((sg) => !sg.stopping && sg.rate !== 1).sort((x, y) => y.rampAt - x.rampAt);
      return seg ? { ...seg, follows: p.follows } : null;
    }, base.follows, { timeout: 15000 }).catch(async (err) => {
      const now = await bob.evaluate(() => ({ p: window.__hifiTest.position(), segments: window.__hifiTest.segments() }));
      throw new Error(`no follow of a ${ms} ms step: ${err.message}; before ${JSON.stringify(base)}; now ${JSON.stringify(now)}`);
    });
    const seg = await followed.jsonValue();
    const within = seg.when < seg.rampAt;
    const ppm = (seg.rate - 1) * 1e6 * Math.sign(ms);
    assert.ok(ppm > 0 && ppm <= 1000 + 1e-3, `plays at ${seg.rate} while it follows`);
    if (inPiece) assert.ok(within, `the piece heard follows at once: ${JSON.stringify(seg)}`);
    else if (!within) assert.equal(seg.offset, 0, 'the piece after starts from its first sample, where the one before ends');
    // The estimate takes up the step (at 500 ppm), then the follows bring
    // what is heard there, within the errors under 0.5 ms left before and after.
    const t0 = Date.now();
    await bob.waitForFunction(([from, step]) => {
      const p = window.__hifiTest.position();
      return p && Math.abs(p.outputOffsetMs - from - step) < 0.3;
    }, [base.outputOffsetMs, ms], { timeout: 30000, polling: 100 });
    const done = await bob.waitForFunction(([from, step]) => {
      const p = window.__hifiTest.position();
      if (!p || p.positionMs === null || p.expectedMs === null) return null;
      const moved = p.positionMs - p.expectedMs - from;
      return Math.abs(moved - step) < 1.2 ? { moved, p } : null;
    }, [base.positionMs - base.expectedMs, ms], { timeout: 15000, polling: 100 }).catch(() => null);
    const after = done ? await done.jsonValue() : null;
    const last = await bob.evaluate(() => window.__hifiTest.position());
    const movedNow = last.positionMs - last.expectedMs - (base.positionMs - base.expectedMs);
    console.log(`a ${ms} ms step in the output delay: followed ${within ? `in the piece heard, from ${(seg.rampAt - seg.when).toFixed(2)} s into it` : `across the piece at ${seg.pieceStartMs} ms`}, ` +
      `bob's timeline moved ${(after ? after.moved : movedNow).toFixed(2)} ms in ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
      `${last.follows - base.follows} follows`);
    assert.ok(after, `bob's timeline moved ${movedNow.toFixed(2)} ms for a ${ms} ms step`);
    assert.equal(after.p.resyncs, base.resyncs, 'without a jump');
  };
  await followStep(3, true);
  await followStep(-3, false);

  // A step of 37 ms more (an underrun in the browser's audio stream, say):
  // bob jumps to it once the two measures of the output clock after the
  // first that shows it confirm it, not once the median of the last 21 has
  // turned (11 measures), and what bob hears moves with it. Then back by
  // all 40 ms.
  for (const step of [37, -40]) {
    const from = await bob.evaluate(() => window.__hifiTest.position());
    await bob.evaluate((ms) => window.__hifiTest.shiftOutput(ms), step);
    const taken = await (await bob.waitForFunction((n) => {
      const p = window.__hifiTest.position();
      return p && p.resyncs > n ? p : null;
    }, from.resyncs, { timeout: 10000 })).jsonValue();
    assert.equal(taken.outputSteps, from.outputSteps + 1, 'taken as a step of the output clock');
    const measures = taken.outputSamples - from.outputSamples;
    assert.ok(measures < 11, `moved after ${measures} measures of the output clock`);
    await bob.waitForFunction((n) => window.__hifiTest.position()?.outputSamples >= n + 3, taken.outputSamples);
    const settled = await bob.evaluate(() => window.__hifiTest.position());
    const stepMoved = (settled.positionMs - settled.expectedMs) - (from.positionMs - from.expectedMs);
    console.log(`a ${step} ms step in the output delay: bob moved after ${measures} measures, his timeline by ${stepMoved.toFixed(2)} ms`);
    assert.ok(Math.abs(stepMoved - step) < 2, `bob's timeline moved ${stepMoved.toFixed(2)} ms for a ${step} ms step`);
  }

  // A step of 30 ms whose measures then run off by 5 ms a second for 3 s
  // and come back (what Chromium's measure does after its output restarts,
  // PulseAudio's interpolated latency settling): bob takes the step as the
  // first measure shows it and does not follow the run-off. His estimate of
  // the output clock stays within what it may move at 500 ppm (plus 1 ms of
  // a measure's noise) of the step, with no jump but the step's. (The
  // median he followed before went 12.5 ms off, with 3 jumps.)
  const before = await bob.evaluate(() => window.__hifiTest.position());
  const seen = await bob.evaluate((from) => new Promise((resolve) => {
    window.__hifiTest.shiftOutput(30);
    const t0 = performance.now();
    let k = 0;
    let worst = 0;
    const t = setInterval(() => {
      k++;
      if (k > 1 && k <= 31) window.__hifiTest.shiftOutput(-0.5);
      if (k > 31 && k <= 61) window.__hifiTest.shiftOutput(0.5);
      const p = window.__hifiTest.position();
      if (p && k > 5) {
        const allowed = 500e-6 * (performance.now() - t0) + 1;
        worst = Math.max(worst, Math.abs(p.outputOffsetMs - from - 30) - allowed);
      }
      if (k === 75) {
        clearInterval(t);
        resolve({ worst, p });
      }
    }, 100);
  }), before.outputOffsetMs);
  assert.ok(seen.p, 'bob still plays');
  const runMoved = (seen.p.positionMs - seen.p.expectedMs) - (before.positionMs - before.expectedMs);
  console.log(`a 30 ms step, then 15 ms of run-off and back: the estimate at most ${seen.worst.toFixed(2)} ms beyond ` +
    `what it may move, bob's timeline moved ${runMoved.toFixed(2)} ms, ${seen.p.resyncs - before.resyncs} jumps`);
  assert.ok(seen.worst <= 0, `the estimate followed the run-off: ${seen.worst.toFixed(2)} ms beyond the slew`);
  assert.equal(seen.p.resyncs, before.resyncs + 1, 'one jump: the step');
  assert.ok(Math.abs(runMoved - 30) < 3.5, `bob's timeline moved ${runMoved.toFixed(2)} ms for a 30 ms step`);

  // Leave the room as it was: the long song goes.
  const st = await alice.evaluate(() => window.__hifiTest.state());
  await roomCommand(alice, { type: 'remove', item_id: st.current });
});

async function unnamedControls(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('button, a[href], input, select, textarea, [role="slider"]')) {
      if (el.closest('[hidden]') || el.type === 'hidden') continue;
      const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
        (el.labels && el.labels.length) || el.textContent.trim() || el.title;
      const needsLabel = ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName);
      if (!named || (needsLabel && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))) {
        bad.push(el.outerHTML.slice(0, 120));
      }
    }
    return bad;
  });
}

test('every control has an accessible name and every input a label', T, async () => {
  for (const page of [alice, bob]) assert.deepEqual(await unnamedControls(page), [], 'room');
  const other = await alice.context().newPage();
  for (const [route, ready] of [['/#/library/songs', '.song-row'], ['/#/library/albums', '.album-row'],
    ['/#/rooms', '.room-card'], ['/#/upload', '.dropzone']]) {
    await other.goto(`${server.url}${route}`);
    await other.locator(ready).first().waitFor();
    assert.deepEqual(await unnamedControls(other), [], route);
  }
  await shot(other, 'upload-desktop');
  await other.goto(`${server.url}/#/rooms`);
  await other.locator('.room-card').first().waitFor();
  await shot(other, 'rooms-desktop');
  await other.setViewportSize({ width: 390, height: 844 });
  await other.goto(`${server.url}/#/library/songs`);
  await other.locator('.song-row').first().waitFor();
  await shot(other, 'library-phone');
  await other.close();
});

test('reconnects by itself when the server restarts, and catches up', T, async () => {
  await alice.getByRole('button', { name: 'Pause', exact: true }).click().catch(() => {});
  await server.restart();
  for (const page of [alice, bob]) {
    await page.locator('.conn', { hasText: /^Connected/ }).waitFor({ timeout: 15000 });
  }
  // A change made after the restart reaches the other page.
  await alice.getByRole('button', { name: 'Remove Bravo Tone from the queue' }).click();
  await waitForTexts(bob, queueTitles, ['Charlie Tone', 'Alpha Tone'], 3000);
});

// ---- cluster ----

// A port nothing listens on.
function closedPort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function member(id, advertise, activeStreams, connections, extra = {}) {
  return {
    id, advertise, health: 'ok', leader: false,
    load: { active_streams: activeStreams, bytes_per_second: 0, connections, websockets: 0 },
    disk_free_bytes: 50 * 2 ** 30, disk_total_bytes: 200 * 2 ** 30,
    started_at: Date.now() - 60000, updated_at: Date.now(), version: '0.1.0', ...extra,
  };
}

// A page signed in as alice in a context of its own (its own remembered
// servers), whose GET /api/v1/cluster answers with members() when given.
async function clusterPage(members) {
  const page = await newPage(browser, errors);
  const asked = { count: 0 };
  if (members) {
    await page.route('**/api/v1/cluster', (route) => {
      asked.count++;
      const list = members();
      route.fulfill({ json: { self: list[0]?.id ?? null, leader: list.find((m) => m.leader)?.id ?? null, replication_factor: 3, members: list } });
    });
  }
  await page.goto(server.url);
  await page.evaluate((session) => localStorage.setItem('hifi.session', session), await alice.evaluate(() => localStorage.getItem('hifi.session')));
  return { page, asked };
}

async function roomId() {
  return alice.evaluate(async () => {
    const { api } = await import('/js/api.js');
    return (await api.get('/api/v1/rooms')).items[0].id;
  });
}

test('the Cluster panel lists the single node of single-node mode', T, async () => {
  const { page } = await clusterPage(null);
  await page.goto(`${server.url}/#/cluster`);
  await page.reload(); // signed in
  await page.getByRole('heading', { name: 'Cluster' }).waitFor();
  assert.equal(await page.locator('a[data-nav="cluster"][aria-current="page"]').textContent(), 'Cluster');
  const cards = page.locator('.member-card');
  await cards.first().waitFor();
  assert.equal(await cards.count(), 1);
  const card = cards.first();
  assert.equal(await card.locator('.member-url').textContent(), server.url);
  await card.getByText('Healthy').waitFor();
  await card.getByText('Leader', { exact: true }).waitFor();
  await card.getByText('This node').waitFor();
  await card.locator('.member-load', { hasText: /\d+ active streams? · \d+ connections?/ }).waitFor();
  await card.locator('.member-disk', { hasText: / free of / }).waitFor();
  await page.locator('.list-status', { hasText: /^1 member/ }).waitFor();
  assert.deepEqual(await unnamedControls(page), [], '#/cluster');
  await shot(page, 'cluster-desktop');
  await page.context().close();
});

test('the Cluster panel shows every member, its health, the leader, load and free disk', T, async () => {
  const { page } = await clusterPage(() => [
    member('3f9a0c1d2e4b5a67', server.url, 2, 7, { leader: true }),
    member('77aa0c1d2e4b5a00', 'http://10.0.0.6:8080', 0, 1, { health: 'degraded', disk_free_bytes: 2 ** 30 }),
    'http://10.0.0.7:8080', // an older server's shape: a URL only
  ]);
  await page.goto(`${server.url}/#/cluster`);
  await page.reload();
  await waitForTexts(page, '.member-card .member-id', ['3f9a0c1d2e4b5a67', '77aa0c1d2e4b5a00', 'http://10.0.0.7:8080']);
  const [leader, degraded, old] = [0, 1, 2].map((i) => page.locator('.member-card').nth(i));
  await leader.getByText('Leader', { exact: true }).waitFor();
  assert.equal(await leader.locator('.member-load').textContent(), '2 active streams · 7 connections · 0 room connections');
  assert.equal(await leader.locator('.member-disk').textContent(), '50 GiB free of 200 GiB');
  await degraded.getByText('Degraded').waitFor();
  assert.equal(await degraded.getByText('Leader', { exact: true }).count(), 0);
  assert.equal(await degraded.locator('.member-disk').textContent(), '1.0 GiB free of 200 GiB');
  await old.getByText('Load not reported').waitFor();
  await page.locator('.list-status', { hasText: '3 members · replication factor 3' }).waitFor();
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'cluster-phone', true);
  await page.context().close();
});

test('a room joins the least-loaded member, and moves on when it cannot connect', T, async () => {
  const id = await roomId();
  const port = new URL(server.url).port;
  // The same server under another name stands in for a second node.
  const other = `http://localhost:${port}`;
  {
    const { page } = await clusterPage(() => [member('busy', server.url, 3, 9), member('idle', other, 0, 4)]);
    await page.goto(`${server.url}/#/rooms/${id}`);
    await page.reload();
    await page.locator('.conn', { hasText: `Connected to localhost:${port}` }).waitFor({ timeout: 10000 });
    await page.context().close();
  }
  {
    // Equal streams: fewer connections wins.
    const { page } = await clusterPage(() => [member('a', server.url, 1, 9), member('b', other, 1, 2)]);
    await page.goto(`${server.url}/#/rooms/${id}`);
    await page.reload();
    await page.locator('.conn', { hasText: `Connected to localhost:${port}` }).waitFor({ timeout: 10000 });
    await page.context().close();
  }
  {
    // The least loaded member is down: after two failed attempts the room
    // asks for the members again and goes to the next one.
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const { page, asked } = await clusterPage(() => [member('dead', dead, 0, 0), member('live', other, 5, 5)]);
    await page.goto(`${server.url}/#/rooms/${id}`);
    await page.reload();
    await page.locator('.conn', { hasText: `Connected to localhost:${port}` }).waitFor({ timeout: 15000 });
    assert.ok(asked.count >= 2, `the member list was fetched ${asked.count} time(s)`);
    await page.getByRole('heading', { name: ROOM }).waitFor();
    await page.context().close();
  }
  {
    // A user who is not an admin is told each member's load rank only.
    const { page } = await clusterPage(() => [
      { id: 'busy', advertise: server.url, health: 'ok', rank: 1 },
      { id: 'idle', advertise: other, health: 'ok', rank: 0 },
    ]);
    await page.goto(`${server.url}/#/rooms/${id}`);
    await page.reload();
    await page.locator('.conn', { hasText: `Connected to localhost:${port}` }).waitFor({ timeout: 10000 });
    await page.goto(`${server.url}/#/cluster`);
    await page.locator('.member-card').first().getByText('Load shown to admins').waitFor();
    await page.context().close();
  }
});

test('GET /api/v1/cluster is a signed-in question', T, async () => {
  const res = await fetch(`${server.url}/api/v1/cluster`);
  assert.equal(res.status, 401);
  const session = JSON.parse(await alice.evaluate(() => localStorage.getItem('hifi.session')));
  const signedIn = await fetch(`${server.url}/api/v1/cluster`, { headers: { Authorization: `Bearer ${session.token}` } });
  assert.equal(signedIn.status, 200);
});

test('no errors in the pages', () => {
  assert.deepEqual(errors, []);
});
