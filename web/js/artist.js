// An artist: their albums as a cover grid, their top songs (by how often
// you played them: the API counts plays per user), play and shuffle.

import { api, describeError } from './api.js';
import { h, announce, icon } from './dom.js';
import { playSongs } from './playback.js';
import { starButton, ratingControl } from './song_actions.js';
import { onSongChanges } from './song_edit.js';
import {
  albumIndex, artistIndex, albumOf, albumCard, songItem, keepSongs, plural, detailSection, forgetIndexes,
} from './browse.js';
import { trackOrder } from './album.js';

const MAX_SONGS = 2000;
const TOP = 10;

export function renderArtist(main, params) {
  const id = params.id;
  const { section, status } = detailSection(main, 'artist', 'Artist');
  let alive = true;

  async function songsOf() {
    const out = [];
    let cursor = null;
    do {
      const page = await api.get('/api/v1/songs', { artist: id, sort: 'album', limit: 500, cursor });
      out.push(...page.items);
      cursor = page.next;
    } while (cursor && out.length < MAX_SONGS);
    return out;
  }

  async function load() {
    try {
      const [artists, albums, songs] = await Promise.all([artistIndex(), albumIndex().catch(() => null), songsOf()]);
      if (!alive) return;
      const artist = artists.byId.get(id);
      if (!artist && !songs.length) { status.textContent = 'This artist is not in the library (any more).'; return; }
      show(artist || { id, name: songs[0]?.artist || 'Unknown artist', song_count: songs.length, album_count: 0 }, albums, songs);
    } catch (err) {
      if (alive) status.textContent = `Could not load the artist: ${describeError(err)}`;
    }
  }

  function show(artist, albums, songs) {
    keepSongs(songs);
    const name = artist.name || 'Unknown artist';
    document.title = `${name} · HiFi`;

    // Their albums: those of their songs (by album artist, else artist).
    const seen = new Map();
    for (const s of songs) {
      const a = albums ? albumOf(albums, s) : null;
      if (a && !seen.has(a.id)) seen.set(a.id, a);
    }
    const artistAlbums = [...seen.values()].sort((a, b) => (b.year || 0) - (a.year || 0) || a.name.localeCompare(b.name));

    // Top songs: most played by you, then favourites and best rated.
    const played = songs.filter((s) => s.play_count > 0)
      .sort((a, b) => b.play_count - a.play_count || (b.last_played || 0) - (a.last_played || 0));
    const rest = songs.filter((s) => !(s.play_count > 0))
      .sort((a, b) => Boolean(b.starred) - Boolean(a.starred) || (b.rating || 0) - (a.rating || 0) || trackOrder(a, b));
    const top = [...played, ...rest].slice(0, TOP);

    const ordered = [...songs].sort((a, b) => (a.album || '').localeCompare(b.album || '') || trackOrder(a, b));
    const ids = ordered.map((s) => s.id);
    const act = (opts, message) => async () => {
      try { await playSongs(ids, opts); announce(message); } catch (err) { announce(`Could not play: ${describeError(err)}`); }
    };

    const hero = h('div', { class: 'hero artist-hero' },
      h('div', { class: 'hero-avatar', 'aria-hidden': 'true' }, [...name.trim()][0]?.toUpperCase() || '♪'),
      h('div', { class: 'hero-text' },
        h('p', { class: 'eyebrow' }, 'Artist'),
        h('h1', { id: 'artist-h', class: 'hero-title' }, name),
        h('p', { class: 'hero-meta' }, `${plural(songs.length, 'song')}, ${plural(artistAlbums.length, 'album')} · `,
          h('a', { href: `#/library/songs?artist=${encodeURIComponent(id)}&name=${encodeURIComponent(name)}` }, 'All songs')),
        h('div', { class: 'hero-actions' },
          h('button', { type: 'button', class: 'button primary', onclick: act({}, `Playing ${name}`), disabled: !ids.length },
            icon('play', 18), 'Play'),
          h('button', { type: 'button', class: 'button', onclick: act({ shuffle: true }, `Shuffling ${name}`), disabled: !ids.length },
            icon('shuffle', 18), 'Shuffle'),
          starButton('artist', artist.id, artist.starred, { name, item: artist }),
          ratingControl('artist', artist.id, artist.rating, { name, item: artist }))));

    const topHint = played.length ? 'By how often you played them.'
      : 'You have not played any yet: your favourites and best rated first.';
    section.replaceChildren(hero,
      h('section', { class: 'shelf', 'aria-labelledby': 'top-h' },
        h('h2', { id: 'top-h' }, 'Top songs'),
        h('p', { class: 'hint' }, topHint),
        h('ol', { class: 'song-list top-songs', 'aria-labelledby': 'top-h' },
          top.map((s) => songItem(s, {
            list: top, context: 'artist',
            albumId: albums ? albumOf(albums, s)?.id : null,
            meta: s.play_count > 0 ? plural(s.play_count, 'play') : null,
          })))),
      h('section', { class: 'shelf', 'aria-labelledby': 'albums-h' },
        h('h2', { id: 'albums-h' }, 'Albums'),
        artistAlbums.length
          ? h('ul', { class: 'card-grid', 'aria-labelledby': 'albums-h' }, artistAlbums.map((a) => albumCard(a, { artistId: a.artist === name ? id : null })))
          : h('p', { class: 'empty' }, 'No albums: these songs have no album tag.')));
  }

  const stopFollowing = onSongChanges(() => { forgetIndexes(); load(); });
  load();
  return () => {
    alive = false;
    stopFollowing();
  };
}
