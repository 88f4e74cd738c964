// Small pieces shared by the playlists, settings and admin views: modal
// dialogs (native <dialog>, focus kept inside and given back on close),
// confirmation, copy-to-clipboard buttons, dates.

import { h, uid, announce } from './dom.js';

// openDialog({title, build(close) -> [nodes], onClose}) -> {dialog, close}
// The dialog is modal (the page behind is inert), Escape closes it, and focus
// returns to what had it before.
export function openDialog({ title, build, onClose, className = '' }) {
  const titleId = uid('dlg-h');
  const opener = document.activeElement;
  const dialog = h('dialog', { class: `lists-dialog ${className}`.trim(), 'aria-labelledby': titleId });
  let closed = false;
  const close = (result) => {
    if (closed) return;
    closed = true;
    window.removeEventListener('hashchange', onRoute);
    if (dialog.open) dialog.close();
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    onClose?.(result);
  };
  const closeBtn = h('button', { type: 'button', class: 'icon-button dialog-close', 'aria-label': 'Close', onclick: () => close(null) }, '×');
  dialog.append(
    h('div', { class: 'dialog-head' }, h('h2', { id: titleId }, title), closeBtn),
    h('div', { class: 'dialog-body' }, build(close)));
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(null); });
  // Going elsewhere in the app closes it.
  const onRoute = () => close(null);
  window.addEventListener('hashchange', onRoute, { once: true });
  // A click on the backdrop (the dialog element itself, outside its box) closes.
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) close(null);
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus], .dialog-body input:not([type=hidden]), .dialog-body select, .dialog-body textarea, .dialog-body button');
  (first || closeBtn).focus();
  return { dialog, close };
}

// Resolves true when the person confirms.
export function confirmDialog({ title, message, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    openDialog({
      title,
      onClose: (result) => resolve(result === true),
      build: (close) => [
        h('p', {}, message),
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'button', onclick: () => close(false) }, 'Cancel'),
          h('button', { type: 'button', class: `button ${danger ? 'danger' : 'primary'}`, onclick: () => close(true) }, confirmLabel)),
      ],
    });
  });
}

// Copies text; says so through the live region (and the button's text).
export async function copyText(text, what = 'Text') {
  try {
    await navigator.clipboard.writeText(text);
    announce(`${what} copied to the clipboard`);
    return true;
  } catch {
    announce(`Could not copy: select the ${what.toLowerCase()} and copy it`);
    return false;
  }
}

// A read-only field showing a secret or a link, with a Copy button.
export function copyField(label, value, { what = label, monospace = true } = {}) {
  const id = uid('copy');
  const input = h('input', { id, type: 'text', readonly: true, value, class: monospace ? 'mono' : '', spellcheck: 'false', autocomplete: 'off' });
  input.addEventListener('focus', () => input.select());
  const btn = h('button', { type: 'button', class: 'button small', 'aria-label': `Copy ${label.toLowerCase()}` }, 'Copy');
  btn.addEventListener('click', async () => {
    const ok = await copyText(value, what);
    if (!ok) { input.focus(); input.select(); }
    btn.textContent = ok ? 'Copied' : 'Copy';
  });
  return h('div', { class: 'field copy-field' },
    h('label', { for: id }, label),
    h('div', { class: 'copy-row' }, input, btn));
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export function formatDate(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '—';
  return dateFmt.format(new Date(ms));
}

// "just now", "5 minutes ago", "3 days ago", else the date.
export function relativeTime(ms, now = Date.now()) {
  if (!Number.isFinite(ms) || ms <= 0) return 'never';
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} hour${hr === 1 ? '' : 's'} ago`;
  const d = Math.round(hr / 24);
  if (d < 30) return `${d} day${d === 1 ? '' : 's'} ago`;
  return formatDate(ms);
}

export function plural(n, word, many = `${word}s`) { return `${n} ${n === 1 ? word : many}`; }

// A labelled text field: {el, input}.
export function textField(label, attrs = {}, hint = '') {
  const id = uid('f');
  const hintId = hint ? `${id}-hint` : null;
  const tag = attrs.multiline ? 'textarea' : 'input';
  const { multiline, ...rest } = attrs;
  const input = h(tag, { id, ...(tag === 'input' ? { type: 'text' } : {}), ...rest, 'aria-describedby': hintId });
  return {
    input,
    el: h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { id: hintId, class: 'hint' }, hint) : null),
  };
}
