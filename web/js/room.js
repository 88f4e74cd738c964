// A room: now playing (cover, seekable progress, transport), the queue (add
// from the library, drag to reorder, remove), the listeners, the connection
// state, and "Listen", which plays the room in sync on this device.
//
// The room's connection and player live in a session that outlives the view:
// leaving the room while listening keeps the music going (the now-playing
// bar at the bottom, playback.js, shows it and leads back); leaving without
// listening disconnects.

import { api, ApiError, getSong, rememberSongs, describeError } from './api.js';
import { h, icon, clear, formatDuration, announce, debounce, uid } from './dom.js';
import { RoomConnection } from './connection.js';
import { SyncPlayer } from './player.js';
import { roomPosition } from './clock.js';
import { coverImage } from './cover.js';
import { setRoomSession } from './playback.js';
import { queueEditor } from './queue_list.js';

let session = null;
let viewRoomId = null; // the room whose view is shown

function openSession(roomId) {
  if (session && session.roomId === roomId) return session;
  closeSession();
  const conn = new RoomConnection(roomId);
  const player = new SyncPlayer(conn);
  session = {
    roomId, conn, player,
    get name() { return conn.room?.name || 'this room'; },
    command: (body) => conn.command(body),
    // Stops listening here (playing for yourself elsewhere in the app).
    stop: () => { if (viewRoomId === roomId) player.disable(); else closeSession(); },
  };
  conn.open();
  setRoomSession(session);
  return session;
}

export function closeSession() {
  if (!session) return;
  session.player.destroy();
  session.conn.close();
  session = null;
  setRoomSession(null);
}

// The room the library's "Add to …" buttons add to (while one is open).
export function activeRoom() {
  if (!session || !session.conn.room) return null;
  return { id: session.roomId, name: session.name, command: session.command };
}

// ---- the view ---------------------------------------------------------------

export function renderRoom(main, params) {
  const s = openSession(params.id);
  viewRoomId = params.id;
  const { conn, player } = s;
  const me = api.user;
  let viewAlive = true;
  let dragging = false; // the user is dragging the progress bar
  let npSongId = null;

  const connStatus = h('p', { class: 'conn', role: 'status' });
  const title = h('h1', { id: 'room-h' }, conn.room?.name || 'Room');
  const message = h('p', { class: 'room-message', role: 'alert' });

  // Now playing.
  const coverBox = h('div', { class: 'np-cover' });
  const npTitle = h('p', { class: 'np-title' }, 'Nothing playing');
  const npSub = h('p', { class: 'np-sub' });
  const seekId = uid('seek');
  const seek = h('input', { id: seekId, type: 'range', min: 0, max: 0, step: 1000, value: 0, class: 'seek', 'aria-label': 'Seek', disabled: true });
  const timeCur = h('span', { class: 'time', 'aria-hidden': 'true' }, '0:00');
  const timeDur = h('span', { class: 'time', 'aria-hidden': 'true' }, '0:00');
  const prevBtn = h('button', { type: 'button', class: 'icon-button big', 'aria-label': 'Previous', title: 'Previous' }, icon('prev', 26));
  const playBtn = h('button', { type: 'button', class: 'icon-button play-button', 'aria-label': 'Play', title: 'Play' }, icon('play', 32));
  const skipBtn = h('button', { type: 'button', class: 'icon-button big', 'aria-label': 'Skip', title: 'Skip' }, icon('next', 26));
  const repeatId = uid('repeat');
  const repeat = h('select', { id: repeatId },
    h('option', { value: 'off' }, 'Off'), h('option', { value: 'all' }, 'Queue'), h('option', { value: 'one' }, 'This song'));
  const listenBtn = h('button', { type: 'button', class: 'button primary listen-button', 'aria-pressed': 'false' }, icon('headphones'), h('span', {}, 'Listen'));
  const volumeId = uid('vol');
  const volume = h('input', { id: volumeId, type: 'range', min: 0, max: 1, step: 0.05, value: player.volume, class: 'volume' });
  const syncStatus = h('p', { class: 'sync-status', role: 'status' });

  const nowPlaying = h('section', { class: 'card now-playing', 'aria-labelledby': 'np-h' },
    h('h2', { id: 'np-h', class: 'visually-hidden' }, 'Now playing'),
    coverBox,
    h('div', { class: 'np-meta' }, npTitle, npSub),
    h('div', { class: 'progress' }, timeCur, seek, timeDur),
    h('div', { class: 'transport' }, prevBtn, playBtn, skipBtn),
    h('div', { class: 'np-options' },
      h('div', { class: 'field inline' }, h('label', { for: repeatId }, 'Repeat'), repeat),
      h('div', { class: 'field inline' }, h('label', { for: volumeId }, 'Volume'), volume),
      h('a', { href: '#/settings', class: 'quality-link' }, 'Streaming quality')),
    h('div', { class: 'listen' }, listenBtn, syncStatus));

  // Queue.
  const queueCount = h('span', { class: 'count' });
  const queueList = h('ol', { class: 'queue-list', 'aria-label': 'Queue', 'aria-describedby': 'queue-help' });
  const queueEmpty = h('p', { class: 'empty' }, 'The queue is empty. Add songs below or from the library.');
  const clearBtn = h('button', { type: 'button', class: 'button subtle small' }, 'Clear queue');
  const queueSection = h('section', { class: 'card queue', 'aria-labelledby': 'queue-h' },
    h('div', { class: 'card-head' }, h('h2', { id: 'queue-h' }, 'Queue ', queueCount), clearBtn),
    h('p', { id: 'queue-help', class: 'hint' }, 'Drag a handle to reorder, or focus it and press the up and down arrow keys.'),
    queueEmpty, queueList);

  // Listeners.
  const listenerCount = h('span', { class: 'count' });
  const listenerList = h('ul', { class: 'listener-list', 'aria-label': 'Listeners' });
  const listenersSection = h('section', { class: 'card listeners', 'aria-labelledby': 'listeners-h' },
    h('h2', { id: 'listeners-h' }, 'Listeners ', listenerCount), listenerList);

  // Add songs.
  const addId = uid('add');
  const addSearch = h('input', { id: addId, type: 'search', autocomplete: 'off', placeholder: 'Title, artist or album' });
  const addResults = h('ul', { class: 'add-results', 'aria-label': 'Songs to add' });
  const addStatus = h('p', { class: 'hint', role: 'status' });
  const addSection = h('section', { class: 'card add-songs', 'aria-labelledby': 'add-h' },
    h('h2', { id: 'add-h' }, 'Add songs'),
    h('div', { class: 'field' }, h('label', { for: addId }, 'Search the library'), addSearch),
    addStatus, addResults);

  const view = h('section', { class: 'room', 'aria-labelledby': 'room-h' },
    h('div', { class: 'view-head room-head' },
      h('a', { href: '#/rooms', class: 'back' }, '← Rooms'), title, connStatus),
    message,
    h('div', { class: 'room-grid' },
      h('div', { class: 'room-col' }, nowPlaying, listenersSection),
      h('div', { class: 'room-col' }, queueSection, addSection)));
  main.append(view);

  // ---- commands ----

  async function command(body, what) {
    message.textContent = '';
    try {
      await s.command(body);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        message.textContent = `${what}: someone changed the room first. ${err.detail || ''}`.trim();
      } else {
        message.textContent = `${what} failed: ${describeError(err)}`;
      }
      announce(message.textContent);
    }
  }

  playBtn.addEventListener('click', () => {
    const st = conn.state;
    command({ type: st?.playing ? 'pause' : 'play' }, st?.playing ? 'Pause' : 'Play');
  });
  skipBtn.addEventListener('click', () => command({ type: 'skip', item_id: conn.state?.current ?? null, selection: conn.state?.selection ?? null }, 'Skip'));
  prevBtn.addEventListener('click', () => command({ type: 'previous', item_id: conn.state?.current ?? null, selection: conn.state?.selection ?? null }, 'Previous'));
  repeat.addEventListener('change', () => command({ type: 'repeat', mode: repeat.value }, 'Repeat'));
  clearBtn.addEventListener('click', () => command({ type: 'clear' }, 'Clear'));

  seek.addEventListener('pointerdown', () => { dragging = true; });
  seek.addEventListener('input', () => {
    dragging = true;
    timeCur.textContent = formatDuration(Number(seek.value));
  });
  seek.addEventListener('change', () => {
    dragging = false;
    command({ type: 'seek', position_ms: Math.round(Number(seek.value)), item_id: conn.state?.current ?? null, selection: conn.state?.selection ?? null }, 'Seek');
  });
  seek.addEventListener('blur', () => { dragging = false; });

  listenBtn.addEventListener('click', async () => {
    if (player.enabled) {
      player.disable();
    } else {
      try {
        await player.enable();
      } catch (err) {
        syncStatus.textContent = `Audio cannot start: ${describeError(err)}`;
      }
    }
    renderListen();
  });
  volume.addEventListener('input', () => player.setVolume(Number(volume.value)));

  // ---- rendering ----

  function renderConn() {
    const labels = {
      idle: 'Not connected', connecting: 'Connecting…', open: 'Connected', closed: 'Disconnected',
      deleted: 'This room was deleted', error: 'Cannot connect',
    };
    let text = labels[conn.status] || conn.status;
    if (conn.status === 'waiting') {
      const secs = Math.max(0, Math.ceil((conn.retryAt - performance.now()) / 1000));
      text = `Reconnecting${secs > 1 ? ` in ${secs} s` : '…'}`;
    }
    // In a cluster, say which node the room's connection went to.
    if (conn.status === 'open' && conn.server && (api.servers.length > 1 || conn.server !== location.origin)) {
      text += ` to ${new URL(conn.server).host}`;
    }
    connStatus.textContent = text;
    connStatus.dataset.state = conn.status;
    title.textContent = conn.room?.name || 'Room';
    if (conn.room) document.title = `${conn.room.name} · HiFi`;
  }

  function currentItem() {
    const st = conn.state;
    return st?.queue?.find((it) => it.id === st.current) || null;
  }

  function renderNowPlaying() {
    const st = conn.state;
    const item = currentItem();
    const playing = Boolean(st?.playing);
    playBtn.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    playBtn.title = playing ? 'Pause' : 'Play';
    playBtn.replaceChildren(icon(playing ? 'pause' : 'play', 32));
    playBtn.disabled = !st?.queue?.length;
    skipBtn.disabled = !item;
    prevBtn.disabled = !st?.queue?.length;
    seek.disabled = !item;
    if (st && repeat.value !== st.repeat && document.activeElement !== repeat) repeat.value = st.repeat;
    if (!item) {
      npSongId = null;
      npTitle.textContent = st?.queue?.length ? 'Stopped' : 'Nothing playing';
      npSub.textContent = st?.queue?.length ? 'Press play to start the queue.' : 'Add songs to the queue to start.';
      coverBox.replaceChildren(placeholderCover());
      seek.max = 0;
      timeDur.textContent = '0:00';
      return;
    }
    seek.max = item.duration_ms;
    timeDur.textContent = formatDuration(item.duration_ms);
    if (npSongId === item.song_id) return;
    npSongId = item.song_id;
    npTitle.textContent = 'Loading…';
    npSub.textContent = '';
    getSong(item.song_id).then((song) => {
      if (npSongId !== item.song_id || !viewAlive) return;
      npTitle.textContent = song.title;
      npSub.textContent = [song.artist, song.album].filter(Boolean).join(' — ');
      coverBox.replaceChildren(song.cover_url ? coverImage(song.cover_url, `Cover of ${song.title}`, 160) : placeholderCover());
    }).catch(() => { npTitle.textContent = 'Unknown song'; });
  }

  function placeholderCover() {
    return h('div', { class: 'cover placeholder', 'aria-hidden': 'true' }, icon('music', 64));
  }

  function renderProgress() {
    const st = conn.state;
    const item = currentItem();
    if (!item || dragging) return;
    const pos = roomPosition(st, conn.clock.serverNow(), item.duration_ms);
    seek.value = String(pos);
    // Text changes once a second, not every frame (screen readers read it).
    const text = formatDuration(pos);
    if (timeCur.textContent !== text) {
      timeCur.textContent = text;
      seek.setAttribute('aria-valuetext', `${text} of ${formatDuration(item.duration_ms)}`);
    }
  }

  function renderListen() {
    const on = player.enabled;
    listenBtn.setAttribute('aria-pressed', String(on));
    listenBtn.querySelector('span').textContent = on ? 'Stop listening' : 'Listen';
    listenBtn.classList.toggle('active', on);
    const texts = {
      off: 'Press Listen to hear the room on this device, in sync with everyone.',
      starting: 'Starting audio…', syncing: 'Synchronising the clock…', loading: 'Loading the song…',
      paused: 'Paused.', idle: 'Waiting for something to play.',
      playing: `Playing in sync${Number.isFinite(conn.clock.uncertainty) ? ` (clock ±${Math.max(1, Math.round(conn.clock.uncertainty))} ms)` : ''}.`,
    };
    const text = player.status === 'error' ? player.statusDetail : texts[player.status] || player.status;
    if (syncStatus.textContent !== text) syncStatus.textContent = text;
  }

  const renderQueue = queueEditor({
    list: queueList, count: queueCount, empty: queueEmpty, clearBtn, helpId: 'queue-help',
    state: () => conn.state, send: command,
  });

  function renderListeners() {
    const list = conn.listeners || [];
    const count = Math.max(conn.listenerCount || 0, list.length);
    listenerCount.textContent = `(${count.toLocaleString()})`;
    const items = list.map((l) => h('li', {},
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, (l.username || '?')[0].toUpperCase()),
      h('span', {}, l.username, l.user_id === me?.id ? ' (you)' : '')));
    // A big room lists its first listeners by name and counts the rest.
    if (count > list.length) items.push(h('li', { class: 'more' }, `and ${(count - list.length).toLocaleString()} more`));
    listenerList.replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, 'Nobody yet.')]));
  }

  // ---- add songs ----

  let addSeq = 0;
  async function searchSongs() {
    const mySeq = ++addSeq;
    const q = addSearch.value.trim();
    try {
      const page = await api.get('/api/v1/songs', q ? { q, sort: 'title', limit: 25 } : { sort: 'uploaded_at', order: 'desc', limit: 25 });
      if (mySeq !== addSeq || !viewAlive) return;
      rememberSongs(page.items);
      addStatus.textContent = page.items.length ? (q ? `${page.items.length}${page.next ? '+' : ''} matching songs` : 'Recently added') : (q ? `No songs match “${q}”.` : 'The library is empty.');
      clear(addResults).append(...page.items.map((song) => h('li', {},
        coverImage(song.cover_url, '', 36),
        h('div', { class: 'row-main' }, h('span', { class: 'row-title' }, song.title), h('span', { class: 'row-sub' }, song.artist || 'Unknown artist')),
        h('span', { class: 'row-meta' }, formatDuration(song.duration_ms)),
        h('button', {
          type: 'button', class: 'button small', 'aria-label': `Play ${song.title} next`,
          onclick: () => command({ type: 'add', song_ids: [song.id], at: 'next' }, 'Add'),
        }, 'Next'),
        h('button', {
          type: 'button', class: 'button small primary', 'aria-label': `Add ${song.title} to the queue`,
          onclick: async () => { await command({ type: 'add', song_ids: [song.id] }, 'Add'); announce(`Added ${song.title}`); },
        }, icon('add', 16), 'Add'))));
    } catch (err) {
      if (mySeq === addSeq) addStatus.textContent = `Could not search: ${describeError(err)}`;
    }
  }
  addSearch.addEventListener('input', debounce(searchSongs, 180));
  searchSongs();

  // ---- wiring ----

  const onChange = (e) => {
    const kind = e.detail.kind;
    if (kind === 'status' || kind === 'snapshot') renderConn();
    if (kind === 'state' || kind === 'snapshot') { renderNowPlaying(); renderQueue(); renderListeners(); }
    if (kind === 'presence') renderListeners();
    if (kind === 'clock') renderListen();
  };
  conn.addEventListener('change', onChange);
  const onPlayer = () => renderListen();
  player.addEventListener('status', onPlayer);

  let raf = 0;
  const tick = () => { renderProgress(); raf = requestAnimationFrame(tick); };
  raf = requestAnimationFrame(tick);
  const slow = setInterval(() => { if (conn.status === 'waiting') renderConn(); }, 1000);

  renderConn();
  renderNowPlaying();
  renderQueue();
  renderListeners();
  renderListen();

  return () => {
    viewAlive = false;
    cancelAnimationFrame(raf);
    clearInterval(slow);
    conn.removeEventListener('change', onChange);
    player.removeEventListener('status', onPlayer);
    if (viewRoomId === params.id) viewRoomId = null;
    // Keep listening in the background; otherwise leave the room.
    if (!player.enabled) closeSession();
  };
}
