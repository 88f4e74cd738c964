// Sign in and register (with an invite code when the server asks for one).

import { api, ApiError, describeError } from './api.js';
import { h, uid } from './dom.js';
import { navigate } from './router.js';
import { thisDevice } from './device.js';

function field(label, attrs, hint) {
  const id = uid('f');
  const hintId = hint ? `${id}-hint` : null;
  const input = h('input', { id, ...attrs, 'aria-describedby': hintId });
  return {
    input,
    el: h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { id: hintId, class: 'hint' }, hint) : null),
  };
}

function authShell(titleText, form, footer) {
  return h('section', { class: 'auth', 'aria-labelledby': 'auth-h' },
    h('div', { class: 'auth-card' },
      h('h1', { id: 'auth-h' }, titleText),
      form,
      footer));
}

export function renderLogin(main, params) {
  const user = field('Username', { type: 'text', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = field('Password', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { class: 'form-message', role: 'alert' }, params.message || '');
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Sign in');
  const form = h('form', { class: 'auth-form', novalidate: true }, user.el, pass.el, msg, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    if (!user.input.value.trim() || !pass.input.value) {
      msg.textContent = 'Enter your username and password.';
      (user.input.value.trim() ? pass.input : user.input).focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.login(user.input.value.trim(), pass.input.value, thisDevice().name);
      navigate(params.next || '/home', { replace: true });
    } catch (err) {
      msg.textContent = err instanceof ApiError && err.status === 401
        ? 'Wrong username or password.'
        : `Could not sign in: ${describeError(err)}`;
      pass.input.select();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(authShell('Sign in to HiFi', form,
    h('p', { class: 'auth-alt' }, 'New here? ', h('a', { href: '#/register' }, 'Create an account'))));
  user.input.focus();
}

export function renderRegister(main) {
  const user = field('Username', { type: 'text', name: 'username', autocomplete: 'username', required: true, minlength: 3, maxlength: 32, autocapitalize: 'none', spellcheck: 'false' },
    '3 to 32 letters, digits, “_”, “-” or “.”.');
  const pass = field('Password', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 8 },
    'At least 8 characters.');
  const invite = field('Invite code', { type: 'text', name: 'invite_code', autocomplete: 'off', spellcheck: 'false' },
    'This server needs an invite code from its admin.');
  invite.el.hidden = true;
  const notice = h('p', { class: 'notice', hidden: true });
  const msg = h('p', { class: 'form-message', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Create account');
  const form = h('form', { class: 'auth-form', novalidate: true }, notice, user.el, pass.el, invite.el, msg, submit);

  const applyMode = (mode) => {
    invite.el.hidden = mode !== 'invite';
    invite.input.required = mode === 'invite';
    notice.hidden = mode !== 'closed';
    notice.textContent = 'Registration is closed on this server: only its first account can be created here. Ask the admin for an account.';
  };
  if (api.health) applyMode(api.health.registration);
  api.healthz().then((hz) => applyMode(hz.registration)).catch(() => {});

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    const username = user.input.value.trim();
    const password = pass.input.value;
    if (username.length < 3) { msg.textContent = 'The username needs at least 3 characters.'; user.input.focus(); return; }
    if (password.length < 8) { msg.textContent = 'The password needs at least 8 characters.'; pass.input.focus(); return; }
    if (!invite.el.hidden && !invite.input.value.trim()) { msg.textContent = 'Enter your invite code.'; invite.input.focus(); return; }
    submit.disabled = true;
    try {
      await api.register(username, password, invite.el.hidden ? '' : invite.input.value.trim());
      await api.login(username, password, thisDevice().name);
      navigate('/home', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) msg.textContent = 'That username is taken. Try another one.';
      else if (err instanceof ApiError && err.status === 403) {
        msg.textContent = `Registration refused: ${err.detail || 'an invite code is needed'}`;
        // The server may have switched to invite-only since the page loaded.
        api.healthz().then((hz) => applyMode(hz.registration)).catch(() => {});
      } else msg.textContent = `Could not create the account: ${describeError(err)}`;
    } finally {
      submit.disabled = false;
    }
  });
  main.append(authShell('Create your HiFi account', form,
    h('p', { class: 'auth-alt' }, 'Already have an account? ', h('a', { href: '#/login' }, 'Sign in'))));
  user.input.focus();
}
