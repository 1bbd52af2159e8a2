/** Reading /metrics the way a scraper does, for tests that compare counters with what clients counted. */
import type { AdminClient } from './admin-client.ts';

/** Sum of the samples of `name` whose labels include every pair in `labels` (0 when none). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export async function metrics(api: AdminClient): Promise<(name: string, labels?: Record<string, string>) => number> {
  const res = await api.get('/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  return (name, labels) => sample(res.text, name, labels);
}
