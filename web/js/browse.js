// Pieces shared by the browse views (home, album, artist, favourites,
// history, library grids): song rows, album and artist cards, covers that
// load when they scroll into view. Songs link to their album and artist by
// the ids they carry (`album_id`, `artist_id`), albums to their album
// artist by `artist_id`: no view needs the whole album or artist list.

import { api, rememberSongs } from './api.js';
import { h, icon, formatDuration, announce } from './dom.js';
import { starButton, ratingControl, songActionsMenu } from './song_actions.js';
import { playSongs } from './playback.js';
import { describeError } from './api.js';

// ---- formatting -----------------------------------------------------------

export function plural(n, word, many = `${word}s`) { return `${n} ${n === 1 ? word : many}`; }

export function totalLength(ms) {
  const minutes = Math.round(ms / 60000);
  if (minutes >= 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  if (minutes >= 1) return `${minutes} min`;
  return formatDuration(ms);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dayOnly = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

export function formatDateTime(ms) { return dateTime.format(new Date(ms)); }
export function formatTime(ms) { return timeOnly.format(new Date(ms)); }
export function dayLabel(ms, now = Date.now()) {
  const d = new Date(ms); d.setHours(0, 0, 0, 0);
  const t = new Date(now); t.setHours(0, 0, 0, 0);
  const days = Math.round((t - d) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return dayOnly.format(new Date(ms));
}

// ---- covers ---------------------------------------------------------------

let observer = null;
function coverObserver() {
  if (!observer) {
    observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        observer.unobserve(e.target);
        const img = e.target;
        api.cover(img.dataset.cover).then((url) => { if (url) { img.src = url; img.classList.add('loaded'); } });
      }
    }, { rootMargin: '300px' });
  }
  return observer;
}

// A cover that is fetched once it nears the viewport (decorative: alt="").
export function lazyCover(path, size = 160, className = 'cover') {
  if (!path) {
    return h('div', { class: `${className} placeholder`, 'aria-hidden': 'true' }, icon('music', Math.round(size * 0.35)));
  }
  const img = h('img', { class: className, alt: '', width: size, height: size, decoding: 'async', dataset: { cover: path } });
  coverObserver().observe(img);
  return img;
}

// ---- cards ----------------------------------------------------------------

// An album as a card of a cover grid: cover and name link to the album
// page, the artist to the album artist's page.
export function albumCard(album, { artistId = album.artist_id ?? null, marks = true } = {}) {
  const name = album.name || 'Untitled album';
  return h('li', { class: 'album-card' },
    h('a', { class: 'card-link', href: `#/albums/${encodeURIComponent(album.id)}` },
      lazyCover(album.cover_url, 180, 'card-cover'),
      h('span', { class: 'card-title' }, name)),
    h('div', { class: 'card-foot' },
      h('span', { class: 'card-sub' },
        artistId ? h('a', { href: `#/artists/${encodeURIComponent(artistId)}` }, album.artist || 'Unknown artist')
          : (album.artist || 'Unknown artist'),
        album.year ? ` · ${album.year}` : ''),
      marks ? starButton('album', album.id, album.starred, { name, item: album, small: true }) : null));
}

export function artistCard(artist) {
  const name = artist.name || 'Unknown artist';
  return h('li', { class: 'artist-card' },
    h('a', { class: 'card-link', href: `#/artists/${encodeURIComponent(artist.id)}` },
      h('span', { class: 'artist-avatar', 'aria-hidden': 'true' }, initials(name)),
      h('span', { class: 'card-title' }, name)),
    h('div', { class: 'card-foot' },
      h('span', { class: 'card-sub' }, `${plural(artist.song_count, 'song')}, ${plural(artist.album_count, 'album')}`),
      starButton('artist', artist.id, artist.starred, { name, item: artist, small: true })));
}

function initials(name) {
  const letters = [...name.trim()].filter((c) => /\p{L}|\p{N}/u.test(c));
  return (letters[0] || '♪').toUpperCase();
}

// ---- song rows ------------------------------------------------------------

// One song of a (non-virtual) list. `list` is the ordered songs the row
// belongs to: its play button plays the list from this song.
// Options: number (a track number shown instead of the cover), meta
// (extra text, e.g. when it was played), albumId and artistId for the links
// (the song's own by default; null for none).
export function songItem(song, {
  list = [song], number = null, meta = null, albumId = song.album_id ?? null, artistId = song.artist_id ?? null, context = '',
  showAlbum = true, onDelete = null, onChange = null, marks = true,
} = {}) {
  const title = song.title || 'Untitled';
  const missing = Boolean(song.missing);
  const sub = [];
  if (song.artist) sub.push(artistId ? h('a', { href: `#/artists/${encodeURIComponent(artistId)}` }, song.artist) : song.artist);
  if (showAlbum && song.album) {
    if (sub.length) sub.push(' — ');
    sub.push(albumId ? h('a', { href: `#/albums/${encodeURIComponent(albumId)}` }, song.album) : song.album);
  }
  const lead = number !== null
    ? h('span', { class: 'track-no', 'aria-hidden': 'true' }, number || '')
    : lazyCover(song.cover_url, 44, 'cover');
  return h('li', { class: `song-item${missing ? ' missing' : ''}`, dataset: { songId: song.id } },
    h('button', {
      type: 'button', class: 'icon-button play-one', 'aria-label': `Play ${title}`, title: 'Play', disabled: missing,
      onclick: async () => {
        try {
          const ids = list.filter((s) => !s.missing).map((s) => s.id);
          await playSongs(ids, { startIndex: Math.max(0, ids.indexOf(song.id)) });
          announce(`Playing ${title}`);
        } catch (err) { announce(`Could not play: ${describeError(err)}`); }
      },
    }, icon('play', 18)),
    lead,
    h('div', { class: 'row-main' },
      h('span', { class: 'row-title' }, title),
      sub.length ? h('span', { class: 'row-sub' }, sub) : null),
    meta ? h('span', { class: 'row-meta when' }, meta) : null,
    h('span', { class: 'row-meta length' }, formatDuration(song.duration_ms)),
    marks && !missing ? h('div', { class: 'row-marks' },
      ratingControl('song', song.id, song.rating, { name: title, item: song, small: true }),
      starButton('song', song.id, song.starred, { name: title, item: song })) : null,
    missing ? null : songActionsMenu(song, { context, onDelete, onChange }));
}

// Remembers songs for the player and the queue (getSong cache).
export function keepSongs(songs) { rememberSongs(songs.filter((s) => s && !s.missing)); }

// A view's status line ("Loading…", errors).
export function statusLine(text = 'Loading…') {
  return h('p', { class: 'list-status', role: 'status' }, text);
}

// The section of an album's or an artist's page (`kind`), appended to
// `main`: a hidden heading and a status line until the page is loaded (the
// hero then brings the visible heading, with the same id).
export function detailSection(main, kind, heading) {
  const status = statusLine(`Loading the ${kind}…`);
  const section = h('section', { class: `${kind}-view`, 'aria-labelledby': `${kind}-h` },
    h('h1', { id: `${kind}-h`, class: 'visually-hidden' }, heading), status);
  main.append(section);
  return { section, status };
}
