// The library: songs (virtualized, searched as you type, paged with
// cursors), albums and artists, cover art and downloads.

import { api, rememberSongs, describeError } from './api.js';
import { h, formatDuration, announce, debounce, uid } from './dom.js';
import { VirtualList } from './vlist.js';
import { coverImage } from './cover.js';
import { songActionsMenu, starButton, ratingControl } from './song_actions.js';
import { onSongChanges } from './song_edit.js';
import { albumCard, artistCard } from './browse.js';
import { playSongs, playNext, addToQueue } from './playback.js';
import { addToPlaylistDialog } from './playlists.js';

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

// Albums and artists as a list or a cover grid, remembered per tab.
const LAYOUT_KEY = 'hifi.libraryLayout';
function savedLayout(tab) {
  try { return JSON.parse(localStorage.getItem(LAYOUT_KEY) || '{}')[tab] === 'grid' ? 'grid' : 'list'; } catch { return 'list'; }
}
function saveLayout(tab, layout) {
  let all = {};
  try { all = JSON.parse(localStorage.getItem(LAYOUT_KEY) || '{}') || {}; } catch { all = {}; }
  all[tab] = layout;
  localStorage.setItem(LAYOUT_KEY, JSON.stringify(all));
}
const GRID_CHUNK = 120;

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

  let layout = tab === 'songs' ? 'list' : savedLayout(tab);
  const layoutButtons = tab === 'songs' ? [] : ['list', 'grid'].map((value) => h('button', {
    type: 'button', class: 'button small', dataset: { layout: value }, 'aria-pressed': String(layout === value),
  }, value === 'list' ? 'List' : 'Grid'));
  const layoutToggle = tab === 'songs' ? null : h('div', { class: 'field layout-field' },
    h('span', { class: 'field-label', id: 'layout-label' }, 'Show as'),
    h('div', { class: 'segmented', role: 'group', 'aria-labelledby': 'layout-label' }, layoutButtons));

  const controls = h('div', { class: 'library-controls' },
    h('div', { class: 'field grow' },
      h('label', { for: searchId }, tab === 'songs' ? 'Search songs' : tab === 'albums' ? 'Search albums' : 'Search artists'),
      search),
    tab === 'songs' ? h('div', { class: 'field' }, h('label', { for: sortSelect.id }, 'Sort by'), sortSelect) : null,
    layoutToggle);

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

  // Songs picked with their checkboxes, for the selection bar's actions
  // (play, play next, add to the queue, add to a playlist). Kept by id, so
  // rows may come and go as the list scrolls; in the order they were picked.
  const selected = new Map(); // song id -> song
  const selectionCount = h('span', { class: 'selection-count', role: 'status' });
  const selectionBar = h('div', { class: 'selection-bar', role: 'toolbar', 'aria-label': 'Selected songs', hidden: true });
  const selectedIds = () => [...selected.keys()];
  const selectionAction = (label, action) => h('button', {
    type: 'button', class: 'button small',
    onclick: async () => {
      try { await action(selectedIds()); } catch (err) { announce(`${label}: ${describeError(err)}`); }
    },
  }, label);
  selectionBar.append(selectionCount,
    selectionAction('Play', (ids) => playSongs(ids)),
    selectionAction('Play next', (ids) => playNext(ids)),
    selectionAction('Add to queue', (ids) => addToQueue(ids)),
    selectionAction('Add to playlist…', (ids) => addToPlaylistDialog(ids)),
    h('button', { type: 'button', class: 'button subtle small', onclick: () => clearSelection() }, 'Clear selection'));
  function paintSelection() {
    selectionBar.hidden = selected.size === 0;
    selectionCount.textContent = `${selected.size} selected`;
  }
  function clearSelection() {
    selected.clear();
    for (const box of section.querySelectorAll('.song-select')) box.checked = false;
    paintSelection();
    announce('Selection cleared');
  }
  function toggleSelected(song, on) {
    if (on) selected.set(song.id, song);
    else selected.delete(song.id);
    paintSelection();
  }

  if (tab === 'songs') {
    list = new VirtualList({
      label: 'Songs', rowHeight: 60, emptyText: 'No songs found.',
      renderRow: (song) => songRow(song, { selected: selected.has(song.id), onSelect: toggleSelected }),
      onNeedMore: () => loadSongs(false),
    });
    section.append(selectionBar);
  } else if (tab === 'albums') {
    list = new VirtualList({ label: 'Albums', rowHeight: 60, renderRow: albumRow, emptyText: 'No albums found.' });
  } else {
    list = new VirtualList({ label: 'Artists', rowHeight: 56, renderRow: artistRow, emptyText: 'No artists found.' });
  }
  section.append(list.el);

  // The cover grid (albums and artists): rendered in chunks as it scrolls.
  const grid = h('ul', { class: `card-grid library-grid${tab === 'artists' ? ' artists' : ''}`, 'aria-label': tab === 'albums' ? 'Albums' : 'Artists', hidden: true });
  const gridMore = h('div', { class: 'grid-sentinel', 'aria-hidden': 'true' });
  let gridItems = [];
  let gridShown = 0;
  const gridObserver = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) growGrid();
  }, { rootMargin: '600px' });
  if (tab !== 'songs') {
    section.append(grid, gridMore);
    gridObserver.observe(gridMore);
  }
  function growGrid() {
    if (gridShown >= gridItems.length) return;
    const next = gridItems.slice(gridShown, gridShown + GRID_CHUNK);
    gridShown += next.length;
    grid.append(...next.map((item) => (tab === 'albums' ? albumCard(item) : artistCard(item))));
  }
  function showGrid(items) {
    gridItems = items;
    gridShown = 0;
    grid.replaceChildren();
    growGrid();
  }
  function applyLayout() {
    const isGrid = layout === 'grid';
    list.el.hidden = isGrid;
    grid.hidden = !isGrid;
    for (const b of layoutButtons) b.setAttribute('aria-pressed', String(b.dataset.layout === layout));
    if (isGrid) showGrid(list.items);
  }
  for (const b of layoutButtons) {
    b.addEventListener('click', () => {
      if (layout === b.dataset.layout) return;
      layout = b.dataset.layout;
      saveLayout(tab, layout);
      applyLayout();
      announce(layout === 'grid' ? 'Showing a grid' : 'Showing a list');
    });
  }
  applyLayout();

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
      if (layout === 'grid') showGrid(res.items);
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

  // An edited or deleted song changes what the list shows.
  const stopFollowing = onSongChanges(() => reload());

  return () => {
    controller?.abort(); searchAsYouType.cancel(); list.destroy(); gridObserver.disconnect();
    stopFollowing();
  };
}

// Links to an artist's and an album's page by the ids songs and albums carry.
const artistLink = (id, name) => (id ? h('a', { href: `#/artists/${encodeURIComponent(id)}` }, name) : name);
const albumLink = (id, name) => (id ? h('a', { href: `#/albums/${encodeURIComponent(id)}` }, name) : name);

function songRow(song, { selected, onSelect }) {
  const title = song.title || 'Untitled';
  const box = h('input', { type: 'checkbox', class: 'song-select', 'aria-label': `Select ${title}` });
  box.checked = selected;
  box.addEventListener('change', () => onSelect(song, box.checked));
  const sub = [];
  if (song.artist) sub.push(artistLink(song.artist_id, song.artist));
  if (song.album) sub.push(sub.length ? ' — ' : null, albumLink(song.album_id, song.album));
  return h('div', { class: 'row song-row' },
    box,
    coverImage(song.cover_url, ''),
    h('div', { class: 'row-main' },
      h('span', { class: 'row-title' }, title),
      h('span', { class: 'row-sub' }, sub.length ? sub : 'Unknown artist')),
    h('span', { class: 'row-meta' }, formatDuration(song.duration_ms)),
    h('div', { class: 'row-actions' },
      h('div', { class: 'row-marks' },
        ratingControl('song', song.id, song.rating, { name: title, item: song, small: true }),
        starButton('song', song.id, song.starred, { name: title, item: song })),
      songActionsMenu(song, { context: 'library' })));
}

function albumRow(album) {
  const name = album.name || 'Untitled album';
  return h('div', { class: 'row album-row' },
    coverImage(album.cover_url, ''),
    h('div', { class: 'row-main' },
      h('a', { class: 'row-title', href: `#/albums/${encodeURIComponent(album.id)}` }, name),
      h('span', { class: 'row-sub' }, album.artist ? artistLink(album.artist_id, album.artist) : 'Unknown artist',
        album.year ? ` · ${album.year}` : null)),
    h('span', { class: 'row-meta' }, `${album.song_count} song${album.song_count === 1 ? '' : 's'} · ${formatDuration(album.duration_ms)}`),
    h('div', { class: 'row-actions' },
      h('div', { class: 'row-marks' },
        ratingControl('album', album.id, album.rating, { name, item: album, small: true }),
        starButton('album', album.id, album.starred, { name, item: album }))));
}

function artistRow(artist) {
  const name = artist.name || 'Unknown artist';
  return h('div', { class: 'row artist-row' },
    h('div', { class: 'row-main' },
      h('a', { class: 'row-title', href: `#/artists/${encodeURIComponent(artist.id)}` }, name)),
    h('span', { class: 'row-meta' },
      `${artist.song_count} song${artist.song_count === 1 ? '' : 's'}, ${artist.album_count} album${artist.album_count === 1 ? '' : 's'}`),
    h('div', { class: 'row-actions' },
      h('div', { class: 'row-marks' },
        ratingControl('artist', artist.id, artist.rating, { name, item: artist, small: true }),
        starButton('artist', artist.id, artist.starred, { name, item: artist }))));
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
