// An artist: their albums as a cover grid and their top songs (the ten
// played most, by everyone), from one request (GET /api/v1/artists/{id});
// play and shuffle everything of theirs. An artist may be only the album
// artist of some albums (a compilation's "Various Artists").

import { api, ApiError, describeError } from './api.js';
import { h, announce, icon } from './dom.js';
import { playSongs } from './playback.js';
import { starButton, ratingControl } from './song_actions.js';
import { onSongChanges } from './song_edit.js';
import {
  albumCard, songItem, keepSongs, plural, detailSection,
} from './browse.js';
import { trackOrder } from './album.js';

const MAX_SONGS = 2000;

export function renderArtist(main, params) {
  const id = params.id;
  const { section, status } = detailSection(main, 'artist', 'Artist');
  let alive = true;

  async function load() {
    try {
      const artist = await api.get(`/api/v1/artists/${encodeURIComponent(id)}`);
      if (!alive) return;
      show(artist);
    } catch (err) {
      if (!alive) return;
      status.textContent = err instanceof ApiError && err.status === 404
        ? 'This artist is not in the library (any more).'
        : `Could not load the artist: ${describeError(err)}`;
    }
  }

  // What Play and Shuffle play, fetched when asked: their songs in album
  // order; for an artist with no songs of their own, their albums' songs.
  async function everything(artist) {
    const out = [];
    if (artist.song_count > 0) {
      let cursor = null;
      do {
        const page = await api.get('/api/v1/songs', { artist: id, sort: 'album', limit: 500, cursor });
        out.push(...page.items);
        cursor = page.next;
      } while (cursor && out.length < MAX_SONGS);
    } else {
      for (const a of artist.albums) {
        const album = await api.get(`/api/v1/albums/${encodeURIComponent(a.id)}`);
        out.push(...[...album.songs].sort(trackOrder));
        if (out.length >= MAX_SONGS) break;
      }
    }
    keepSongs(out);
    return out.map((s) => s.id);
  }

  function show(artist) {
    const top = artist.top_songs || [];
    const albums = artist.albums || [];
    keepSongs(top);
    const name = artist.name || 'Unknown artist';
    document.title = `${name} · HiFi`;
    const playable = artist.song_count > 0 || albums.length > 0;

    const act = (opts, message) => async () => {
      try {
        const ids = await everything(artist);
        if (!ids.length) { announce(`${name} has no songs to play.`); return; }
        await playSongs(ids, opts);
        announce(message);
      } catch (err) { announce(`Could not play: ${describeError(err)}`); }
    };

    const hero = h('div', { class: 'hero artist-hero' },
      h('div', { class: 'hero-avatar', 'aria-hidden': 'true' }, [...name.trim()][0]?.toUpperCase() || '♪'),
      h('div', { class: 'hero-text' },
        h('p', { class: 'eyebrow' }, 'Artist'),
        h('h1', { id: 'artist-h', class: 'hero-title' }, name),
        h('p', { class: 'hero-meta' }, `${plural(artist.song_count, 'song')}, ${plural(albums.length, 'album')}`,
          artist.song_count > 0 ? ' · ' : null,
          artist.song_count > 0
            ? h('a', { href: `#/library/songs?artist=${encodeURIComponent(id)}&name=${encodeURIComponent(name)}` }, 'All songs')
            : null),
        h('div', { class: 'hero-actions' },
          h('button', { type: 'button', class: 'button primary', onclick: act({}, `Playing ${name}`), disabled: !playable },
            icon('play', 18), 'Play'),
          h('button', { type: 'button', class: 'button', onclick: act({ shuffle: true }, `Shuffling ${name}`), disabled: !playable },
            icon('shuffle', 18), 'Shuffle'),
          starButton('artist', artist.id, artist.starred, { name, item: artist }),
          ratingControl('artist', artist.id, artist.rating, { name, item: artist }))));

    const anyPlays = top.some((s) => s.plays > 0);
    section.replaceChildren(hero,
      h('section', { class: 'shelf', 'aria-labelledby': 'top-h' },
        h('h2', { id: 'top-h' }, 'Top songs'),
        top.length
          ? [
            h('p', { class: 'hint' }, anyPlays ? 'By how often everyone played them.' : 'Nobody has played them yet.'),
            h('ol', { class: 'song-list top-songs', 'aria-labelledby': 'top-h' },
              top.map((s) => songItem(s, {
                list: top, context: 'artist', artistId: s.artist_id !== artist.id ? s.artist_id : null,
                meta: s.plays > 0 ? plural(s.plays, 'play') : null,
              }))),
          ]
          : h('p', { class: 'empty' }, 'No songs of their own: they are the album artist of the albums below.')),
      h('section', { class: 'shelf', 'aria-labelledby': 'albums-h' },
        h('h2', { id: 'albums-h' }, 'Albums'),
        albums.length
          ? h('ul', { class: 'card-grid', 'aria-labelledby': 'albums-h' }, albums.map((a) => albumCard(a)))
          : h('p', { class: 'empty' }, 'No albums: these songs have no album tag.')));
  }

  const stopFollowing = onSongChanges(load);
  load();
  return () => {
    alive = false;
    stopFollowing();
  };
}
