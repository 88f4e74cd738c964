// Admin: the accounts (create, disable or enable, make or unmake admin, set a
// new password, delete; songs and storage each uploaded), invite codes, the
// registration mode, and a way to the cluster view. Admins only.

import { api, ApiError, describeError } from './api.js';
import { h, announce, uid, formatBytes } from './dom.js';
import { openDialog, confirmDialog, copyField, textField, formatDate, plural } from './lists_ui.js';

const userPath = (id) => `/api/v1/users/${encodeURIComponent(id)}`;

export function renderAdmin(main) {
  const view = h('section', { class: 'admin', 'aria-labelledby': 'admin-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'admin-h' }, 'Admin')));
  main.append(view);
  if (api.user?.role !== 'admin') {
    view.append(h('p', { class: 'notice' }, 'Only an admin of this server can open this page. Ask an admin if you need an account changed.'));
    return () => {};
  }
  let alive = true;
  const isAlive = () => alive;
  view.append(h('div', { class: 'admin-grid' },
    usersCard(isAlive),
    h('div', { class: 'settings-col' }, registrationCard(isAlive), invitesCard(), clusterCard())));
  return () => { alive = false; };
}

function card(id, title, ...children) {
  return h('section', { class: 'card settings-card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

// ---- users ------------------------------------------------------------------

function usersCard(alive) {
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading the accounts…');
  const list = h('ul', { class: 'user-list', 'aria-label': 'Accounts' });
  const msg = h('p', { class: 'form-message', role: 'alert' });

  const uname = textField('Username', { autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: 32 });
  const pass = textField('Password', { type: 'password', autocomplete: 'new-password', minlength: 8 }, 'At least 8 characters; tell it to them, they can change it in Settings.');
  const adminId = uid('role');
  const makeAdmin = h('input', { id: adminId, type: 'checkbox' });
  const createMsg = h('p', { class: 'form-message', role: 'alert' });
  const createForm = h('form', { class: 'create-user', novalidate: true, 'aria-labelledby': 'create-user-h' },
    h('h3', { id: 'create-user-h' }, 'Create an account'),
    h('div', { class: 'inline-form' }, uname.el, pass.el),
    h('div', { class: 'field inline checkbox' }, makeAdmin, h('label', { for: adminId }, 'Admin')),
    createMsg,
    h('button', { type: 'submit', class: 'button primary' }, 'Create account'));

  createForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    createMsg.textContent = '';
    const username = uname.input.value.trim();
    if (username.length < 3) { createMsg.textContent = 'The username needs 3 to 32 characters.'; uname.input.focus(); return; }
    if (pass.input.value.length < 8) { createMsg.textContent = 'The password needs at least 8 characters.'; pass.input.focus(); return; }
    try {
      const user = await api.post('/api/v1/users', { username, password: pass.input.value, role: makeAdmin.checked ? 'admin' : 'user' });
      createForm.reset();
      announce(`Account ${user.username} created`);
      await load();
      uname.input.focus();
    } catch (err) {
      createMsg.textContent = err instanceof ApiError && err.status === 409
        ? 'That username is taken.'
        : `Could not create the account: ${describeError(err)}`;
    }
  });

  async function load() {
    try {
      const res = await api.get('/api/v1/users');
      if (!alive()) return;
      const users = res.items || [];
      const admins = users.filter((u) => u.role === 'admin').length;
      const disabled = users.filter((u) => u.disabled).length;
      status.textContent = `${plural(users.length, 'account')}, ${plural(admins, 'admin')}${disabled ? `, ${disabled} disabled` : ''}`;
      const focusedAction = document.activeElement?.dataset?.action;
      const focusedUser = document.activeElement?.closest?.('.user-card')?.dataset.id;
      list.replaceChildren(...users.map(userItem));
      if (focusedAction && focusedUser) list.querySelector(`.user-card[data-id="${CSS.escape(focusedUser)}"] [data-action="${focusedAction}"]`)?.focus();
    } catch (err) {
      if (alive()) status.textContent = `Could not load the accounts: ${describeError(err)}`;
    }
  }

  async function change(user, json, done) {
    msg.textContent = '';
    try {
      await api.request('PATCH', userPath(user.id), { json });
      announce(done);
      await load();
    } catch (err) { msg.textContent = `Could not change ${user.username}: ${describeError(err)}`; }
  }

  function userItem(u) {
    const self = u.id === api.user?.id;
    const stats = [];
    if (Number.isFinite(u.song_count)) stats.push(`${plural(u.song_count, 'song')} uploaded`);
    if (Number.isFinite(u.storage_bytes)) {
      stats.push(u.storage_quota_bytes > 0
        ? `${formatBytes(u.storage_bytes)} of ${formatBytes(u.storage_quota_bytes)} stored`
        : `${formatBytes(u.storage_bytes)} stored, no limit`);
    }
    stats.push(`since ${formatDate(u.created_at)}`);
    const btn = (action, label, aria, onclick, extra = '') => h('button', {
      type: 'button', class: `button small ${extra}`.trim(), 'aria-label': aria, dataset: { action }, onclick,
      disabled: self && action !== 'password' && action !== 'quota',
      title: self && action !== 'password' && action !== 'quota' ? 'Not on your own account' : null,
    }, label);
    return h('li', { class: `user-card${u.disabled ? ' disabled' : ''}`, dataset: { id: u.id } },
      h('div', { class: 'user-head' },
        h('span', { class: 'row-title user-name' }, u.username, self ? ' (you)' : ''),
        u.role === 'admin' ? h('span', { class: 'badge' }, 'Admin') : null,
        u.disabled ? h('span', { class: 'badge bad' }, 'Disabled') : null),
      h('span', { class: 'row-sub user-stats' }, stats.join(' · ')),
      h('div', { class: 'user-actions' },
        btn('disable', u.disabled ? 'Enable' : 'Disable', `${u.disabled ? 'Enable' : 'Disable'} ${u.username}`,
          () => change(u, { disabled: !u.disabled }, `${u.username} ${u.disabled ? 'enabled' : 'disabled'}`)),
        btn('role', u.role === 'admin' ? 'Remove admin' : 'Make admin', `${u.role === 'admin' ? 'Remove admin role from' : 'Make admin:'} ${u.username}`,
          () => change(u, { role: u.role === 'admin' ? 'user' : 'admin' }, `${u.username} is ${u.role === 'admin' ? 'no longer an admin' : 'now an admin'}`)),
        btn('password', 'Set password', `Set password for ${u.username}`, () => passwordDialog(u)),
        btn('quota', 'Storage limit', `Set the storage limit of ${u.username}`, () => quotaDialog(u)),
        btn('delete', 'Delete', `Delete ${u.username}`, () => remove(u), 'danger')));
  }

  // The user's own limit in MiB (0: none), or empty for the server's default.
  function quotaDialog(u) {
    const own = u.quota_bytes;
    const f = textField('Limit in MiB', {
      type: 'number', min: 0, step: 1, inputmode: 'numeric',
      value: own === null || own === undefined ? '' : String(Math.round(own / 1048576)),
    }, 'Empty: the server\'s default. 0: no limit.');
    const m = h('p', { class: 'form-message', role: 'alert' });
    openDialog({
      title: `Storage limit of ${u.username}`,
      build: (close) => {
        const form = h('form', { novalidate: true },
          h('p', { class: 'hint' }, `Their songs take ${formatBytes(u.storage_bytes || 0)} now. Uploads beyond the limit are refused; nothing is deleted.`),
          f.el, m,
          h('div', { class: 'dialog-actions' },
            h('button', { type: 'button', class: 'button', onclick: () => close(null) }, 'Cancel'),
            h('button', { type: 'submit', class: 'button primary' }, 'Save')));
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          const text = f.input.value.trim();
          const mib = text === '' ? null : Number(text);
          if (mib !== null && (!Number.isInteger(mib) || mib < 0)) { m.textContent = 'Enter a whole number of MiB, 0, or nothing.'; f.input.focus(); return; }
          try {
            await api.request('PATCH', userPath(u.id), { json: { quota_bytes: mib === null ? null : mib * 1048576 } });
            close(true);
            announce(mib === null ? `${u.username} has the default limit` : mib === 0 ? `${u.username} has no limit` : `${u.username} may store ${mib} MiB`);
            await load();
          } catch (err) { m.textContent = `Could not set it: ${describeError(err)}`; }
        });
        return form;
      },
    });
  }

  function passwordDialog(u) {
    const f = textField('New password', { type: 'password', autocomplete: 'new-password', minlength: 8 }, 'At least 8 characters.');
    const m = h('p', { class: 'form-message', role: 'alert' });
    openDialog({
      title: `New password for ${u.username}`,
      build: (close) => {
        const form = h('form', { novalidate: true },
          h('p', { class: 'hint' }, 'Their sessions, app passwords and API keys end.'),
          f.el, m,
          h('div', { class: 'dialog-actions' },
            h('button', { type: 'button', class: 'button', onclick: () => close(null) }, 'Cancel'),
            h('button', { type: 'submit', class: 'button primary' }, 'Set password')));
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          if (f.input.value.length < 8) { m.textContent = 'The password needs at least 8 characters.'; f.input.focus(); return; }
          try {
            await api.request('PUT', `${userPath(u.id)}/password`, { json: { password: f.input.value } });
            close(true);
            announce(`New password set for ${u.username}`);
          } catch (err) { m.textContent = `Could not set it: ${describeError(err)}`; }
        });
        return form;
      },
    });
  }

  async function remove(u) {
    const ok = await confirmDialog({
      title: `Delete ${u.username}?`,
      message: `The account ${u.username}, its sessions, app passwords and API keys are deleted. The songs it uploaded stay in the library.`,
      confirmLabel: 'Delete account',
    });
    if (!ok) return;
    msg.textContent = '';
    try {
      await api.request('DELETE', userPath(u.id));
      announce(`Account ${u.username} deleted`);
      await load();
      list.querySelector('button:not(:disabled)')?.focus();
    } catch (err) { msg.textContent = `Could not delete ${u.username}: ${describeError(err)}`; }
  }

  load();
  return h('section', { class: 'card settings-card users-card', 'aria-labelledby': 'users-h' },
    h('h2', { id: 'users-h' }, 'Accounts'), status, msg, list, createForm);
}

// ---- registration -----------------------------------------------------------

const MODES = [
  ['open', 'Open: anyone who reaches the server can create an account'],
  ['invite', 'Invite only: people need an invite code from an admin'],
  ['closed', 'Closed: only admins create accounts'],
];

function registrationCard(alive) {
  const selectId = uid('reg');
  const select = h('select', { id: selectId, disabled: true }, MODES.map(([v, label]) => h('option', { value: v }, label)));
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…');
  const save = h('button', { type: 'submit', class: 'button primary', disabled: true }, 'Save');
  const form = h('form', { novalidate: true, 'aria-labelledby': 'reg-h' },
    h('div', { class: 'field' }, h('label', { for: selectId }, 'Who may create an account'), select), status, save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const res = await api.request('PATCH', '/api/v1/settings', { json: { registration: select.value } });
      select.value = res.registration;
      status.textContent = `Saved: registration is ${res.registration}.`;
      announce(status.textContent);
      api.healthz().catch(() => {});
    } catch (err) {
      status.textContent = `Could not save: ${describeError(err)}`;
    } finally { save.disabled = false; }
  });
  (async () => {
    try {
      const res = await api.get('/api/v1/settings');
      if (!alive()) return;
      select.value = res.registration;
      select.disabled = false;
      save.disabled = false;
      status.textContent = '';
    } catch (err) {
      if (!alive()) return;
      if (err instanceof ApiError && err.status === 404) {
        // An older server: the mode is set when it starts (--registration).
        const hz = await api.healthz().catch(() => null);
        if (hz?.registration) select.value = hz.registration;
        status.textContent = `Registration is ${hz?.registration || 'unknown'}. This server sets it at start (hifi-server --registration); it cannot be changed from here.`;
      } else {
        status.textContent = `Could not load the setting: ${describeError(err)}`;
      }
    }
  })();
  return card('reg-h', 'Registration', form);
}

// ---- invites ----------------------------------------------------------------

function invitesCard() {
  const out = h('div', { class: 'created-secret' });
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const btn = h('button', { type: 'button', class: 'button primary' }, 'Create invite code');
  btn.addEventListener('click', async () => {
    msg.textContent = '';
    try {
      const inv = await api.post('/api/v1/invites');
      const link = `${api.base}/#/register`;
      out.replaceChildren(
        h('p', { class: 'notice' }, `Single use, valid until ${formatDate(inv.expires_at)}. It is shown only now.`),
        copyField('Invite code', inv.code, { what: 'Invite code' }),
        copyField('Where to register', link, { what: 'Link', monospace: false }));
      out.querySelector('input')?.focus();
      announce('Invite code created');
    } catch (err) { msg.textContent = `Could not create an invite: ${describeError(err)}`; }
  });
  return card('invites-h', 'Invite codes',
    h('p', { class: 'hint' }, 'With invite-only registration, a person needs a code to create an account. Each code works once, for 7 days.'),
    btn, msg, out);
}

function clusterCard() {
  return card('cluster-link-h', 'Cluster',
    h('p', { class: 'hint' }, 'The servers of this cluster, their health, load and free disk.'),
    h('a', { href: '#/cluster', class: 'button' }, 'Open the cluster view'));
}
