// One service on the page: its header figures, two charts, the backend
// table with its actions, and the register form. Built once, updated from
// every snapshot; rows are keyed by backend id.
import { call, describe, servicePath } from './api.js';
import { chart, Series } from './charts.js';
import { COLUMNS, extras } from './columns.js';
import { fmtBytes, fmtNumber } from './format.js';

const h = (tag, props = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c) el.append(c);
  return el;
};

export class ServiceView {
  /** `report(label, answer)` logs an action's answer on the page. */
  constructor(name, report) {
    this.name = name;
    this.report = report;
    this.rows = new Map();
    this.prev = undefined;
    this.connRate = new Series();
    this.byteRate = new Series();
    this.figures = {
      listen: h('span', { class: 'listen' }),
      algo: h('span', { class: 'algo' }),
      open: h('span', { class: 'figure' }),
      ready: h('span', { class: 'figure' }),
      conns: h('span', { class: 'figure' }),
      bytes: h('span', { class: 'figure' }),
      queue: h('span', { class: 'figure queue', hidden: true }),
    };
    this.rejections = h('div', { class: 'rejections' });
    const connEl = h('div', { class: 'chart' });
    const bytesEl = h('div', { class: 'chart' });
    this.answer = h('output', { class: 'answer' });
    this.tbody = h('tbody');
    const address = h('input', { name: 'address', placeholder: '127.0.0.1:9001', required: true, 'aria-label': 'address' });
    const weight = h('input', { name: 'weight', type: 'number', placeholder: 'weight', 'aria-label': 'weight', class: 'narrow' });
    const register = h(
      'form',
      {
        class: 'register',
        onsubmit: (e) => {
          e.preventDefault();
          const body = { address: address.value.trim() };
          if (weight.value !== '') body.weight = Number(weight.value);
          void this.act(`register ${body.address}`, 'POST', servicePath(name, '/register'), body);
        },
      },
      h('span', { text: 'Register a backend' }),
      address,
      weight,
      h('button', { type: 'submit', text: 'Register' }),
    );
    this.el = h(
      'section',
      { class: 'service', 'data-service': name },
      h('header', {}, h('h2', { text: name }), this.figures.listen, this.figures.algo, this.figures.open, this.figures.ready, this.figures.conns, this.figures.bytes, this.figures.queue),
      this.rejections,
      h('div', { class: 'charts' }, h('figure', {}, h('figcaption', { text: 'connections/s' }), connEl), h('figure', {}, h('figcaption', { text: 'bytes/s' }), bytesEl)),
      (this.table = h('table', { class: 'backends' }, h('thead', {}, h('tr', {}, ...COLUMNS.map((c) => h('th', { text: c.label, class: c.num ? 'num' : undefined, 'data-col': c.key })), h('th', { text: '' }))), this.tbody)),
      register,
      this.answer,
    );
    this.connChart = chart(connEl, { label: 'conn/s', stroke: '#4fc3f7', fill: 'rgba(79,195,247,0.15)' });
    this.bytesChart = chart(bytesEl, { label: 'bytes/s', stroke: '#81c784', fill: 'rgba(129,199,132,0.15)', bytes: true });
  }

  async act(label, method, path, body) {
    const answer = await call(method, path, body);
    const line = `${this.name}: ${label}: ${describe(answer)}`;
    this.answer.textContent = line;
    this.answer.dataset.status = answer.jsend?.status ?? 'error';
    this.report(line, answer);
    return answer;
  }

  /** Takes one service of a snapshot taken at `now` (ms). */
  update(s, now) {
    const f = this.figures;
    f.listen.textContent = s.listen;
    f.algo.textContent = s.algo;
    f.open.textContent = `open ${fmtNumber(s.openConnections)}`;
    f.ready.textContent = `ready ${s.ready}/${s.backends.filter((b) => b.state !== 'removing').length}`;
    this.#queue(s.queue);
    this.#rejections(s.rejections ?? {});
    const rates = this.#rates(s, now);
    if (rates) {
      const t = now / 1000;
      this.connRate.push(t, rates.conns);
      this.byteRate.push(t, rates.bytes);
      f.conns.textContent = `${fmtNumber(rates.conns)} conn/s`;
      f.bytes.textContent = `${fmtBytes(rates.bytes)}/s`;
      this.connChart.update(this.connRate);
      this.bytesChart.update(this.byteRate);
    }
    // "More" takes room only while some backend has a field no column shows.
    this.table.toggleAttribute('data-more', s.backends.some((b) => extras(b).length > 0));
    const seen = new Set();
    for (const b of s.backends) {
      seen.add(b.id);
      this.#row(b, { now, rate: rates?.perBackend.get(b.id) });
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
  }

  /** Shown only when a limit can make clients wait. */
  #queue(q) {
    const el = this.figures.queue;
    el.hidden = !q;
    if (!q) return;
    el.textContent = `queue ${fmtNumber(q.length)}/${fmtNumber(q.size)}${q.length > 0 ? ` (oldest ${fmtNumber(q.oldestWaitMs / 1000)} s)` : ''}`;
    el.title = q.maxConnections > 0 ? `clients wait while the service serves ${q.maxConnections} at once, or every ready backend is at its maxConnections` : 'clients wait while every ready backend is at its maxConnections';
    el.dataset.length = String(q.length);
  }

  /** Refusals by reason, as fulcrum_connections_rejected_total{reason}: one chip per reason seen, none while there are none. */
  #rejections(byReason) {
    const seen = Object.entries(byReason).filter(([, n]) => n > 0);
    const el = this.rejections;
    if (seen.length === 0) {
      if (el.textContent !== 'refused: none') el.replaceChildren(h('span', { class: 'muted', text: 'refused: none' }));
      return;
    }
    this.rejectionChips ??= new Map();
    if (!this.rejectionChips.size) el.replaceChildren(h('span', { class: 'muted', text: 'refused:' }));
    for (const [reason, n] of seen) {
      let chip = this.rejectionChips.get(reason);
      if (!chip) {
        chip = h('span', { class: 'chip', 'data-reason': reason });
        this.rejectionChips.set(reason, chip);
        el.append(chip);
      }
      const text = `${reason} ${fmtNumber(n)}`;
      if (chip.textContent !== text) {
        chip.textContent = text;
        chip.dataset.count = String(n);
      }
    }
  }

  /** Rates since the previous snapshot; undefined for the first. Bytes count when a connection ends. */
  #rates(s, now) {
    const prev = this.prev;
    const cur = { now, accepted: s.counters?.accepted ?? 0, backends: new Map(s.backends.map((b) => [b.id, b])) };
    this.prev = cur;
    if (!prev) return undefined;
    const dt = (now - prev.now) / 1000;
    if (dt <= 0) return undefined;
    let bytes = 0;
    const perBackend = new Map();
    for (const b of s.backends) {
      const p = prev.backends.get(b.id);
      if (!p) continue;
      bytes += Math.max(0, b.bytesIn + b.bytesOut - p.bytesIn - p.bytesOut);
      perBackend.set(b.id, Math.max(0, b.totalConnections - p.totalConnections) / dt);
    }
    return { conns: Math.max(0, cur.accepted - prev.accepted) / dt, bytes: bytes / dt, perBackend };
  }

  #row(b, ctx) {
    let row = this.rows.get(b.id);
    if (!row) {
      row = this.#newRow(b);
      this.rows.set(b.id, row);
      this.tbody.append(row.tr);
    }
    const { tr } = row;
    const flipped = row.health !== undefined && (row.health !== b.health || row.state !== b.state);
    row.health = b.health;
    row.state = b.state;
    row.backend = b;
    row.ctx = ctx;
    tr.dataset.health = b.health;
    tr.dataset.state = b.state;
    tr.toggleAttribute('data-warming', b.effectiveWeight !== undefined && b.effectiveWeight < b.weight);
    tr.toggleAttribute('data-ejected', Boolean(b.healthDetail?.ejectedUntil));
    if (flipped) {
      // Counted (what a test or a user inspecting the row can read), highlighted at once, then faded back over the CSS transition.
      row.flips = (row.flips ?? 0) + 1;
      tr.dataset.flips = String(row.flips);
      tr.classList.add('flip');
      clearTimeout(row.flipTimer);
      row.flipTimer = setTimeout(() => tr.classList.remove('flip'), 1500);
    }
    COLUMNS.forEach((c, i) => {
      if (c.weightForm) {
        row.weight.textContent = String(b.weight);
        return;
      }
      const td = row.cells[i];
      const text = c.text(b, ctx);
      if (td.textContent !== text) td.textContent = text;
      const title = c.title?.(b, ctx) ?? '';
      if (td.title !== title) td.title = title;
    });
    const removing = b.state === 'removing';
    row.drain.textContent = b.state === 'draining' ? 'Undrain' : 'Drain';
    row.drain.disabled = removing;
    row.remove.disabled = removing;
  }

  /** An event about one of this service's backends, shown before the next snapshot. */
  patch(e) {
    const field = { health: 'health', state: 'state', weight: 'weight' }[e.type];
    if (!field) return;
    for (const row of this.rows.values()) {
      if (row.backend.address !== e.backend) continue;
      const b = { ...row.backend, [field]: e.to };
      if (field === 'health') b.healthDetail = { ...b.healthDetail, since: e.detail?.since ?? new Date(e.time).toISOString(), reason: e.detail?.reason ?? null };
      this.#row(b, row.ctx);
    }
  }

  #newRow(b) {
    const path = () => servicePath(this.name, `/backends/${encodeURIComponent(b.id)}`);
    const label = (what) => `${b.address} ${what}`;
    const row = { tr: h('tr', { 'data-id': b.id, 'data-address': b.address }), cells: [] };
    row.weight = h('span', { class: 'weight' });
    const input = h('input', { name: 'weight', type: 'number', 'aria-label': `weight of ${b.address}`, class: 'narrow', required: true });
    const weightForm = h(
      'form',
      {
        class: 'weight-form',
        onsubmit: (e) => {
          e.preventDefault();
          const weight = Number(input.value);
          void this.act(label(`weight ${input.value}`), 'PATCH', path(), { weight }).then((a) => {
            if (a.jsend?.status === 'success') input.value = '';
          });
        },
      },
      row.weight,
      input,
      h('button', { type: 'submit', text: 'Set' }),
    );
    for (const c of COLUMNS) {
      const td = h('td', { class: c.num ? 'num' : c.key === 'more' ? 'more' : undefined, 'data-col': c.key });
      if (c.weightForm) td.append(weightForm);
      row.cells.push(td);
      row.tr.append(td);
    }
    row.drain = h('button', {
      type: 'button',
      class: 'drain',
      text: 'Drain',
      onclick: () => {
        const state = row.backend.state === 'draining' ? 'active' : 'draining';
        void this.act(label(state === 'draining' ? 'drain' : 'undrain'), 'PATCH', path(), { state });
      },
    });
    row.remove = h('button', { type: 'button', class: 'remove', text: 'Deregister', title: 'no new connections; open ones run to their end', onclick: () => void this.act(label('deregister'), 'DELETE', path()) });
    const force = h('button', { type: 'button', class: 'force danger', text: 'Close now', title: 'deregister and close its open connections now', onclick: () => void this.act(label('deregister, forced'), 'DELETE', `${path()}?force=1`) });
    row.tr.append(h('td', { class: 'actions' }, row.drain, row.remove, force));
    return row;
  }
}
