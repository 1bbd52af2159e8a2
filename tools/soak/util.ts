/** Small pieces of the soak: the seeded PRNG, /proc usage of the balancer's processes, one /metrics sample. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** mulberry32, so a soak's choices replay from its seed. */
export { mulberry32 } from '../random.ts';

export interface Usage {
  readonly fds: number;
  readonly rss: number;
}

export const processUsage = {
  children(pid: number): number[] {
    try {
      return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  },
  /** Descriptors and resident bytes summed over `pids` (a process gone between listing and reading counts 0). */
  of(pids: readonly number[]): Usage {
    let fds = 0;
    let rss = 0;
    for (const pid of pids) {
      try {
        fds += readdirSync(`/proc/${pid}/fd`).length;
        rss += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
      } catch {}
    }
    return { fds, rss };
  },
};

/** Sum of the samples named `name` in Prometheus text (of one backend, if given). */
export function sample(text: string, name: string, backend?: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (backend === undefined || (m[2] ?? '').includes(`backend="${backend}"`))) sum += Number(m[3]);
  }
  return sum;
}
