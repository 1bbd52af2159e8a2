// The backend table's columns. A backend's JSON (GET /backends) is shown
// through this list; any field it gains that is not listed here still shows,
// in the last column, so the page keeps up with the API without a change.
import { ago, brief, clockTime, fmtBytes, fmtDuration, fmtNumber } from './format.js';

/**
 * Health with why and since when: "down: active check failed: connection
 * refused (ECONNREFUSED) · since 12:03:41 (2 min)", "ejected: 3 consecutive
 * connect failures (last: ECONNREFUSED) · until 12:04:11 · since …",
 * "up · since 12:00:02 (5 min)".
 */
export function healthText(b, now) {
  const d = b.healthDetail ?? {};
  const sinceMs = d.since ? Date.parse(d.since) : NaN;
  const since = Number.isFinite(sinceMs) ? `since ${clockTime(sinceMs)} (${fmtDuration(now - sinceMs)})` : '';
  const until = d.ejectedUntil ? Date.parse(d.ejectedUntil) : NaN;
  let head;
  if (b.health === 'down' && Number.isFinite(until) && until > now) {
    head = `${d.reason?.startsWith('ejected') ? d.reason : `ejected${d.reason ? `: ${d.reason}` : ''}`} · until ${clockTime(until)}`;
  } else if (b.health === 'down') {
    // An ejection that ended leaves the backend down until a probe passes: say that the checks keep it out now.
    const still = d.failedActiveCheck && !d.reason?.startsWith('active check') ? ' · active check failing' : '';
    head = `down: ${d.reason ?? 'no reason recorded'}${still}`;
  }
  else if (b.health === 'unknown') head = 'unknown: not checked yet';
  else head = b.health;
  return since ? `${head} · ${since}` : head;
}

/** The active check's last verdict and how long the probe took. */
function checkText(b, now) {
  const d = b.healthDetail ?? {};
  if (!d.activeCheck) return b.lastCheck ? ago(b.lastCheck, now) : 'off';
  const took = d.lastCheckDurationMs === null || d.lastCheckDurationMs === undefined ? '' : ` · ${fmtNumber(d.lastCheckDurationMs)} ms`;
  return `${d.activeCheck}${took} · ${ago(b.lastCheck, now)}`;
}

/** `ctx`: { now (ms), rate (conn/s of this backend, or undefined) }. */
export const COLUMNS = [
  { key: 'address', label: 'Backend', text: (b) => b.address, title: (b) => `id ${b.id}` },
  { key: 'state', label: 'State', text: (b) => b.state },
  { key: 'health', label: 'Health', text: (b, ctx) => healthText(b, ctx.now), title: (b) => b.healthDetail?.reason ?? '' },
  { key: 'weight', label: 'Weight', weightForm: true },
  {
    key: 'effectiveWeight',
    label: 'Effective',
    num: true,
    text: (b) => (b.effectiveWeight === undefined ? '–' : fmtNumber(b.effectiveWeight)),
    title: (b) => (b.effectiveWeight !== undefined && b.effectiveWeight !== b.weight ? 'slow start: the weight it takes now' : 'the weight it takes now'),
  },
  {
    key: 'activeConnections',
    label: 'Open',
    num: true,
    text: (b) => (b.maxConnections > 0 ? `${fmtNumber(b.activeConnections)}/${fmtNumber(b.maxConnections)}` : fmtNumber(b.activeConnections)),
  },
  { key: 'totalConnections', label: 'Total', num: true, text: (b) => fmtNumber(b.totalConnections) },
  { key: 'failedConnections', label: 'Failed', num: true, text: (b) => fmtNumber(b.failedConnections) },
  { key: 'rate', label: 'Conn/s', num: true, text: (_b, ctx) => (ctx.rate === undefined ? '–' : fmtNumber(ctx.rate)) },
  { key: 'bytesIn', label: 'Bytes in', num: true, text: (b) => fmtBytes(b.bytesIn), title: () => 'client → backend, counted when a connection ends' },
  { key: 'bytesOut', label: 'Bytes out', num: true, text: (b) => fmtBytes(b.bytesOut), title: () => 'backend → client, counted when a connection ends' },
  { key: 'lastCheck', label: 'Last check', text: (b, ctx) => checkText(b, ctx.now), title: (b) => b.lastCheck ?? '' },
  { key: 'ejections', label: 'Ejected', num: true, text: (b) => fmtNumber(b.healthDetail?.ejections ?? 0) },
  { key: 'origin', label: 'Origin', text: (b) => (b.backup ? `${b.origin} · backup` : b.origin), title: (b) => (b.backup ? 'a backup: takes connections only while no other backend is available' : '') },
  { key: 'more', label: 'More', text: (b) => extras(b).map(([k, v]) => `${k}: ${brief(v)}`).join(' · ') },
];

/** What the columns above show of `healthDetail`; anything else it gains goes to "More". */
const DETAIL_SHOWN = new Set(['activeCheck', 'failedActiveCheck', 'ejectedUntil', 'admin', 'reason', 'since', 'ejections', 'lastCheck', 'lastCheckDurationMs']);
const SHOWN = new Set([...COLUMNS.map((c) => c.key), 'id', 'backup', 'maxConnections', 'healthDetail']);

/** Fields of a backend that no column shows. */
export function extras(b) {
  const rest = Object.entries(b).filter(([k]) => !SHOWN.has(k));
  for (const [k, v] of Object.entries(b.healthDetail ?? {})) if (!DETAIL_SHOWN.has(k)) rest.push([`healthDetail.${k}`, v]);
  return rest;
}
