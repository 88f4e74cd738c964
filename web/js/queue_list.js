// A room's queue as an editable list, for the full player (your own room)
// and a shared room's view: the songs with their covers and lengths, the
// current one marked; reorder an item (drag its handle, or focus it and
// press the arrow keys, Home or End), remove it, clear the queue.

import { getSong } from './api.js';
import { h, icon, formatDuration, announce } from './dom.js';
import { coverImage } from './cover.js';
import { dragToReorder, reorderKey } from './sortable.js';

const SHOWN = 500; // queue rows in the DOM at most

// `list` is the <ol>; `count`, `empty` and `clearBtn` the item count, the
// note shown when the queue is empty and the "Clear queue" button beside
// it; `helpId` the id of the hint the drag handles point to. `state()` gives
// the room's state, `send(body, what)` sends a queue command (a promise).
// With `play(item)`, an item's title is a button that plays it.
// Returns render(), which brings the list up to date with state().
export function queueEditor({ list, count, empty, clearBtn, helpId, state, send, play = null }) {
  // Rows keyed by item id, so that focus and drag state survive updates.
  const rows = new Map();

  function render() {
    const st = state();
    const queue = st?.queue || [];
    count.textContent = `(${queue.length})`;
    empty.hidden = queue.length > 0;
    clearBtn.disabled = queue.length === 0;
    const focused = document.activeElement;
    const shown = queue.slice(0, SHOWN);
    const seen = new Set();
    shown.forEach((item, index) => {
      seen.add(item.id);
      let row = rows.get(item.id);
      if (!row) { row = queueRow(item); rows.set(item.id, row); }
      row.update(index, queue.length, item.id === st.current, st.playing);
      if (list.children[index] !== row.el) list.insertBefore(row.el, list.children[index] || null);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.el.remove(); rows.delete(id); }
    list.querySelector('.more')?.remove();
    if (queue.length > shown.length) list.append(h('li', { class: 'more' }, `…and ${queue.length - shown.length} more`));
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
  }

  function queueRow(item) {
    const titleEl = h('span', { class: 'row-title' }, 'Loading…');
    const subEl = h('span', { class: 'row-sub' });
    const badge = h('span', { class: 'badge', hidden: true }, 'Now playing');
    const handle = h('button', { type: 'button', class: 'drag-handle icon-button', 'aria-describedby': helpId }, icon('drag'));
    // A button named "Play <title> <artist>" (the visible text, after the
    // action), or just the text.
    const main = play
      ? h('button', { type: 'button', class: 'q-jump row-main', onclick: () => play(item) },
        h('span', { class: 'visually-hidden' }, 'Play '), titleEl, subEl)
      : h('div', { class: 'row-main' }, titleEl, subEl);
    const removeBtn = h('button', { type: 'button', class: 'icon-button' }, icon('remove'));
    const cover = h('div', { class: 'qcover' });
    const el = h('li', { class: 'queue-item', dataset: { id: item.id } }, handle, cover, main, badge,
      h('span', { class: 'row-meta' }, formatDuration(item.duration_ms)), removeBtn);
    let name = 'song';
    let position = 0;
    let total = 0;
    const label = () => {
      handle.setAttribute('aria-label', `Move ${name}, position ${position + 1} of ${total}`);
      removeBtn.setAttribute('aria-label', `Remove ${name} from the queue`);
    };
    label();
    getSong(item.song_id).then((song) => {
      name = song.title;
      titleEl.textContent = song.title;
      subEl.textContent = song.artist || 'Unknown artist';
      cover.replaceChildren(coverImage(song.cover_url, '', 36));
      label();
    }).catch(() => { titleEl.textContent = 'Unknown song'; });

    removeBtn.addEventListener('click', () => {
      // Focus would be lost with the row: move it to a neighbour.
      const neighbour = el.nextElementSibling || el.previousElementSibling;
      neighbour?.querySelector('.drag-handle')?.focus();
      send({ type: 'remove', item_id: item.id }, 'Remove');
    });
    handle.addEventListener('keydown', (e) => {
      const to = reorderKey(e.key, position, total);
      if (to === null) return;
      e.preventDefault();
      moveItem(item.id, to);
      handle.focus();
      announce(`${name} moved to position ${to + 1} of ${total}`);
    });
    handle.addEventListener('pointerdown', (e) => dragToReorder(e, list, el, '.queue-item', (from, to) => moveItem(item.id, to)));
    return {
      el,
      update(index, n, isCurrent, playing) {
        position = index;
        total = n;
        el.classList.toggle('current', isCurrent);
        if (isCurrent) el.setAttribute('aria-current', 'true'); else el.removeAttribute('aria-current');
        badge.hidden = !isCurrent;
        badge.textContent = playing ? 'Now playing' : 'Paused';
        label();
      },
    };
  }

  // Reorders the DOM at once (no flicker), then tells the server; its
  // answer (or the next state) settles the truth.
  function moveItem(itemId, to) {
    const row = rows.get(itemId);
    if (row) {
      const others = [...list.children].filter((c) => c !== row.el);
      list.insertBefore(row.el, others[to] || null);
    }
    send({ type: 'move', item_id: itemId, to }, 'Move').then(render);
  }

  return render;
}
