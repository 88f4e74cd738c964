// Dialogs of the browse views: a modal helper (native <dialog>, focus moved
// in and given back), a confirmation, the song tag editor (PATCH
// /api/v1/songs/{id}) and deleting a song (DELETE /api/v1/songs/{id}).
// Editing and deleting are offered for your own uploads, and to admins for
// every song.

import { api, ApiError, describeError, rememberSongs } from './api.js';
import { h, uid, announce } from './dom.js';

// Songs edited or deleted here: views listen to refresh what they show.
// Events: 'songchange' {detail: song}, 'songdelete' {detail: song}.
export const songEvents = new EventTarget();

// Calls fn(event) whenever a song is edited or deleted; returns the
// function that stops that (for a view's cleanup).
export function onSongChanges(fn) {
  songEvents.addEventListener('songchange', fn);
  songEvents.addEventListener('songdelete', fn);
  return () => {
    songEvents.removeEventListener('songchange', fn);
    songEvents.removeEventListener('songdelete', fn);
  };
}

// openDialog({title, body: [nodes], actions: [nodes], className}) -> {dialog, close, closed}
// The dialog is modal; Escape closes it; focus returns where it was.
export function openDialog({ title, body = [], actions = [], className = '' }) {
  const titleId = uid('dlg-title');
  const returnTo = document.activeElement;
  const dialog = h('dialog', { class: `modal ${className}`.trim(), 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'modal-title' }, title),
    h('div', { class: 'modal-body' }, body),
    actions.length ? h('div', { class: 'modal-actions' }, actions) : null);
  let resolveClosed;
  const closed = new Promise((resolve) => { resolveClosed = resolve; });
  dialog.addEventListener('close', () => {
    dialog.remove();
    const target = returnTo && returnTo.isConnected ? returnTo : document.getElementById('main');
    target?.focus?.({ preventScroll: true });
    resolveClosed(dialog.returnValue);
  });
  // A click on the backdrop (the dialog element itself, outside its box) closes it.
  dialog.addEventListener('mousedown', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) dialog.close('');
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') || dialog.querySelector('input, select, textarea, button:not([disabled])');
  first?.focus();
  return { dialog, close: (value = '') => { if (dialog.open) dialog.close(value); }, closed };
}

// Resolves true when the user confirms.
export async function confirmDialog(title, message, { confirmLabel = 'OK', danger = false } = {}) {
  const cancel = h('button', { type: 'button', class: 'button', autofocus: true }, 'Cancel');
  const ok = h('button', { type: 'button', class: `button ${danger ? 'danger' : 'primary'}` }, confirmLabel);
  const dlg = openDialog({ title, body: [h('p', {}, message)], actions: [cancel, ok], className: 'confirm' });
  cancel.addEventListener('click', () => dlg.close('cancel'));
  ok.addEventListener('click', () => dlg.close('ok'));
  return (await dlg.closed) === 'ok';
}

// Whether the signed-in user may edit or delete this song.
export function canModify(song) {
  const me = api.user;
  if (!me || !song || song.missing) return false;
  return me.role === 'admin' || (song.uploaded_by && song.uploaded_by === me.id);
}

const FIELDS = [
  ['title', 'Title', 'text'],
  ['artist', 'Artist', 'text'],
  ['album', 'Album', 'text'],
  ['album_artist', 'Album artist', 'text'],
  ['track', 'Track', 'number'],
  ['disc', 'Disc', 'number'],
  ['year', 'Year', 'number'],
  ['genre', 'Genre', 'text'],
];

// The tag editor. Sends only the fields that changed; resolves with the
// updated song, or null when cancelled.
export async function editSongDialog(song) {
  const inputs = {};
  const fields = FIELDS.map(([key, label, type]) => {
    const id = uid(`edit-${key}`);
    const value = type === 'number' ? (song[key] ? String(song[key]) : '') : (song[key] ?? '');
    const input = h('input', {
      id, name: key, type: 'text', value, autocomplete: 'off', spellcheck: 'false',
      inputmode: type === 'number' ? 'numeric' : null, pattern: type === 'number' ? '[0-9]*' : null,
      maxlength: type === 'number' ? 4 : 500,
    });
    inputs[key] = input;
    return h('div', { class: `field ${type === 'number' ? 'short' : ''}`.trim() }, h('label', { for: id }, label), input);
  });
  const message = h('p', { class: 'form-message', role: 'alert' });
  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
  const save = h('button', { type: 'submit', class: 'button primary' }, 'Save');
  const form = h('form', { class: 'edit-form', novalidate: true },
    h('p', { class: 'hint' }, 'The catalog changes; the stored file stays as it was uploaded.'),
    h('div', { class: 'edit-grid' }, fields), message,
    h('div', { class: 'modal-actions' }, cancel, save));
  const dlg = openDialog({ title: `Edit ${song.title}`, body: [form], className: 'edit-song' });
  cancel.addEventListener('click', () => dlg.close('cancel'));
  let result = null;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const patch = {};
    for (const [key, label, type] of FIELDS) {
      const raw = inputs[key].value.trim();
      if (type === 'number') {
        if (raw && !/^\d{1,4}$/.test(raw)) {
          message.textContent = `${label} must be a whole number.`;
          inputs[key].focus();
          return;
        }
        const n = raw ? Number(raw) : 0;
        if (n !== (song[key] || 0)) patch[key] = n;
      } else if (raw !== (song[key] ?? '')) {
        patch[key] = raw;
      }
    }
    if ('title' in patch && !patch.title) {
      message.textContent = 'A song needs a title.';
      inputs.title.focus();
      return;
    }
    if (!key0(patch)) { dlg.close('cancel'); return; }
    save.disabled = true;
    message.textContent = '';
    try {
      const updated = await api.request('PATCH', `/api/v1/songs/${encodeURIComponent(song.id)}`, { json: patch });
      const merged = { ...song, ...(updated || patch) };
      Object.assign(song, merged);
      rememberSongs([song]);
      result = song;
      announce(`Saved ${song.title}`);
      songEvents.dispatchEvent(new CustomEvent('songchange', { detail: song }));
      dlg.close('saved');
    } catch (err) {
      message.textContent = err instanceof ApiError && err.status === 405
        ? 'This server cannot edit tags yet.'
        : `Could not save: ${describeError(err)}`;
    } finally {
      save.disabled = false;
    }
  });
  await dlg.closed;
  return result;
}

function key0(o) { return Object.keys(o).length > 0; }

// Asks, then deletes. Resolves true when the song is gone.
export async function deleteSongDialog(song) {
  const ok = await confirmDialog('Delete song?',
    `“${song.title}” will be removed from the library for everyone, with its file. This cannot be undone.`,
    { confirmLabel: 'Delete', danger: true });
  if (!ok) return false;
  try {
    await api.request('DELETE', `/api/v1/songs/${encodeURIComponent(song.id)}`);
    announce(`Deleted ${song.title}`);
    songEvents.dispatchEvent(new CustomEvent('songdelete', { detail: song }));
    return true;
  } catch (err) {
    announce(`Could not delete ${song.title}: ${describeError(err)}`);
    await confirmDialog('Could not delete the song', describeError(err), { confirmLabel: 'OK' });
    return false;
  }
}
