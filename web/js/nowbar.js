// The now-playing bar at the bottom of every screen: cover, title and
// artist (links to the album and the artist), progress with seek,
// previous / play-pause / next, volume, where it plays ("On this device",
// "On Firefox on Android", "Listening in Friday night") with the "Play on"
// choice, and the way to the full player (#/player, or the room's view for
// a shared room). It shows whatever playback.js says plays.

import { api, describeError } from './api.js';
import { h, icon, formatDuration, announce, uid } from './dom.js';
import { coverImage } from './cover.js';
import { thisDevice } from './device.js';
import {
  playbackEvents, currentPlayback, positionNow, togglePlay, next, previous, seekTo, volume, setVolume,
  speaker, myDevices, playOnChoices, setSpeaker, needsTap,
} from './playback.js';

// Icons of the player (decorative; the controls carry the names).
const PATHS = {
  shuffle: 'M10.6 9.2 5.4 4 4 5.4l5.2 5.2zM14.5 4l2 2L4 18.6 5.4 20 18 7.5l2 2V4zm.3 9.4-1.4 1.4 3.1 3.1L14.5 20H20v-5.5l-2 2z',
  repeat: 'M7 7h10v3l4-4-4-4v3H5v6h2zm10 10H7v-3l-4 4 4 4v-3h12v-6h-2z',
  volume: 'M3 9v6h4l5 5V4L7 9zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z',
  speaker: 'M17 2H7a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zm-5 2a2 2 0 1 1 0 4 2 2 0 0 1 0-4zm0 16a4 4 0 1 1 0-8 4 4 0 0 1 0 8zm0-6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z',
  queue: 'M3 6h12v2H3zm0 4h12v2H3zm0 4h8v2H3zm13-8v8.2A3 3 0 1 0 18 17V8h3V6z',
  keyboard: 'M20 5H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm-9 3h2v2h-2zm0 3h2v2h-2zM8 8h2v2H8zm0 3h2v2H8zm-1 2H5v-2h2zm0-3H5V8h2zm9 7H8v-2h8zm0-4h-2v-2h2zm0-3h-2V8h2zm3 3h-2v-2h2zm0-3h-2V8h2z',
};

export function playerIcon(name, size = 20) {
  const svg = icon('music', size);
  svg.firstChild.setAttribute('d', PATHS[name] || PATHS.queue);
  return svg;
}

// ---- links to the album and the artist of a song ----------------------------------
// Songs carry the ids of their album (null without an album tag) and artist.
export function albumHref(song) {
  return Promise.resolve(song?.album && song.album_id ? `#/albums/${encodeURIComponent(song.album_id)}` : null);
}
export function artistHref(song) {
  return Promise.resolve(song?.artist && song.artist_id ? `#/artists/${encodeURIComponent(song.artist_id)}` : null);
}

// Fills `box` with `text`, as a link once `hrefPromise` gives one.
export function linkInto(box, text, hrefPromise, className) {
  box.replaceChildren(h('span', { class: className }, text));
  hrefPromise.then((href) => {
    if (href && box.firstChild?.textContent === text) box.replaceChildren(h('a', { class: className, href }, text));
  });
}

// "On this device", "On every device", "On Firefox on Android (not connected)".
export function whereText(cp) {
  if (!cp.room) return '';
  if (!cp.room.personal) return `Listening in ${cp.room.name}`;
  if (cp.connection !== 'open' && cp.connection !== 'idle') return 'Reconnecting…';
  const sp = speaker();
  if (!sp.supported) return 'On this device';
  if (sp.id === '') return myDevices().list.length > 1 ? 'On every device' : 'On this device';
  if (sp.here) return 'On this device';
  return `On ${sp.name}${sp.connected ? '' : ' (not connected)'}`;
}

// A "Play on" <select>: this device, the user's other open devices, every device.
// `compact` (the bar) names this device "This device" only.
export function playOnSelect(id, { compact = false } = {}) {
  const select = h('select', { id, class: 'play-on' });
  let key = '';
  const update = () => {
    const sp = speaker();
    const choices = playOnChoices();
    const nextKey = JSON.stringify([sp.id, choices]);
    if (nextKey === key) return;
    key = nextKey;
    select.replaceChildren(
      ...choices.map((c) => h('option', { value: c.id, selected: c.id === sp.id }, c.here ? (compact ? 'This device' : `${c.name} (this device)`) : c.name)),
      h('option', { value: '', selected: sp.id === '' }, 'Every device'));
  };
  select.addEventListener('change', async () => {
    const want = select.value;
    try {
      await setSpeaker(want);
      const name = want === '' ? 'every device' : want === thisDevice().id ? 'this device' : select.selectedOptions[0]?.textContent;
      announce(`Playing on ${name}`);
    } catch (err) {
      key = '';
      update();
      announce(`Could not change the device: ${describeError(err)}`);
    }
  });
  update();
  return { el: select, update };
}

// ---- a seek slider shared by the bar and the player ---------------------------------
// An <input type=range>: pointer drags seek on release; arrow keys seek by
// 5 s, Page Up/Down by 30 s, Home to the start (the commands go after a
// short pause in the key presses, so holding a key sends one seek).
export function seekSlider({ id, className = 'seek', label = 'Seek', onSeek = seekTo } = {}) {
  const input = h('input', { id, type: 'range', min: 0, max: 0, step: 1000, value: 0, class: className, 'aria-label': label, disabled: true });
  const state = { held: false, timer: 0, onPreview: null };
  const send = () => {
    clearTimeout(state.timer);
    state.timer = 0;
    Promise.resolve(onSeek(Number(input.value))).catch((err) => announce(`Could not seek: ${describeError(err)}`))
      .finally(() => { state.held = false; });
  };
  input.addEventListener('pointerdown', () => { state.held = true; });
  input.addEventListener('input', () => { state.held = true; state.onPreview?.(Number(input.value)); });
  input.addEventListener('change', () => { if (!state.timer) send(); });
  input.addEventListener('keydown', (e) => {
    const max = Number(input.max);
    const steps = { ArrowLeft: -5000, ArrowDown: -5000, ArrowRight: 5000, ArrowUp: 5000, PageDown: -30000, PageUp: 30000 };
    let to = null;
    if (e.key in steps) to = Number(input.value) + steps[e.key];
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = max - 1000;
    if (to === null) return;
    e.preventDefault();
    state.held = true;
    input.value = String(Math.min(Math.max(0, to), Math.max(0, max - 500)));
    state.onPreview?.(Number(input.value));
    clearTimeout(state.timer);
    state.timer = setTimeout(send, 250);
  });
  input.addEventListener('blur', () => { if (!state.timer) state.held = false; });
  return {
    el: input,
    set onPreview(fn) { state.onPreview = fn; },
    // Shows `pos` of `duration` (ms) unless the user is moving the slider.
    show(pos, duration) {
      input.disabled = !(duration > 0);
      if (String(duration) !== input.max) input.max = String(duration || 0);
      if (state.held) return false;
      input.value = String(pos);
      const text = `${formatDuration(pos)} of ${formatDuration(duration)}`;
      if (input.getAttribute('aria-valuetext') !== text) input.setAttribute('aria-valuetext', text);
      return true;
    },
  };
}

// ---- the bar ------------------------------------------------------------------------

export function initNowBar() {
  const bar = document.querySelector('.nowbar');
  if (!bar) return;

  const coverBox = h('span', { class: 'nb-cover' });
  const openLink = h('a', { class: 'nb-open', href: '#/player', 'aria-label': 'Open the player' }, coverBox);
  const titleBox = h('span', { class: 'nb-title' });
  const artistBox = h('span', { class: 'nb-artist' });
  const where = h('span', { class: 'nb-where' });
  const tapBtn = h('button', { type: 'button', class: 'button small primary nb-tap', hidden: true }, 'Start sound here');
  const prevBtn = h('button', { type: 'button', class: 'icon-button nb-prev', 'aria-label': 'Previous', title: 'Previous (P)' }, icon('prev', 22));
  const playBtn = h('button', { type: 'button', class: 'icon-button nb-play', 'aria-label': 'Play', title: 'Play (Space)' }, icon('play', 26));
  const nextBtn = h('button', { type: 'button', class: 'icon-button nb-next', 'aria-label': 'Next', title: 'Next (N)' }, icon('next', 22));
  const seek = seekSlider({ id: uid('nb-seek'), className: 'seek nb-seek' });
  const timeCur = h('span', { class: 'time nb-time', 'aria-hidden': 'true' }, '0:00');
  const timeDur = h('span', { class: 'time nb-time', 'aria-hidden': 'true' }, '0:00');
  const playOnId = uid('nb-playon');
  const playOn = playOnSelect(playOnId, { compact: true });
  const playOnBox = h('div', { class: 'nb-playon' },
    h('label', { for: playOnId, class: 'nb-playon-label', title: 'Play on' }, playerIcon('speaker', 18), h('span', { class: 'visually-hidden' }, 'Play on')),
    playOn.el);
  const vol = h('input', { type: 'range', min: 0, max: 1, step: 0.05, value: volume(), class: 'volume nb-volume', 'aria-label': 'Volume' });
  const queueLink = h('a', { class: 'icon-button nb-queue', href: '#/player', 'aria-label': 'Queue', title: 'Queue' }, playerIcon('queue', 22));

  bar.replaceChildren(
    h('div', { class: 'nb-now' }, openLink,
      h('div', { class: 'nb-meta' }, titleBox, artistBox, where)),
    h('div', { class: 'nb-center' },
      h('div', { class: 'nb-transport' }, prevBtn, playBtn, nextBtn),
      h('div', { class: 'nb-progress' }, timeCur, seek.el, timeDur)),
    h('div', { class: 'nb-extra' }, tapBtn, playOnBox,
      h('span', { class: 'nb-volume-box' }, playerIcon('volume', 18), vol), queueLink));

  const run = (fn, what) => async () => {
    try { await fn(); } catch (err) { announce(`${what} failed: ${describeError(err)}`); }
  };
  playBtn.addEventListener('click', run(togglePlay, 'Play'));
  nextBtn.addEventListener('click', run(next, 'Next'));
  prevBtn.addEventListener('click', run(previous, 'Previous'));
  vol.addEventListener('input', () => setVolume(Number(vol.value)));
  tapBtn.addEventListener('click', () => { tapBtn.hidden = true; }); // the tap itself starts the sound
  seek.onPreview = (pos) => { timeCur.textContent = formatDuration(pos); };

  let songKey = null;
  let timer = 0;

  function onOwnView(cp) {
    const hash = location.hash;
    if (cp.room.personal) return hash === '#/player' || hash.startsWith('#/player?') || hash.startsWith('#/player/');
    return hash === `#/rooms/${cp.room.id}` || hash.startsWith(`#/rooms/${cp.room.id}?`);
  }

  function render() {
    const cp = currentPlayback();
    const show = api.signedIn && cp.room && cp.state?.queue?.length > 0 && !onOwnView(cp);
    bar.hidden = !show;
    document.body.classList.toggle('with-nowbar', Boolean(show));
    if (!show) { stopTimer(); return; }
    const st = cp.state;
    const playing = Boolean(st.playing);
    const label = playing ? 'Pause' : 'Play';
    if (playBtn.getAttribute('aria-label') !== label) {
      playBtn.setAttribute('aria-label', label);
      playBtn.title = `${label} (Space)`;
      playBtn.replaceChildren(icon(playing ? 'pause' : 'play', 26));
    }
    nextBtn.disabled = !cp.item;
    const href = cp.room.personal ? '#/player' : `#/rooms/${cp.room.id}`;
    if (openLink.getAttribute('href') !== href) {
      openLink.setAttribute('href', href);
      queueLink.setAttribute('href', href);
      openLink.setAttribute('aria-label', cp.room.personal ? 'Open the player' : `Open ${cp.room.name}`);
    }
    where.textContent = whereText(cp);
    tapBtn.hidden = !needsTap();
    playOnBox.hidden = !cp.room.personal || !speaker().supported;
    playOn.update();
    if (document.activeElement !== vol) vol.value = String(volume());

    const key = cp.item ? `${cp.item.song_id}|${Boolean(cp.song)}` : '';
    if (key !== songKey) {
      songKey = key;
      const song = cp.song;
      if (!cp.item) {
        titleBox.replaceChildren(h('span', {}, 'Nothing playing'));
        artistBox.replaceChildren();
        coverBox.replaceChildren(coverImage(null, '', 48));
      } else if (!song) {
        titleBox.replaceChildren(h('span', {}, 'Loading…'));
        artistBox.replaceChildren();
      } else {
        linkInto(titleBox, song.title, albumHref(song), 'nb-title-text');
        linkInto(artistBox, song.artist || 'Unknown artist', song.artist ? artistHref(song) : Promise.resolve(null), 'nb-artist-text');
        coverBox.replaceChildren(coverImage(song.cover_url, '', 48));
      }
    }
    renderProgress();
    if (playing) startTimer(); else stopTimer();
  }

  function renderProgress() {
    const cp = currentPlayback();
    const duration = cp.item?.duration_ms || 0;
    const pos = positionNow() ?? 0;
    if (seek.show(pos, duration)) timeCur.textContent = formatDuration(pos);
    timeDur.textContent = formatDuration(duration);
  }

  // The progress moves four times a second while playing (no animation
  // frames: the bar is always there, and the audio shares the thread).
  function startTimer() {
    if (!timer) timer = setInterval(() => { if (!document.hidden) renderProgress(); }, 250);
  }
  function stopTimer() {
    clearInterval(timer);
    timer = 0;
  }

  playbackEvents.addEventListener('change', render);
  window.addEventListener('hashchange', render);
  api.addEventListener('session', render);
  render();
}
