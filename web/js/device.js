// This browser as one of the user's devices: a random id kept in
// localStorage (so a reload is the same device) and a name people can
// recognise ("Chrome on Linux", editable in the player view). Both go in
// the query of every room WebSocket (docs/protocol.md), so the room's state
// can list each user's open devices and say which one plays.

const KEY = 'hifi.device';
const NAME_MAX = 60;

function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  // base64url: [A-Za-z0-9_-], 16 characters.
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// "Chrome on Linux", "Firefox on Windows", "Safari on iPhone"…
export function defaultDeviceName(ua = navigator.userAgent) {
  let browser = 'Browser';
  if (/Edg\//.test(ua)) browser = 'Edge';
  else if (/OPR\//.test(ua)) browser = 'Opera';
  else if (/Firefox\//.test(ua)) browser = 'Firefox';
  else if (/Chrom(e|ium)\//.test(ua)) browser = 'Chrome';
  else if (/Safari\//.test(ua)) browser = 'Safari';
  let os = '';
  if (/iPhone/.test(ua)) os = 'iPhone';
  else if (/iPad/.test(ua)) os = 'iPad';
  else if (/Android/.test(ua)) os = 'Android';
  else if (/CrOS/.test(ua)) os = 'ChromeOS';
  else if (/Windows/.test(ua)) os = 'Windows';
  else if (/Mac OS X|Macintosh/.test(ua)) os = 'macOS';
  else if (/Linux/.test(ua)) os = 'Linux';
  return os ? `${browser} on ${os}` : browser;
}

function load() {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(KEY) || 'null'); } catch { saved = null; }
  const id = typeof saved?.id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(saved.id) ? saved.id : randomId();
  const name = typeof saved?.name === 'string' && saved.name.trim() ? saved.name.trim().slice(0, NAME_MAX) : '';
  const device = { id, name };
  localStorage.setItem(KEY, JSON.stringify(device));
  return device;
}

const device = load();

// {id, name}: the name is the one the user chose, else the default.
export function thisDevice() {
  return { id: device.id, name: device.name || defaultDeviceName() };
}

// Renames this device ('' goes back to the default name). Returns the name.
export function setDeviceName(name) {
  device.name = String(name || '').trim().slice(0, NAME_MAX);
  localStorage.setItem(KEY, JSON.stringify(device));
  return thisDevice().name;
}

export const DEVICE_NAME_MAX = NAME_MAX;
