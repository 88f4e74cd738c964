// STAND-IN for the personal player (the real playback.js replaces this
// file): the functions every view calls to play songs for yourself. They
// send commands to your personal room (GET /api/v1/me/room); on a server
// without personal rooms they fall back to the room open on this page.

import { api, ApiError } from './api.js';
import { activeRoom } from './room.js';

export const playbackEvents = new EventTarget();

let personal = null;
let state = null;

async function target() {
  if (!personal) {
    try {
      personal = await api.get('/api/v1/me/room');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  if (personal) {
    return {
      id: personal.id,
      command: (body) => api.post(`/api/v1/rooms/${encodeURIComponent(personal.id)}/commands`, body),
    };
  }
  const room = activeRoom();
  if (room) return room;
  throw new Error('playing for yourself needs a newer server; open a room to play there');
}

async function command(body) {
  const room = await target();
  const res = await room.command(body);
  state = res?.state || state;
  playbackEvents.dispatchEvent(new CustomEvent('change'));
  return res;
}

function shuffled(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export function playSongs(songIds, { startIndex = 0, shuffle = false } = {}) {
  let ids = songIds.slice(Math.max(0, startIndex));
  if (shuffle) ids = shuffled(songIds);
  if (!ids.length) return Promise.resolve(null);
  return command({ type: 'add', song_ids: ids.slice(0, 1000), replace: true, play: true });
}

export function playNext(songIds) {
  return command({ type: 'add', song_ids: songIds.slice(0, 1000), at: 'next' });
}

export function addToQueue(songIds) {
  return command({ type: 'add', song_ids: songIds.slice(0, 1000) });
}

async function songsOf(query) {
  const ids = [];
  let cursor = null;
  do {
    const page = await api.get('/api/v1/songs', { ...query, limit: 500, cursor });
    ids.push(...page.items.map((s) => s.id));
    cursor = page.next;
  } while (cursor && ids.length < 1000);
  return ids;
}

export async function playAlbum(albumId, { shuffle = false } = {}) {
  const album = await api.get(`/api/v1/albums/${encodeURIComponent(albumId)}`);
  return playSongs(album.songs.map((s) => s.id), { shuffle });
}

export async function playArtist(artistId, { shuffle = false } = {}) {
  return playSongs(await songsOf({ artist: artistId, sort: 'album' }), { shuffle });
}

export async function playPlaylist(playlistId, { shuffle = false } = {}) {
  const list = await api.get(`/api/v1/playlists/${encodeURIComponent(playlistId)}`);
  return playSongs(list.songs.map((s) => s.id), { shuffle });
}

export function currentPlayback() {
  return { room: personal, state, song: null };
}
