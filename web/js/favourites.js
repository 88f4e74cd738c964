// Favourites: the songs, albums and artists you starred, newest first.

import { api, describeError } from './api.js';
import { h, announce, icon } from './dom.js';
import { playSongs } from './playback.js';
import { onSongChanges } from './song_edit.js';
import {
  albumCard, artistCard, songItem, keepSongs, plural, statusLine,
} from './browse.js';

export function renderFavourites(main) {
  const status = statusLine('Loading your favourites…');
  const body = h('div', { class: 'shelves' });
  const playAll = h('button', { type: 'button', class: 'button primary', disabled: true }, icon('play', 18), 'Play favourite songs');
  const section = h('section', { class: 'favourites-view', 'aria-labelledby': 'fav-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'fav-h' }, 'Favourites'), playAll),
    status, body);
  main.append(section);
  let alive = true;
  let songs = [];

  playAll.addEventListener('click', async () => {
    try {
      await playSongs(songs.map((s) => s.id));
      announce('Playing your favourite songs');
    } catch (err) { announce(`Could not play: ${describeError(err)}`); }
  });

  async function load() {
    try {
      const starred = await api.get('/api/v1/me/starred');
      if (!alive) return;
      songs = starred.songs;
      keepSongs(songs);
      playAll.disabled = !songs.length;
      const total = songs.length + starred.albums.length + starred.artists.length;
      status.textContent = total ? `${plural(songs.length, 'song')}, ${plural(starred.albums.length, 'album')}, ${plural(starred.artists.length, 'artist')}`
        : 'Nothing here yet. Star songs, albums and artists (the ☆ buttons) to find them here.';
      body.replaceChildren(
        h('section', { class: 'shelf', 'aria-labelledby': 'fav-songs-h' },
          h('h2', { id: 'fav-songs-h' }, 'Songs'),
          songs.length ? h('ul', { class: 'song-list', 'aria-labelledby': 'fav-songs-h' }, songs.map((s) => songItem(s, {
            list: songs, context: 'favourites',
          }))) : h('p', { class: 'empty' }, 'No favourite songs yet.')),
        h('section', { class: 'shelf', 'aria-labelledby': 'fav-albums-h' },
          h('h2', { id: 'fav-albums-h' }, 'Albums'),
          starred.albums.length ? h('ul', { class: 'card-grid', 'aria-labelledby': 'fav-albums-h' },
            starred.albums.map((a) => albumCard(a)))
            : h('p', { class: 'empty' }, 'No favourite albums yet.')),
        h('section', { class: 'shelf', 'aria-labelledby': 'fav-artists-h' },
          h('h2', { id: 'fav-artists-h' }, 'Artists'),
          starred.artists.length ? h('ul', { class: 'card-grid artists', 'aria-labelledby': 'fav-artists-h' }, starred.artists.map(artistCard))
            : h('p', { class: 'empty' }, 'No favourite artists yet.')));
    } catch (err) {
      if (alive) status.textContent = `Could not load your favourites: ${describeError(err)}`;
    }
  }

  const stopFollowing = onSongChanges(load);
  load();
  return () => {
    alive = false;
    stopFollowing();
  };
}
