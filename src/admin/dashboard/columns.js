// The backend table's columns. A backend's JSON (GET /backends) is shown
// through this list; any field it gains that is not listed here still shows,
// in the last column, so the page keeps up with the API without a change.
import { ago, brief, fmtBytes, fmtNumber } from './format.js';

/** `ctx`: { now (ms), rate (conn/s of this backend, or undefined) }. */
export const COLUMNS = [
  { key: 'address', label: 'Backend', text: (b) => b.address, title: (b) => `id ${b.id}` },
  { key: 'state', label: 'State', text: (b) => b.state },
  {
    key: 'health',
    label: 'Health',
    text: (b, ctx) => (b.healthSince ? `${b.health} · ${ago(b.healthSince, ctx.now)}` : b.health),
    title: (b) => (b.healthSince ? `since ${b.healthSince}` : ''),
  },
  { key: 'weight', label: 'Weight', weightForm: true },
  { key: 'activeConnections', label: 'Open', num: true, text: (b) => fmtNumber(b.activeConnections) },
  { key: 'totalConnections', label: 'Total', num: true, text: (b) => fmtNumber(b.totalConnections) },
  { key: 'failedConnections', label: 'Failed', num: true, text: (b) => fmtNumber(b.failedConnections) },
  { key: 'rate', label: 'Conn/s', num: true, text: (_b, ctx) => (ctx.rate === undefined ? '–' : fmtNumber(ctx.rate)) },
  { key: 'bytesIn', label: 'Bytes in', num: true, text: (b) => fmtBytes(b.bytesIn), title: () => 'client → backend, counted when a connection ends' },
  { key: 'bytesOut', label: 'Bytes out', num: true, text: (b) => fmtBytes(b.bytesOut), title: () => 'backend → client, counted when a connection ends' },
  { key: 'lastCheck', label: 'Last check', text: (b, ctx) => ago(b.lastCheck, ctx.now), title: (b) => b.lastCheck ?? '' },
  { key: 'origin', label: 'Origin', text: (b) => b.origin },
  { key: 'more', label: 'More', text: (b) => extras(b).map(([k, v]) => `${k}: ${brief(v)}`).join(' · ') },
];

const SHOWN = new Set([...COLUMNS.map((c) => c.key), 'id', 'healthSince']);

/** Fields of a backend that no column shows. */
export function extras(b) {
  return Object.entries(b).filter(([k]) => !SHOWN.has(k));
}
