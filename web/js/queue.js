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
import { queueEditor } from './queue_list.js';

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

  const renderQueue = queueEditor({
    list: queueList, count: queueCount, empty: queueEmpty, clearBtn, helpId: 'pl-queue-help', state: st,
    send: (body, what) => command(() => queueCommand(body), what),
    play: (item) => command(async () => {
      const room = await queueCommand({ type: 'select', item_id: item.id, position_ms: 0 });
      if (!room?.state?.playing) await togglePlay(session());
      return room;
    }, 'Play'),
  });

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
