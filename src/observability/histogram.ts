/**
 * A Prometheus histogram kept as plain numbers: the data plane observes into
 * it (a few comparisons, nothing allocated), and /metrics renders it when
 * scraped (metrics.ts). prom-client's own Histogram hashes its labels on
 * every observation, too much for a per-connection path. With `--workers`,
 * each worker's histograms travel in its stats report and the primary sums
 * them (`addFrom`).
 *
 * Buckets, in seconds (the README lists them):
 * - backend connect: 0.5 ms to 10 s, for LAN connects and a remote one timing out;
 * - connection duration: 5 ms to 1 h, from a refused client to a long database session;
 * - queue wait: 1 ms to 30 s, up to the longest sensible queue.timeout.
 */
export const CONNECT_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600]);
export const QUEUE_WAIT_BUCKETS: readonly number[] = Object.freeze([0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/** What travels between processes. */
export interface HistogramData {
  /** Per bucket (not cumulative), the last one for +Inf. */
  readonly counts: readonly number[];
  readonly sum: number;
}

export class Histogram implements HistogramData {
  readonly bounds: readonly number[];
  counts: number[];
  sum = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
  }

  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /** Zeroes it (before summing reports into it). */
  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
  }

  /** Adds another histogram's counts (same buckets), e.g. a worker's. */
  addFrom(other: HistogramData | undefined): void {
    if (other === undefined) return;
    const n = Math.min(this.counts.length, other.counts.length);
    for (let i = 0; i < n; i++) this.counts[i]! += other.counts[i]!;
    this.sum += other.sum;
  }

  toJSON(): HistogramData {
    return { counts: this.counts, sum: this.sum };
  }
}

/**
 * The exposition lines of one histogram family: `# HELP`, `# TYPE`, then
 * for each labelled histogram its cumulative `_bucket` lines, `_sum` and `_count`.
 */
export function renderHistograms(name: string, help: string, series: Iterable<{ labels: string; histogram: Histogram }>): string {
  let out = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
  for (const { labels, histogram } of series) {
    let cumulative = 0;
    const sep = labels === '' ? '' : ',';
    histogram.bounds.forEach((le, i) => {
      cumulative += histogram.counts[i]!;
      out += `${name}_bucket{${labels}${sep}le="${le}"} ${cumulative}\n`;
    });
    cumulative += histogram.counts[histogram.bounds.length]!;
    out += `${name}_bucket{${labels}${sep}le="+Inf"} ${cumulative}\n`;
    out += `${name}_sum${labels === '' ? '' : `{${labels}}`} ${histogram.sum}\n`;
    out += `${name}_count${labels === '' ? '' : `{${labels}}`} ${cumulative}\n`;
  }
  return out;
}
