// Real-browser tests of HiFi's browse views: home, album and artist pages,
// favourites (stars and ratings), history, the song action menu, the tag
// editor and deleting, the library's grids, hostile tags, accessibility.
//
//   cd tests/browser && HIFI_SERVER_BIN=... node --test --test-reporter=spec browse.test.mjs
//
// The tests run in order and share one server: alice (the first account,
// admin) uploaded every song; bob is a plain user.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import {
  startSuite, stopSuite, newPage, waitForTexts, accessibilityViolations, shot as saveShot, submitSignIn, apiCall, createAccount,
} from './harness.mjs';

const PASSWORD = 'correct horse battery';
const HOSTILE = '<img src=x onerror=alert(1)>';
const T = { timeout: 60000 };

let tmp;
let server;
let browser;
let alice;        // alice's page
let aliceToken;
let bobToken;
const errors = [];
const dialogs = []; // any alert/confirm/prompt a page opened
const ids = {};     // song ids by title

// An album whose tracks are uploaded out of order, two discs' worth of
// tracks on disc 1, with lengths that add up to 0:21.
const ORDERED = [
  { file: 'o3.mp3', title: 'Third Step', track: 3, seconds: 9 },
  { file: 'o1.mp3', title: 'First Step', track: 1, seconds: 5 },
  { file: 'o2.mp3', title: 'Second Step', track: 2, seconds: 7 },
];

before(async () => {
  let songs;
  ({ tmp, songs, server, browser } = await startSuite('hifi-browse-'));
  const ff = (...args) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
  for (const [i, s] of ORDERED.entries()) {
    s.path = path.join(tmp, s.file);
    ff('-f', 'lavfi', '-i', `sine=frequency=${300 + i * 50}:duration=${s.seconds}:sample_rate=44100`,
      '-c:a', 'libmp3lame', '-b:a', '64k', '-id3v2_version', '3',
      '-metadata', `title=${s.title}`, '-metadata', 'artist=Sequencer', '-metadata', 'album=Ordered Steps',
      '-metadata', `track=${s.track}`, '-metadata', 'date=2021', s.path);
  }
  const hostile = path.join(tmp, 'hostile.mp3');
  ff('-f', 'lavfi', '-i', 'sine=frequency=800:duration=4:sample_rate=44100', '-c:a', 'libmp3lame', '-b:a', '64k',
    '-id3v2_version', '3', '-metadata', `title=${HOSTILE}`, '-metadata', `artist=${HOSTILE}`, '-metadata', `album=${HOSTILE}`, hostile);

  // Accounts and uploads through the API (the upload view has its own tests).
  aliceToken = await account('alice');
  bobToken = await account('bob');
  for (const file of [...songs.map((s) => s.path), ...ORDERED.map((s) => s.path), hostile]) await upload(file);
});

// Uploads a file as alice; the song as the server has it.
async function upload(file) {
  const res = await fetch(`${server.url}/api/v1/songs`, {
    method: 'POST', body: readFileSync(file),
    headers: { Authorization: `Bearer ${aliceToken}`, 'Content-Type': 'application/octet-stream', 'X-Filename': encodeURIComponent(path.basename(file)) },
  });
  assert.ok(res.status === 201, `upload ${file}: ${res.status}`);
  const song = await res.json();
  ids[song.title] = song.id;
  return song;
}

after(() => stopSuite({ tmp, server, browser }));

const call = (token, method, p, json) => apiCall(server.url, token, method, p, json);
const account = (username) => createAccount(server.url, username, PASSWORD);

function watch(page) {
  page.on('dialog', (d) => { dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  return page;
}

const shot = (page, name, fullPage = true) => saveShot(page, `browse-${name}`, fullPage);

// A signed-in page for a user, through the sign-in form.
async function signedIn(username, viewport) {
  const page = watch(await newPage(browser, errors, viewport));
  await page.goto(server.url);
  await submitSignIn(page, username, PASSWORD);
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
  return page;
}

async function go(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  if (ready) await page.locator(ready).first().waitFor();
}

test('home is the default screen after sign-in: recently added albums, links to the library', T, async () => {
  alice = await signedIn('alice');
  assert.match(alice.url(), /#\/home$/);
  const recent = alice.locator('section', { has: alice.getByRole('heading', { name: 'Recently added' }) });
  // Newest first, by when an album's first song was uploaded: the hostile
  // song last, then Ordered Steps, Waves (Bravo), Signals (Alpha came first).
  await waitForTexts(alice, '.home-view .card-grid[aria-labelledby="recent-albums-h"] .card-title', [HOSTILE, 'Ordered Steps', 'Waves', 'Signals']);
  await recent.getByText('Nothing played yet.').count(); // (history is empty: no shelf error)
  await alice.getByText('You have no playlists yet.').waitFor();
  await shot(alice, 'home-empty-history');
});

test('album page: tracks in track order, total length, artist link; artist page with albums and top songs', T, async () => {
  await go(alice, '#/library/albums', '.album-row');
  await alice.getByRole('link', { name: 'Ordered Steps', exact: true }).click();
  await alice.getByRole('heading', { name: 'Ordered Steps', level: 1 }).waitFor();
  await waitForTexts(alice, '.tracks .row-title', ['First Step', 'Second Step', 'Third Step']);
  await waitForTexts(alice, '.tracks .track-no', ['1', '2', '3']);
  assert.equal(await alice.locator('.total-length').textContent(), '0:21');
  assert.match(await alice.locator('.hero-meta').textContent(), /^3 songs · 0:21$/);
  assert.match(await alice.locator('.hero-sub').textContent(), /Sequencer · 2021/);
  for (const name of ['Play', 'Shuffle', 'Add to queue', 'Add to playlist']) {
    await alice.getByRole('button', { name, exact: true }).waitFor();
  }
  await shot(alice, 'album');

  await alice.getByRole('link', { name: 'Sequencer', exact: true }).click();
  await alice.getByRole('heading', { name: 'Sequencer', level: 1 }).waitFor();
  await waitForTexts(alice, '.artist-view .card-grid .card-title', ['Ordered Steps']);
  await waitForTexts(alice, '.top-songs .row-title', ['First Step', 'Second Step', 'Third Step']);
  await alice.getByRole('button', { name: 'Shuffle', exact: true }).waitFor();
  await shot(alice, 'artist');
});

test('play, play next and add to queue fill your own room (GET /api/v1/me/room)', T, async (t) => {
  if ((await call(aliceToken, 'GET', '/api/v1/me/room')).status === 404) {
    t.skip('this hifi-server has no personal rooms yet');
    return;
  }
  const queue = async () => {
    const { body } = await call(aliceToken, 'GET', '/api/v1/me/room');
    return { songs: body.state.queue.map((q) => q.song_id), playing: body.state.playing, first: body.state.queue[0]?.id === body.state.current };
  };
  const albumId = (await call(aliceToken, 'GET', '/api/v1/albums')).body.items.find((a) => a.name === 'Ordered Steps').id;
  await go(alice, `#/albums/${albumId}`, '.tracks');
  await alice.getByRole('button', { name: 'Play', exact: true }).click();
  const album = ['First Step', 'Second Step', 'Third Step'].map((x) => ids[x]);
  await waitFor(async () => {
    const q = await queue();
    return q.playing && q.first && JSON.stringify(q.songs) === JSON.stringify(album);
  }, 'the album plays in track order');
  await go(alice, '#/library/songs', '.song-row');
  await alice.getByRole('button', { name: 'More actions for Alpha Tone' }).click();
  await alice.getByRole('menuitem', { name: 'Play next' }).click();
  await alice.getByRole('button', { name: 'More actions for Charlie Tone' }).click();
  await alice.getByRole('menuitem', { name: 'Add to queue' }).click();
  const want = [album[0], ids['Alpha Tone'], album[1], album[2], ids['Charlie Tone']];
  await waitFor(async () => JSON.stringify((await queue()).songs) === JSON.stringify(want), 'play next and add to queue');
  // Stop before anything counts as a play (nobody listens here, but to be sure).
  const room = (await call(aliceToken, 'GET', '/api/v1/me/room')).body;
  await call(aliceToken, 'POST', `/api/v1/rooms/${room.id}/commands`, { type: 'clear' });
});

test('songs picked in the library: play them, or add them to a new playlist at once', T, async () => {
  await go(alice, '#/library/songs', '.song-row');
  const bar = alice.getByRole('toolbar', { name: 'Selected songs' });
  assert.equal(await bar.isVisible(), false);
  await alice.getByRole('checkbox', { name: 'Select Charlie Tone' }).check();
  await alice.getByRole('checkbox', { name: 'Select Alpha Tone' }).check();
  await bar.getByText('2 selected').waitFor();
  // Picked order: Charlie, then Alpha.
  await bar.getByRole('button', { name: 'Play', exact: true }).click();
  await waitFor(async () => {
    const { body } = await call(aliceToken, 'GET', '/api/v1/me/room');
    return body.state.playing && JSON.stringify(body.state.queue.map((q) => q.song_id)) === JSON.stringify([ids['Charlie Tone'], ids['Alpha Tone']]);
  }, 'the picked songs play');
  await bar.getByRole('button', { name: 'Add to playlist…' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Add 2 songs to a playlist' });
  await dialog.getByLabel('Name').fill('Picked');
  await dialog.getByRole('button', { name: 'Create and add' }).click();
  await waitFor(async () => {
    const { body } = await call(aliceToken, 'GET', '/api/v1/playlists');
    const picked = (body.items || []).find((p) => p.name === 'Picked');
    if (!picked) return false;
    const full = (await call(aliceToken, 'GET', `/api/v1/playlists/${picked.id}`)).body;
    return JSON.stringify(full.songs.map((x) => x.id)) === JSON.stringify([ids['Charlie Tone'], ids['Alpha Tone']]);
  }, 'the new playlist holds the picked songs');
  await bar.getByRole('button', { name: 'Clear selection' }).click();
  await bar.waitFor({ state: 'hidden' });
  assert.equal(await alice.getByRole('checkbox', { name: 'Select Alpha Tone' }).isChecked(), false);
  const room = (await call(aliceToken, 'GET', '/api/v1/me/room')).body;
  await call(aliceToken, 'POST', `/api/v1/rooms/${room.id}/commands`, { type: 'clear' });
});

test('star and rate a song and an album, then find them in favourites and on the album page', T, async () => {
  await go(alice, `#/albums/${(await call(aliceToken, 'GET', '/api/v1/albums')).body.items.find((a) => a.name === 'Ordered Steps').id}`, '.tracks');
  const song = alice.getByRole('button', { name: 'Favourite Second Step' });
  assert.equal(await song.getAttribute('aria-pressed'), 'false');
  await song.click();
  await alice.locator('[aria-label="Favourite Second Step"][aria-pressed="true"]').waitFor();
  await alice.getByRole('radiogroup', { name: 'Rating of Second Step' }).getByRole('radio', { name: '4 stars' }).click();
  await alice.getByRole('button', { name: 'Favourite Ordered Steps' }).click();
  // The album's rating with the keyboard: focus the group, arrows to 3.
  const albumRating = alice.getByRole('radiogroup', { name: 'Rating of Ordered Steps' });
  await albumRating.getByRole('radio', { name: '1 star', exact: true }).focus();
  await alice.keyboard.press('1');
  await alice.keyboard.press('ArrowRight');
  await alice.keyboard.press('ArrowRight');
  await albumRating.locator('[aria-checked="true"]', { hasText: '' }).and(alice.getByRole('radio', { name: '3 stars' })).waitFor();

  // The server has them.
  await waitFor(async () => {
    const { body } = await call(aliceToken, 'GET', '/api/v1/me/starred');
    return body.songs.some((s) => s.title === 'Second Step' && s.rating === 4)
      && body.albums.some((a) => a.name === 'Ordered Steps' && a.rating === 3);
  }, 'stars and ratings reach the server');

  // Favourites lists them.
  await alice.getByRole('link', { name: 'Favourites', exact: true }).click();
  await alice.getByRole('heading', { name: 'Favourites', level: 1 }).waitFor();
  await waitForTexts(alice, '.favourites-view .song-list .row-title', ['Second Step']);
  await waitForTexts(alice, '.favourites-view .card-grid .card-title', ['Ordered Steps']);
  assert.equal(await alice.getByRole('radiogroup', { name: 'Rating of Second Step' }).locator('[aria-checked="true"]').getAttribute('aria-label'), '4 stars');
  await shot(alice, 'favourites');

  // And the album page, loaded afresh, shows the marks.
  await alice.locator('.favourites-view .card-link', { hasText: 'Ordered Steps' }).click();
  await alice.getByRole('heading', { name: 'Ordered Steps', level: 1 }).waitFor();
  await alice.reload();
  await alice.locator('[aria-label="Favourite Second Step"][aria-pressed="true"]').waitFor();
  await alice.locator('[aria-label="Favourite Ordered Steps"][aria-pressed="true"]').waitFor();
  assert.equal(await alice.getByRole('radiogroup', { name: 'Rating of Second Step' }).locator('[aria-checked="true"]').getAttribute('aria-label'), '4 stars');
  assert.equal(await alice.getByRole('radiogroup', { name: 'Rating of Ordered Steps' }).locator('[aria-checked="true"]').getAttribute('aria-label'), '3 stars');

  // Songs in the library rows: star one there, unstar it from its menu.
  await go(alice, '#/library/songs', '.song-row');
  await alice.getByRole('button', { name: 'Favourite Bravo Tone' }).click();
  await alice.locator('[aria-label="Favourite Bravo Tone"][aria-pressed="true"]').waitFor();
  await waitFor(async () => (await call(aliceToken, 'GET', '/api/v1/me/starred')).body.songs.some((s) => s.title === 'Bravo Tone'), 'library star');
  await alice.getByRole('button', { name: 'More actions for Bravo Tone' }).click();
  await alice.getByRole('menuitem', { name: 'Remove from favourites' }).click();
  // The row's star follows the menu.
  await alice.locator('[aria-label="Favourite Bravo Tone"][aria-pressed="false"]').waitFor();
  await waitFor(async () => !(await call(aliceToken, 'GET', '/api/v1/me/starred')).body.songs.some((s) => s.title === 'Bravo Tone'), 'menu unstar');
});

test('history shows the plays, when and on which device or room; home shows recently and most played', T, async () => {
  const now = Date.now();
  for (const [title, client, ago] of [['Alpha Tone', 'Kitchen speaker', 60000], ['First Step', 'Test phone', 30000], ['First Step', 'Test phone', 10000]]) {
    const r = await call(aliceToken, 'POST', '/api/v1/me/history', { song_id: ids[title], client, played_at: now - ago });
    assert.equal(r.status, 201);
  }
  // A play heard in a room: alice listens (her page is in the room) while
  // First Step (5 s) plays past its middle; the server counts it.
  const room = (await call(aliceToken, 'POST', '/api/v1/rooms', { name: 'Test lounge' })).body;
  await go(alice, `#/rooms/${room.id}`);
  await alice.locator('.conn', { hasText: /^Connected/ }).waitFor({ timeout: 15000 });
  await call(aliceToken, 'POST', `/api/v1/rooms/${room.id}/commands`, { type: 'add', song_ids: [ids['Second Step']] });
  await call(aliceToken, 'POST', `/api/v1/rooms/${room.id}/commands`, { type: 'play' });
  await waitFor(async () => (await call(aliceToken, 'GET', '/api/v1/me/history')).body.items.some((p) => p.room_id === room.id),
    'the room play is counted', 20000);
  await call(aliceToken, 'POST', `/api/v1/rooms/${room.id}/commands`, { type: 'pause' });

  await alice.getByRole('link', { name: 'History', exact: true }).click();
  await alice.getByRole('heading', { name: 'History', level: 1 }).waitFor();
  await waitForTexts(alice, '.history-view .row-title', ['Second Step', 'First Step', 'First Step', 'Alpha Tone']);
  // The room, and the device that played it (alice's browser, her only device there).
  const deviceName = await alice.evaluate(async () => (await import('/js/device.js')).thisDevice().name);
  assert.equal(await alice.locator('.history-view .song-item').first().locator('.play-where').textContent(),
    ` · in Test lounge · on ${deviceName}`);
  await alice.locator('.history-day h2', { hasText: 'Today' }).waitFor();
  const first = alice.locator('.history-view .song-item').nth(1);
  assert.match(await first.locator('.play-where').textContent(), /on Test phone/);
  assert.match(await alice.locator('.history-view .song-item').nth(3).locator('.play-where').textContent(), /on Kitchen speaker/);
  assert.ok(await first.locator('time').getAttribute('datetime'));
  await shot(alice, 'history');

  await alice.getByRole('link', { name: 'Home', exact: true }).click();
  await waitForTexts(alice, '[aria-labelledby="recent-played-h"] .row-title', ['Second Step', 'First Step', 'Alpha Tone']);
  await waitForTexts(alice, '[aria-labelledby="most-played-h"] .row-title', ['First Step', 'Second Step', 'Alpha Tone']);
  await waitForTexts(alice, '[aria-labelledby="most-played-h"] .row-meta.when', ['2 plays', '1 play', '1 play']);
  await shot(alice, 'home');

  // The artist page's top songs follow the play counts.
  await go(alice, '#/library/artists', '.artist-row');
  await alice.getByRole('link', { name: 'Sequencer', exact: true }).click();
  await waitForTexts(alice, '.top-songs .row-title', ['First Step', 'Second Step', 'Third Step']);
  await waitForTexts(alice, '.top-songs .row-meta.when', ['2 plays', '1 play']);
});

test('the action menu is a keyboard menu button: arrows, Escape, focus back', T, async () => {
  await go(alice, '#/library/songs', '.song-row');
  const button = alice.getByRole('button', { name: 'More actions for Charlie Tone' });
  assert.equal(await button.getAttribute('aria-haspopup'), 'menu');
  await button.focus();
  await alice.keyboard.press('Enter');
  const menu = alice.getByRole('menu');
  await menu.waitFor();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  const focused = () => alice.evaluate(() => document.activeElement?.textContent);
  assert.equal(await focused(), 'Play now');
  await alice.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'Play next');
  await alice.keyboard.press('End');
  assert.equal(await focused(), 'Delete…');
  await alice.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'Play now');
  await alice.keyboard.press('ArrowUp');
  assert.equal(await focused(), 'Delete…');
  const items = await menu.getByRole('menuitem').allTextContents();
  assert.deepEqual(items, ['Play now', 'Play next', 'Add to queue', 'Add to playlist…', 'Add to a room…',
    'Add to favourites', 'Rate…', 'Download', 'Edit tags…', 'Delete…']);
  await alice.keyboard.press('Escape');
  await menu.waitFor({ state: 'detached' });
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  assert.equal(await alice.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'More actions for Charlie Tone');

  // ArrowUp opens at the last item; Download works from the menu.
  await alice.keyboard.press('ArrowUp');
  await menu.waitFor();
  assert.equal(await focused(), 'Delete…');
  await alice.keyboard.press('Escape');
  await button.click();
  const [download] = await Promise.all([
    alice.waitForEvent('download'),
    alice.getByRole('menuitem', { name: 'Download' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'charlie.flac');
  await download.cancel();

  // Rate… opens a dialog with the rating; Escape closes it and focus comes back.
  await button.click();
  await alice.getByRole('menuitem', { name: 'Rate…' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Rate Charlie Tone' });
  await dialog.getByRole('radio', { name: '5 stars' }).click();
  await waitFor(async () => (await call(aliceToken, 'GET', `/api/v1/songs/${ids['Charlie Tone']}`)).body.rating === 5, 'rated 5 from the dialog');
  await alice.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await alice.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'More actions for Charlie Tone');
});

test('a plain user may not edit or delete the songs of others', T, async () => {
  const bob = await signedIn('bob');
  await go(bob, '#/library/songs', '.song-row');
  await bob.getByRole('button', { name: 'More actions for Alpha Tone' }).click();
  const items = await bob.getByRole('menu').getByRole('menuitem').allTextContents();
  assert.ok(!items.includes('Edit tags…') && !items.includes('Delete…'), items.join(', '));
  await bob.keyboard.press('Escape');
  await bob.context().close();
});

test('edit a song\'s tags through the dialog, and the library changes', T, async (t) => {
  const probe = await call(aliceToken, 'PATCH', `/api/v1/songs/${ids['Third Step']}`, {});
  const supported = !(probe.status === 405 || probe.status === 404);
  await go(alice, '#/library/songs', '.song-row');
  await alice.getByRole('button', { name: 'More actions for Third Step' }).click();
  await alice.getByRole('menuitem', { name: 'Edit tags…' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Edit Third Step' });
  assert.equal(await dialog.getByLabel('Title').inputValue(), 'Third Step');
  assert.equal(await dialog.getByLabel('Track').inputValue(), '3');
  assert.equal(await dialog.getByLabel('Year').inputValue(), '2021');
  // A track that is not a number is refused before anything is sent.
  await dialog.getByLabel('Track').fill('three');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByText('Track must be a whole number.').waitFor();
  await dialog.getByLabel('Track').fill('3');
  await dialog.getByLabel('Title').fill('Final Step');
  await dialog.getByLabel('Genre').fill('Test Tones');
  await dialog.getByLabel('Year').fill('2022');
  const [request] = await Promise.all([
    alice.waitForRequest((r) => r.method() === 'PATCH'),
    dialog.getByRole('button', { name: 'Save' }).click(),
  ]);
  // Only what changed is sent.
  assert.deepEqual(request.postDataJSON(), { title: 'Final Step', year: 2022, genre: 'Test Tones' });
  if (!supported) {
    // The server does not have the route yet: the dialog says so and stays open.
    await dialog.getByText('This server cannot edit tags yet.').waitFor();
    await alice.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    t.skip(`the rest needs PATCH /api/v1/songs/{id}, which this hifi-server does not have yet (${probe.status})`);
    return;
  }
  await dialog.waitFor({ state: 'detached' });
  await alice.locator('.song-row .row-title', { hasText: /^Final Step$/ }).waitFor();
  assert.equal(await alice.locator('.song-row .row-title', { hasText: /^Third Step$/ }).count(), 0);
  const { body } = await call(aliceToken, 'GET', `/api/v1/songs/${ids['Third Step']}`);
  assert.equal(body.title, 'Final Step');
  assert.equal(body.genre, 'Test Tones');
  assert.equal(body.year, 2022);
  ids['Final Step'] = ids['Third Step'];
  // The album page follows.
  await go(alice, '#/library/albums', '.album-row');
  await alice.getByRole('link', { name: 'Ordered Steps', exact: true }).click();
  await waitForTexts(alice, '.tracks .row-title', ['First Step', 'Second Step', 'Final Step']);
});

test('delete a song, after confirming', T, async () => {
  await go(alice, '#/library/songs', '.song-row');
  const button = alice.getByRole('button', { name: 'More actions for Bravo Tone' });
  // Cancelling keeps it.
  await button.click();
  await alice.getByRole('menuitem', { name: 'Delete…' }).click();
  let confirm = alice.getByRole('dialog', { name: 'Delete song?' });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'detached' });
  assert.equal((await call(aliceToken, 'GET', `/api/v1/songs/${ids['Bravo Tone']}`)).status, 200);
  // Confirming deletes it.
  await button.click();
  await alice.getByRole('menuitem', { name: 'Delete…' }).click();
  confirm = alice.getByRole('dialog', { name: 'Delete song?' });
  await confirm.getByText('“Bravo Tone” will be removed').waitFor();
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await alice.locator('.song-row .row-title', { hasText: /^Bravo Tone$/ }).waitFor({ state: 'detached' });
  assert.equal((await call(aliceToken, 'GET', `/api/v1/songs/${ids['Bravo Tone']}`)).status, 404);
});

test('albums and artists as a grid or a list, remembered', T, async () => {
  await go(alice, '#/library/albums', '.album-row');
  await alice.getByRole('button', { name: 'Grid', exact: true }).click();
  await alice.locator('.library-grid .album-card').first().waitFor();
  assert.equal(await alice.locator('.vlist').isHidden(), true);
  assert.equal(await alice.getByRole('button', { name: 'Grid', exact: true }).getAttribute('aria-pressed'), 'true');
  await alice.reload();
  await alice.locator('.library-grid .album-card').first().waitFor();
  await waitForTexts(alice, '.library-grid .card-title', [HOSTILE, 'Ordered Steps', 'Signals']);
  await shot(alice, 'library-albums-grid');
  // Artists keep their own choice (a list until asked).
  await go(alice, '#/library/artists', '.artist-row');
  assert.equal(await alice.locator('.library-grid').isHidden(), true);
  await alice.getByRole('button', { name: 'Grid', exact: true }).click();
  await alice.locator('.library-grid .artist-card').first().waitFor();
  await go(alice, '#/library/albums', '.library-grid .album-card');
  await alice.getByRole('button', { name: 'List', exact: true }).click();
  await alice.locator('.album-row').first().waitFor();
  assert.deepEqual(JSON.parse(await alice.evaluate(() => localStorage.getItem('hifi.libraryLayout'))), { albums: 'list', artists: 'grid' });
});

test('a hostile title, artist and album show as text on every screen', T, async () => {
  const id = ids[HOSTILE];
  await call(aliceToken, 'PUT', `/api/v1/songs/${id}/star`);
  await call(aliceToken, 'POST', '/api/v1/me/history', { song_id: id, client: HOSTILE });
  const album = (await call(aliceToken, 'GET', '/api/v1/albums')).body.items.find((a) => a.name === HOSTILE);
  const artist = (await call(aliceToken, 'GET', '/api/v1/artists')).body.items.find((a) => a.name === HOSTILE);
  await call(aliceToken, 'PUT', `/api/v1/albums/${album.id}/star`);
  await call(aliceToken, 'PUT', `/api/v1/artists/${artist.id}/star`);
  const page = alice;
  const before = dialogs.length;
  const errorsBefore = errors.length;
  const screens = [
    ['#/home', '.home-view .song-list'],
    [`#/albums/${album.id}`, '.tracks'],
    [`#/artists/${artist.id}`, '.top-songs'],
    ['#/favourites', '.favourites-view .song-list'],
    ['#/history', '.history-view .song-item'],
    ['#/library/songs', '.song-row'],
    ['#/library/albums', '.album-row'],
    ['#/library/artists', '.library-grid .artist-card'],
  ];
  for (const [hash, ready] of screens) {
    await go(page, hash, ready);
    await page.getByText(HOSTILE, { exact: true }).filter({ visible: true }).first().waitFor();
    assert.equal(await page.locator('img[src="x"], img:not([src]):not([data-cover]):not([alt=""])').count(), 0, hash);
    assert.equal(await page.evaluate(() => document.querySelectorAll('main img').length
      === [...document.querySelectorAll('main img')].filter((i) => i.classList.contains('cover') || i.classList.contains('card-cover') || i.classList.contains('hero-cover')).length), true, hash);
  }
  // The history line names the hostile client as text too.
  await go(page, '#/history', '.history-view .song-item');
  await page.locator('.play-where', { hasText: `on ${HOSTILE}` }).waitFor();
  // Its menu and its edit dialog.
  await go(page, '#/library/songs', '.song-row');
  await page.getByRole('button', { name: `More actions for ${HOSTILE}` }).click();
  await page.getByRole('menuitem', { name: 'Edit tags…' }).click();
  const dialog = page.getByRole('dialog', { name: `Edit ${HOSTILE}` });
  assert.equal(await dialog.getByLabel('Album', { exact: true }).inputValue(), HOSTILE);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.deepEqual(dialogs.slice(before), []);
  assert.deepEqual(errors.slice(errorsBefore), []);
});

test('no serious or critical accessibility violations on the browse screens (light, dark, phone)', T, async () => {
  const albumId = (await call(aliceToken, 'GET', '/api/v1/albums')).body.items.find((a) => a.name === 'Ordered Steps').id;
  const artistId = (await call(aliceToken, 'GET', '/api/v1/artists')).body.items.find((a) => a.name === 'Sequencer').id;
  const screens = [
    ['home', '#/home', '.home-view .card-grid'],
    ['album', `#/albums/${albumId}`, '.tracks'],
    ['artist', `#/artists/${artistId}`, '.top-songs'],
    ['favourites', '#/favourites', '.favourites-view .song-list'],
    ['history', '#/history', '.history-view .song-item'],
    ['library songs', '#/library/songs', '.song-row'],
    ['library albums list', '#/library/albums', '.album-row'],
    ['library artists', '#/library/artists', '.artist-row:visible, .artist-card:visible'],
  ];
  const phone = watch(await newPage(browser, errors, { width: 390, height: 844 }));
  await phone.goto(server.url);
  await phone.evaluate((s) => localStorage.setItem('hifi.session', s), await alice.evaluate(() => localStorage.getItem('hifi.session')));
  await phone.reload();
  await phone.getByRole('heading', { name: 'Home', exact: true }).waitFor();
  for (const [scheme, page] of [['light', alice], ['dark', alice], ['light', phone]]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [name, hash, ready] of screens) {
      await go(page, hash, ready);
      await page.waitForFunction(() => !document.querySelector('.list-status')?.textContent.startsWith('Loading'));
      assert.deepEqual(await accessibilityViolations(page), [], `${name} (${scheme}, ${page === phone ? 'phone' : 'desktop'})`);
    }
  }
  // The other layouts, an open menu and a dialog.
  await alice.emulateMedia({ colorScheme: 'light' });
  await go(alice, '#/library/albums', '.album-row');
  await alice.getByRole('button', { name: 'Grid', exact: true }).click();
  await alice.locator('.library-grid .album-card').first().waitFor();
  assert.deepEqual(await accessibilityViolations(alice), [], 'library albums grid');
  await go(alice, '#/library/artists', '.library-grid .artist-card');
  await alice.getByRole('button', { name: 'List', exact: true }).click();
  await alice.locator('.artist-row').first().waitFor();
  assert.deepEqual(await accessibilityViolations(alice), [], 'library artists list');
  await go(alice, '#/library/songs', '.song-row');
  await alice.getByRole('button', { name: 'More actions for Alpha Tone' }).click();
  await alice.getByRole('menu').waitFor();
  assert.deepEqual(await accessibilityViolations(alice), [], 'open menu');
  await alice.getByRole('menuitem', { name: 'Edit tags…' }).click();
  await alice.getByRole('dialog').waitFor();
  assert.deepEqual(await accessibilityViolations(alice), [], 'edit dialog');
  await alice.keyboard.press('Escape');

  // Phone screenshots; nothing wider than the screen.
  await phone.emulateMedia({ colorScheme: 'dark' });
  for (const [name, hash, ready] of [['album', `#/albums/${albumId}`, '.tracks'], ['home', '#/home', '.home-view .card-grid']]) {
    await go(phone, hash, ready);
    assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), `${name} fits 390 px`);
    await shot(phone, `${name}-phone-dark`);
  }
  await phone.context().close();
  assert.deepEqual(errors, []);
  assert.deepEqual(dialogs, []);
});

test('artist page: top songs by everyone\'s plays, with the counts; a compilation links its album artist', T, async () => {
  // A compilation: three songs of Solo Voice and one of Guest Voice, album artist Various Artists.
  const tracks = [['Solo One', 'Solo Voice'], ['Solo Two', 'Solo Voice'], ['Solo Three', 'Solo Voice'], ['Guest Spot', 'Guest Voice']];
  const uploaded = [];
  for (const [i, [title, artist]] of tracks.entries()) {
    const file = path.join(tmp, `mixed${i + 1}.mp3`);
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `sine=frequency=${500 + i * 40}:duration=3:sample_rate=44100`, '-c:a', 'libmp3lame', '-b:a', '64k',
      '-id3v2_version', '3', '-metadata', `title=${title}`, '-metadata', `artist=${artist}`, '-metadata', 'album=Mixed Bag',
      '-metadata', 'album_artist=Various Artists', '-metadata', `track=${i + 1}`, file], { stdio: 'inherit' });
    uploaded.push(await upload(file));
  }
  const albumId = uploaded[0].album_id;
  assert.ok(albumId && uploaded.every((s) => s.album_id === albumId), 'one album');
  const solo = uploaded[0].artist_id;
  const various = (await call(aliceToken, 'GET', `/api/v1/albums/${albumId}`)).body.artist_id;
  assert.ok(various && various !== solo);

  // Plays by everyone: bob twice and alice once Solo Three, bob once Solo Two, nobody Solo One.
  for (const [token, title] of [[bobToken, 'Solo Three'], [bobToken, 'Solo Three'], [aliceToken, 'Solo Three'], [bobToken, 'Solo Two']]) {
    assert.equal((await call(token, 'POST', '/api/v1/me/history', { song_id: ids[title], client: 'Test phone' })).status, 201);
  }

  // The album page links the album artist, and the tracks their own artists.
  await go(alice, `#/albums/${albumId}`, '.tracks');
  await alice.getByRole('heading', { name: 'Mixed Bag', level: 1 }).waitFor();
  assert.equal(await alice.locator('a.hero-artist').getAttribute('href'), `#/artists/${various}`);
  assert.equal(await alice.locator('.tracks .row-sub a', { hasText: 'Guest Voice' }).getAttribute('href'), `#/artists/${uploaded[3].artist_id}`);

  // The album artist, who has no songs of their own, has a page with the album.
  await alice.locator('a.hero-artist', { hasText: 'Various Artists' }).click();
  await alice.getByRole('heading', { name: 'Various Artists', level: 1 }).waitFor();
  await waitForTexts(alice, '.artist-view .card-grid .card-title', ['Mixed Bag']);
  await alice.getByText('No songs of their own', { exact: false }).waitFor();
  assert.equal(await alice.getByRole('button', { name: 'Play', exact: true }).isDisabled(), false);

  // Solo Voice's top songs: most played by everyone first, with the counts.
  await go(alice, `#/albums/${albumId}`, '.tracks');
  await alice.locator('.tracks .row-sub a', { hasText: 'Solo Voice' }).first().click();
  await alice.getByRole('heading', { name: 'Solo Voice', level: 1 }).waitFor();
  await waitForTexts(alice, '.top-songs .row-title', ['Solo Three', 'Solo Two', 'Solo One']);
  await waitForTexts(alice, '.top-songs .row-meta.when', ['3 plays', '1 play']);
  assert.equal(await alice.locator('.top-songs .row-sub a', { hasText: 'Mixed Bag' }).first().getAttribute('href'), `#/albums/${albumId}`);
  await shot(alice, 'artist-top-songs');

  // Home: the compilation is the newest album; its card links the album artist.
  await go(alice, '#/home', '.home-view .card-grid[aria-labelledby="recent-albums-h"]');
  const card = alice.locator('.home-view .card-grid[aria-labelledby="recent-albums-h"] .album-card').first();
  await card.locator('.card-title', { hasText: 'Mixed Bag' }).waitFor();
  assert.equal(await card.locator('.card-sub a').getAttribute('href'), `#/artists/${various}`);
  assert.deepEqual(errors, []);
});

test('home, album and artist pages load no whole album or artist list', T, async () => {
  const albumId = (await call(aliceToken, 'GET', '/api/v1/albums')).body.items.find((a) => a.name === 'Ordered Steps').id;
  const artist = (await call(aliceToken, 'GET', '/api/v1/artists')).body.items.find((a) => a.name === 'Sequencer');
  const various = (await call(aliceToken, 'GET', '/api/v1/albums')).body.items.find((a) => a.name === 'Mixed Bag').artist_id;
  const requests = [];
  const listener = (r) => { const u = new URL(r.url()); if (u.pathname.startsWith('/api/')) requests.push(u); };
  alice.on('request', listener);
  try {
    // A first load of home (a fresh page), then the album and artist pages.
    await go(alice, '#/home');
    await alice.reload();
    await alice.locator('.home-view .card-grid[aria-labelledby="recent-albums-h"] .album-card').first().waitFor();
    await alice.locator('.home-view .list-status[hidden]').waitFor({ state: 'attached' });
    await go(alice, `#/albums/${albumId}`);
    await alice.getByRole('heading', { name: 'Ordered Steps', level: 1 }).waitFor();
    await go(alice, `#/artists/${artist.id}`);
    await alice.getByRole('heading', { name: 'Sequencer', level: 1 }).waitFor();
    await go(alice, `#/artists/${various}`);
    await alice.getByRole('heading', { name: 'Various Artists', level: 1 }).waitFor();
  } finally {
    alice.off('request', listener);
  }
  const whole = requests.filter((u) => ['/api/v1/albums', '/api/v1/artists'].includes(u.pathname) && !u.searchParams.has('limit'));
  assert.deepEqual(whole.map(String), []);
  assert.ok(requests.some((u) => u.pathname === '/api/v1/albums' && u.searchParams.get('sort') === 'recent' && Number(u.searchParams.get('limit')) <= 100),
    'home asks for the recent albums only');
  for (const id of [artist.id, various]) assert.ok(requests.some((u) => u.pathname === `/api/v1/artists/${id}`), 'the artist page asks for its artist');
  assert.ok(requests.some((u) => u.pathname === `/api/v1/albums/${albumId}`), 'the album page asks for its album');
  assert.deepEqual(errors, []);
});

async function waitFor(check, what, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
