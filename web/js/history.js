// History: what you played, newest first, by day: when, and where (the
// room, or the app or device that reported the play).

import { api, describeError } from './api.js';
import { h } from './dom.js';
import { onSongChanges } from './song_edit.js';
import {
  songItem, keepSongs, statusLine, dayLabel, formatTime, formatDateTime,
} from './browse.js';

const PAGE = 100;

export function renderHistory(main) {
  const status = statusLine('Loading your history…');
  const days = h('div', { class: 'history-days' });
  const more = h('button', { type: 'button', class: 'button', hidden: true }, 'Show earlier plays');
  const section = h('section', { class: 'history-view', 'aria-labelledby': 'history-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'history-h' }, 'History')),
    status, days, more);
  main.append(section);
  let alive = true;
  let cursor = null;
  let count = 0;
  let lastDay = null;
  let lastList = null;
  const roomNames = new Map();

  async function roomName(id) {
    if (!roomNames.has(id)) {
      roomNames.set(id, api.get(`/api/v1/rooms/${encodeURIComponent(id)}`)
        .then((r) => (r.private ? 'your own player' : r.name)).catch(() => 'a room'));
    }
    return roomNames.get(id);
  }

  async function load(fresh) {
    more.disabled = true;
    try {
      if (fresh) { cursor = null; count = 0; lastDay = null; lastList = null; }
      const page = await api.get('/api/v1/me/history', { limit: PAGE, cursor });
      const rooms = await Promise.all(page.items.map((p) => (p.room_id ? roomName(p.room_id) : null)));
      if (!alive) return;
      if (fresh) days.replaceChildren();
      keepSongs(page.items.map((p) => p.song));
      for (const [i, play] of page.items.entries()) {
        const day = dayLabel(play.played_at);
        if (day !== lastDay) {
          lastDay = day;
          const headId = `day-${count + i}`;
          lastList = h('ol', { class: 'song-list plays', 'aria-labelledby': headId });
          days.append(h('section', { class: 'history-day' }, h('h2', { id: headId }, day), lastList));
        }
        const song = play.song || { id: play.song_id, title: 'Song no longer in the library', artist: '', album: '', duration_ms: 0, cover_url: null, missing: true };
        // Plays heard in a room are reported by the server as client "HiFi room": the room says it.
        const client = play.client && !(play.room_id && play.client === 'HiFi room') ? play.client : null;
        const where = [rooms[i] ? `in ${rooms[i]}` : null, client ? `on ${client}` : null].filter(Boolean).join(' · ');
        const meta = h('span', { class: 'play-when' },
          h('time', { datetime: new Date(play.played_at).toISOString(), title: formatDateTime(play.played_at) }, formatTime(play.played_at)),
          where ? h('span', { class: 'play-where' }, ` · ${where}`) : null);
        lastList.append(songItem(song, {
          list: [song], context: 'history', meta,
        }));
      }
      count += page.items.length;
      cursor = page.next;
      more.hidden = !cursor;
      status.textContent = count ? `${count}${cursor ? '+' : ''} play${count === 1 ? '' : 's'}` : 'Nothing played yet.';
    } catch (err) {
      if (alive) status.textContent = `Could not load your history: ${describeError(err)}`;
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener('click', () => load(false));
  const reload = () => load(true);
  const stopFollowing = onSongChanges(reload);
  load(true);
  return () => {
    alive = false;
    stopFollowing();
  };
}
