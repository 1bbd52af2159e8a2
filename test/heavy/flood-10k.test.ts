/**
 * 10,000 connections held at once through one Fulcrum (issue 16), then all
 * closed: the descriptors of the balancer's processes come back to the
 * baseline exactly, and their resident memory to within RSS_MARGIN of it.
 *
 * Each held connection costs the balancer two descriptors (client and
 * backend side), and the hard limit here is 20,000, so the balancer runs
 * `--workers 2` with its soft limit raised to the hard one; the backend runs
 * in a process of its own, and this process raises its own soft limit for
 * the 10,000 client sockets. Heavy: .ci/run runs it once, not on every Node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { adminClient } from '../helpers/admin-client.ts';
import { startCli } from '../helpers/cli.ts';
import { metrics } from '../helpers/metrics.ts';
import { dial, readBytes } from '../helpers/net.ts';
import { startBackendProcess } from '../helpers/netns.ts';
import { mib, processTree, usageOf } from '../helpers/proc.ts';
import { until } from '../helpers/wait.ts';

const CONNECTIONS = 10_000;
/** Resident memory may stay this much above the baseline once every connection is gone (V8 keeps some heap it grew). */
const RSS_MARGIN = 64 * 2 ** 20;
const hard = Number(execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
const SKIP = hard < 2 * CONNECTIONS ? `needs a hard descriptor limit of 20,000 (it is ${hard})` : false;

/** Opens `n` connections through the proxy, `batch` at a time, each proven end to end by one echoed byte. */
async function open(port: number, n: number, batch = 200): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i += batch) {
    const round = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async () => {
        const s = await dial({ port });
        s.on('error', () => {});
        s.write('x');
        await readBytes(s, 1);
        return s;
      }),
    );
    sockets.push(...round);
  }
  return sockets;
}

test('10,000 connections held through --workers 2, then closed: descriptors back to the baseline, memory within 64 MiB', { timeout: 300_000, skip: SKIP }, async (t) => {
  execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:`]);
  const backend = await startBackendProcess({ host: '127.0.0.1', nofile: hard });
  t.after(() => backend.child.kill('SIGKILL'));
  const lb = await startCli(
    t,
    ['--backend', `127.0.0.1:${backend.port}`, '--workers', '2', '--health-interval', '0', '--idle-timeout', '0', '--tcp-keepalive', '0', '--log-level', 'warn'],
    { shellPrefix: `ulimit -n ${hard} &&`, timeoutMs: 290_000 },
  );
  const api = adminClient({ port: lb.adminPort, address: '127.0.0.1', family: 'IPv4' });
  const pids = await until('two workers', () => (processTree(lb.child.pid!).length === 3 ? processTree(lb.child.pid!) : undefined), 30_000);

  // Warm up (code paths compiled, pools made), then the baseline.
  for (const s of await open(lb.proxyPort, 200)) s.destroy();
  await until('the warm-up to close', async () => ((await metrics(api))('fulcrum_connections_active') === 0 ? true : undefined), 30_000);
  const before = usageOf(pids);

  const started = performance.now();
  const sockets = await open(lb.proxyPort, CONNECTIONS);
  const openMs = performance.now() - started;
  // With workers, the primary's /metrics adds up what each worker last reported (a few hundred ms behind).
  await until(`${CONNECTIONS} open in /metrics`, async () => ((await metrics(api))('fulcrum_connections_active') === CONNECTIONS ? true : undefined), 10_000);
  const held = usageOf(pids);
  assert.ok(held.fds >= before.fds + 2 * CONNECTIONS, `${held.fds} descriptors while holding ${CONNECTIONS} (baseline ${before.fds})`);

  for (const s of sockets) s.destroy();
  await until('every connection to close', async () => ((await metrics(api))('fulcrum_connections_active') === 0 ? true : undefined), 60_000);
  const after = await until('the descriptors to come back to the baseline', () => {
    const u = usageOf(pids);
    return u.fds === before.fds ? u : undefined;
  }, 30_000);
  const end = await metrics(api);
  assert.equal(end('fulcrum_connections_accepted_total'), 200 + CONNECTIONS);
  assert.equal(end('fulcrum_backend_active_connections'), 0);
  t.diagnostic(
    `${CONNECTIONS} held (opened in ${(openMs / 1000).toFixed(1)} s); fds ${before.fds} -> ${held.fds} -> ${after.fds}; ` +
      `RSS ${mib(before.rss)} -> ${mib(held.rss)} -> ${mib(after.rss)}`,
  );
  assert.ok(after.rss <= before.rss + RSS_MARGIN, `RSS ${mib(after.rss)} against a baseline of ${mib(before.rss)}`);
});
