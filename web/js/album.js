// An album: cover, name, artist, year, its tracks in disc and track order
// with the total length; play, shuffle, add to queue, add to a playlist,
// favourite and rating.

import { api, ApiError, describeError } from './api.js';
import { h, announce, icon } from './dom.js';
import { playSongs, addToQueue } from './playback.js';
import { addToPlaylistDialog } from './playlists.js';
import { starButton, ratingControl } from './song_actions.js';
import { onSongChanges } from './song_edit.js';
import {
  lazyCover, songItem, keepSongs, plural, totalLength, detailSection,
} from './browse.js';

export function trackOrder(a, b) {
  return (a.disc || 0) - (b.disc || 0) || (a.track || 0) - (b.track || 0)
    || (a.title || '').localeCompare(b.title || '');
}

export function renderAlbum(main, params) {
  const id = params.id;
  const { section, status } = detailSection(main, 'album', 'Album');
  let alive = true;

  async function load() {
    try {
      const album = await api.get(`/api/v1/albums/${encodeURIComponent(id)}`);
      if (!alive) return;
      show(album);
    } catch (err) {
      if (!alive) return;
      status.textContent = err instanceof ApiError && err.status === 404
        ? 'This album is not in the library (any more).'
        : `Could not load the album: ${describeError(err)}`;
    }
  }

  function show(album) {
    const songs = [...album.songs].sort(trackOrder);
    keepSongs(songs);
    const name = album.name || 'Untitled album';
    document.title = `${name} · HiFi`;
    const ids = songs.map((s) => s.id);
    const total = songs.reduce((sum, s) => sum + (s.duration_ms || 0), 0);
    const discs = new Set(songs.map((s) => s.disc || 0));

    const act = (fn, message) => async () => {
      try { await fn(); announce(message); } catch (err) { announce(`Could not do that: ${describeError(err)}`); }
    };
    const actions = h('div', { class: 'hero-actions' },
      h('button', { type: 'button', class: 'button primary', onclick: act(() => playSongs(ids), `Playing ${name}`) },
        icon('play', 18), 'Play'),
      h('button', { type: 'button', class: 'button', onclick: act(() => playSongs(ids, { shuffle: true }), `Shuffling ${name}`) },
        icon('shuffle', 18), 'Shuffle'),
      h('button', { type: 'button', class: 'button', onclick: act(() => addToQueue(ids), `Added ${name} to the queue`) },
        icon('queue', 18), 'Add to queue'),
      h('button', { type: 'button', class: 'button', onclick: () => addToPlaylistDialog(ids) }, 'Add to playlist'),
      starButton('album', album.id, album.starred, { name, item: album }),
      ratingControl('album', album.id, album.rating, { name, item: album }));

    // The album artist (a compilation's "Various Artists" too: an artist page of their own).
    const artistNode = album.artist_id && album.artist
      ? h('a', { href: `#/artists/${encodeURIComponent(album.artist_id)}`, class: 'hero-artist' }, album.artist)
      : h('span', { class: 'hero-artist' }, album.artist || 'Unknown artist');
    const hero = h('div', { class: 'hero' },
      lazyCover(album.cover_url, 220, 'hero-cover'),
      h('div', { class: 'hero-text' },
        h('p', { class: 'eyebrow' }, 'Album'),
        h('h1', { id: 'album-h', class: 'hero-title' }, name),
        h('p', { class: 'hero-sub' }, artistNode,
          album.year ? h('span', { class: 'hero-year' }, ` · ${album.year}`) : null),
        h('p', { class: 'hero-meta' }, `${plural(songs.length, 'song')} · `,
          h('span', { class: 'total-length' }, totalLength(total))),
        actions));

    const lists = [];
    for (const disc of [...discs].sort((a, b) => a - b)) {
      const discSongs = songs.filter((s) => (s.disc || 0) === disc);
      const listLabel = discs.size > 1 ? `Disc ${disc || '?'}` : 'Tracks';
      lists.push(discs.size > 1 ? h('h2', { class: 'disc-head' }, listLabel) : null);
      lists.push(h('ol', { class: 'song-list tracks', 'aria-label': listLabel },
        discSongs.map((s) => songItem(s, {
          list: songs, number: s.track || '', context: 'album', showAlbum: false,
          // Only the tracks of other artists than the album's link theirs.
          artistId: s.artist_id !== album.artist_id ? s.artist_id : null,
        }))));
    }
    section.replaceChildren(hero, ...lists.filter(Boolean));
    if (!songs.length) section.append(h('p', { class: 'empty' }, 'This album has no songs.'));
  }

  const stopFollowing = onSongChanges(load);
  load();
  return () => {
    alive = false;
    stopFollowing();
  };
}
