// The rooms: who is listening where and to what, and a form to create one.

import { api, describeError } from './api.js';
import { h, icon, uid, announce } from './dom.js';
import { navigate } from './router.js';

const REFRESH_MS = 5000;

export function renderRooms(main) {
  const nameId = uid('room-name');
  const nameInput = h('input', { id: nameId, type: 'text', maxlength: 100, required: true, autocomplete: 'off', placeholder: 'Friday night' });
  const formMsg = h('p', { class: 'form-message', role: 'alert' });
  const form = h('form', { class: 'create-room', 'aria-labelledby': 'create-h' },
    h('h2', { id: 'create-h' }, 'Create a room'),
    h('div', { class: 'inline-form' },
      h('div', { class: 'field grow' }, h('label', { for: nameId }, 'Room name'), nameInput),
      h('button', { type: 'submit', class: 'button primary' }, 'Create room')),
    formMsg);
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading rooms…');
  const list = h('ul', { class: 'room-list', 'aria-label': 'Rooms' });

  main.append(h('section', { class: 'rooms', 'aria-labelledby': 'rooms-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'rooms-h' }, 'Rooms')),
    form, status, list));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) { formMsg.textContent = 'Give the room a name.'; nameInput.focus(); return; }
    formMsg.textContent = '';
    try {
      const room = await api.post('/api/v1/rooms', { name });
      announce(`Room ${room.name} created`);
      navigate(`/rooms/${room.id}`);
    } catch (err) {
      formMsg.textContent = `Could not create the room: ${describeError(err)}`;
    }
  });

  let alive = true;
  let timer = 0;
  // Listener names are in each room's state; ask for them for rooms with
  // listeners (a bounded number, in parallel).
  const names = new Map();
  async function load() {
    try {
      const res = await api.get('/api/v1/rooms');
      if (!alive) return;
      const rooms = res.items;
      const busy = rooms.filter((r) => r.listener_count > 0).slice(0, 24);
      await Promise.all(busy.map(async (r) => {
        try {
          const full = await api.get(`/api/v1/rooms/${r.id}`);
          names.set(r.id, (full.state?.listeners || []).map((l) => l.username));
        } catch { names.delete(r.id); }
      }));
      if (!alive) return;
      status.textContent = rooms.length ? `${rooms.length} room${rooms.length === 1 ? '' : 's'}` : 'No rooms yet. Create the first one!';
      list.replaceChildren(...rooms.map(roomCard));
    } catch (err) {
      if (alive) status.textContent = `Could not load the rooms: ${describeError(err)}`;
    } finally {
      if (alive) timer = setTimeout(load, REFRESH_MS);
    }
  }

  // "alice, bob, carol and 9,997 more".
  function namesText(list, count) {
    const shown = list.slice(0, 5);
    const more = Math.max(count, list.length) - shown.length;
    return shown.join(', ') + (more > 0 ? ` and ${more.toLocaleString()} more` : '');
  }

  function roomCard(room) {
    const np = room.now_playing;
    const who = room.listener_count === 0 ? 'Nobody listening'
      : `${room.listener_count.toLocaleString()} listening${names.get(room.id)?.length ? `: ${namesText(names.get(room.id), room.listener_count)}` : ''}`;
    const playing = np ? `${np.playing ? 'Playing' : 'Paused'}: ${np.title ? (np.artist ? `${np.title} — ${np.artist}` : np.title) : 'a song no longer in the library'}` : 'Nothing playing';
    return h('li', { class: 'room-card' },
      h('div', { class: 'room-icon', 'aria-hidden': 'true' }, icon(np?.playing ? 'play' : 'headphones', 22)),
      h('div', { class: 'row-main' },
        h('a', { href: `#/rooms/${room.id}`, class: 'row-title room-link' }, room.name),
        h('span', { class: 'row-sub' }, playing),
        h('span', { class: 'row-sub listeners-line' }, who)));
  }

  load();
  return () => { alive = false; clearTimeout(timer); };
}
