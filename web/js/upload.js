// Upload: drag and drop or a file picker, several files at once, per-file
// progress (XMLHttpRequest reports upload progress; fetch does not), and the
// server's verdict for each: added, already in the library, or rejected with
// the server's reason.

import { api, ApiError } from './api.js';
import { h, icon, formatBytes, announce, songLabel } from './dom.js';

const CONCURRENCY = 2;

// Uploads survive leaving the view: the list is module state and the view
// re-attaches to it.
const uploads = [];
let running = 0;
let listEl = null;
let summaryEl = null;

export function renderUpload(main) {
  const input = h('input', {
    type: 'file', id: 'upload-input', class: 'visually-hidden-input', multiple: true,
    accept: 'audio/*,.mp3,.flac,.ogg,.oga,.opus,.wav,.m4a,.aac,.mp4',
  });
  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = '';
  });

  const zone = h('div', { class: 'dropzone' },
    icon('upload', 36),
    h('p', {}, 'Drag and drop audio files here, or'),
    input,
    h('label', { for: 'upload-input', class: 'button primary' }, 'Choose files'),
    h('p', { class: 'hint' }, 'MP3, FLAC, Ogg Vorbis, Opus, WAV or AAC/M4A.',
      api.health?.max_upload_bytes ? ` Up to ${formatBytes(api.health.max_upload_bytes)} each.` : ''));

  let depth = 0;
  zone.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; zone.classList.add('over'); });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
  zone.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; zone.classList.remove('over'); } });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove('over');
    addFiles([...(e.dataTransfer?.files || [])]);
  });

  listEl = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  summaryEl = h('p', { class: 'upload-summary', role: 'status' });
  for (const u of uploads) listEl.append(u.el);
  updateSummary();

  main.append(h('section', { class: 'upload', 'aria-labelledby': 'upload-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'upload-h' }, 'Upload')),
    zone, summaryEl, listEl));

  return () => { listEl = null; summaryEl = null; };
}

// Dropping files anywhere else must not navigate away from the app.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

function addFiles(files) {
  for (const file of files) {
    const progress = h('progress', { max: 100, value: 0, 'aria-label': `Upload progress of ${file.name}` });
    const status = h('span', { class: 'upload-status' }, 'Waiting');
    const el = h('li', { class: 'upload-item waiting' },
      h('div', { class: 'upload-name' }, h('span', { class: 'name' }, file.name), h('span', { class: 'size' }, formatBytes(file.size))),
      progress, status);
    const u = { file, el, progress, status, state: 'waiting' };
    uploads.push(u);
    listEl?.append(el);
  }
  if (files.length) announce(`${files.length} file${files.length === 1 ? '' : 's'} added to the uploads`);
  pump();
  updateSummary();
}

function pump() {
  while (running < CONCURRENCY) {
    const next = uploads.find((u) => u.state === 'waiting');
    if (!next) return;
    running++;
    next.state = 'uploading';
    send(next).finally(() => { running--; pump(); updateSummary(); });
  }
}

function setOutcome(u, state, text) {
  u.state = state;
  u.el.className = `upload-item ${state}`;
  u.status.textContent = text;
  if (state !== 'uploading') {
    u.progress.value = 100;
    announce(`${u.file.name}: ${text}`);
  }
}

function send(u) {
  // The server refuses an oversized body before reading it, which browsers
  // may report as a network error: say why up front instead.
  const max = api.health?.max_upload_bytes;
  if (max && u.file.size > max) {
    setOutcome(u, 'rejected', `Too large: ${formatBytes(u.file.size)}; this server accepts files up to ${formatBytes(max)}`);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', api.url('/api/v1/songs'));
    xhr.setRequestHeader('Authorization', `Bearer ${api.token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'text';
    setOutcome(u, 'uploading', 'Uploading 0%');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.floor((e.loaded / e.total) * 100);
      u.progress.value = Math.min(pct, 99);
      u.status.textContent = pct >= 100 ? 'Checking…' : `Uploading ${pct}%`;
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status === 201) {
        setOutcome(u, 'added', `Added: ${songLabel(body)}`);
      } else if (xhr.status === 200) {
        setOutcome(u, 'duplicate', `Already in the library: ${songLabel(body)}`);
      } else {
        const err = new ApiError(xhr.status, body || { title: xhr.statusText });
        const reason = err.detail || err.title || `HTTP ${xhr.status}`;
        const what = xhr.status === 415 ? 'Rejected' : xhr.status === 413 ? 'Too large' : 'Failed';
        setOutcome(u, 'rejected', `${what}: ${reason}`);
        if (xhr.status === 401) api.dispatchEvent(new CustomEvent('unauthorized'));
      }
      resolve();
    };
    xhr.onerror = () => { setOutcome(u, 'rejected', 'Failed: the server could not be reached'); resolve(); };
    xhr.onabort = () => { setOutcome(u, 'rejected', 'Cancelled'); resolve(); };
    const form = new FormData();
    form.append('file', u.file, u.file.name);
    xhr.send(form);
  });
}

function updateSummary() {
  if (!summaryEl) return;
  if (!uploads.length) { summaryEl.textContent = ''; return; }
  const count = (s) => uploads.filter((u) => u.state === s).length;
  const pending = count('waiting') + count('uploading');
  const parts = [`${count('added')} added`, `${count('duplicate')} already in the library`, `${count('rejected')} rejected`];
  summaryEl.textContent = pending ? `Uploading ${pending} of ${uploads.length} files…` : `Done: ${parts.join(', ')}.`;
}
