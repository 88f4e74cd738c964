// Cover art: an <img> that shows a song's or album's cover once it has
// arrived, shared by the library and the room views.

import { api } from './api.js';
import { h, icon } from './dom.js';

// A cover <img> filled in once the image arrives (covers need the bearer header).
export function coverImage(path, alt, size = 44) {
  if (!path) {
    return h('div', { class: 'cover placeholder', style: { width: `${size}px`, height: `${size}px` }, 'aria-hidden': 'true' },
      icon('music', Math.round(size * 0.45)));
  }
  const img = h('img', { class: 'cover', alt, width: size, height: size, decoding: 'async' });
  api.cover(path).then((url) => { if (url) { img.src = url; img.classList.add('loaded'); } });
  return img;
}
