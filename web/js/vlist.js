// A virtualized list: only the rows in (or near) the viewport exist in the
// DOM, so a library of 10,000+ songs scrolls as fast as one of ten. Rows have
// a fixed height. When the user nears the end of what is loaded, onNeedMore()
// is called to fetch the next page (cursor paging).

import { h } from './dom.js';

export class VirtualList {
  constructor({ label, rowHeight = 56, overscan = 8, renderRow, onNeedMore, emptyText = 'Nothing here.' }) {
    this.rowHeight = rowHeight;
    this.overscan = overscan;
    this.renderRow = renderRow;
    this.onNeedMore = onNeedMore;
    this.items = [];
    this.hasMore = false;
    this.loading = false;
    this.rows = new Map(); // index -> element
    this.frame = 0;

    this.spacer = h('div', { class: 'vlist-spacer', role: 'list', 'aria-label': label });
    this.empty = h('p', { class: 'vlist-empty', hidden: true }, emptyText);
    this.more = h('p', { class: 'vlist-more', hidden: true, 'aria-hidden': 'true' }, 'Loading more…');
    this.el = h('div', { class: 'vlist' }, this.spacer, this.empty, this.more);
    this.el.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.el);
    // Keyboard users tabbing past the last rendered row: keep rendering around focus.
    this.el.addEventListener('focusin', (e) => {
      const row = e.target.closest('[data-index]');
      if (row) this.focusIndex = Number(row.dataset.index);
    });
  }

  setItems(items, hasMore) {
    this.items = items;
    this.hasMore = hasMore;
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    this.el.scrollTop = 0;
    this.update();
  }

  appendItems(items, hasMore) {
    this.items = this.items.concat(items);
    this.hasMore = hasMore;
    this.update();
  }

  setLoading(loading) {
    this.loading = loading;
    this.more.hidden = !(loading && this.items.length > 0);
  }

  // Re-renders the visible rows (e.g. after data they show has changed).
  refresh() {
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    this.update();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.update();
    });
  }

  update() {
    const n = this.items.length;
    this.spacer.style.height = `${n * this.rowHeight}px`;
    // (aria-setsize belongs on the rows, where ARIA allows it; not on the list.)
    this.empty.hidden = n > 0 || this.loading;
    const top = this.el.scrollTop;
    const height = this.el.clientHeight || 600;
    let first = Math.max(0, Math.floor(top / this.rowHeight) - this.overscan);
    let last = Math.min(n - 1, Math.ceil((top + height) / this.rowHeight) + this.overscan);
    for (const [index, row] of this.rows) {
      if ((index < first || index > last) && !row.contains(document.activeElement)) {
        row.remove();
        this.rows.delete(index);
      }
    }
    for (let i = first; i <= last; i++) {
      if (this.rows.has(i)) continue;
      const row = this.renderRow(this.items[i], i);
      row.setAttribute('role', 'listitem');
      row.setAttribute('aria-posinset', String(i + 1));
      row.setAttribute('aria-setsize', this.hasMore ? '-1' : String(n));
      row.dataset.index = String(i);
      row.classList.add('vrow');
      row.style.transform = `translateY(${i * this.rowHeight}px)`;
      row.style.height = `${this.rowHeight}px`;
      // Keep DOM order equal to visual order for screen readers and Tab.
      const after = [...this.rows.keys()].filter((k) => k < i).sort((a, b) => b - a)[0];
      if (after === undefined) this.spacer.prepend(row);
      else this.rows.get(after).after(row);
      this.rows.set(i, row);
    }
    // Near the end of what is loaded: fetch the next page.
    if (this.hasMore && !this.loading && last >= n - 1 - this.overscan * 3) {
      this.onNeedMore?.();
    }
  }

  get renderedCount() { return this.rows.size; }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }
}
