// Reordering the rows of a list: by dragging a row's handle (pointer
// events), or from the keyboard (the handle's arrow keys). Used by the
// queues (player and room) and by playlists.

// Starts dragging `row` of `list` from a pointerdown on its handle: the row
// follows the pointer and the rows it passes make room (the list has the
// class "sorting" meanwhile, the row "dragging"). The rows are the list's
// children matching `rowSelector`. On release, when the row changed place,
// onDrop(from, to) gets the move (indexes among the rows); a cancelled
// drag moves nothing. Returns whether a drag started (the main button).
export function dragToReorder(ev, list, row, rowSelector, onDrop) {
  if (ev.button !== 0) return false;
  ev.preventDefault();
  const handle = ev.currentTarget;
  const rows = [...list.children].filter((r) => r.matches(rowSelector));
  const from = rows.indexOf(row);
  if (from < 0) return false;
  const rects = rows.map((r) => r.getBoundingClientRect());
  const startY = ev.clientY;
  const gap = rows.length > 1 ? rects[1].top - rects[0].bottom : 0;
  const height = rects[from].height + gap;
  let to = from;
  handle.setPointerCapture?.(ev.pointerId);
  row.classList.add('dragging');
  list.classList.add('sorting');
  const onMove = (mv) => {
    const dy = mv.clientY - startY;
    row.style.transform = `translateY(${dy}px)`;
    const center = rects[from].top + rects[from].height / 2 + dy;
    to = 0;
    for (let i = 0; i < rows.length; i++) {
      if (i !== from && center > rects[i].top + rects[i].height / 2) to++;
    }
    rows.forEach((r, i) => {
      if (i === from) return;
      let shift = 0;
      if (from < to && i > from && i <= to) shift = -height;
      else if (from > to && i >= to && i < from) shift = height;
      r.style.transform = shift ? `translateY(${shift}px)` : '';
    });
  };
  const onEnd = (end) => {
    handle.removeEventListener('pointermove', onMove);
    handle.removeEventListener('pointerup', onEnd);
    handle.removeEventListener('pointercancel', onEnd);
    row.classList.remove('dragging');
    list.classList.remove('sorting');
    for (const r of rows) r.style.transform = '';
    if (end.type === 'pointerup' && to !== from) onDrop(from, to);
  };
  handle.addEventListener('pointermove', onMove);
  handle.addEventListener('pointerup', onEnd);
  handle.addEventListener('pointercancel', onEnd);
  return true;
}

// Where a key moves the row at `from` of `count` rows: one up or down with
// the arrow keys, to the top or the bottom with Home and End (unless `ends`
// is false). null for any other key, or when the row would not move.
export function reorderKey(key, from, count, { ends = true } = {}) {
  let to = null;
  if (key === 'ArrowUp') to = from - 1;
  else if (key === 'ArrowDown') to = from + 1;
  else if (ends && key === 'Home') to = 0;
  else if (ends && key === 'End') to = count - 1;
  if (to === null || to < 0 || to >= count || to === from) return null;
  return to;
}
