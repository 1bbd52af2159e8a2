/**
 * Resident memory and CPU time of a process *tree*, read from /proc.
 *
 * A balancer is charged for all its descendants: nginx's master and worker,
 * Fulcrum's primary and its `--workers`. CPU time is user+system of every live
 * member, plus cutime/cstime (children that already exited and were reaped),
 * so nothing is counted twice.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`; 100 on every Linux we are likely to meet, used if getconf is missing. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface StatFields {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses; the rest starts after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (i: number): number => Number(rest[i] ?? 0);
  // rest[0] is field 3 (state), so field k is rest[k - 3]: ppid=4, utime=14 … cstime=17.
  return { ppid: n(1), ticks: n(11) + n(12) + n(13) + n(14) };
}

/** `root` and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function vmRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS over the tree, in KiB. Shared pages count once per process, the same for every target. */
export function treeRssKiB(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + vmRssKiB(pid), 0);
}

/** CPU time of the tree in microseconds; meaningful only as a difference of two samples. */
export function treeCpuUs(root: number): number {
  const ticks = processTree(root).reduce((sum, pid) => sum + (readStat(pid)?.ticks ?? 0), 0);
  return (ticks * 1e6) / clockTicksPerSecond();
}

/** The soft open-file limit children inherit (`ulimit -n`); Node has no getrlimit of its own. */
export function fdLimit(): number {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? 1 << 20 : Number(out) || 1024;
  } catch {
    return 1024;
  }
}
