// HiFi's web app: routing between the views, the session, the header.

import { api } from './api.js';
import { currentRoute, navigate } from './router.js';
import { renderLogin, renderRegister } from './auth.js';
import { renderLibrary } from './library.js';
import { renderUpload } from './upload.js';
import { renderRooms } from './rooms.js';
import { renderRoom, closeSession } from './room.js';
import { renderCluster } from './cluster.js';
import { renderPlayer } from './queue.js';
import { initNowBar } from './nowbar.js';
import { initShortcuts } from './shortcuts.js';
import { startPlayback, stopPlayback } from './playback.js';
import { renderHome } from './home.js';
import { renderAlbum } from './album.js';
import { renderArtist } from './artist.js';
import { renderFavourites } from './favourites.js';
import { renderHistory } from './history.js';
import { renderPlaylists, renderPlaylist } from './playlists.js';
import { renderSettings } from './settings.js'; // also applies the saved theme
import { renderAdmin } from './admin.js';

const main = document.getElementById('main');
const nav = document.querySelector('.mainnav');
const account = document.querySelector('.account');
const accountName = document.querySelector('.account-name');
let cleanup = null;
let firstRender = true;
let pendingMessage = '';

const PUBLIC = new Set(['login', 'register']);

function render() {
  const route = currentRoute();
  const [section = '', sub] = route.parts;

  if (!api.signedIn && !PUBLIC.has(section)) {
    const next = route.path && route.path !== '/' ? route.path + (route.query.toString() ? `?${route.query}` : '') : '';
    if (next) sessionStorage.setItem('hifi.next', next);
    navigate('/login', { replace: true });
    return;
  }
  if (api.signedIn && (PUBLIC.has(section) || section === '')) {
    if (section === '' || section === 'login' || section === 'register') {
      navigate(sessionStorage.getItem('hifi.next') || '/home', { replace: true });
      sessionStorage.removeItem('hifi.next');
      return;
    }
  }

  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } cleanup = null; }
  main.replaceChildren();
  updateChrome(section);

  const params = { tab: sub, id: sub, query: route.query };
  switch (section) {
    case 'login': cleanup = renderLogin(main, { message: pendingMessage, next: sessionStorage.getItem('hifi.next') }); pendingMessage = ''; break;
    case 'register': cleanup = renderRegister(main); break;
    case 'library': cleanup = renderLibrary(main, params); break;
    case 'upload': cleanup = renderUpload(main, params); break;
    case 'rooms': cleanup = sub ? renderRoom(main, params) : renderRooms(main, params); break;
    case 'cluster': cleanup = renderCluster(main, params); break;
    case 'player': cleanup = renderPlayer(main, params); break;
    case 'home': cleanup = renderHome(main, params); break;
    case 'albums': if (!sub) { navigate('/library/albums', { replace: true }); return; } cleanup = renderAlbum(main, params); break;
    case 'artists': if (!sub) { navigate('/library/artists', { replace: true }); return; } cleanup = renderArtist(main, params); break;
    case 'favourites': cleanup = renderFavourites(main, params); break;
    case 'history': cleanup = renderHistory(main, params); break;
    case 'playlists': cleanup = sub ? renderPlaylist(main, params) : renderPlaylists(main, params); break;
    case 'settings': cleanup = renderSettings(main, params); break;
    case 'admin': cleanup = renderAdmin(main, params); break;
    default: navigate('/home', { replace: true }); return;
  }
  if (!firstRender && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  firstRender = false;
  document.title = { login: 'Sign in', register: 'Register', library: 'Library', upload: 'Upload', rooms: sub ? 'Room' : 'Rooms', cluster: 'Cluster',
    home: 'Home', albums: 'Album', artists: 'Artist', favourites: 'Favourites', history: 'History', player: 'Player',
    playlists: sub ? 'Playlist' : 'Playlists', settings: 'Settings', admin: 'Admin' }[section] + ' · HiFi';
  window.scrollTo(0, 0);
}

function updateChrome(section) {
  nav.hidden = !api.signedIn;
  account.hidden = !api.signedIn;
  accountName.textContent = api.user?.username || '';
  accountButton.setAttribute('aria-label', `Account: ${api.user?.username || ''}`);
  for (const li of account.querySelectorAll('[data-admin-only]')) li.hidden = api.user?.role !== 'admin';
  closeAccountMenu(false);
  const navSection = { albums: 'library', artists: 'library' }[section] || section;
  for (const a of [...nav.querySelectorAll('a'), ...account.querySelectorAll('a')]) {
    if (a.dataset.nav === navSection) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// The account menu (a disclosure: Settings, Admin, Cluster, Sign out).
const accountButton = document.getElementById('account-button');
const accountMenu = document.getElementById('account-menu');
function closeAccountMenu(focusButton) {
  if (accountMenu.hidden) return;
  accountMenu.hidden = true;
  accountButton.setAttribute('aria-expanded', 'false');
  if (focusButton) accountButton.focus();
}
accountButton.addEventListener('click', () => {
  if (!accountMenu.hidden) { closeAccountMenu(false); return; }
  accountMenu.hidden = false;
  accountButton.setAttribute('aria-expanded', 'true');
  accountMenu.querySelector('a, button')?.focus();
});
account.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !accountMenu.hidden) { e.preventDefault(); closeAccountMenu(true); return; }
  if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && !accountMenu.hidden) {
    const items = [...accountMenu.querySelectorAll('li:not([hidden]) a, li:not([hidden]) button')];
    const i = items.indexOf(document.activeElement);
    e.preventDefault();
    items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
  }
});
document.addEventListener('click', (e) => { if (!account.contains(e.target)) closeAccountMenu(false); });
account.addEventListener('focusout', (e) => { if (e.relatedTarget && !account.contains(e.relatedTarget)) closeAccountMenu(false); });

document.getElementById('sign-out').addEventListener('click', async () => {
  closeAccountMenu(false);
  closeSession();
  stopPlayback();
  await api.logout();
  navigate('/login');
});

api.addEventListener('unauthorized', () => {
  closeSession();
  stopPlayback();
  pendingMessage = 'Your session has ended. Please sign in again.';
  navigate('/login');
});

window.addEventListener('hashchange', render);

// Check a remembered session before showing anything that needs it.
async function start() {
  api.healthz().catch(() => {});
  if (api.signedIn) {
    try {
      const me = await api.get('/api/v1/me');
      api.user = me;
      api.discoverCluster();
    } catch {
      // 401 already signed us out; a network error keeps the session for later.
    }
  }
  render();
  startPlayback();
}
api.addEventListener('session', () => { if (api.signedIn) { api.discoverCluster(); startPlayback(); } });

// Personal playback, the now-playing bar and the keyboard shortcuts live
// across views.
initNowBar();
initShortcuts();

start();
