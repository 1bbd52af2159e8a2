/** Descriptors and resident memory of a process and its children, from /proc (Linux), for leak checks. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** `pid` and its direct children (a primary and its workers). */
export function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {} // pgrep exits 1 when there are none
  return [pid, ...children];
}

export interface Usage {
  readonly fds: number;
  /** Bytes. */
  readonly rss: number;
}

export function usageOf(pids: readonly number[]): Usage {
  let fds = 0;
  let rss = 0;
  for (const pid of pids) {
    fds += readdirSync(`/proc/${pid}/fd`).length;
    rss += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  }
  return { fds, rss };
}

export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
