import { Server, generateSongs, makeTempDir, removeDir } from '/work/main/tests/browser/harness.mjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
const tmp = makeTempDir('hifi-x-');
const { songs } = generateSongs(tmp);
const server = new Server(path.join(tmp, 'data'));
await server.start();
let session;
async function hifi(method, target, body, headers = {}) {
  const res = await fetch(server.url + target, { method, body, headers: { ...(session ? { Authorization: `Bearer ${session}` } : {}), ...headers } });
  const text = await res.text();
  return { status: res.status, text, headers: Object.fromEntries(res.headers) };
}
const pj = (t, v, m='POST') => hifi(m, t, JSON.stringify(v), { 'Content-Type': 'application/json' });
console.log((await pj('/api/v1/auth/register', { username: 'alice', password: 'correct horse battery' })).text);
session = JSON.parse((await pj('/api/v1/auth/login', { username: 'alice', password: 'correct horse battery' })).text).token;
for (const s of songs) { const up = await hifi('POST', '/api/v1/songs', readFileSync(s.path), { 'Content-Type': 'application/octet-stream', 'X-Filename': s.file }); s.id = JSON.parse(up.text).id; }
const key = JSON.parse((await pj('/api/v1/me/api-keys', { name: 'k' })).text).key;
const rest = async (name, params = {}) => { const u = new URL(`${server.url}/rest/${name}`); u.searchParams.set('f','json'); u.searchParams.set('apiKey', key); for (const [k,v] of Object.entries(params)) for (const x of [].concat(v)) u.searchParams.append(k, x); const r = await fetch(u); return r.text(); };
console.log(await rest('getUser', {username:'alice'}));
console.log(await rest('jukeboxControl', {action:'set', id: songs.map(s=>s.id)}));
console.log((await hifi('GET','/api/v1/me/jukebox')).text);
const room = JSON.parse((await hifi('GET','/api/v1/me/jukebox')).text).room_id;
console.log((await hifi('GET','/api/v1/rooms/'+room)).text);
const sh = await rest('createShare', {id: songs[0].id});
console.log(sh);
const url = JSON.parse(sh)['subsonic-response'].shares.share[0].url;
const r = await fetch(url); console.log(r.status, r.headers.get('content-type'), (await r.text()).slice(0,200));
console.log(await rest('getTopSongs', {artist:'The Testers'}));
console.log(await rest('getArtists'));
await server.stop(); removeDir(tmp);
