/**
 * Process metrics (resident memory, open descriptors, CPU, event-loop lag,
 * GC): prom-client's defaults, one registry per process, since they describe
 * the process however many Fulcrums it embeds.
 *
 * With `--workers N` the workers are child processes with their own: the
 * primary asks each for its metrics as JSON when scraped (one IPC round,
 * bounded, see cluster/primary.ts) and renders every family once:
 * - the primary's own series, unlabelled, as without workers;
 * - each worker's, labelled `worker="<cluster id>"`;
 * - the workers together, labelled `worker="all"`, aggregated as prom-client
 *   does for a cluster (AggregatorRegistry: summed, except the event-loop
 *   lag and the like, averaged; version info taken once).
 * Not node:cluster's own `clusterMetrics()`, which answers only the whole
 * sum and listens on the cluster's message channel for itself.
 */
import { AggregatorRegistry, collectDefaultMetrics, Registry as PromRegistry } from 'prom-client';

export type MetricsJson = Awaited<ReturnType<PromRegistry['getMetricsAsJSON']>>;

let processRegistry: PromRegistry | undefined;

export function processMetrics(): PromRegistry {
  if (!processRegistry) {
    processRegistry = new PromRegistry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** This process's metrics as JSON (a worker's answer to the primary). */
export function processMetricsJson(): Promise<MetricsJson> {
  return processMetrics().getMetricsAsJSON();
}

/** The primary's process metrics, and each worker's and their aggregate when there are workers. */
export async function renderProcessMetrics(workers: readonly { id: string; metrics: MetricsJson }[] | undefined): Promise<string> {
  if (workers === undefined) return processMetrics().metrics();
  const own = await processMetricsJson();
  for (const w of workers) for (const m of w.metrics) for (const v of m.values) v.value ??= NaN;
  const all = workers.length > 0 ? await AggregatorRegistry.aggregate(workers.map((w) => w.metrics)).getMetricsAsJSON() : [];
  const series: { worker: string | undefined; metrics: MetricsJson }[] = [{ worker: undefined, metrics: own }, ...workers.map((w) => ({ worker: w.id, metrics: w.metrics })), { worker: 'all', metrics: all }];
  const families = new Map<string, { help: string; type: string; lines: string[] }>();
  for (const { worker, metrics } of series) {
    for (const m of metrics) {
      let f = families.get(m.name);
      if (!f) families.set(m.name, (f = { help: m.help, type: String(m.type), lines: [] }));
      for (const v of m.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]) {
        const labels = worker === undefined ? v.labels : { ...v.labels, worker };
        f.lines.push(`${v.metricName ?? m.name}${labelText(labels)} ${formatValue(v.value)}`);
      }
    }
  }
  let out = '';
  for (const [name, f] of families) out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n${f.lines.map((l) => `${l}\n`).join('')}`;
  return out;
}

function labelText(labels: Record<string, string | number | undefined>): string {
  const parts = Object.entries(labels)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

const escapeHelp = (help: string): string => help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** NaN (a lag before its first sample) crosses IPC as JSON `null`. */
function formatValue(v: number | null): string {
  if (v === null || Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
