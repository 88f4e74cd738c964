// End-to-end test of HiFi's Subsonic API with a real Subsonic client
// library (the npm `subsonic-api` package, as web players use it) against a
// hifi-server process of our own: token authentication with an app
// password, API keys, browsing, search (paging through the whole library),
// streaming the stored bytes, a transcode that ffprobe must read, cover art
// (resized covers measured by ffprobe), lyrics from a file's tags, stars,
// ratings and scrobbles, top and similar songs, artist and album info,
// playlists, the play queue, bookmarks, shares, the jukebox (a HiFi room,
// checked through HiFi's own API), user management, and revocation.
//
//   cd tests/browser && npm ci && node --test subsonic.test.mjs
//   (HIFI_SERVER_BIN=build/<dir>/src/hifi-server to pick the binary)
//
// The tests run in order and share one server, one user (an admin: the
// first account) and three songs; a fourth, with lyrics and a wide cover, is
// uploaded once browsing and search have seen the first three.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import path from 'node:path';
import { SubsonicAPI } from 'subsonic-api';
import { Server, generateSongs, makeTempDir, removeDir } from './harness.mjs';

const PASSWORD = 'correct horse battery';
const T = { timeout: 60000 };

let tmp;
let server;
let songs;       // the generated files, with .id once uploaded
let session;     // HiFi bearer token of alice
let appPassword; // { id, password }
let apiKey;      // { id, key }

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function hifi(method, target, body, headers = {}) {
  const res = await fetch(server.url + target, {
    method,
    body,
    headers: { ...(session ? { Authorization: `Bearer ${session}` } : {}), ...headers },
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const postJson = (target, value) => hifi('POST', target, JSON.stringify(value), { 'Content-Type': 'application/json' });

function client(auth, extra = {}) {
  return new SubsonicAPI({ url: server.url, auth, ...extra });
}

const alice = (extra) => client({ username: 'alice', password: appPassword.password }, extra);

// The subsonic-response of a call that must succeed.
function ok(response) {
  assert.equal(response?.status, 'ok', JSON.stringify(response));
  assert.equal(response.openSubsonic, true);
  assert.equal(response.type, 'hifi');
  return response;
}

async function bytesOf(response) {
  assert.equal(response.status, 200, `HTTP ${response.status}`);
  const type = response.headers.get('content-type') || '';
  const bytes = Buffer.from(await response.arrayBuffer());
  // An error would come as a subsonic-response document instead.
  assert.ok(!type.includes('json') && !type.includes('xml'), `${type}: ${bytes.toString().slice(0, 300)}`);
  return bytes;
}

// ffprobe's view of some bytes (written to the temp dir as `name`).
function probe(bytes, name) {
  const file = path.join(tmp, name);
  writeFileSync(file, bytes);
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file]));
}

// The codec, width and height of an image.
function imageOf(bytes, name) {
  const [stream] = probe(bytes, name).streams;
  return { codec: stream.codec_name, width: stream.width, height: stream.height };
}

// Calls `check` until it returns something truthy, which it returns; fails
// after `ms` with the last value. For state that other requests change
// (a room through HiFi's API): no fixed sleeps.
async function waitFor(what, check, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not so after ${ms} ms`);
    await delay(20);
  }
}

// The library signs in with tokens only (u, t, s). Apps that send the
// password itself (u, p) are the same requests with p instead of t and s:
// the library with a fetch that swaps them.
function passwordClient(username, password) {
  return new SubsonicAPI({
    url: server.url,
    auth: { username, password },
    fetch: (url, init) => {
      const u = new URL(url);
      u.searchParams.delete('t');
      u.searchParams.delete('s');
      u.searchParams.set('p', password);
      return fetch(u, init);
    },
  });
}

const idsOf = (list) => (list ?? []).map((e) => e.id);

// A fourth song, uploaded later: lyrics in its tags (synced LRC, and plain
// French) and a wide cover (320x180).
function makeLyricsSong(dir) {
  const ff = (...args) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { timeout: 30000 });
  const cover = path.join(dir, 'wide.png');
  ff('-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=1', '-frames:v', '1', cover);
  const song = { file: 'delta.flac', title: 'Delta Tone', artist: 'Lyric Singers', album: 'Words', path: path.join(dir, 'delta.flac') };
  ff('-f', 'lavfi', '-i', 'sine=frequency=784:duration=20:sample_rate=44100', '-i', cover,
    '-map', '0:a', '-map', '1:v', '-c:v', 'png', '-disposition:v', 'attached_pic', '-c:a', 'flac',
    '-metadata', `title=${song.title}`, '-metadata', `artist=${song.artist}`, '-metadata', `album=${song.album}`,
    '-metadata', 'lyrics=[00:01.00]First line\n[00:02.50]Second line',
    '-metadata', 'lyrics-fra=Une ligne\nDeux lignes', song.path);
  return song;
}

let delta; // the song with lyrics

before(async () => {
  tmp = makeTempDir('hifi-subsonic-');
  ({ songs } = generateSongs(tmp));
  delta = makeLyricsSong(tmp);
  server = new Server(path.join(tmp, 'data'));
  await server.start();
  assert.equal((await postJson('/api/v1/auth/register', { username: 'alice', password: PASSWORD })).status, 201);
  session = (await postJson('/api/v1/auth/login', { username: 'alice', password: PASSWORD })).json.token;
  for (const s of songs) {
    const up = await hifi('POST', '/api/v1/songs', readFileSync(s.path),
      { 'Content-Type': 'application/octet-stream', 'X-Filename': s.file });
    assert.equal(up.status, 201);
    s.id = up.json.id;
    s.sha256 = up.json.sha256;
  }
  const made = await postJson('/api/v1/me/app-passwords', { name: 'subsonic-api test' });
  assert.equal(made.status, 201);
  appPassword = made.json;
  const key = await postJson('/api/v1/me/api-keys', { name: 'subsonic-api key' });
  assert.equal(key.status, 201);
  apiKey = key.json;
});

after(async () => {
  await server?.stop();
  if (tmp) removeDir(tmp);
});

test('token authentication with an app password: fresh salts, a reused salt, and POST forms', T, async () => {
  ok(await alice().ping());
  ok(await alice({ reuseSalt: true }).ping());
  const reused = alice({ salt: 'fixed-salt-1' });
  ok(await reused.ping());
  ok(await reused.ping());
  ok(await alice({ post: true }).ping());
  const license = ok(await alice().getLicense());
  assert.equal(license.license.valid, true);
  const wrong = await client({ username: 'alice', password: 'not-the-app-password' }).ping();
  assert.equal(wrong.status, 'failed');
  assert.equal(wrong.error.code, 40);
  // The account password cannot make tokens: HiFi keeps only its hash.
  const account = await client({ username: 'alice', password: PASSWORD }).ping();
  assert.equal(account.error.code, 40);
});

test('API key authentication and tokenInfo', T, async () => {
  const api = client({ apiKey: apiKey.key });
  ok(await api.ping());
  const info = ok(await api.customJSON('tokenInfo', {}));
  assert.equal(info.tokenInfo.username, 'alice');
  const extensions = ok(await api.getOpenSubsonicExtensions());
  const names = extensions.openSubsonicExtensions.map((e) => e.name).sort();
  assert.deepEqual(names, ['apiKeyAuthentication', 'formPost', 'songLyrics', 'transcodeOffset']);
  const bad = await client({ apiKey: 'hifi_not-a-key' }).ping();
  assert.equal(bad.error.code, 44);
});

test('browse artists, an artist, an album and a song', T, async () => {
  const api = alice();
  const artists = ok(await api.getArtists()).artists.index.flatMap((i) => i.artist);
  assert.deepEqual(artists.map((a) => a.name).sort(), ['Band of Sines', 'The Testers']);
  const testers = artists.find((a) => a.name === 'The Testers');
  const artist = ok(await api.getArtist({ id: testers.id })).artist;
  assert.equal(artist.album.length, 1);
  assert.equal(artist.album[0].name, 'Signals');
  const album = ok(await api.getAlbum({ id: artist.album[0].id })).album;
  assert.equal(album.songCount, 2);
  assert.deepEqual(album.song.map((s) => s.title), ['Alpha Tone', 'Charlie Tone']);
  assert.deepEqual(album.song.map((s) => s.track), [1, 3]);
  assert.ok(album.coverArt, 'the album has the cover of its first song');
  const song = ok(await api.getSong({ id: songs[0].id })).song;
  assert.equal(song.albumId, album.id);
  assert.equal(song.suffix, 'mp3');
  assert.equal(song.duration, 30);
  const dir = ok(await api.getMusicDirectory({ id: album.id })).directory;
  assert.equal(dir.child.length, 2);
});

test('search3: a query, and an empty query paging through the whole library', T, async () => {
  const api = alice();
  const found = ok(await api.search3({ query: 'bravo' })).searchResult3;
  assert.deepEqual(found.song.map((s) => s.id), [songs[1].id]);
  const seen = [];
  for (let offset = 0; offset < 10; offset += 1) {
    const page = ok(await api.search3({ query: '', artistCount: 0, albumCount: 0, songCount: 1, songOffset: offset }))
      .searchResult3;
    if (!page.song) break;
    assert.equal(page.song.length, 1);
    seen.push(page.song[0].id);
  }
  assert.deepEqual(seen.sort(), songs.map((s) => s.id).sort());
  const all = ok(await api.search3({ query: '' })).searchResult3;
  assert.equal(all.artist.length, 2);
  assert.equal(all.album.length, 2);
});

test('stream gives the stored bytes, whose SHA-256 is the song\'s', T, async () => {
  for (const s of songs) {
    const bytes = await bytesOf(await alice().stream({ id: s.id }));
    assert.equal(sha256(bytes), s.sha256, s.file);
    assert.equal(sha256(bytes), sha256(readFileSync(s.path)), s.file);
  }
  const raw = await bytesOf(await alice({ post: true }).download({ id: songs[2].id }));
  assert.equal(sha256(raw), songs[2].sha256);
});

test('stream transcodes to MP3 that ffprobe reads, also from an offset', T, async () => {
  const flac = songs[2];
  const mp3 = await bytesOf(await alice().stream({ id: flac.id, format: 'mp3', maxBitRate: 128 }));
  const whole = probe(mp3, 'whole.mp3');
  assert.equal(whole.streams[0].codec_name, 'mp3');
  assert.ok(Math.abs(Number(whole.format.duration) - 30) < 0.5, whole.format.duration);
  const rest = await bytesOf(await alice().stream({ id: flac.id, format: 'mp3', timeOffset: 20 }));
  const tail = probe(rest, 'tail.mp3');
  assert.equal(tail.streams[0].codec_name, 'mp3');
  assert.ok(Math.abs(Number(tail.format.duration) - 10) < 0.5, tail.format.duration);
  const opus = await bytesOf(await alice().stream({ id: flac.id, format: 'ogg' }));
  assert.equal(probe(opus, 'whole.ogg').streams[0].codec_name, 'opus');
});

test('getCoverArt gives the embedded cover of a song and of its album', T, async () => {
  const api = alice();
  const song = ok(await api.getSong({ id: songs[0].id })).song;
  const album = ok(await api.getAlbum({ id: song.albumId })).album;
  const expected = Buffer.from(await (await fetch(`${server.url}/api/v1/songs/${songs[0].id}/cover`,
    { headers: { Authorization: `Bearer ${session}` } })).arrayBuffer());
  for (const id of [song.coverArt, album.coverArt]) {
    const res = await api.getCoverArt({ id, size: 300 });
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(sha256(await bytesOf(res)), sha256(expected));
  }
  // A song without a cover: a Subsonic error in the format asked for (the client asks for JSON).
  const none = await (await api.getCoverArt({ id: songs[1].id })).json();
  assert.equal(none['subsonic-response'].error.code, 70);
});

test('a revoked app password or API key signs the app out at once', T, async () => {
  assert.equal((await hifi('DELETE', `/api/v1/me/app-passwords/${appPassword.id}`)).status, 204);
  assert.equal((await hifi('DELETE', `/api/v1/me/api-keys/${apiKey.id}`)).status, 204);
  const token = await alice().ping();
  assert.equal(token.status, 'failed');
  assert.equal(token.error.code, 41); // no app password left to check a token against
  const key = await client({ apiKey: apiKey.key }).ping();
  assert.equal(key.error.code, 44);
});
