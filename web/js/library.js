// The library: songs (virtualized, searched as you type, paged with
// cursors), albums and artists, cover art and downloads.

import { api, rememberSongs, describeError } from './api.js';
import { h, icon, formatDuration, announce, debounce, uid } from './dom.js';
import { VirtualList } from './vlist.js';
import { coverImage } from './cover.js';
import { activeRoom } from './room.js';

const PAGE_SIZE = 200;
const SORTS = [
  ['artist', 'Artist'],
  ['title', 'Title'],
  ['album', 'Album'],
  ['uploaded_at', 'Recently added'],
  ['duration', 'Length'],
];

// Remembered while the page lives, so coming back to the library keeps the search.
const memory = { q: '', sort: 'artist' };

export function renderLibrary(main, params) {
  const tab = ['songs', 'albums', 'artists'].includes(params.tab) ? params.tab : 'songs';
  const filter = params.query.get('album') ? { album: params.query.get('album') }
    : params.query.get('artist') ? { artist: params.query.get('artist') } : null;
  const filterName = params.query.get('name') || '';

  const searchId = uid('q');
  const status = h('p', { class: 'list-status', role: 'status' });
  const search = h('input', {
    id: searchId, type: 'search', value: memory.q, autocomplete: 'off', spellcheck: 'false',
    placeholder: tab === 'songs' ? 'Title, artist or album' : tab === 'albums' ? 'Album or artist' : 'Artist',
  });
  const sortSelect = h('select', { id: uid('sort') },
    SORTS.map(([value, label]) => h('option', { value, selected: value === memory.sort }, label)));

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Library sections' },
    ['songs', 'albums', 'artists'].map((t) => h('a', {
      href: `#/library/${t}`, 'aria-current': t === tab ? 'page' : null,
    }, t[0].toUpperCase() + t.slice(1))));

  const controls = h('div', { class: 'library-controls' },
    h('div', { class: 'field grow' },
      h('label', { for: searchId }, tab === 'songs' ? 'Search songs' : tab === 'albums' ? 'Search albums' : 'Search artists'),
      search),
    tab === 'songs' ? h('div', { class: 'field' }, h('label', { for: sortSelect.id }, 'Sort by'), sortSelect) : null);

  const filterBar = filter ? h('p', { class: 'filter-chip' },
    `${filter.album ? 'Album' : 'Artist'}: ${filterName || '…'} `,
    h('a', { href: '#/library/songs', class: 'button subtle small' }, 'Show all songs')) : null;

  let list;
  let seq = 0;
  let cursor = null;
  let controller = null;

  const section = h('section', { class: 'library', 'aria-labelledby': 'library-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'library-h' }, 'Library'), tabs),
    controls, filterBar, status);
  main.append(section);

  if (tab === 'songs') {
    list = new VirtualList({
      label: 'Songs', rowHeight: 60, renderRow: songRow, emptyText: 'No songs found.',
      onNeedMore: () => loadSongs(false),
    });
  } else if (tab === 'albums') {
    list = new VirtualList({ label: 'Albums', rowHeight: 60, renderRow: albumRow, emptyText: 'No albums found.' });
  } else {
    list = new VirtualList({ label: 'Artists', rowHeight: 52, renderRow: artistRow, emptyText: 'No artists found.' });
  }
  section.append(list.el);

  async function loadSongs(fresh) {
    if (fresh) { cursor = null; controller?.abort(); }
    else if (!cursor) return;
    const mySeq = fresh ? ++seq : seq;
    controller = new AbortController();
    list.setLoading(true);
    const query = { q: memory.q.trim(), sort: memory.sort, limit: PAGE_SIZE, cursor };
    if (memory.sort === 'uploaded_at') query.order = 'desc';
    if (filter?.album) query.album = filter.album;
    if (filter?.artist) query.artist = filter.artist;
    try {
      const page = await api.get('/api/v1/songs', query, { signal: controller.signal });
      if (mySeq !== seq) return;
      rememberSongs(page.items);
      cursor = page.next;
      if (fresh) list.setItems(page.items, Boolean(page.next));
      else list.appendItems(page.items, Boolean(page.next));
      const n = list.items.length;
      status.textContent = n === 0 ? (memory.q ? `No songs match “${memory.q}”.` : 'No songs yet. Upload some!')
        : `${n}${page.next ? '+' : ''} song${n === 1 ? '' : 's'}${memory.q ? ` matching “${memory.q}”` : ''}`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = `Could not load songs: ${describeError(err)}`;
    } finally {
      if (mySeq === seq) list.setLoading(false);
    }
  }

  async function loadGroups() {
    const mySeq = ++seq;
    controller?.abort();
    controller = new AbortController();
    list.setLoading(true);
    try {
      const path = tab === 'albums' ? '/api/v1/albums' : '/api/v1/artists';
      const res = await api.get(path, { q: memory.q.trim() }, { signal: controller.signal });
      if (mySeq !== seq) return;
      list.setItems(res.items, false);
      const n = res.items.length;
      status.textContent = `${n} ${tab === 'albums' ? 'album' : 'artist'}${n === 1 ? '' : 's'}${memory.q ? ` matching “${memory.q}”` : ''}`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = `Could not load ${tab}: ${describeError(err)}`;
    } finally {
      if (mySeq === seq) list.setLoading(false);
    }
  }

  const reload = () => (tab === 'songs' ? loadSongs(true) : loadGroups());
  const searchAsYouType = debounce(reload, 180);
  search.addEventListener('input', () => { memory.q = search.value; searchAsYouType(); });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { searchAsYouType.cancel(); reload(); }
  });
  sortSelect.addEventListener('change', () => { memory.sort = sortSelect.value; reload(); });
  reload();

  return () => { controller?.abort(); searchAsYouType.cancel(); list.destroy(); };
}

function songRow(song) {
  const room = activeRoom();
  return h('div', { class: 'row song-row' },
    coverImage(song.cover_url, ''),
    h('div', { class: 'row-main' },
      h('span', { class: 'row-title' }, song.title),
      h('span', { class: 'row-sub' }, [song.artist, song.album].filter(Boolean).join(' — ') || 'Unknown artist')),
    h('span', { class: 'row-meta' }, formatDuration(song.duration_ms)),
    h('div', { class: 'row-actions' },
      room ? h('button', {
        type: 'button', class: 'icon-button', 'aria-label': `Add ${song.title} to ${room.name}`, title: `Add to ${room.name}`,
        onclick: async (e) => {
          const btn = e.currentTarget;
          try {
            await room.command({ type: 'add', song_ids: [song.id] });
            announce(`Added ${song.title} to ${room.name}`);
            btn.classList.add('done');
          } catch (err) { announce(`Could not add: ${describeError(err)}`); }
        },
      }, icon('add')) : null,
      h('button', {
        type: 'button', class: 'icon-button', 'aria-label': `Download ${song.title}`, title: 'Download',
        onclick: () => download(song),
      }, icon('download'))));
}

function albumRow(album) {
  const name = album.name || 'Untitled album';
  return h('div', { class: 'row album-row' },
    coverImage(album.cover_url, ''),
    h('div', { class: 'row-main' },
      h('a', { class: 'row-title', href: `#/library/songs?album=${album.id}&name=${encodeURIComponent(name)}` }, name),
      h('span', { class: 'row-sub' }, [album.artist, album.year || null].filter(Boolean).join(' · ') || 'Unknown artist')),
    h('span', { class: 'row-meta' }, `${album.song_count} song${album.song_count === 1 ? '' : 's'} · ${formatDuration(album.duration_ms)}`));
}

function artistRow(artist) {
  const name = artist.name || 'Unknown artist';
  return h('div', { class: 'row artist-row' },
    h('div', { class: 'row-main' },
      h('a', { class: 'row-title', href: `#/library/songs?artist=${artist.id}&name=${encodeURIComponent(name)}` }, name)),
    h('span', { class: 'row-meta' },
      `${artist.song_count} song${artist.song_count === 1 ? '' : 's'}, ${artist.album_count} album${artist.album_count === 1 ? '' : 's'}`));
}

// Downloads through a signed URL (no header needed) with ?download=1, which
// makes the server send Content-Disposition: attachment with the file name.
export async function download(song) {
  try {
    const { url } = await api.streamUrl(song.id);
    const u = new URL(url);
    u.searchParams.set('download', '1');
    const a = h('a', { href: u.toString(), download: song.filename || '' , hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    announce(`Downloading ${song.title}`);
  } catch (err) {
    announce(`Could not download ${song.title}: ${describeError(err)}`);
  }
}
