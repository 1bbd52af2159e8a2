// The dashboard: reads the event stream, keeps one view per service, logs
// events and the answers of every action. No build step: plain ES modules.
import { authHeaders, call, describe, token } from './api.js';
import { setUpClusterTab } from './cluster.js';
import { clockTime } from './format.js';
import { openStream } from './stream.js';
import { ServiceView } from './view.js';

const $ = (id) => document.getElementById(id);
const views = new Map();
const MAX_LOG = 200;

function log(list, text, attrs = {}) {
  const li = document.createElement('li');
  li.textContent = text;
  for (const [k, v] of Object.entries(attrs)) li.dataset[k] = v;
  list.prepend(li);
  while (list.children.length > MAX_LOG) list.lastElementChild.remove();
}

function report(line, answer) {
  log($('answers'), `${clockTime(Date.now())} ${line}`, { status: answer.jsend?.status ?? 'error' });
  if (answer.http === 401) askForToken();
}

function setStatus(state, detail) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = detail ? `${state}: ${detail}` : state;
  if (state === 'unauthorized') askForToken();
}

function askForToken() {
  $('token-form').hidden = false;
  $('token').focus();
}

function onSnapshot(snap) {
  $('empty')?.remove();
  $('clock').textContent = `snapshot ${clockTime(snap.time)}`;
  const main = $('services');
  const names = new Set();
  for (const s of snap.services) {
    names.add(s.name);
    let view = views.get(s.name);
    if (!view) {
      view = new ServiceView(s.name, report);
      views.set(s.name, view);
    }
    main.append(view.el); // keeps config order; a no-op move when already in place
    view.update(s, snap.time);
  }
  for (const [name, view] of views) {
    if (!names.has(name)) {
      view.el.remove();
      views.delete(name);
    }
  }
}

function describeEvent(e) {
  const where = [e.service, e.backend].filter(Boolean).join(' ');
  switch (e.type) {
    case 'health':
      return `${where}: ${e.from} → ${e.to}${e.detail?.reason ? ` (${e.detail.reason})` : ''}`;
    case 'state':
    case 'weight':
      return `${where}: ${e.type} ${e.from} → ${e.to}`;
    case 'added':
      return `${where}: registered (weight ${e.to?.weight}, ${e.to?.origin})`;
    case 'removed':
      return `${where}: deregistered (${e.detail?.openConnections ?? 0} open)`;
    case 'store':
      return `store ${e.detail?.where ?? ''}: ${e.from} → ${e.to}`;
    case 'reload':
      return e.to === 'applied' ? `config reloaded: ${JSON.stringify(e.detail)}` : `reload refused: ${(e.detail?.errors ?? []).join('; ')}`;
    default:
      return `${where}: ${e.type} ${JSON.stringify(e.detail ?? e.to ?? '')}`;
  }
}

function onChange(e) {
  log($('events'), `${clockTime(e.time)} ${describeEvent(e)}`, { type: e.type, to: String(e.to ?? '') });
  if (e.service) views.get(e.service)?.patch(e);
}

const stream = openStream({
  url: '/events',
  headers: authHeaders,
  onStatus: setStatus,
  onMessage(event, data) {
    if (event === 'snapshot') onSnapshot(JSON.parse(data));
    else if (event === 'change') onChange(JSON.parse(data));
    else if (event === 'lost') log($('events'), `${clockTime(Date.now())} some events were missed while disconnected`, { type: 'lost' });
  },
});

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token.set($('token').value);
  $('token').value = '';
  $('token-form').hidden = true;
  $('forget').hidden = false;
  stream.restart();
});

$('forget').hidden = token.get() === '';
$('forget').addEventListener('click', () => {
  token.clear();
  $('forget').hidden = true;
  stream.restart();
});

$('reload').addEventListener('click', async () => {
  const answer = await call('POST', '/reload', {});
  report(`reload: ${describe(answer)}`, answer);
});

void setUpClusterTab();
