// Keyboard shortcuts for the whole app, and the help dialog that lists
// them ("?"). They apply when no text field has the focus, and keys that a
// focused control uses itself (space on a button, arrows on a slider) are
// left to it.

import { api } from './api.js';
import { h, announce } from './dom.js';
import { navigate } from './router.js';
import { togglePlay, next, previous, seekBy, currentPlayback } from './playback.js';

export const SHORTCUTS = [
  ['Space', 'Play or pause'],
  ['←', 'Back 10 seconds'],
  ['→', 'Forward 10 seconds'],
  ['N', 'Next song'],
  ['P', 'Previous song'],
  ['/', 'Search'],
  ['?', 'Show these shortcuts'],
];

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
  if (target.tagName === 'INPUT') {
    // Buttons and checkboxes don't take text; every other input does (or
    // uses the arrows itself, like a slider).
    return !['button', 'submit', 'reset', 'checkbox', 'radio'].includes(target.type);
  }
  return false;
}

// Controls that act on Space (or Enter) themselves.
function activatesOnSpace(target) {
  return target instanceof Element && Boolean(target.closest('button, a[href], summary, [role="button"], [role="checkbox"], [role="switch"], [role="menuitem"], [role="tab"], [role="option"], input'));
}

// Controls that use the arrow keys themselves.
function usesArrows(target) {
  return target instanceof Element && Boolean(target.closest('[role="slider"], [role="listbox"], [role="menu"], [role="menubar"], [role="tablist"], [role="radiogroup"], [role="grid"], [role="tree"], .drag-handle'));
}

function act(promise) {
  Promise.resolve(promise).catch((err) => announce(err?.message || String(err)));
}

let dialog = null;

function helpDialog() {
  if (dialog) return dialog;
  const close = h('button', { type: 'button', class: 'button', autofocus: true }, 'Close');
  dialog = h('dialog', { class: 'shortcut-help', 'aria-labelledby': 'shortcut-help-h' },
    h('h2', { id: 'shortcut-help-h' }, 'Keyboard shortcuts'),
    h('p', { class: 'hint' }, 'They work anywhere in HiFi, except while you type in a field.'),
    h('dl', { class: 'shortcut-list' },
      SHORTCUTS.map(([key, what]) => h('div', { class: 'shortcut' }, h('dt', {}, h('kbd', {}, key)), h('dd', {}, what)))),
    h('div', { class: 'dialog-actions' }, close));
  close.addEventListener('click', () => dialog.close());
  // A click on the backdrop (outside the dialog's box) closes it too.
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) dialog.close();
  });
  let opener = null;
  dialog.addEventListener('close', () => { if (opener?.isConnected) opener.focus(); opener = null; });
  dialog.openFrom = (el) => { opener = el; };
  document.body.append(dialog);
  return dialog;
}

export function showShortcutHelp() {
  const d = helpDialog();
  if (d.open) return;
  d.openFrom(document.activeElement);
  d.showModal();
}

// Focuses the search field of the view, or opens the library's.
function focusSearch() {
  const field = document.querySelector('main input[type="search"], header input[type="search"]');
  if (field) { field.focus(); field.select?.(); return; }
  navigate('/library/songs');
  const started = performance.now();
  const tryFocus = () => {
    const f = document.querySelector('main input[type="search"]');
    if (f) f.focus();
    else if (performance.now() - started < 2000) requestAnimationFrame(tryFocus);
  };
  requestAnimationFrame(tryFocus);
}

function onKeyDown(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  if (!api.signedIn) return;
  if (dialog?.open) return; // the dialog's own keys (Escape closes it)
  const target = e.target;
  if (typing(target)) return;
  const hasSong = Boolean(currentPlayback().item);
  switch (e.key) {
    case ' ':
    case 'Spacebar':
      if (activatesOnSpace(target) || !currentPlayback().state?.queue?.length) return;
      e.preventDefault();
      act(togglePlay());
      break;
    case 'ArrowLeft':
    case 'ArrowRight':
      if (usesArrows(target) || !hasSong || e.shiftKey) return;
      e.preventDefault();
      act(seekBy(e.key === 'ArrowLeft' ? -10000 : 10000));
      break;
    case 'n':
    case 'N':
      if (!hasSong) return;
      e.preventDefault();
      act(next());
      break;
    case 'p':
    case 'P':
      if (!currentPlayback().state?.queue?.length) return;
      e.preventDefault();
      act(previous());
      break;
    case '/':
      e.preventDefault();
      focusSearch();
      break;
    case '?':
      e.preventDefault();
      showShortcutHelp();
      break;
    default:
      break;
  }
}

export function initShortcuts() {
  document.addEventListener('keydown', onKeyDown);
}
