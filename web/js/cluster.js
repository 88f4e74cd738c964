// The cluster: its members with their health and, for admins, the leader,
// their load and free disk (GET /api/v1/cluster, refreshed while the view
// is open).

import { api, describeError } from './api.js';
import { h, formatBytes } from './dom.js';

const REFRESH_MS = 5000;

export function renderCluster(main) {
  const status = h('p', { class: 'list-status', role: 'status' }, 'Loading the cluster…');
  const list = h('ul', { class: 'member-list', 'aria-label': 'Cluster members' });
  main.append(h('section', { class: 'cluster', 'aria-labelledby': 'cluster-h' },
    h('div', { class: 'view-head' }, h('h1', { id: 'cluster-h' }, 'Cluster')),
    status, list));

  let alive = true;
  let timer = 0;
  let shown = '';
  async function load() {
    try {
      const cluster = await api.discoverCluster();
      if (!alive) return;
      if (api.clusterError) {
        status.textContent = `Could not load the cluster: ${describeError(api.clusterError)}`;
      } else if (!cluster?.available) {
        status.textContent = 'This server does not report a cluster (it runs alone).';
        list.replaceChildren();
      } else {
        status.textContent = summary(cluster);
      }
      // Rebuilt only when something changed, so focus and selection stay put.
      const key = cluster?.available ? JSON.stringify([cluster.self, cluster.members]) : '';
      if (key && key !== shown) list.replaceChildren(...cluster.members.map((m) => memberCard(m)));
      shown = key;
    } catch (err) {
      if (alive) status.textContent = `Could not load the cluster: ${describeError(err)}`;
    } finally {
      if (alive) timer = setTimeout(load, REFRESH_MS);
    }
  }

  load();
  return () => { alive = false; clearTimeout(timer); };
}

function summary(cluster) {
  const n = cluster.members.length;
  const parts = [n === 1 ? '1 member' : `${n} members`];
  if (cluster.replicationFactor) parts.push(`replication factor ${cluster.replicationFactor}`);
  if (cluster.detailed && !cluster.leader) parts.push('no leader at the moment');
  return parts.join(' · ');
}

function plural(n, word) { return `${n} ${word}${n === 1 ? '' : 's'}`; }

function memberCard(m) {
  const badges = [];
  const health = m.health || 'unknown';
  badges.push(h('span', { class: 'health', dataset: { health } }, health === 'ok' ? 'Healthy' : health === 'degraded' ? 'Degraded' : 'Health unknown'));
  if (m.leader) badges.push(h('span', { class: 'badge' }, 'Leader'));
  if (m.self) badges.push(h('span', { class: 'badge muted', title: 'The node this page talks to' }, 'This node'));

  const load = m.load
    ? `${plural(m.load.activeStreams, 'active stream')} · ${plural(m.load.connections, 'connection')} · ${plural(m.load.websockets, 'room connection')}`
    : m.rank !== null ? 'Load shown to admins' : 'Load not reported';
  let disk = m.rank !== null && !m.load ? 'Free disk shown to admins' : 'Free disk not reported';
  let meter = null;
  if (m.diskFree !== null) {
    disk = m.diskTotal ? `${formatBytes(m.diskFree)} free of ${formatBytes(m.diskTotal)}` : `${formatBytes(m.diskFree)} free`;
    if (m.diskTotal) {
      meter = h('meter', {
        class: 'disk-meter', min: 0, max: m.diskTotal, value: m.diskTotal - m.diskFree,
        low: m.diskTotal * 0.8, high: m.diskTotal * 0.95, optimum: 0,
        'aria-label': `Disk used on ${m.id || m.url}`,
      });
    }
  }
  return h('li', { class: 'member-card', dataset: { id: m.id } },
    h('div', { class: 'member-head' },
      h('span', { class: 'row-title member-id' }, m.id || m.url),
      ...badges),
    h('a', { class: 'member-url', href: m.url }, m.url),
    h('span', { class: 'row-sub member-load' }, load),
    h('span', { class: 'row-sub member-disk' }, disk),
    meter,
    m.version ? h('span', { class: 'row-sub member-version' }, `HiFi ${m.version}`) : null);
}
