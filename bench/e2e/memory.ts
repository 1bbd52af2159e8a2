/**
 * Memory per idle connection: the balancer's RSS before and while
 * tools/idle-conns.ts (a separate process) holds N answered keep-alive
 * connections open through it. The backend keeps them open (long keepalive).
 */
import { join } from 'node:path';
import { sleep, spawnGroup, stopGroup } from './children.ts';
import { HOST, lastLines } from './net-util.ts';
import { treeRssKiB } from './proc.ts';

export interface MemoryResult {
  readonly rssIdleKiB: number;
  readonly rssLoadedKiB: number;
  /** Connections still open when RSS was read (may be below the target if the proxy ran out of fds). */
  readonly open: number;
  readonly failed: number;
  readonly kibPerConn: number;
}

/** Time for the balancer to finish allocating after the last answer. */
const SETTLE_MS = 1000;

interface Event {
  event: string;
  open: number;
  failed?: number;
}

function events(out: string): Event[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event);
}

export async function measureIdleConnections(port: number, pid: number, count: number, repo: string): Promise<MemoryResult> {
  const rssIdleKiB = treeRssKiB(pid);
  const args = ['--import', 'tsx', join(repo, 'tools/idle-conns.ts'), '--url', `http://${HOST}:${port}/small`, '--count', String(count)];
  const proc = spawnGroup(process.execPath, args);
  try {
    // Opening is quick when all goes well; the margin covers a proxy out of fds, where each extra connection waits its 5 s timeout.
    const deadline = Date.now() + 30_000 + count * 5;
    let ready: Event | undefined;
    while (!ready && Date.now() < deadline && !proc.hasExited()) {
      await sleep(100);
      ready = events(proc.tail()).find((e) => e.event === 'ready');
    }
    if (!ready) throw new Error(`idle-conns did not get ready: ${lastLines(proc.tail())}`);
    await sleep(SETTLE_MS);
    const rssLoadedKiB = treeRssKiB(pid);
    await stopGroup(proc);
    const closing = events(proc.tail()).find((e) => e.event === 'closing');
    const open = Math.min(ready.open, closing?.open ?? ready.open);
    return {
      rssIdleKiB,
      rssLoadedKiB,
      open,
      failed: ready.failed ?? 0,
      kibPerConn: open > 0 ? (rssLoadedKiB - rssIdleKiB) / open : NaN,
    };
  } finally {
    await stopGroup(proc);
  }
}
