// Playlists: the list (yours, then other people's public ones; create one),
// a playlist's page (play, shuffle, add to a room, share; for its owner or an
// admin: rename, describe, make public or private, reorder by drag and by
// keyboard, remove songs, delete), and addToPlaylistDialog(songIds), which
// other views use to put a song, an album or a selection into a playlist.

import { api, ApiError, describeError, rememberSongs } from './api.js';
import { h, icon, formatDuration, announce, uid } from './dom.js';
import { navigate } from './router.js';
import { coverImage } from './cover.js';
import { playSongs, playPlaylist } from './playback.js';
import { openDialog, confirmDialog, copyField, plural, textField, formatDate } from './lists_ui.js';
import { dragToReorder, reorderKey } from './sortable.js';

const base = (id) => `/api/v1/playlists/${encodeURIComponent(id)}`;
const patchPlaylist = (id, json) => api.request('PATCH', base(id), { json });

function canEdit(pl) {
  const me = api.user;
  return Boolean(me && (pl.owner?.id === me.id || me.role === 'admin'));
}

function summaryLine(pl) {
  return `${plural(pl.song_count, 'song')} · ${formatDuration(pl.duration_ms)}`;
}

// ---- the list ---------------------------------------------------------------

export function renderPlaylists(main) {
  const name = textField('Name', { maxlength: 200, autocomplete: 'off', placeholder: 'Road trip', required: true });
  name.el.classList.add('grow');
  const formMsg = h('p', { class: 'form-message', role: 'alert' });
  const form = h('form', { class: 'card create-playlist', 'aria-labelledby': 'pl-create-h', novalidate: true },
    h('h2', { id: 'pl-create-h' }, 'New playlist'),
    h('div', { class: 'inline-form' }, name.el, h('button', { type: 'submit', class: 'button primary' }, icon('add', 18), 'Create playlist')),
    formMsg);
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading playlists…');
  const mineList = h('ul', { class: 'playlist-list', 'aria-labelledby': 'pl-mine-h' });
  const othersList = h('ul', { class: 'playlist-list', 'aria-labelledby': 'pl-public-h' });
  const mineEmpty = h('p', { class: 'empty', hidden: true }, 'You have no playlists yet. Create one above, or add songs to a new one from the library.');
  const othersSection = h('section', { class: 'playlist-group', 'aria-labelledby': 'pl-public-h', hidden: true },
    h('h2', { id: 'pl-public-h' }, 'Public playlists of others'), othersList);

  main.append(h('section', { class: 'playlists', 'aria-labelledby': 'playlists-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'playlists-h' }, 'Playlists')),
    form, status,
    h('section', { class: 'playlist-group', 'aria-labelledby': 'pl-mine-h' },
      h('h2', { id: 'pl-mine-h' }, 'Your playlists'), mineEmpty, mineList),
    othersSection));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = name.input.value.trim();
    if (!value) { formMsg.textContent = 'Give the playlist a name.'; name.input.focus(); return; }
    formMsg.textContent = '';
    try {
      const pl = await api.post('/api/v1/playlists', { name: value });
      announce(`Playlist ${pl.name} created`);
      navigate(`/playlists/${pl.id}`);
    } catch (err) {
      formMsg.textContent = `Could not create the playlist: ${describeError(err)}`;
    }
  });

  let alive = true;
  (async () => {
    try {
      const res = await api.get('/api/v1/playlists');
      if (!alive) return;
      const me = api.user?.id;
      const mine = res.items.filter((p) => p.owner?.id === me);
      const others = res.items.filter((p) => p.owner?.id !== me);
      status.textContent = `${plural(mine.length, 'playlist')} of yours${others.length ? `, ${others.length} public of others` : ''}`;
      mineList.replaceChildren(...mine.map((p) => playlistCard(p, false)));
      othersList.replaceChildren(...others.map((p) => playlistCard(p, true)));
      mineEmpty.hidden = mine.length > 0;
      othersSection.hidden = others.length === 0;
    } catch (err) {
      if (alive) status.textContent = `Could not load the playlists: ${describeError(err)}`;
    }
  })();
  return () => { alive = false; };
}

function playlistCard(pl, showOwner) {
  return h('li', { class: 'playlist-card' },
    h('div', { class: 'playlist-icon', 'aria-hidden': 'true' }, icon('music', 22)),
    h('div', { class: 'row-main' },
      h('a', { class: 'row-title playlist-link', href: `#/playlists/${encodeURIComponent(pl.id)}` }, pl.name),
      h('span', { class: 'row-sub' }, summaryLine(pl),
        showOwner ? ` · by ${pl.owner?.username || 'a former user'}` : ''),
      pl.comment ? h('span', { class: 'row-sub playlist-comment' }, pl.comment) : null),
    h('span', { class: `badge${pl.public ? '' : ' muted'}` }, pl.public ? 'Public' : 'Private'));
}

// ---- one playlist -----------------------------------------------------------

export function renderPlaylist(main, params) {
  const id = params.id;
  let pl = null;
  let entries = [];   // [{key, songId, song}] in playlist order (song null: gone from the library)
  let alive = true;
  let keySeq = 0;
  let chain = Promise.resolve(); // edits are sent one after the other, in order

  const title = h('h1', { id: 'pl-h', class: 'pl-title' }, 'Playlist');
  const meta = h('p', { class: 'pl-meta' });
  const comment = h('p', { class: 'pl-comment' });
  const visibility = h('span', { class: 'badge' });
  const message = h('p', { class: 'form-message', role: 'alert' });
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading the playlist…');
  const actions = h('div', { class: 'pl-actions' });
  const editArea = h('div', { class: 'pl-edit', hidden: true });
  const helpId = uid('pl-help');
  const help = h('p', { id: helpId, class: 'hint', hidden: true },
    'To reorder, drag a handle, or focus it and press the up and down arrow keys (Home and End for the ends); Alt with the up and down arrows moves the focused song too.');
  const list = h('ol', { class: 'pl-songs', 'aria-labelledby': 'pl-songs-h' });
  const empty = h('p', { class: 'empty', hidden: true });

  main.append(h('section', { class: 'playlist', 'aria-labelledby': 'pl-h' },
    h('div', { class: 'view-head pl-head' },
      h('a', { href: '#/playlists', class: 'back' }, '← Playlists'),
      title, visibility),
    meta, comment, actions, editArea, message, status,
    h('section', { class: 'card pl-songs-card', 'aria-labelledby': 'pl-songs-h' },
      h('h2', { id: 'pl-songs-h' }, 'Songs'), help, empty, list)));

  function fail(what, err) {
    message.textContent = `${what}: ${describeError(err)}`;
    announce(message.textContent);
  }

  async function load() {
    try {
      const fresh = await api.get(base(id));
      if (alive) show(fresh);
    } catch (err) {
      if (!alive) return;
      status.textContent = err instanceof ApiError && err.status === 404
        ? 'This playlist does not exist, or it is private.'
        : `Could not load the playlist: ${describeError(err)}`;
      title.textContent = 'Playlist not found';
    }
  }

  // Pairs song_ids (every entry) with songs (those still in the library).
  function entriesOf(p) {
    const out = [];
    let j = 0;
    for (const songId of p.song_ids) {
      let song = null;
      if (p.songs[j] && p.songs[j].id === songId) { song = p.songs[j]; j++; }
      out.push({ key: ++keySeq, songId, song });
    }
    return out;
  }

  function show(fresh, { keepRows = false } = {}) {
    pl = fresh;
    rememberSongs(pl.songs);
    const editable = canEdit(pl);
    title.textContent = pl.name;
    document.title = `${pl.name} · HiFi`;
    visibility.textContent = pl.public ? 'Public' : 'Private';
    visibility.classList.toggle('muted', !pl.public);
    meta.textContent = `${summaryLine(pl)} · by ${pl.owner?.id === api.user?.id ? 'you' : (pl.owner?.username || 'a former user')} · updated ${formatDate(pl.updated_at)}`;
    comment.textContent = pl.comment;
    comment.hidden = !pl.comment;
    status.textContent = editable ? '' : 'You can play this playlist; only its owner can change it.';
    help.hidden = !editable || pl.song_ids.length < 2;
    if (editable && pl.song_ids.length >= 2) list.setAttribute('aria-describedby', helpId);
    else list.removeAttribute('aria-describedby');
    renderActions(editable);
    if (!keepRows) {
      entries = entriesOf(pl);
      renderRows();
    } else {
      updatePositions();
    }
  }

  function renderActions(editable) {
    const songIds = () => entries.filter((e) => e.song).map((e) => e.song.id);
    const none = !pl.songs.length;
    actions.replaceChildren(
      h('button', { type: 'button', class: 'button primary', disabled: none, onclick: () => play(false) }, icon('play', 18), 'Play'),
      h('button', { type: 'button', class: 'button', disabled: none, onclick: () => play(true) }, 'Shuffle'),
      h('button', { type: 'button', class: 'button', disabled: none, onclick: () => addToRoomDialog(songIds(), pl.name) }, 'Add to a room'),
      h('button', { type: 'button', class: 'button', disabled: none, onclick: () => shareDialog(pl) }, 'Share'),
      editable ? h('button', {
        type: 'button', class: 'button', 'aria-expanded': String(!editArea.hidden), 'aria-controls': 'pl-edit-form',
        onclick: toggleEdit,
      }, 'Edit details') : null,
      editable ? h('button', { type: 'button', class: 'button danger', onclick: deletePlaylist }, 'Delete playlist') : null);
  }

  // The playlist as saved (every change is saved at once), in the personal room.
  async function play(shuffle) {
    message.textContent = '';
    try {
      await playPlaylist(pl.id, { shuffle });
      announce(shuffle ? `Shuffling ${pl.name}` : `Playing ${pl.name}`);
    } catch (err) { fail('Could not play', err); }
  }

  function toggleEdit(e) {
    const btn = e.currentTarget;
    if (!editArea.hidden) {
      editArea.hidden = true;
      editArea.replaceChildren();
      btn.setAttribute('aria-expanded', 'false');
      return;
    }
    const nameF = textField('Name', { value: pl.name, maxlength: 200, autocomplete: 'off', required: true });
    const descF = textField('Description', { multiline: true, value: pl.comment, maxlength: 2000, rows: 3 });
    const pubId = uid('pub');
    const pub = h('input', { id: pubId, type: 'checkbox', checked: pl.public });
    const formMsg = h('p', { class: 'form-message', role: 'alert' });
    const form = h('form', { id: 'pl-edit-form', class: 'card', 'aria-label': 'Playlist details', novalidate: true },
      nameF.el, descF.el,
      h('div', { class: 'field inline checkbox' }, pub, h('label', { for: pubId }, 'Public: every user of this server can see and play it')),
      formMsg,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'button', onclick: () => btn.click() }, 'Cancel'),
        h('button', { type: 'submit', class: 'button primary' }, 'Save')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const newName = nameF.input.value.trim();
      if (!newName) { formMsg.textContent = 'The playlist needs a name.'; nameF.input.focus(); return; }
      try {
        const updated = await patchPlaylist(id, { name: newName, comment: descF.input.value.trim(), public: pub.checked });
        editArea.hidden = true;
        editArea.replaceChildren();
        show(updated, { keepRows: true });
        announce('Playlist details saved');
        actions.querySelector('[aria-controls="pl-edit-form"]')?.focus();
      } catch (err) {
        formMsg.textContent = `Could not save: ${describeError(err)}`;
      }
    });
    editArea.replaceChildren(form);
    editArea.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
    nameF.input.focus();
  }

  async function deletePlaylist() {
    const ok = await confirmDialog({
      title: 'Delete this playlist?',
      message: `“${pl.name}” will be deleted for everyone. Its songs stay in the library.`,
      confirmLabel: 'Delete playlist',
    });
    if (!ok) return;
    try {
      await api.request('DELETE', base(id));
      announce(`Playlist ${pl.name} deleted`);
      navigate('/playlists');
    } catch (err) { fail('Could not delete the playlist', err); }
  }

  // ---- rows ----

  function renderRows() {
    const editable = canEdit(pl);
    const focusedKey = document.activeElement?.closest?.('.pl-song')?.dataset.key;
    const focusedClass = document.activeElement?.classList?.contains('drag-handle') ? 'drag-handle' : null;
    list.replaceChildren(...entries.map((e) => songRow(e, editable)));
    empty.hidden = entries.length > 0;
    empty.textContent = editable ? 'No songs yet. Add songs from the library (a song’s or an album’s “Add to playlist”).' : 'This playlist is empty.';
    updatePositions();
    if (focusedKey && focusedClass) list.querySelector(`.pl-song[data-key="${focusedKey}"] .${focusedClass}`)?.focus();
  }

  function nameOf(e) { return e.song ? e.song.title : 'Song no longer in the library'; }

  function updatePositions() {
    const rows = [...list.children];
    rows.forEach((row, i) => {
      const e = entries[i];
      row.querySelector('.pl-num').textContent = String(i + 1);
      const handle = row.querySelector('.drag-handle');
      if (handle) handle.setAttribute('aria-label', `Move ${nameOf(e)}, position ${i + 1} of ${entries.length}`);
    });
  }

  function songRow(e, editable) {
    const song = e.song;
    const row = h('li', { class: `pl-song${song ? '' : ' missing'}`, dataset: { key: String(e.key) } });
    const handle = editable ? h('button', { type: 'button', class: 'drag-handle icon-button' }, icon('drag')) : null;
    row.append(
      handle || h('span', { class: 'pl-spacer', 'aria-hidden': 'true' }),
      h('span', { class: 'pl-num', 'aria-hidden': 'true' }),
      song ? coverImage(song.cover_url, '', 40) : h('div', { class: 'cover placeholder pl-cover-missing', 'aria-hidden': 'true' }, icon('music', 18)),
      h('div', { class: 'row-main' },
        h('span', { class: 'row-title' }, nameOf(e)),
        h('span', { class: 'row-sub' }, song ? ([song.artist, song.album].filter(Boolean).join(' — ') || 'Unknown artist') : '')),
      h('span', { class: 'row-meta' }, song ? formatDuration(song.duration_ms) : ''),
      h('div', { class: 'row-actions' },
        song ? h('button', {
          type: 'button', class: 'icon-button', 'aria-label': `Play from ${song.title}`, title: 'Play from here',
          onclick: () => {
            const ids = entries.filter((x) => x.song).map((x) => x.song.id);
            const start = entries.filter((x) => x.song).indexOf(e);
            playSongs(ids, { startIndex: start }).then(() => announce(`Playing ${song.title}`)).catch((err) => fail('Could not play', err));
          },
        }, icon('play')) : null,
        editable ? h('button', {
          type: 'button', class: 'icon-button', 'aria-label': `Remove ${nameOf(e)} from the playlist`, title: 'Remove',
          onclick: () => removeEntry(e),
        }, icon('remove')) : null));
    if (handle) {
      handle.addEventListener('keydown', (ev) => {
        const to = keyTarget(ev, entries.indexOf(e), false);
        if (to !== null) { ev.preventDefault(); moveEntry(e, to, handle); }
      });
      handle.addEventListener('pointerdown', (ev) => {
        if (dragToReorder(ev, list, row, '.pl-song', (from, to) => moveEntry(e, to, handle))) handle.focus();
      });
      row.addEventListener('keydown', (ev) => {
        if (ev.target === handle) return;
        const to = keyTarget(ev, entries.indexOf(e), true);
        if (to !== null) { ev.preventDefault(); moveEntry(e, to, ev.target); }
      });
    }
    return row;
  }

  // The position a key press moves an entry to (null: not a move key).
  function keyTarget(ev, from, needAlt) {
    if (needAlt && !ev.altKey) return null;
    if (!needAlt && (ev.ctrlKey || ev.metaKey)) return null;
    return reorderKey(ev.key, from, entries.length, { ends: !needAlt });
  }

  // Moves an entry at once on the page, then in the playlist (edits go in
  // order; the server's answer is the truth if it differs).
  function moveEntry(e, to, focusEl) {
    const from = entries.indexOf(e);
    if (from < 0 || to === from) return;
    entries.splice(from, 1);
    entries.splice(to, 0, e);
    const row = list.querySelector(`.pl-song[data-key="${e.key}"]`);
    const others = [...list.children].filter((c) => c !== row);
    list.insertBefore(row, others[to] || null);
    updatePositions();
    focusEl?.focus();
    announce(`${nameOf(e)} moved to position ${to + 1} of ${entries.length}`);
    const expected = entries.map((x) => x.songId);
    edit({ move: { from, to } }, 'Could not move the song', expected);
  }

  function removeEntry(e) {
    const at = entries.indexOf(e);
    if (at < 0) return;
    const row = list.querySelector(`.pl-song[data-key="${e.key}"]`);
    const neighbour = row?.nextElementSibling || row?.previousElementSibling;
    entries.splice(at, 1);
    row?.remove();
    updatePositions();
    empty.hidden = entries.length > 0;
    (neighbour?.querySelector('.drag-handle') || neighbour?.querySelector('button') || list.closest('section').querySelector('h2')).focus?.();
    announce(`${nameOf(e)} removed from the playlist`);
    const expected = entries.map((x) => x.songId);
    edit({ remove: [at] }, 'Could not remove the song', expected);
  }

  function edit(json, what, expected) {
    message.textContent = '';
    chain = chain.then(async () => {
      try {
        const updated = await patchPlaylist(id, json);
        if (!alive) return;
        const same = JSON.stringify(updated.song_ids) === JSON.stringify(entries.map((x) => x.songId));
        // Only the last edit in flight decides; a differing answer means
        // someone else changed the playlist too: show theirs.
        if (same || JSON.stringify(expected) === JSON.stringify(entries.map((x) => x.songId))) {
          show(updated, { keepRows: same });
        }
      } catch (err) {
        if (!alive) return;
        fail(what, err);
        await load();
      }
    });
    return chain;
  }

  // Songs added from elsewhere (the add-to-playlist dialog) while this page is open.
  const onChanged = (e) => { if (e.detail?.id === id) load(); };
  document.addEventListener('hifi:playlist-changed', onChanged);
  load();
  return () => { alive = false; document.removeEventListener('hifi:playlist-changed', onChanged); };
}

// ---- add to a room ----------------------------------------------------------

export function addToRoomDialog(songIds, what) {
  const selectId = uid('room');
  const select = h('select', { id: selectId, disabled: true }, h('option', { value: '' }, 'Loading rooms…'));
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const addBtn = h('button', { type: 'submit', class: 'button primary', disabled: true }, 'Add to room');
  const nextId = uid('next');
  const next = h('input', { id: nextId, type: 'checkbox' });
  openDialog({
    title: 'Add to a room',
    build: (close) => {
      const form = h('form', { novalidate: true },
        h('p', {}, `${plural(songIds.length, 'song')} from “${what}” go to the end of the room’s queue.`),
        h('div', { class: 'field' }, h('label', { for: selectId }, 'Room'), select),
        h('div', { class: 'field inline checkbox' }, next, h('label', { for: nextId }, 'Play them next instead')),
        msg,
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'button', onclick: () => close(null) }, 'Cancel'), addBtn));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const roomId = select.value;
        if (!roomId) return;
        addBtn.disabled = true;
        try {
          const body = { type: 'add', song_ids: songIds };
          if (next.checked) body.at = 'next';
          await api.post(`/api/v1/rooms/${encodeURIComponent(roomId)}/commands`, body);
          const name = select.selectedOptions[0]?.textContent || 'the room';
          close(roomId);
          announce(`Added ${plural(songIds.length, 'song')} to ${name}`);
        } catch (err) {
          msg.textContent = `Could not add: ${describeError(err)}`;
          addBtn.disabled = false;
        }
      });
      return form;
    },
  });
  api.get('/api/v1/rooms').then((res) => {
    const rooms = res.items || [];
    if (!rooms.length) {
      select.replaceChildren(h('option', { value: '' }, 'No rooms yet'));
      msg.textContent = 'There are no rooms yet: create one in Rooms first.';
      return;
    }
    select.replaceChildren(...rooms.map((r) => h('option', { value: r.id }, r.name)));
    select.disabled = false;
    addBtn.disabled = false;
    select.focus();
  }).catch((err) => { msg.textContent = `Could not load the rooms: ${describeError(err)}`; });
}

// ---- share ------------------------------------------------------------------

const EXPIRY = [
  ['1', 'In 1 day', 1],
  ['7', 'In 7 days', 7],
  ['30', 'In 30 days', 30],
  ['365', 'In a year', 365],
  ['0', 'Never', 0],
];

export function shareDialog(pl) {
  const expId = uid('exp');
  const expiry = h('select', { id: expId }, EXPIRY.map(([v, label]) => h('option', { value: v, selected: v === '7' }, label)));
  const desc = textField('Description (shown on the page)', { value: pl.comment || pl.name, maxlength: 1000, autocomplete: 'off' });
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const result = h('div', { class: 'share-result', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create link');
  openDialog({
    title: 'Share a link',
    build: () => {
      const form = h('form', { novalidate: true },
        h('p', { class: 'hint' }, 'Anyone with the link can play and download these songs, without an account, until it expires.'),
        h('div', { class: 'field' }, h('label', { for: expId }, 'Expires'), expiry),
        desc.el, msg,
        h('div', { class: 'dialog-actions' }, submit));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        submit.disabled = true;
        msg.textContent = '';
        const days = Number(expiry.value);
        try {
          const share = await api.post('/api/v1/shares', {
            playlist_id: pl.id,
            description: desc.input.value.trim(),
            expires_at: days ? Date.now() + days * 86400000 : null,
          });
          form.hidden = true;
          result.replaceChildren(
            h('p', {}, share.expires_at ? `The link works until ${formatDate(share.expires_at)}.` : 'The link works until you revoke it.'),
            copyField('Share link', share.url, { what: 'Link' }),
            h('p', {}, h('a', { href: share.url, target: '_blank', rel: 'noopener noreferrer', class: 'share-open' }, 'Open the shared page')));
          result.hidden = false;
          result.querySelector('input')?.focus();
          announce('Share link created');
        } catch (err) {
          msg.textContent = `Could not create the link: ${describeError(err)}`;
          submit.disabled = false;
        }
      });
      return [form, result];
    },
  });
}

// ---- add to playlist (used by every view) -----------------------------------

// Opens a dialog to pick one of the caller's playlists (or create one) and
// appends the songs to it. Resolves to the playlist, or null if cancelled.
export function addToPlaylistDialog(songIds) {
  const ids = [...songIds];
  return new Promise((resolve) => {
    const listEl = h('ul', { class: 'pick-list', 'aria-labelledby': 'pick-h' });
    const status = h('p', { class: 'hint', role: 'status' }, 'Loading your playlists…');
    const msg = h('p', { class: 'form-message', role: 'alert' });
    const nameF = textField('Name', { maxlength: 200, autocomplete: 'off', placeholder: 'New playlist' });
    nameF.el.classList.add('grow');
    let dlg = null;
    let busy = false;
    const done = (pl, text) => {
      announce(text);
      document.dispatchEvent(new CustomEvent('hifi:playlist-changed', { detail: { id: pl.id } }));
      dlg.close(pl);
    };
    dlg = openDialog({
      title: `Add ${plural(ids.length, 'song')} to a playlist`,
      onClose: (result) => resolve(result || null),
      build: () => {
        const form = h('form', { class: 'new-playlist', novalidate: true, 'aria-labelledby': 'new-pl-h' },
          h('h3', { id: 'new-pl-h' }, 'New playlist'),
          h('div', { class: 'inline-form' }, nameF.el, h('button', { type: 'submit', class: 'button primary' }, 'Create and add')));
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          const name = nameF.input.value.trim();
          if (!name) { msg.textContent = 'Give the new playlist a name.'; nameF.input.focus(); return; }
          if (busy) return;
          busy = true;
          try {
            const pl = await api.post('/api/v1/playlists', { name, song_ids: ids });
            done(pl, `Created ${pl.name} with ${plural(ids.length, 'song')}`);
          } catch (err) {
            msg.textContent = `Could not create the playlist: ${describeError(err)}`;
          } finally { busy = false; }
        });
        return [h('h3', { id: 'pick-h' }, 'Your playlists'), status, listEl, form, msg];
      },
    });
    api.get('/api/v1/playlists').then((res) => {
      const mine = res.items.filter((p) => p.owner?.id === api.user?.id);
      status.textContent = mine.length ? 'Choose a playlist to add to.' : 'You have no playlists yet: create one below.';
      listEl.replaceChildren(...mine.map((p) => h('li', {},
        h('button', {
          type: 'button', class: 'pick-button',
          onclick: async () => {
            if (busy) return;
            busy = true;
            msg.textContent = '';
            try {
              const updated = await patchPlaylist(p.id, { add: ids });
              done(updated, `Added ${plural(ids.length, 'song')} to ${updated.name}`);
            } catch (err) {
              msg.textContent = `Could not add to ${p.name}: ${describeError(err)}`;
            } finally { busy = false; }
          },
        }, h('span', { class: 'row-title' }, p.name), h('span', { class: 'row-sub' }, summaryLine(p))))));
      // Focus the first playlist unless the person has started typing a new name.
      if (document.activeElement === nameF.input && !nameF.input.value) listEl.querySelector('button')?.focus();
    }).catch((err) => { status.textContent = `Could not load your playlists: ${describeError(err)}`; });
  });
}
