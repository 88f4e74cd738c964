// Settings: password, signed-in sessions, app passwords and API keys for
// Subsonic apps, streaming quality (the data saver), the theme, and the
// storage your uploads take against your quota.

import { api, ApiError, describeError } from './api.js';
import { h, announce, uid, formatBytes } from './dom.js';
import { openDialog, confirmDialog, copyField, textField, relativeTime, formatDate, plural } from './lists_ui.js';

// ---- theme (applied as soon as this module loads) ----------------------------

const THEME_KEY = 'hifi.theme';
// Same key as the player reads (web/js/player.js): '1' streams Opus at 64 kbit/s.
const DATA_SAVER_KEY = 'hifi.dataSaver';

export function storedTheme() {
  const t = localStorage.getItem(THEME_KEY);
  return t === 'light' || t === 'dark' ? t : '';
}

export function applyTheme(theme = storedTheme()) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  // The browser's own widgets and the address bar follow too.
  const meta = document.querySelector('meta[name="color-scheme"]');
  if (meta) meta.content = theme || 'light dark';
}

function setTheme(theme) {
  if (theme) localStorage.setItem(THEME_KEY, theme); else localStorage.removeItem(THEME_KEY);
  applyTheme(theme);
}

applyTheme();
window.addEventListener('storage', (e) => { if (e.key === THEME_KEY) applyTheme(); });

// ---- the view ---------------------------------------------------------------

export function renderSettings(main) {
  let alive = true;
  const view = h('section', { class: 'settings', 'aria-labelledby': 'settings-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'settings-h' }, 'Settings'),
      h('span', { class: 'settings-user' }, `Signed in as ${api.user?.username || ''}`)));
  main.append(view);

  const onAlive = () => alive;
  // Listeners on document end with the view.
  const views = new AbortController();
  onAlive.signal = views.signal;
  view.append(
    h('div', { class: 'settings-grid' },
      h('div', { class: 'settings-col' }, appearanceCard(), playbackCard(), storageCard(onAlive), passwordCard()),
      h('div', { class: 'settings-col' }, sessionsCard(onAlive), credentialsCard(onAlive, 'app-password'), credentialsCard(onAlive, 'api-key'))));
  return () => { alive = false; views.abort(); };
}

function card(id, title, ...children) {
  return h('section', { class: 'card settings-card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function radioGroup(legend, name, options, current, onChange, hint) {
  const hintId = hint ? uid('hint') : null;
  return h('fieldset', { class: 'radio-group', 'aria-describedby': hintId },
    h('legend', {}, legend),
    options.map(([value, label]) => {
      const id = uid(name);
      const input = h('input', { id, type: 'radio', name, value, checked: value === current });
      input.addEventListener('change', () => { if (input.checked) onChange(value); });
      return h('div', { class: 'radio' }, input, h('label', { for: id }, label));
    }),
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null);
}

function appearanceCard() {
  return card('appearance-h', 'Appearance',
    radioGroup('Theme', 'theme', [['', 'Follow the system'], ['light', 'Light'], ['dark', 'Dark']], storedTheme(), (v) => {
      setTheme(v);
      announce(v ? `${v === 'dark' ? 'Dark' : 'Light'} theme` : 'The theme follows the system');
    }));
}

function playbackCard() {
  const saverOn = localStorage.getItem(DATA_SAVER_KEY) === '1';
  return card('playback-h', 'Playback',
    radioGroup('Streaming quality', 'quality',
      [['lossless', 'Lossless (FLAC, as good as the file)'], ['saver', 'Data saver (Opus, 64 kbit/s)']],
      saverOn ? 'saver' : 'lossless',
      (v) => {
        localStorage.setItem(DATA_SAVER_KEY, v === 'saver' ? '1' : '0');
        announce(v === 'saver' ? 'Data saver on' : 'Lossless streaming');
      },
      'Applies on this device, from the next piece of music fetched. The data saver uses about a tenth of the data.'));
}

// What your uploads take (songs still in the library) against your quota,
// which an admin sets (0: no limit).
function storageCard(alive) {
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading…');
  const meter = h('progress', { class: 'storage-meter', max: 1, value: 0, hidden: true, 'aria-label': 'Storage used' });
  (async () => {
    try {
      const me = await api.get('/api/v1/me');
      if (!alive()) return;
      const used = me.storage_bytes || 0;
      const quota = me.storage_quota_bytes || 0;
      const songs = `${plural(me.song_count || 0, 'song')} uploaded`;
      if (quota > 0) {
        meter.max = quota;
        meter.value = Math.min(used, quota);
        meter.hidden = false;
        status.textContent = `${songs}: ${formatBytes(used)} of your ${formatBytes(quota)} (${formatBytes(Math.max(0, quota - used))} left).`;
      } else {
        status.textContent = `${songs}: ${formatBytes(used)}. No storage limit.`;
      }
    } catch (err) {
      if (alive()) status.textContent = `Could not load your storage: ${describeError(err)}`;
    }
  })();
  return card('storage-h', 'Storage', status, meter,
    h('p', { class: 'hint' }, 'The songs you uploaded that are still in the library. An admin sets your limit.'));
}

function passwordCard() {
  const current = textField('Current password', { type: 'password', autocomplete: 'current-password', required: true });
  const next = textField('New password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }, 'At least 8 characters.');
  const confirm = textField('Confirm the new password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const ok = h('p', { class: 'form-ok', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Change password');
  const form = h('form', { novalidate: true, 'aria-labelledby': 'password-h' },
    h('p', { class: 'hint' }, 'Changing it signs out your other sessions and ends your app passwords and API keys.'),
    current.el, next.el, confirm.el, msg, ok, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    ok.textContent = '';
    if (!current.input.value) { msg.textContent = 'Enter your current password.'; current.input.focus(); return; }
    if (next.input.value.length < 8) { msg.textContent = 'The new password needs at least 8 characters.'; next.input.focus(); return; }
    if (next.input.value !== confirm.input.value) { msg.textContent = 'The two new passwords differ.'; confirm.input.focus(); return; }
    submit.disabled = true;
    try {
      await api.post('/api/v1/me/password', { current_password: current.input.value, new_password: next.input.value });
      form.reset();
      ok.textContent = 'Password changed. Your other sessions, app passwords and API keys have ended.';
      document.dispatchEvent(new CustomEvent('hifi:credentials-changed'));
    } catch (err) {
      msg.textContent = err instanceof ApiError && err.status === 403
        ? 'The current password is wrong.'
        : `Could not change the password: ${describeError(err)}`;
      if (err instanceof ApiError && err.status === 403) current.input.select();
    } finally {
      submit.disabled = false;
    }
  });
  return card('password-h', 'Password', form);
}

// ---- sessions ---------------------------------------------------------------

function sessionsCard(alive) {
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading your sessions…');
  const list = h('ul', { class: 'item-list', 'aria-label': 'Sessions' });
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const allBtn = h('button', { type: 'button', class: 'button', hidden: true }, 'Sign out all other sessions');
  const el = card('sessions-h', 'Signed-in sessions',
    h('p', { class: 'hint' }, 'Browsers and devices signed in to your account.'), status, list, msg, allBtn);

  async function load() {
    try {
      const res = await api.get('/api/v1/me/sessions');
      if (!alive()) return;
      const sessions = [...(res.sessions || res.items || [])]
        .sort((a, b) => (b.current - a.current) || ((b.last_used_at || 0) - (a.last_used_at || 0)));
      status.textContent = plural(sessions.length, 'session');
      list.replaceChildren(...sessions.map(sessionItem));
      allBtn.hidden = !sessions.some((s) => !s.current);
    } catch (err) {
      if (!alive()) return;
      status.textContent = err instanceof ApiError && err.status === 404
        ? 'This server cannot list sessions yet.'
        : `Could not load your sessions: ${describeError(err)}`;
    }
  }

  function sessionItem(s) {
    const device = s.device || 'Unknown device';
    return h('li', { class: `item${s.current ? ' current' : ''}` },
      h('div', { class: 'row-main' },
        h('span', { class: 'row-title' }, device, s.current ? h('span', { class: 'badge' }, ' This device') : null),
        h('span', { class: 'row-sub' }, [s.address, `last used ${relativeTime(s.last_used_at || s.created_at)}`].filter(Boolean).join(' · ')),
        h('span', { class: 'row-sub' }, `signed in ${formatDate(s.created_at)}`)),
      s.current ? null : h('button', {
        type: 'button', class: 'button small', 'aria-label': `Sign out ${device}${s.address ? ` at ${s.address}` : ''}`,
        onclick: async () => {
          msg.textContent = '';
          try {
            await api.request('DELETE', `/api/v1/me/sessions/${encodeURIComponent(s.id)}`);
            announce(`Signed out ${device}`);
            await load();
            list.closest('section').querySelector('button:not([hidden])')?.focus();
          } catch (err) { msg.textContent = `Could not sign it out: ${describeError(err)}`; }
        },
      }, 'Sign out'));
  }

  allBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Sign out everywhere else?',
      message: 'Every other browser and device signed in to your account will have to sign in again.',
      confirmLabel: 'Sign out others',
    });
    if (!ok) return;
    msg.textContent = '';
    try {
      await api.request('DELETE', '/api/v1/me/sessions');
      announce('Signed out all other sessions');
      await load();
    } catch (err) { msg.textContent = `Could not sign them out: ${describeError(err)}`; }
  });
  document.addEventListener('hifi:credentials-changed', () => { if (alive()) load(); }, { signal: alive.signal });
  load();
  return el;
}

// ---- app passwords and API keys ---------------------------------------------

const KINDS = {
  'app-password': {
    path: '/api/v1/me/app-passwords', title: 'App passwords', one: 'app password', secret: 'password',
    intro: 'For Subsonic apps (Symfonium, DSub, Feishin, substreamer…): make one per device and type it into the app instead of your password.',
    placeholder: 'Pixel phone',
  },
  'api-key': {
    path: '/api/v1/me/api-keys', title: 'API keys', one: 'API key', secret: 'key',
    intro: 'For apps that sign in with an OpenSubsonic API key instead of a user name and password.',
    placeholder: 'Feishin',
  },
};

function credentialsCard(alive, kind) {
  const k = KINDS[kind];
  const hId = `${kind}-h`;
  const name = textField('Name (what it is for)', { maxlength: 64, autocomplete: 'off', placeholder: k.placeholder });
  name.el.classList.add('grow');
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const created = h('div', { class: 'created-secret', hidden: true });
  const status = h('p', { class: 'list-status', role: 'status' });
  const list = h('ul', { class: 'item-list', 'aria-label': k.title });
  const form = h('form', { novalidate: true, 'aria-label': `Create an ${k.one}` },
    h('div', { class: 'inline-form' }, name.el, h('button', { type: 'submit', class: 'button primary' }, `Create ${k.one}`)), msg);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = name.input.value.trim();
    if (!value) { msg.textContent = `Name the ${k.one}, for example after the device.`; name.input.focus(); return; }
    msg.textContent = '';
    try {
      const res = await api.post(k.path, { name: value });
      name.input.value = '';
      showCreated(res);
      await load();
    } catch (err) { msg.textContent = `Could not create the ${k.one}: ${describeError(err)}`; }
  });

  function showCreated(res) {
    const secret = res[k.secret];
    const fields = kind === 'app-password'
      ? [copyField('Server URL', api.base, { what: 'Server URL' }),
        copyField('User name', api.user?.username || '', { what: 'User name' }),
        copyField('Password', secret, { what: 'App password' })]
      : [copyField('Server URL', api.base, { what: 'Server URL' }), copyField('API key', secret, { what: 'API key' })];
    created.replaceChildren(
      h('p', { class: 'notice' }, `“${res.name}” is ready. Copy it now: it is shown only this once.`),
      ...fields,
      h('button', { type: 'button', class: 'button small', onclick: () => { created.hidden = true; created.replaceChildren(); name.input.focus(); } }, 'Done'));
    created.hidden = false;
    created.querySelector('input')?.focus();
    announce(`${k.one} ${res.name} created`);
  }

  async function load() {
    try {
      const res = await api.get(k.path);
      if (!alive()) return;
      const items = res.items || [];
      status.textContent = items.length ? plural(items.length, k.one) : `No ${k.one}s yet.`;
      list.replaceChildren(...items.map((c) => h('li', { class: 'item' },
        h('div', { class: 'row-main' },
          h('span', { class: 'row-title' }, c.name),
          h('span', { class: 'row-sub' }, `created ${formatDate(c.created_at)} · last used ${relativeTime(c.last_used_at)}`)),
        h('button', {
          type: 'button', class: 'button small danger', 'aria-label': `Revoke ${k.one} ${c.name}`,
          onclick: () => revoke(c),
        }, 'Revoke'))));
    } catch (err) {
      if (alive()) status.textContent = `Could not load the ${k.one}s: ${describeError(err)}`;
    }
  }

  async function revoke(c) {
    const ok = await confirmDialog({
      title: `Revoke “${c.name}”?`,
      message: `Apps using this ${k.one} are signed out at once.`,
      confirmLabel: 'Revoke',
    });
    if (!ok) return;
    try {
      await api.request('DELETE', `${k.path}/${encodeURIComponent(c.id)}`);
      announce(`${k.one} ${c.name} revoked`);
      await load();
      name.input.focus();
    } catch (err) { msg.textContent = `Could not revoke it: ${describeError(err)}`; }
  }

  document.addEventListener('hifi:credentials-changed', () => { if (alive()) load(); }, { signal: alive.signal });
  load();
  return card(hId, k.title, h('p', { class: 'hint' }, k.intro), form, created, status, list);
}
