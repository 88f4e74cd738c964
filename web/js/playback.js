// Playback for the whole app. Everything that plays is a room: personal
// listening is the user's own private room (GET /api/v1/me/room), so it
// plays in sync, survives a reload and follows the user to every device
// they open. Its connection and player live here, for as long as the user
// is signed in, whatever view is shown. Rooms shared with others keep their
// session in room.js, which hands it to setRoomSession(): while the user
// listens there, that room is the one the now-playing bar and the media
// keys control.
//
// Views call playSongs(), playNext(), addToQueue(), playAlbum(),
// playArtist(), playPlaylist(); the bar and the player view read
// currentPlayback() and listen to playbackEvents ('change').
//
// Which device plays. The personal room's state says it: `speaker` is a
// device id, or '' for every device. A device that is not the speaker is
// a remote: it shows the room and controls it, and its player stays silent
// (SyncPlayer.setSilent: the audio output stays open, so it can become the
// speaker later without a new tap). When the speaker device goes away
// (closed, offline), the others stay remotes: nothing starts playing by
// itself in a pocket or on another floor. The next "play" pressed on a
// device whose chosen speaker is not connected makes that device the
// speaker (pressing play means "I want to hear it here"); "Play on" in the
// bar and the player chooses explicitly.

import { api, ApiError, getSong, rememberSongs } from './api.js';
import { RoomConnection } from './connection.js';
import { SyncPlayer } from './player.js';
import { roomPosition } from './clock.js';
import { thisDevice } from './device.js';

export const playbackEvents = new EventTarget();

const VOLUME_KEY = 'hifi.volume';
const MAX_SONGS = 1000; // per add command (docs/protocol.md)

let personal = null;        // {roomId, room, conn, player, personal: true, command}
let personalPromise = null;
let retryTimer = 0;
let shared = null;          // room.js's session: {roomId, conn, player, name, command, stop}
const songs = new Map();    // songId -> song, for the current items
const deviceNames = new Map(); // device id -> last name seen (for a speaker that left)

function emit() {
  playbackEvents.dispatchEvent(new CustomEvent('change'));
}

// ---- the personal room --------------------------------------------------------

// Opens the personal room's connection (once; again after a sign-in).
// Resolves to the session, or null when signed out or it cannot be had.
export function startPlayback() {
  if (!api.signedIn) return Promise.resolve(null);
  if (personal) return Promise.resolve(personal);
  if (!personalPromise) {
    personalPromise = openPersonal().catch((err) => {
      personalPromise = null;
      // Offline or a server error: try again in a while.
      if (!(err instanceof ApiError && err.status === 401)) {
        clearTimeout(retryTimer);
        retryTimer = setTimeout(startPlayback, 5000);
      }
      return null;
    });
  }
  return personalPromise;
}

// The session, for commands; when it cannot be had, the reason is thrown.
async function ensurePersonal() {
  if (personal) return personal;
  const p = await startPlayback();
  if (p) return p;
  if (!api.signedIn) throw new Error('not signed in');
  return openPersonal(); // once more, to report why not
}

// The room is made by the server on the first GET /api/v1/me/room.
async function openPersonal() {
  const room = await api.get('/api/v1/me/room');
  if (!api.signedIn) { personalPromise = null; return null; }
  if (personal) return personal;
  const conn = new RoomConnection(room.id);
  const player = new SyncPlayer(conn);
  player.setVolume(volume());
  personal = { roomId: room.id, room, conn, player, personal: true, command: (body) => conn.command(body) };
  conn.addEventListener('change', onPersonalChange);
  player.addEventListener('status', emit);
  conn.open();
  emit();
  return personal;
}

// Ends personal playback (signing out).
export function stopPlayback() {
  clearTimeout(retryTimer);
  personalPromise = null;
  if (personal) {
    personal.conn.removeEventListener('change', onPersonalChange);
    personal.player.destroy();
    personal.conn.close();
    personal = null;
  }
  songs.clear();
  emit();
}

function onPersonalChange(e) {
  const kind = e.detail.kind;
  if (kind === 'state' || kind === 'snapshot' || kind === 'presence') {
    rememberDevices();
    applyRole();
    loadSong();
    emit();
  } else if (kind === 'status') {
    emit();
  }
}

// ---- rooms shared with others (room.js) -------------------------------------------

// room.js hands over its session when it opens one (null when it closes
// it). The session has `stop()`, which ends listening there.
export function setRoomSession(session) {
  if (shared === session) return;
  if (shared) {
    shared.conn.removeEventListener('change', onSharedChange);
    shared.player.removeEventListener('status', onSharedStatus);
  }
  shared = session;
  if (shared) {
    shared.conn.addEventListener('change', onSharedChange);
    shared.player.addEventListener('status', onSharedStatus);
    shared.player.setVolume(volume());
  }
  applyRole();
  loadSong();
  emit();
}

function onSharedChange(e) {
  if (!sharedListening()) return;
  const kind = e.detail.kind;
  if (kind === 'state' || kind === 'snapshot' || kind === 'status') { loadSong(); emit(); }
}

let wasListening = false;
function onSharedStatus() {
  const now = sharedListening();
  if (now && !wasListening) pausePersonalHere();
  wasListening = now;
  applyRole();
  loadSong();
  emit();
}

function sharedListening() {
  return Boolean(shared && shared.player.enabled);
}

// Listening in a shared room: the personal room stops if this device was
// the only one playing it (else it plays on where it does).
function pausePersonalHere() {
  const st = personal?.conn.state;
  if (!st?.playing) return;
  const me = thisDevice().id;
  const speaker = st.speaker || '';
  const others = myDevices().list.filter((d) => d.id !== me);
  if (speaker === me || (speaker === '' && others.length === 0)) {
    personal.command({ type: 'pause' }).catch(() => {});
  }
}

// ---- which device plays -----------------------------------------------------------

// This user's open devices on the personal room, from the state's
// listeners; `known` is false while the server does not list them.
export function myDevices() {
  const me = api.user?.id;
  const entry = (personal?.conn.listeners || []).find((l) => l.user_id === me);
  if (!entry || !Array.isArray(entry.devices)) return { known: false, list: [] };
  return { known: true, list: entry.devices.map((d) => ({ id: String(d.id), name: String(d.name || '') })) };
}

function rememberDevices() {
  for (const d of myDevices().list) if (d.name) deviceNames.set(d.id, d.name);
}

// {id, name, here, connected, known}: the device the personal room plays
// on ('' = every device), and whether the server lists it as open.
export function speaker() {
  const st = personal?.conn.state;
  const id = st?.speaker || '';
  const me = thisDevice();
  const { known, list } = myDevices();
  if (id === '') return { id, name: 'Every device', here: true, connected: true, known, supported: typeof st?.speaker === 'string' };
  const open = list.find((d) => d.id === id);
  const name = id === me.id ? me.name : open?.name || deviceNames.get(id) || 'another device';
  return { id, name, here: id === me.id, connected: id === me.id || Boolean(open) || !known, known, supported: true };
}

// The devices "Play on" offers: this one first, then the user's others.
export function playOnChoices() {
  const me = thisDevice();
  const out = [{ id: me.id, name: me.name, here: true }];
  for (const d of myDevices().list) if (d.id !== me.id && !out.some((o) => o.id === d.id)) out.push({ id: d.id, name: d.name || 'Unnamed device', here: false });
  const sp = speaker();
  if (sp.id && !out.some((o) => o.id === sp.id)) out.push({ id: sp.id, name: `${sp.name} (not connected)`, here: false });
  return out;
}

// Whether the personal room sounds on this device now.
function soundsHere() {
  const st = personal?.conn.state;
  if (!st || sharedListening()) return false;
  const id = st.speaker || '';
  return id === '' || id === thisDevice().id;
}

// Starts, silences or unsilences this device's personal player. The audio
// output is made when there is something to hear here, or at the first tap
// or key press on the page once there is a queue (so that this device can
// become the speaker later without another tap).
let gestured = false;
function applyRole() {
  const p = personal;
  if (!p) return;
  const st = p.conn.state;
  const sound = soundsHere();
  if (!p.player.enabled && ((sound && st?.playing) || (gestured && st?.queue?.length))) {
    p.player.enable().catch(() => {});
  }
  if (p.player.enabled) p.player.setSilent(!sound);
}

function onGesture() {
  gestured = true;
  for (const s of [personal, shared]) {
    const ctx = s?.player.ctx;
    if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
  }
  applyRole();
}
document.addEventListener('pointerdown', onGesture, { capture: true });
document.addEventListener('keydown', onGesture, { capture: true });

// True when this device should sound but its browser holds the audio back
// until the page is tapped (autoplay rules after a reload).
export function needsTap() {
  const s = active();
  const ctx = s?.player.enabled ? s.player.ctx : null;
  return Boolean(ctx && ctx.state === 'suspended' && !s.player.silent && s.conn.state?.playing);
}

// Chooses the device that plays ('' = every device).
export async function setSpeaker(deviceId) {
  const p = await ensurePersonal();
  return p.command({ type: 'speaker', device: deviceId });
}

// Before "play": when the chosen speaker is known to be gone, play here.
async function claimSpeakerIfGone(p) {
  const sp = speaker();
  if (!sp.id || sp.here || sp.connected) return;
  try { await p.command({ type: 'speaker', device: thisDevice().id }); } catch { /* play anyway */ }
}

// ---- commands ---------------------------------------------------------------------

// The session the bar and the media keys control.
function active() {
  return sharedListening() ? shared : personal;
}

// Playing for yourself ends listening in a shared room on this device.
async function takeOver() {
  if (sharedListening()) shared.stop();
  const p = await ensurePersonal();
  return p;
}

function shuffled(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// The songs of a command: no empty ids, MAX_SONGS at most.
const songList = (songIds) => (songIds || []).filter(Boolean).slice(0, MAX_SONGS);

// Replaces the personal queue with these songs and plays: from
// `startIndex`, or, shuffled, from that song (else a random one) with the
// rest in random order.
export async function playSongs(songIds, { startIndex = 0, shuffle = false } = {}) {
  let ids = songList(songIds);
  if (!ids.length) return null;
  const p = await takeOver();
  await claimSpeakerIfGone(p);
  let start = Math.min(Math.max(0, startIndex | 0), ids.length - 1);
  if (shuffle) {
    const first = startIndex > 0 ? start : Math.floor(Math.random() * ids.length);
    ids = [ids[first], ...ids.filter((_, i) => i !== first)];
    start = 0;
  }
  let room = await p.command({ type: 'add', song_ids: ids, replace: true, play: true });
  if (start > 0) {
    const item = room?.state?.queue?.[start];
    if (item) room = await p.command({ type: 'select', item_id: item.id, position_ms: 0 });
  }
  if (shuffle && ids.length > 2) room = await p.command({ type: 'shuffle' });
  applyRole();
  return room?.state || null;
}

// Adds the songs to the personal queue `at` 'next' (after the current one)
// or 'end'.
async function addSongs(songIds, at) {
  const ids = songList(songIds);
  if (!ids.length) return null;
  const p = await ensurePersonal();
  const room = await p.command({ type: 'add', song_ids: ids, at });
  applyRole();
  return room?.state || null;
}

// Inserts the songs after the current one.
export function playNext(songIds) {
  return addSongs(songIds, 'next');
}

// Appends the songs to the personal queue.
export function addToQueue(songIds) {
  return addSongs(songIds, 'end');
}

// An album in disc and track order.
export async function playAlbum(albumId, { shuffle = false } = {}) {
  const album = await api.get(`/api/v1/albums/${encodeURIComponent(albumId)}`);
  rememberSongs(album.songs || []);
  return playSongs((album.songs || []).map((s) => s.id), { shuffle });
}

// An artist's songs (album by album, in track order), up to 1000.
export async function playArtist(artistId, { shuffle = false } = {}) {
  const ids = [];
  let cursor = null;
  do {
    const page = await api.get('/api/v1/songs', { artist: artistId, sort: 'artist', limit: 500, cursor });
    rememberSongs(page.items);
    ids.push(...page.items.map((s) => s.id));
    cursor = page.next;
  } while (cursor && ids.length < MAX_SONGS);
  return playSongs(ids, { shuffle });
}

export async function playPlaylist(playlistId, { shuffle = false } = {}) {
  const list = await api.get(`/api/v1/playlists/${encodeURIComponent(playlistId)}`);
  rememberSongs(list.songs || []);
  return playSongs((list.songs || []).map((s) => s.id), { shuffle });
}

// ---- transport (the room shown in the bar) --------------------------------------------

function precondition(st) {
  return { item_id: st?.current ?? null, selection: st?.selection ?? null };
}

export async function play(s = active()) {
  if (!s) return null;
  if (s.personal) await claimSpeakerIfGone(s);
  applyRoleSoon();
  return s.command({ type: 'play' });
}

export async function pause(s = active()) {
  return s ? s.command({ type: 'pause' }) : null;
}

export function togglePlay(s = active()) {
  return s?.conn.state?.playing ? pause(s) : play(s);
}

export async function next(s = active()) {
  return s ? s.command({ type: 'skip', ...precondition(s.conn.state) }) : null;
}

export async function previous(s = active()) {
  return s ? s.command({ type: 'previous', ...precondition(s.conn.state) }) : null;
}

export async function seekTo(positionMs, s = active()) {
  if (!s) return null;
  return s.command({ type: 'seek', position_ms: Math.max(0, Math.round(positionMs)), ...precondition(s.conn.state) });
}

// Seeks by `deltaMs` from where the room is now.
export function seekBy(deltaMs) {
  const pos = positionNow();
  if (pos === null) return null;
  const item = currentPlayback().item;
  return seekTo(Math.min(Math.max(0, pos + deltaMs), Math.max(0, item.duration_ms - 500)));
}

// Commands on the personal queue (the player view).
export async function queueCommand(body) {
  const p = await ensurePersonal();
  return p.command(body);
}

// The pressed "play" is a user gesture: the player may start inside it.
function applyRoleSoon() {
  gestured = true;
  applyRole();
}

// ---- volume -------------------------------------------------------------------------

export function volume() {
  const v = Number(localStorage.getItem(VOLUME_KEY));
  return localStorage.getItem(VOLUME_KEY) !== null && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 1;
}

export function setVolume(v) {
  const value = Math.min(1, Math.max(0, Number(v) || 0));
  localStorage.setItem(VOLUME_KEY, String(value));
  for (const s of [personal, shared]) s?.player.setVolume(value);
  emit();
}

// ---- what plays ---------------------------------------------------------------------

function loadSong() {
  const item = currentPlayback().item;
  if (!item || songs.has(item.song_id)) return;
  const id = item.song_id;
  songs.set(id, null); // loading
  getSong(id).then((song) => { songs.set(id, song); emit(); }).catch(() => songs.delete(id));
  // Keep the map small: the songs of the current items only.
  if (songs.size > 50) for (const key of [...songs.keys()].slice(0, 25)) if (key !== id) songs.delete(key);
}

// What the bar shows: {room: {id, name, personal}, state, item, song,
// status, connection}. `song` is null while its metadata loads.
export function currentPlayback() {
  const s = active();
  if (!s) return { room: null, state: null, item: null, song: null, status: 'off', connection: 'idle' };
  const st = s.conn.state;
  const item = st?.queue?.find((it) => it.id === st.current) || null;
  return {
    room: { id: s.roomId, name: s.personal ? 'Your music' : (s.name || 'a room'), personal: Boolean(s.personal) },
    state: st,
    item,
    song: item ? songs.get(item.song_id) || null : null,
    status: s.player.enabled ? s.player.status : 'off',
    connection: s.conn.status,
  };
}

// The personal room's session (the player view), or null.
export function personalSession() {
  return personal;
}

// The position (ms) of the current item now, or null without one.
export function positionNow(s = active()) {
  const st = s?.conn.state;
  const item = st?.queue?.find((it) => it.id === st.current);
  if (!item) return null;
  return roomPosition(st, s.conn.clock.serverNow(), item.duration_ms);
}

// Read by the browser tests (player.js sets up window.__hifiTest).
if (window.__hifiTest) {
  window.__hifiTest.personalState = () => personal?.conn.state || null;
  window.__hifiTest.playback = () => currentPlayback();
}

// ---- Media Session (lock screen, headset and keyboard media keys) ---------------------

let mediaSongId = null;
function updateMediaSession() {
  if (!('mediaSession' in navigator)) return;
  const ms = navigator.mediaSession;
  const { state, item, song } = currentPlayback();
  if (!item) {
    if (mediaSongId !== null) { ms.metadata = null; mediaSongId = null; }
    ms.playbackState = 'none';
    return;
  }
  if (song && mediaSongId !== song.id) {
    mediaSongId = song.id;
    const meta = { title: song.title, artist: song.artist || '', album: song.album || '' };
    ms.metadata = new MediaMetadata(meta);
    if (song.cover_url) {
      api.cover(song.cover_url).then((url) => {
        if (url && mediaSongId === song.id) ms.metadata = new MediaMetadata({ ...meta, artwork: [{ src: url }] });
      });
    }
  }
  ms.playbackState = state.playing ? 'playing' : 'paused';
  const duration = item.duration_ms / 1000;
  const position = Math.min(positionNow() / 1000, duration);
  if (duration > 0 && ms.setPositionState) {
    try { ms.setPositionState({ duration, playbackRate: 1, position }); } catch { /* a bad value: skip */ }
  }
}

function setupMediaSession() {
  if (!('mediaSession' in navigator)) return;
  const handlers = {
    play: () => play(),
    pause: () => pause(),
    stop: () => pause(),
    nexttrack: () => next(),
    previoustrack: () => previous(),
    seekto: (d) => seekTo(d.seekTime * 1000),
    seekbackward: (d) => seekBy(-(d.seekOffset || 10) * 1000),
    seekforward: (d) => seekBy((d.seekOffset || 10) * 1000),
  };
  for (const [action, fn] of Object.entries(handlers)) {
    try { navigator.mediaSession.setActionHandler(action, (details) => { fn(details)?.catch?.(() => {}); }); } catch { /* not supported here */ }
  }
  playbackEvents.addEventListener('change', updateMediaSession);
}
setupMediaSession();
