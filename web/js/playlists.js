// STAND-IN for the playlists module (the real playlists.js replaces this
// file): only addToPlaylistDialog(songIds), which picks one of your
// playlists (or makes a new one) and appends the songs to it.

import { api, describeError } from './api.js';
import { h, uid, announce } from './dom.js';
import { openDialog } from './song_edit.js';

export async function addToPlaylistDialog(songIds) {
  const n = songIds.length;
  const what = n === 1 ? 'the song' : `${n} songs`;
  const list = h('ul', { class: 'pick-list', 'aria-label': 'Your playlists' }, h('li', { class: 'hint' }, 'Loading playlists…'));
  const nameId = uid('pl-name');
  const name = h('input', { id: nameId, type: 'text', maxlength: 200, autocomplete: 'off' });
  const message = h('p', { class: 'form-message', role: 'alert' });
  const form = h('form', { class: 'inline-form' },
    h('div', { class: 'field grow' }, h('label', { for: nameId }, 'New playlist'), name),
    h('button', { type: 'submit', class: 'button primary' }, 'Create and add'));
  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
  const dlg = openDialog({ title: `Add ${what} to a playlist`, body: [list, form, message], actions: [cancel] });
  cancel.addEventListener('click', () => dlg.close('cancel'));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const title = name.value.trim();
    if (!title) { message.textContent = 'Give the playlist a name.'; name.focus(); return; }
    try {
      await api.post('/api/v1/playlists', { name: title, song_ids: songIds });
      announce(`Added ${what} to ${title}`);
      dlg.close('added');
    } catch (err) { message.textContent = `Could not create the playlist: ${describeError(err)}`; }
  });

  try {
    const res = await api.get('/api/v1/playlists');
    const mine = (res.items || []).filter((p) => p.owner?.id === api.user?.id);
    if (!mine.length) list.replaceChildren(h('li', { class: 'hint' }, 'You have no playlists yet.'));
    else {
      list.replaceChildren(...mine.map((p) => h('li', {}, h('button', {
        type: 'button', class: 'button subtle pick',
        onclick: async () => {
          try {
            await api.request('PATCH', `/api/v1/playlists/${encodeURIComponent(p.id)}`, { json: { add: songIds } });
            announce(`Added ${what} to ${p.name}`);
            dlg.close('added');
          } catch (err) { message.textContent = `Could not add: ${describeError(err)}`; }
        },
      }, p.name))));
    }
  } catch (err) {
    message.textContent = `Could not load your playlists: ${describeError(err)}`;
  }
  return dlg.closed;
}
