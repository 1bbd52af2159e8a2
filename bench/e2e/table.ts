/**
 * Samples per (target, figure) across rounds, and the markdown table of their
 * medians: one row per figure, one column per target, each cell with its
 * ratio to `direct` and to `haproxy` where those have the figure, and
 * `fulcrum`'s to each `fulcrum@REV` (today against that revision). A
 * `script:PATH` target is headed by its file name, or by its path when two
 * scripts share a file name.
 */
import { isRevisionTarget } from './revision.ts';
import { targetLabel, type TargetName } from './targets.ts';

export const FIGURES = [
  'keepalive.rps',
  'close.cps',
  'large.mibps',
  'latency.p50',
  'latency.p99',
  'keepalive.cpuPerReq',
  'close.cpuPerConn',
  'large.cpuPerMiB',
  'memory.rssIdleMiB',
  'memory.kibPerConn',
] as const;
export type Figure = (typeof FIGURES)[number];

export class Samples {
  readonly #data = new Map<string, { round: number; value: number }[]>();
  #round = 0;

  /** Samples added from now on belong to round `n` (for paired ratios). */
  startRound(n: number): void {
    this.#round = n;
  }

  add(target: TargetName, figure: Figure, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return;
    const key = `${target}/${figure}`;
    const list = this.#data.get(key) ?? [];
    list.push({ round: this.#round, value });
    this.#data.set(key, list);
  }

  median(target: TargetName, figure: Figure): number | undefined {
    return medianOf((this.#data.get(`${target}/${figure}`) ?? []).map((s) => s.value));
  }

  /**
   * The median over rounds of `a ÷ b`, from the rounds where both have the
   * figure: each round runs every target within a minute or two, so the
   * machine's slow swings cancel better than in a ratio of medians.
   */
  pairedRatio(a: TargetName, b: TargetName, figure: Figure): number | undefined {
    const bs = new Map((this.#data.get(`${b}/${figure}`) ?? []).map((s) => [s.round, s.value]));
    const ratios = (this.#data.get(`${a}/${figure}`) ?? []).flatMap((s) => {
      const v = bs.get(s.round);
      return v ? [s.value / v] : [];
    });
    return medianOf(ratios);
  }
}

function medianOf(list: readonly number[]): number | undefined {
  if (list.length === 0) return undefined;
  const s = [...list].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface RowSpec {
  readonly figure: Figure;
  readonly label: string;
  readonly digits: number;
}

/** Row labels carry the load parameters, so the table reads on its own. */
export function rowSpecs(p: { connections: number; largeConnections: number; rate: number; rateConnections: number; idleConns: number }): RowSpec[] {
  return [
    { figure: 'keepalive.rps', label: `Keep-alive, small response, ${p.connections} conns (req/s)`, digits: 0 },
    { figure: 'close.cps', label: `Connection: close, ${p.connections} conns (conn/s)`, digits: 0 },
    { figure: 'large.mibps', label: `1 MiB response, ${p.largeConnections} conns (MiB/s)`, digits: 0 },
    { figure: 'latency.p50', label: `Latency p50 @ ${p.rate} req/s, ${p.rateConnections} conns (ms)`, digits: 3 },
    { figure: 'latency.p99', label: `Latency p99 @ ${p.rate} req/s, ${p.rateConnections} conns (ms)`, digits: 3 },
    { figure: 'keepalive.cpuPerReq', label: 'Balancer CPU per keep-alive request (µs)', digits: 1 },
    { figure: 'close.cpuPerConn', label: 'Balancer CPU per connection, Connection: close (µs)', digits: 1 },
    { figure: 'large.cpuPerMiB', label: 'Balancer CPU per MiB relayed (µs)', digits: 0 },
    { figure: 'memory.rssIdleMiB', label: 'Balancer RSS, no connections (MiB)', digits: 1 },
    { figure: 'memory.kibPerConn', label: `Balancer RSS per idle connection, ${p.idleConns.toLocaleString('en-US')} open (KiB)`, digits: 1 },
  ];
}

function fmt(v: number, digits: number): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(v: number, ref: number | undefined, name: string): string | undefined {
  if (ref === undefined || ref === 0) return undefined;
  return `${fmt(v / ref, 2)}× ${name}`;
}

export interface Column {
  readonly name: TargetName;
  /** Why the target has no figures at all, if it has none. */
  readonly unavailable?: string;
}

function headings(columns: readonly Column[]): string[] {
  const labels = columns.map((c) => targetLabel(c.name));
  return columns.map((c, i) => (labels.indexOf(labels[i]!) !== labels.lastIndexOf(labels[i]!) ? c.name : labels[i]!));
}

export function renderTable(rows: readonly RowSpec[], columns: readonly Column[], samples: Samples): string {
  const header = `| figure | ${headings(columns).join(' | ')} |`;
  const rule = `|---|${columns.map(() => '---:').join('|')}|`;
  const revisions = columns.map((c) => c.name).filter(isRevisionTarget);
  const lines = rows.map((row) => {
    const direct = samples.median('direct', row.figure);
    const haproxy = samples.median('haproxy', row.figure);
    const fulcrum = samples.median('fulcrum', row.figure);
    const cells = columns.map((c) => {
      if (c.unavailable !== undefined) return 'unavailable';
      const v = samples.median(c.name, row.figure);
      if (v === undefined) return c.name === 'direct' && row.label.startsWith('Balancer') ? 'n/a' : '—';
      const ratios = [
        c.name === 'direct' ? undefined : ratio(v, direct, 'direct'),
        c.name === 'haproxy' ? undefined : ratio(v, haproxy, 'haproxy'),
        c.name === 'fulcrum-stream' ? ratio(v, fulcrum, 'fulcrum') : undefined,
        ...(c.name === 'fulcrum' ? revisions.map((r) => ratio(v, samples.median(r, row.figure), r)) : []),
      ].filter((r): r is string => r !== undefined);
      return ratios.length > 0 ? `${fmt(v, row.digits)} (${ratios.join(', ')})` : fmt(v, row.digits);
    });
    return `| ${row.label} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...lines].join('\n');
}
