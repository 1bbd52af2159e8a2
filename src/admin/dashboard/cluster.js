// The second tab: the fleet's live instances from GET /cluster, shown only
// when a shared store is configured. Read every 2 s while the tab is open
// (the fleet view lives in Redis, not in this instance's event stream).
import { call, describe } from './api.js';
import { clockTime } from './format.js';

const $ = (id) => document.getElementById(id);
const PERIOD_MS = 2000;
let timer;

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
}

function render({ store, instances }, self) {
  $('cluster-store').textContent = `${store.where}: ${store.state}, version ${store.version}`;
  $('cluster-store').dataset.state = store.state;
  const body = $('instances');
  body.replaceChildren();
  for (const i of instances) {
    const tr = document.createElement('tr');
    tr.dataset.id = i.id;
    tr.dataset.admin = i.admin;
    if (i.admin === self) tr.className = 'self';
    cell(tr, i.id);
    cell(tr, i.admin);
    cell(tr, i.version);
    cell(tr, new Date(i.startedAt).toLocaleString());
    cell(tr, String(i.stateVersion), 'num');
    cell(tr, String(i.openConnections), 'num');
    body.append(tr);
  }
  $('instances-count').textContent = String(instances.length);
}

async function refresh() {
  const answer = await call('GET', '/cluster');
  if (answer.jsend?.status === 'success' && answer.jsend.data.store) render(answer.jsend.data, location.host);
  else $('cluster-store').textContent = `GET /cluster: ${describe(answer)} at ${clockTime(Date.now())}`;
}

function show(tab) {
  for (const b of document.querySelectorAll('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  $('services-tab').hidden = tab !== 'services';
  $('cluster-tab').hidden = tab !== 'cluster';
  clearInterval(timer);
  if (tab === 'cluster') {
    void refresh();
    timer = setInterval(refresh, PERIOD_MS);
  }
}

/** Shows the tab bar when this instance has a shared store (GET /cluster says `store`). */
export async function setUpClusterTab() {
  for (const b of document.querySelectorAll('[data-tab]')) b.addEventListener('click', () => show(b.dataset.tab));
  const answer = await call('GET', '/cluster');
  // A store that is down answers 503 ERR_STORE_UNAVAILABLE: there is a fleet, it cannot be listed now.
  const shared = (answer.jsend?.status === 'success' && answer.jsend.data.store !== null) || answer.jsend?.code === 'ERR_STORE_UNAVAILABLE';
  $('tabs').hidden = !shared;
  // Says the question was answered (tests wait for it rather than for time to pass).
  document.body.dataset.store = shared ? 'shared' : answer.jsend?.status === 'success' ? 'memory' : 'unknown';
}
