// Playing for yourself: the caller's personal room (GET /api/v1/me/room) and
// the functions the views call. (A small version: the full one adds the
// now-playing bar, devices and the rest.)

import { api } from './api.js';

export const playbackEvents = new EventTarget();

async function personalRoom() {
  return api.get('/api/v1/me/room');
}

async function command(roomId, body) {
  const room = await api.post(`/api/v1/rooms/${encodeURIComponent(roomId)}/commands`, body);
  playbackEvents.dispatchEvent(new CustomEvent('change'));
  return room;
}

function shuffled(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// Replaces the personal queue with these songs and plays (from startIndex).
export async function playSongs(songIds, { startIndex = 0, shuffle = false } = {}) {
  if (!songIds.length) return null;
  const room = await personalRoom();
  const ids = shuffle ? shuffled(songIds) : songIds.slice(Math.max(0, Math.min(startIndex, songIds.length - 1)));
  return command(room.id, { type: 'add', song_ids: ids, replace: true, play: true });
}

export async function playNext(songIds) {
  const room = await personalRoom();
  return command(room.id, { type: 'add', song_ids: songIds, at: 'next' });
}

export async function addToQueue(songIds) {
  const room = await personalRoom();
  return command(room.id, { type: 'add', song_ids: songIds });
}

export async function playPlaylist(playlistId, { shuffle = false } = {}) {
  const pl = await api.get(`/api/v1/playlists/${encodeURIComponent(playlistId)}`);
  return playSongs(pl.songs.map((s) => s.id), { shuffle });
}

export function currentPlayback() {
  return { room: null, state: null, song: null };
}
