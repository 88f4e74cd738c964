// Home: recently added albums, recently played, most played, your
// favourites and your playlists.

import { api, describeError } from './api.js';
import { h } from './dom.js';
import { onSongChanges } from './song_edit.js';
import {
  albumCard, artistCard, songItem, keepSongs, plural, statusLine, totalLength,
} from './browse.js';

const RECENT_ALBUMS = 12;
const SONGS = 8;

export function renderHome(main) {
  const status = statusLine('Loading…');
  const body = h('div', { class: 'shelves' });
  const section = h('section', { class: 'home-view', 'aria-labelledby': 'home-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'home-h' }, 'Home')), status, body);
  main.append(section);
  let alive = true;

  function shelf(id, title, content, link = null) {
    return h('section', { class: 'shelf', 'aria-labelledby': id },
      h('div', { class: 'shelf-head' }, h('h2', { id }, title), link),
      content);
  }

  async function load() {
    try {
      const settle = (p) => p.then((v) => ({ ok: true, v }), (err) => ({ ok: false, err }));
      const [recent, history, starred, playlists] = await Promise.all([
        settle(api.get('/api/v1/albums', { sort: 'recent', limit: RECENT_ALBUMS })),
        settle(api.get('/api/v1/me/history', { limit: 500 })),
        settle(api.get('/api/v1/me/starred')),
        settle(api.get('/api/v1/playlists')),
      ]);
      // No albums: is the library empty, or are its songs without album tags?
      const anySong = recent.ok && !recent.v.items.length
        ? await api.get('/api/v1/songs', { limit: 1 }).then((r) => r.items.length > 0, () => false) : false;
      if (!alive) return;
      const failed = (what, r) => h('p', { class: 'empty' }, `Could not load ${what}: ${describeError(r.err)}`);
      const shelves = [];

      // Recently added albums (by when their first song was uploaded, newest first).
      if (recent.ok) {
        const list = recent.v.items;
        shelves.push(shelf('recent-albums-h', 'Recently added',
          list.length ? h('ul', { class: 'card-grid', 'aria-labelledby': 'recent-albums-h' }, list.map((a) => albumCard(a)))
            : h('p', { class: 'empty' }, anySong ? 'No albums yet: your songs have no album tags.' : 'Your library is empty. ',
              anySong ? null : h('a', { href: '#/upload' }, 'Upload some music')),
          h('a', { href: '#/library/albums', class: 'shelf-link' }, 'All albums')));
      } else shelves.push(shelf('recent-albums-h', 'Recently added', failed('recent albums', recent)));

      // Recently played and most played, from your history.
      if (history.ok) {
        const unique = new Map();
        for (const p of history.v.items) if (p.song && !unique.has(p.song_id)) unique.set(p.song_id, p.song);
        const recentSongs = [...unique.values()].slice(0, SONGS);
        const most = [...unique.values()].filter((s) => s.play_count > 0)
          .sort((a, b) => b.play_count - a.play_count || (b.last_played || 0) - (a.last_played || 0)).slice(0, SONGS);
        keepSongs(recentSongs);
        shelves.push(shelf('recent-played-h', 'Recently played',
          recentSongs.length ? h('ol', { class: 'song-list', 'aria-labelledby': 'recent-played-h' },
            recentSongs.map((s) => songItem(s, { list: recentSongs, context: 'home' })))
            : h('p', { class: 'empty' }, 'Nothing played yet.'),
          h('a', { href: '#/history', class: 'shelf-link' }, 'History')));
        shelves.push(shelf('most-played-h', 'Most played',
          most.length ? h('ol', { class: 'song-list', 'aria-labelledby': 'most-played-h' },
            most.map((s) => songItem(s, { list: most, context: 'home', meta: plural(s.play_count, 'play') })))
            : h('p', { class: 'empty' }, 'Nothing played yet.')));
      } else shelves.push(shelf('recent-played-h', 'Recently played', failed('your history', history)));

      // Favourites.
      if (starred.ok) {
        const st = starred.v;
        const songs = st.songs.slice(0, SONGS);
        const parts = [];
        if (songs.length) {
          parts.push(h('ul', { class: 'song-list', 'aria-label': 'Favourite songs' },
            songs.map((s) => songItem(s, { list: st.songs, context: 'home' }))));
        }
        if (st.albums.length || st.artists.length) {
          parts.push(h('ul', { class: 'card-grid', 'aria-label': 'Favourite albums and artists' },
            st.albums.slice(0, 6).map((a) => albumCard(a)),
            st.artists.slice(0, 6).map(artistCard)));
        }
        if (!parts.length) parts.push(h('p', { class: 'empty' }, 'No favourites yet. Star what you love to find it here.'));
        shelves.push(shelf('fav-home-h', 'Your favourites', h('div', {}, parts),
          h('a', { href: '#/favourites', class: 'shelf-link' }, 'All favourites')));
      } else shelves.push(shelf('fav-home-h', 'Your favourites', failed('your favourites', starred)));

      // Your playlists.
      if (playlists.ok) {
        const mine = playlists.v.items.filter((p) => p.owner?.id === api.user?.id);
        shelves.push(shelf('playlists-home-h', 'Your playlists',
          mine.length ? h('ul', { class: 'playlist-links', 'aria-labelledby': 'playlists-home-h' }, mine.map((p) => h('li', {},
            h('a', { href: `#/playlists/${encodeURIComponent(p.id)}`, class: 'row-title' }, p.name),
            h('span', { class: 'row-sub' }, `${plural(p.song_count, 'song')} · ${totalLength(p.duration_ms)}`))))
            : h('p', { class: 'empty' }, 'You have no playlists yet.'),
          h('a', { href: '#/playlists', class: 'shelf-link' }, 'All playlists')));
      } else shelves.push(shelf('playlists-home-h', 'Your playlists', failed('your playlists', playlists)));

      status.textContent = '';
      status.hidden = true;
      body.replaceChildren(...shelves);
    } catch (err) {
      if (alive) status.textContent = `Could not load: ${describeError(err)}`;
    }
  }

  const stopFollowing = onSongChanges(load);
  load();
  return () => {
    alive = false;
    stopFollowing();
  };
}
