// The full player (#/player): your own listening. Now playing (cover,
// title, artist and album, seek, previous / play-pause / next, shuffle,
// repeat, volume), where it plays ("Play on", this device's name), and the
// queue: jump to an item, reorder it (drag the handle, or focus it and
// press the arrow keys), remove it, clear the queue.

import { describeError, getSong, ApiError } from './api.js';
import { h, icon, formatDuration, announce, uid } from './dom.js';
import { coverImage } from './cover.js';
import { thisDevice, setDeviceName, DEVICE_NAME_MAX } from './device.js';
import {
  playbackEvents, personalSession, startPlayback, currentPlayback, positionNow, togglePlay, next, previous,
  seekTo, queueCommand, volume, setVolume, speaker,
} from './playback.js';
import { playerIcon, seekSlider, playOnSelect, whereText, linkInto, albumHref, artistHref } from './nowbar.js';
import { showShortcutHelp } from './shortcuts.js';

const SHOWN = 500; // queue rows in the DOM at most

export function renderPlayer(main) {
  let alive = true;
  startPlayback();
  const session = () => personalSession();

  const message = h('p', { class: 'room-message', role: 'alert' });
  const sharedNote = h('p', { class: 'notice', hidden: true });

  // ---- now playing ----
  const coverBox = h('div', { class: 'pl-cover' });
  const titleBox = h('p', { class: 'np-title' }, 'Nothing playing');
  const artistBox = h('p', { class: 'np-sub' });
  const albumBox = h('p', { class: 'np-sub' });
  const seek = seekSlider({ id: uid('pl-seek'), onSeek: (ms) => seekTo(ms, session()) });
  const timeCur = h('span', { class: 'time', 'aria-hidden': 'true' }, '0:00');
  const timeDur = h('span', { class: 'time', 'aria-hidden': 'true' }, '0:00');
  seek.onPreview = (pos) => { timeCur.textContent = formatDuration(pos); };
  const shuffleBtn = h('button', { type: 'button', class: 'icon-button big', 'aria-label': 'Shuffle the queue', title: 'Shuffle the queue' }, playerIcon('shuffle', 24));
  const prevBtn = h('button', { type: 'button', class: 'icon-button big', 'aria-label': 'Previous', title: 'Previous (P)' }, icon('prev', 26));
  const playBtn = h('button', { type: 'button', class: 'icon-button play-button', 'aria-label': 'Play', title: 'Play (Space)' }, icon('play', 32));
  const nextBtn = h('button', { type: 'button', class: 'icon-button big', 'aria-label': 'Next', title: 'Next (N)' }, icon('next', 26));
  const repeatId = uid('pl-repeat');
  const repeat = h('select', { id: repeatId },
    h('option', { value: 'off' }, 'Off'), h('option', { value: 'all' }, 'Queue'), h('option', { value: 'one' }, 'This song'));
  const volId = uid('pl-vol');
  const vol = h('input', { id: volId, type: 'range', min: 0, max: 1, step: 0.05, value: volume(), class: 'volume' });

  // ---- where it plays ----
  const where = h('p', { class: 'pl-where', role: 'status' });
  const playOnId = uid('pl-playon');
  const playOn = playOnSelect(playOnId);
  const playOnField = h('div', { class: 'field' }, h('label', { for: playOnId }, 'Play on'), playOn.el);
  const nameId = uid('pl-device');
  const nameInput = h('input', { id: nameId, type: 'text', maxlength: DEVICE_NAME_MAX, autocomplete: 'off', value: thisDevice().name });
  const nameForm = h('form', { class: 'inline-form device-name' },
    h('div', { class: 'field grow' }, h('label', { for: nameId }, 'This device’s name'), nameInput),
    h('button', { type: 'submit', class: 'button' }, 'Rename'));

  const nowCard = h('section', { class: 'card pl-now', 'aria-labelledby': 'pl-now-h' },
    h('h2', { id: 'pl-now-h', class: 'visually-hidden' }, 'Now playing'),
    coverBox,
    h('div', { class: 'np-meta' }, titleBox, artistBox, albumBox),
    h('div', { class: 'progress' }, timeCur, seek.el, timeDur),
    h('div', { class: 'transport' }, shuffleBtn, prevBtn, playBtn, nextBtn),
    h('div', { class: 'np-options' },
      h('div', { class: 'field inline' }, h('label', { for: repeatId }, 'Repeat'), repeat),
      h('div', { class: 'field inline' }, h('label', { for: volId }, 'Volume'), vol)));

  const devicesCard = h('section', { class: 'card pl-devices', 'aria-labelledby': 'pl-dev-h' },
    h('h2', { id: 'pl-dev-h' }, 'Devices'), where, playOnField, nameForm,
    h('p', { class: 'hint' }, 'Your music follows you: open HiFi on another device to control it from there, or to play it there.'));

  // ---- the queue ----
  const queueCount = h('span', { class: 'count' });
  const queueList = h('ol', { class: 'queue-list', 'aria-labelledby': 'pl-queue-h', 'aria-describedby': 'pl-queue-help' });
  const queueEmpty = h('p', { class: 'empty' }, 'Your queue is empty. ', h('a', { href: '#/library/songs' }, 'Find something to play in the library.'));
  const clearBtn = h('button', { type: 'button', class: 'button subtle small' }, 'Clear queue');
  const queueCard = h('section', { class: 'card pl-queue', 'aria-labelledby': 'pl-queue-h' },
    h('div', { class: 'card-head' }, h('h2', { id: 'pl-queue-h' }, 'Queue ', queueCount), clearBtn),
    h('p', { id: 'pl-queue-help', class: 'hint' }, 'Drag a handle to reorder, or focus it and press the up and down arrow keys. Choose a song to play it.'),
    queueEmpty, queueList);

  const keysBtn = h('button', { type: 'button', class: 'button subtle small', onclick: () => showShortcutHelp() },
    playerIcon('keyboard', 18), 'Keyboard shortcuts');
  main.append(h('section', { class: 'player-view', 'aria-labelledby': 'player-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'player-h' }, 'Player'), keysBtn),
    message, sharedNote,
    h('div', { class: 'room-grid' },
      h('div', { class: 'room-col' }, nowCard, devicesCard),
      h('div', { class: 'room-col' }, queueCard))));

  // ---- commands ----
  async function command(fn, what) {
    message.textContent = '';
    try {
      return await fn();
    } catch (err) {
      message.textContent = err instanceof ApiError && err.status === 409
        ? `${what}: the queue changed first. ${err.detail || ''}`.trim()
        : `${what} failed: ${describeError(err)}`;
      announce(message.textContent);
      return null;
    }
  }
  const st = () => session()?.conn.state || null;
  const pre = () => ({ item_id: st()?.current ?? null, selection: st()?.selection ?? null });

  playBtn.addEventListener('click', () => command(() => togglePlay(session()), 'Play'));
  nextBtn.addEventListener('click', () => command(() => next(session()), 'Next'));
  prevBtn.addEventListener('click', () => command(() => previous(session()), 'Previous'));
  shuffleBtn.addEventListener('click', async () => {
    if (await command(() => queueCommand({ type: 'shuffle' }), 'Shuffle')) announce('Queue shuffled');
  });
  repeat.addEventListener('change', () => command(() => queueCommand({ type: 'repeat', mode: repeat.value }), 'Repeat'));
  clearBtn.addEventListener('click', () => command(() => queueCommand({ type: 'clear' }), 'Clear'));
  vol.addEventListener('input', () => setVolume(Number(vol.value)));
  nameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = setDeviceName(nameInput.value);
    nameInput.value = name;
    // Reconnect, so the server lists the new name.
    session()?.conn.connectNow();
    announce(`This device is now called ${name}`);
  });

  // ---- rendering ----
  let songKey = null;
  function renderNow() {
    const s = session();
    const state = st();
    const item = state?.queue?.find((it) => it.id === state.current) || null;
    const playing = Boolean(state?.playing);
    const label = playing ? 'Pause' : 'Play';
    if (playBtn.getAttribute('aria-label') !== label) {
      playBtn.setAttribute('aria-label', label);
      playBtn.title = `${label} (Space)`;
      playBtn.replaceChildren(icon(playing ? 'pause' : 'play', 32));
    }
    const hasQueue = Boolean(state?.queue?.length);
    playBtn.disabled = !hasQueue;
    prevBtn.disabled = !hasQueue;
    nextBtn.disabled = !item;
    shuffleBtn.disabled = !hasQueue;
    if (state && repeat.value !== state.repeat && document.activeElement !== repeat) repeat.value = state.repeat;
    repeat.disabled = !s;
    if (document.activeElement !== vol) vol.value = String(volume());

    const cp = currentPlayback();
    sharedNote.hidden = cp.room?.personal !== false;
    if (!sharedNote.hidden) {
      sharedNote.replaceChildren(`You are listening in ${cp.room.name} on this device. `,
        h('a', { href: `#/rooms/${cp.room.id}` }, `Open ${cp.room.name}`));
    }
    where.textContent = s ? whereText({ room: { personal: true }, connection: s.conn.status }) : 'Nothing plays yet.';
    playOnField.hidden = !s || !speaker().supported;
    playOn.update();

    const key = item ? item.song_id : '';
    if (key !== songKey) {
      songKey = key;
      if (!item) {
        titleBox.textContent = hasQueue ? 'Stopped' : 'Nothing playing';
        artistBox.replaceChildren();
        albumBox.replaceChildren();
        coverBox.replaceChildren(coverImage(null, '', 240));
      } else {
        titleBox.textContent = 'Loading…';
        getSong(item.song_id).then((song) => {
          if (!alive || songKey !== item.song_id) return;
          titleBox.textContent = song.title;
          linkInto(artistBox, song.artist || 'Unknown artist', song.artist ? artistHref(song) : Promise.resolve(null), 'pl-artist');
          if (song.album) linkInto(albumBox, song.album, albumHref(song), 'pl-album');
          else albumBox.replaceChildren();
          coverBox.replaceChildren(coverImage(song.cover_url, `Cover of ${song.title}`, 240));
        }).catch(() => { titleBox.textContent = 'Unknown song'; });
      }
    }
    renderProgress();
  }

  function renderProgress() {
    const state = st();
    const item = state?.queue?.find((it) => it.id === state.current);
    const duration = item?.duration_ms || 0;
    const pos = session() ? positionNow(session()) ?? 0 : 0;
    if (seek.show(pos, duration)) timeCur.textContent = formatDuration(pos);
    timeDur.textContent = formatDuration(duration);
  }

  // Rows keyed by item id, so that focus and drag state survive updates.
  const rows = new Map();
  function renderQueue() {
    const state = st();
    const queue = state?.queue || [];
    queueCount.textContent = `(${queue.length})`;
    queueEmpty.hidden = queue.length > 0;
    clearBtn.disabled = queue.length === 0;
    const focused = document.activeElement;
    const shown = queue.slice(0, SHOWN);
    const seen = new Set();
    shown.forEach((item, index) => {
      seen.add(item.id);
      let row = rows.get(item.id);
      if (!row) { row = queueRow(item); rows.set(item.id, row); }
      row.update(index, queue.length, item.id === state.current, state.playing);
      if (queueList.children[index] !== row.el) queueList.insertBefore(row.el, queueList.children[index] || null);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.el.remove(); rows.delete(id); }
    queueList.querySelector('.more')?.remove();
    if (queue.length > shown.length) queueList.append(h('li', { class: 'more' }, `…and ${queue.length - shown.length} more`));
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
  }

  function queueRow(item) {
    const titleEl = h('span', { class: 'row-title' }, 'Loading…');
    const subEl = h('span', { class: 'row-sub' });
    const badge = h('span', { class: 'badge', hidden: true }, 'Now playing');
    const handle = h('button', { type: 'button', class: 'drag-handle icon-button', 'aria-describedby': 'pl-queue-help' }, icon('drag'));
    // Named "Play <title> <artist>": the visible text, after the action.
    const jump = h('button', { type: 'button', class: 'q-jump row-main' }, h('span', { class: 'visually-hidden' }, 'Play '), titleEl, subEl);
    const removeBtn = h('button', { type: 'button', class: 'icon-button' }, icon('remove'));
    const cover = h('div', { class: 'qcover' });
    const el = h('li', { class: 'queue-item', dataset: { id: item.id } }, handle, cover, jump, badge,
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

    jump.addEventListener('click', () => command(async () => {
      const room = await queueCommand({ type: 'select', item_id: item.id, position_ms: 0 });
      if (!room?.state?.playing) await togglePlay(session());
      return room;
    }, 'Play'));
    removeBtn.addEventListener('click', () => {
      // Focus would be lost with the row: move it to a neighbour.
      const neighbour = el.nextElementSibling || el.previousElementSibling;
      neighbour?.querySelector('.drag-handle')?.focus();
      command(() => queueCommand({ type: 'remove', item_id: item.id }), 'Remove');
    });
    handle.addEventListener('keydown', (e) => {
      let to = null;
      if (e.key === 'ArrowUp' && position > 0) to = position - 1;
      else if (e.key === 'ArrowDown' && position < total - 1) to = position + 1;
      else if (e.key === 'Home') to = 0;
      else if (e.key === 'End') to = total - 1;
      if (to === null || to === position) return;
      e.preventDefault();
      moveItem(item.id, to);
      handle.focus();
      announce(`${name} moved to position ${to + 1} of ${total}`);
    });
    handle.addEventListener('pointerdown', (e) => startDrag(e, el, item.id));
    return {
      el,
      update(index, count, isCurrent, playing) {
        position = index;
        total = count;
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
      const others = [...queueList.children].filter((c) => c !== row.el);
      queueList.insertBefore(row.el, others[to] || null);
    }
    command(() => queueCommand({ type: 'move', item_id: itemId, to }), 'Move').then(renderQueue);
  }

  function startDrag(e, el, itemId) {
    if (e.button !== 0) return;
    e.preventDefault();
    const handle = e.currentTarget;
    const items = [...queueList.querySelectorAll('.queue-item')];
    const from = items.indexOf(el);
    if (from < 0) return;
    const rects = items.map((it) => it.getBoundingClientRect());
    const startY = e.clientY;
    const height = rects[from].height + 6;
    let to = from;
    handle.setPointerCapture?.(e.pointerId);
    el.classList.add('dragging');
    queueList.classList.add('sorting');
    const onMove = (ev) => {
      const dy = ev.clientY - startY;
      el.style.transform = `translateY(${dy}px)`;
      const center = rects[from].top + rects[from].height / 2 + dy;
      to = 0;
      for (let i = 0; i < items.length; i++) if (i !== from && center > rects[i].top + rects[i].height / 2) to++;
      items.forEach((it, i) => {
        if (i === from) return;
        let shift = 0;
        if (from < to && i > from && i <= to) shift = -height;
        else if (from > to && i >= to && i < from) shift = height;
        it.style.transform = shift ? `translateY(${shift}px)` : '';
      });
    };
    const onEnd = (ev) => {
      handle.removeEventListener('pointermove', onMove);
      handle.removeEventListener('pointerup', onEnd);
      handle.removeEventListener('pointercancel', onEnd);
      el.classList.remove('dragging');
      queueList.classList.remove('sorting');
      for (const it of items) it.style.transform = '';
      if (ev.type === 'pointerup' && to !== from) moveItem(itemId, to);
    };
    handle.addEventListener('pointermove', onMove);
    handle.addEventListener('pointerup', onEnd);
    handle.addEventListener('pointercancel', onEnd);
  }

  const render = () => { if (alive) { renderNow(); renderQueue(); } };
  playbackEvents.addEventListener('change', render);
  const timer = setInterval(() => { if (!document.hidden && st()?.playing) renderProgress(); }, 250);
  render();

  return () => {
    alive = false;
    clearInterval(timer);
    playbackEvents.removeEventListener('change', render);
  };
}
