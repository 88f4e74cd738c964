// What can be done with a song, wherever one is shown: the per-song action
// menu (play now, play next, add to queue, add to a playlist or a room, star,
// rate, download, edit tags, delete), the star (favourite) toggle and the
// 1-5 rating control for songs, albums and artists.
//
// The menu is a menu button (aria-haspopup="menu"): Enter, Space or the
// arrow keys open it, the arrow keys, Home and End move between items,
// Escape or Tab close it and focus goes back to the button.

import { api, describeError } from './api.js';
import { h, uid, announce, icon } from './dom.js';
import { playSongs, playNext, addToQueue } from './playback.js';
import { addToPlaylistDialog } from './playlists.js';
import { activeRoom } from './room.js';
import { download } from './library.js';
import { openDialog, canModify, editSongDialog, deleteSongDialog } from './song_edit.js';

const KIND_PATHS = { song: 'songs', album: 'albums', artist: 'artists' };

// ---- stars and ratings ------------------------------------------------------

// Marks changed here ('mark' events, detail {kind, id, starred, rating}) so
// other views of the same item can follow. Star buttons and ratings on the
// page showing the same item follow at once (found by their data attributes:
// no listener per control, so rows of a long list can come and go).
export const markEvents = new EventTarget();
const followers = new WeakMap(); // control element -> (detail) => void
markEvents.addEventListener('mark', (e) => {
  const { kind, id } = e.detail;
  const sel = `[data-mark-kind="${kind}"][data-mark-id="${CSS.escape(id)}"]`;
  for (const el of document.querySelectorAll(sel)) followers.get(el)?.(e.detail);
});

// Writes of one mark (the star or the rating of one item) go one at a
// time, in the order they were asked for, and a write that a newer one has
// replaced before it started is skipped: quick changes (arrow keys on a
// rating) end with the last one on the server, not whichever request
// finished last. The others follow only the final value.
const markWrites = new Map(); // "kind/id/field" -> {chain, latest}

function writeMark(kind, id, field, value, write) {
  const key = `${kind}/${id}/${field}`;
  const entry = markWrites.get(key) || { chain: Promise.resolve(), latest: undefined };
  entry.latest = value;
  markWrites.set(key, entry);
  const run = entry.chain.catch(() => {}).then(async () => {
    if (entry.latest !== value) return;  // replaced before it started
    await write();
    if (entry.latest === value) {
      markEvents.dispatchEvent(new CustomEvent('mark', { detail: { kind, id, [field]: value } }));
    }
  });
  entry.chain = run;
  run.finally(() => { if (markWrites.get(key) === entry && entry.chain === run) markWrites.delete(key); });
  return run;
}

export async function setStar(kind, id, on) {
  const path = `/api/v1/${KIND_PATHS[kind]}/${encodeURIComponent(id)}/star`;
  const starred = on ? Date.now() : null;
  await writeMark(kind, id, 'starred', starred, () => api.request(on ? 'PUT' : 'DELETE', path));
  return starred;
}

export async function setRating(kind, id, rating) {
  await writeMark(kind, id, 'rating', rating,
    () => api.request('PUT', `/api/v1/${KIND_PATHS[kind]}/${encodeURIComponent(id)}/rating`, { json: { rating } }));
  return rating;
}

// A toggle button (aria-pressed) that stars or unstars a song, album or
// artist. `item` (optional) is the object shown, whose `starred` is kept up to date.
export function starButton(kind, id, starred, { name = '', item = null, small = false } = {}) {
  let on = Boolean(starred);
  const btn = h('button', {
    type: 'button', class: `icon-button star-button${small ? ' small' : ''}`,
    'aria-label': name ? `Favourite ${name}` : 'Favourite', title: 'Favourite',
  });
  const paint = () => {
    btn.setAttribute('aria-pressed', String(on));
    btn.classList.toggle('on', on);
    btn.replaceChildren(icon(on ? 'star' : 'starOutline', small ? 18 : 20));
  };
  paint();
  btn.addEventListener('click', async () => {
    const want = !on;
    on = want;
    paint();
    try {
      const at = await setStar(kind, id, want);
      if (item) item.starred = at;
      announce(want ? `${name || 'It'} is a favourite` : `${name || 'It'} is no longer a favourite`);
    } catch (err) {
      on = !want;
      paint();
      announce(`Could not change the favourite: ${describeError(err)}`);
    }
  });
  btn.dataset.markKind = kind;
  btn.dataset.markId = id;
  followers.set(btn, (d) => {
    if ('starred' in d && Boolean(d.starred) !== on) { on = Boolean(d.starred); paint(); }
  });
  return btn;
}

// 1-5 stars as a radio group (one tab stop; arrows change the rating;
// choosing the current rating again, or 0 / Delete, clears it).
export function ratingControl(kind, id, rating, { name = '', item = null, small = false } = {}) {
  let value = Number(rating) || 0;
  const group = h('div', {
    class: `rating${small ? ' small' : ''}`, role: 'radiogroup',
    'aria-label': name ? `Rating of ${name}` : 'Rating',
  });
  const stars = [1, 2, 3, 4, 5].map((n) => h('button', {
    type: 'button', role: 'radio', class: 'rating-star', dataset: { value: String(n) },
    'aria-label': `${n} star${n === 1 ? '' : 's'}`, title: `${n} star${n === 1 ? '' : 's'}`,
  }));
  group.append(...stars);
  const paint = () => {
    for (const [i, star] of stars.entries()) {
      const n = i + 1;
      star.setAttribute('aria-checked', String(n === value));
      star.tabIndex = (value ? n === value : n === 1) ? 0 : -1;
      star.classList.toggle('filled', n <= value);
      star.replaceChildren(icon(n <= value ? 'star' : 'starOutline', small ? 16 : 18));
    }
  };
  paint();
  let seq = 0;
  async function choose(n, focus = false) {
    const before = value;
    value = n;
    paint();
    if (focus) stars[Math.max(0, n - 1)].focus();
    const mine = ++seq;
    try {
      await setRating(kind, id, n);
      if (item) item.rating = n;
      announce(n ? `Rated ${n} star${n === 1 ? '' : 's'}` : 'Rating removed');
    } catch (err) {
      if (mine === seq) { value = before; paint(); }
      announce(`Could not rate: ${describeError(err)}`);
    }
  }
  group.addEventListener('click', (e) => {
    const star = e.target.closest('.rating-star');
    if (!star) return;
    const n = Number(star.dataset.value);
    choose(n === value ? 0 : n);
  });
  group.addEventListener('keydown', (e) => {
    let n = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowUp') n = Math.min(5, value + 1);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowDown') n = Math.max(0, value - 1);
    else if (e.key === 'Home') n = 1;
    else if (e.key === 'End') n = 5;
    else if (e.key === 'Delete' || e.key === 'Backspace' || e.key === '0') n = 0;
    else if (/^[1-5]$/.test(e.key)) n = Number(e.key);
    if (n === null) return;
    e.preventDefault();
    if (n !== value) choose(n, true);
  });
  group.dataset.markKind = kind;
  group.dataset.markId = id;
  followers.set(group, (d) => {
    if ('rating' in d && d.rating !== value) { value = d.rating; paint(); }
  });
  return group;
}

// ---- the menu ---------------------------------------------------------------

let openMenu = null; // {menu, button, close}

function closeOpenMenu(focusButton) {
  if (openMenu) openMenu.close(focusButton);
}

// A menu button; `items()` is called each time it opens and returns
// [{label, action, danger}] (null entries are skipped).
export function menuButton({ label, items, className = '' }) {
  const btn = h('button', {
    type: 'button', class: `icon-button menu-button ${className}`.trim(), id: uid('menu-btn'),
    'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': label, title: 'More actions',
  }, icon('more'));
  btn.addEventListener('click', () => {
    if (openMenu?.button === btn) closeOpenMenu(true);
    else showMenu(btn, items().filter(Boolean), 'first');
  });
  btn.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      showMenu(btn, items().filter(Boolean), e.key === 'ArrowUp' ? 'last' : 'first');
    }
  });
  return btn;
}

function showMenu(button, entries, focusWhich) {
  closeOpenMenu(false);
  const menuId = uid('menu');
  const menu = h('div', { class: 'action-menu', role: 'menu', id: menuId, 'aria-labelledby': button.id, tabindex: '-1' });
  const itemEls = entries.map((entry) => {
    const el = h('button', {
      type: 'button', role: 'menuitem', tabindex: '-1',
      class: `menu-item${entry.danger ? ' danger' : ''}`,
    }, entry.label);
    el.addEventListener('click', () => {
      close(true);
      Promise.resolve().then(entry.action).catch((err) => announce(`${entry.label}: ${describeError(err)}`));
    });
    return el;
  });
  menu.append(...itemEls);
  document.body.append(menu);
  button.setAttribute('aria-expanded', 'true');
  button.setAttribute('aria-controls', menuId);
  place(menu, button);

  const focusAt = (i) => {
    const n = itemEls.length;
    if (!n) return;
    itemEls[((i % n) + n) % n].focus();
  };
  const current = () => itemEls.indexOf(document.activeElement);
  menu.addEventListener('keydown', (e) => {
    switch (e.key) {
      case 'ArrowDown': e.preventDefault(); focusAt(current() + 1); break;
      case 'ArrowUp': e.preventDefault(); focusAt(current() - 1); break;
      case 'Home': case 'PageUp': e.preventDefault(); focusAt(0); break;
      case 'End': case 'PageDown': e.preventDefault(); focusAt(itemEls.length - 1); break;
      case 'Escape': e.preventDefault(); e.stopPropagation(); close(true); break;
      case 'Tab': e.preventDefault(); close(true); break;
      default:
        // Type-ahead: the first letter moves to the next item starting with it.
        if (e.key.length === 1 && /\S/.test(e.key)) {
          const k = e.key.toLowerCase();
          const start = current();
          for (let j = 1; j <= itemEls.length; j++) {
            const el = itemEls[(start + j) % itemEls.length];
            if (el.textContent.trim().toLowerCase().startsWith(k)) { el.focus(); break; }
          }
        }
    }
  });
  const onPointer = (e) => {
    if (!menu.contains(e.target) && !button.contains(e.target)) close(false);
  };
  const onScroll = (e) => { if (!menu.contains(e.target)) close(false); };
  const onResize = () => close(false);
  document.addEventListener('pointerdown', onPointer, true);
  window.addEventListener('scroll', onScroll, true);
  window.addEventListener('resize', onResize);
  window.addEventListener('hashchange', onResize);

  function close(focusButton) {
    if (openMenu?.menu !== menu) return;
    openMenu = null;
    document.removeEventListener('pointerdown', onPointer, true);
    window.removeEventListener('scroll', onScroll, true);
    window.removeEventListener('resize', onResize);
    window.removeEventListener('hashchange', onResize);
    const hadFocus = menu.contains(document.activeElement);
    menu.remove();
    button.setAttribute('aria-expanded', 'false');
    button.removeAttribute('aria-controls');
    if (focusButton || hadFocus) {
      if (button.isConnected) button.focus();
      else document.getElementById('main')?.focus({ preventScroll: true });
    }
  }
  openMenu = { menu, button, close };
  focusAt(focusWhich === 'last' ? itemEls.length - 1 : 0);
}

// Next to the button, below it (or above when there is no room), inside the window.
function place(menu, button) {
  const r = button.getBoundingClientRect();
  const mw = menu.offsetWidth;
  const mh = menu.offsetHeight;
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  let left = Math.min(Math.max(8, r.right - mw), vw - mw - 8);
  let top = r.bottom + 4;
  if (top + mh > vh - 8 && r.top - mh - 4 >= 8) top = r.top - mh - 4;
  top = Math.max(8, Math.min(top, vh - mh - 8));
  left = Math.max(8, left);
  menu.style.left = `${Math.round(left)}px`;
  menu.style.top = `${Math.round(top)}px`;
}

// The per-song action menu. `context` names the view (for callers that
// want a different set later); `onChange(song)` / `onDelete(song)` are
// called after an edit or a deletion.
export function songActionsMenu(song, { context = '', onChange, onDelete } = {}) {
  const ids = [song.id];
  return menuButton({
    label: `More actions for ${song.title}`,
    className: `song-menu ${context ? `in-${context}` : ''}`.trim(),
    items: () => {
      const room = activeRoom();
      const starred = Boolean(song.starred);
      return [
        { label: 'Play now', action: () => done(playSongs(ids), `Playing ${song.title}`) },
        { label: 'Play next', action: () => done(playNext(ids), `${song.title} plays next`) },
        { label: 'Add to queue', action: () => done(addToQueue(ids), `Added ${song.title} to the queue`) },
        { label: 'Add to playlist…', action: () => addToPlaylistDialog(ids) },
        room
          ? { label: `Add to room ${room.name}`, action: () => done(room.command({ type: 'add', song_ids: ids }), `Added ${song.title} to ${room.name}`) }
          : { label: 'Add to a room…', action: () => addToRoomDialog(ids, song.title) },
        {
          label: starred ? 'Remove from favourites' : 'Add to favourites',
          action: async () => {
            song.starred = await setStar('song', song.id, !starred);
            announce(starred ? `${song.title} is no longer a favourite` : `${song.title} is a favourite`);
          },
        },
        { label: 'Rate…', action: () => rateDialog('song', song) },
        { label: 'Download', action: () => download(song) },
        canModify(song) ? {
          label: 'Edit tags…',
          action: async () => { const s = await editSongDialog(song); if (s) onChange?.(s); },
        } : null,
        canModify(song) ? {
          label: 'Delete…', danger: true,
          action: async () => { if (await deleteSongDialog(song)) onDelete?.(song); },
        } : null,
      ];
    },
  });
}

async function done(promise, message) {
  await promise;
  announce(message);
}

// Rating in a dialog (for narrow screens, where rows have no room for it).
export function rateDialog(kind, item) {
  const name = item.title || item.name || '';
  const close = h('button', { type: 'button', class: 'button' }, 'Done');
  const dlg = openDialog({
    title: `Rate ${name}`,
    body: [ratingControl(kind, item.id, item.rating, { name, item })],
    actions: [close],
    className: 'rate-dialog',
  });
  close.addEventListener('click', () => dlg.close('done'));
  return dlg.closed;
}

// Picks one of the rooms and adds the songs to its queue.
export async function addToRoomDialog(songIds, what = 'the songs') {
  const list = h('ul', { class: 'pick-list', 'aria-label': 'Rooms' }, h('li', { class: 'hint' }, 'Loading rooms…'));
  const message = h('p', { class: 'form-message', role: 'alert' });
  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
  const dlg = openDialog({ title: `Add ${what} to a room`, body: [list, message], actions: [cancel] });
  cancel.addEventListener('click', () => dlg.close('cancel'));
  try {
    const res = await api.get('/api/v1/rooms');
    const rooms = res.items || [];
    if (!rooms.length) {
      list.replaceChildren(h('li', { class: 'hint' }, 'There are no rooms yet. ', h('a', { href: '#/rooms' }, 'Create one')));
    } else {
      list.replaceChildren(...rooms.map((room) => h('li', {},
        h('button', {
          type: 'button', class: 'button subtle pick',
          onclick: async () => {
            try {
              await api.post(`/api/v1/rooms/${encodeURIComponent(room.id)}/commands`, { type: 'add', song_ids: songIds });
              announce(`Added ${what} to ${room.name}`);
              dlg.close('added');
            } catch (err) { message.textContent = `Could not add: ${describeError(err)}`; }
          },
        }, room.name))));
      list.querySelector('button')?.focus();
    }
  } catch (err) {
    message.textContent = `Could not load the rooms: ${describeError(err)}`;
  }
  return dlg.closed;
}
