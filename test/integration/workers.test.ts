/**
 * `--workers 2` as a user runs it: traffic through both workers, admin
 * changes reaching every worker, counters summed over workers, and a killed
 * worker replaced while the other keeps serving.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { dial, httpGet } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The worker processes of `pid`: not every child (tsx starts an esbuild child when its cache is cold). */
function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid), '-f', 'cluster/worker']).toString().trim().split('\n').map(Number);
  } catch {
    return [];
  }
}

/** `--workers 2 --demo --algo rr` on ephemeral ports; resolves once the demo backends are registered. */
async function startWorkers(t: TestContext, healthInterval: string, extra: readonly string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workers', '2', '--demo', '--algo', 'rr',
    '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', healthInterval, '--log-level', 'silent', ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/demo-3/.test(out)) await once(child.stdout, 'data');
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const admin = `http://127.0.0.1:${/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]}`;
  return { child, port, admin };
}

test('two workers serve, share admin changes, sum counters, and survive a worker dying', async (t) => {
  const { child, port, admin } = await startWorkers(t, '100ms');
  const backends = async () => ((await (await fetch(`${admin}/backends`)).json()) as { data: { backends: Array<{ id: string; address: string; totalConnections: number; health: string }> } }).data.backends;

  const workers = children(child.pid!).filter((pid) => pid !== undefined);
  assert.equal(workers.length, 2, `expected 2 worker processes, saw ${workers.join(',')}`);
  await until('demo backends up', async () => ((await backends()).every((b) => b.health === 'up') ? true : undefined));

  const first = await Promise.all(Array.from({ length: 30 }, () => httpGet(port)));
  assert.deepEqual(new Set(first.map((b) => b.trim())), new Set(['hello from demo-1', 'hello from demo-2', 'hello from demo-3']));
  await until('counters summed over workers', async () => {
    const total = (await backends()).reduce((n, b) => n + b.totalConnections, 0);
    return total === 30 ? true : undefined;
  });

  // Drain two of three: every worker must stop sending them traffic.
  const list = await backends();
  for (const b of list.slice(1)) {
    const res = await fetch(`${admin}/backends/${b.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'draining' }) });
    assert.equal(res.status, 200);
  }
  const only = await until('drain reached the workers', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => httpGet(port)));
    return new Set(answers).size === 1 ? answers[0] : undefined;
  });
  const firstName = (await Promise.all(Array.from({ length: 20 }, () => httpGet(port)))).every((a) => a === only);
  assert.ok(firstName, 'a drained backend still got a connection');

  // Kill a worker: the other keeps serving, and a replacement appears.
  process.kill(workers[0]!, 'SIGKILL');
  for (let i = 0; i < 10; i++) assert.equal(await httpGet(port), only);
  await until('a replacement worker', () => {
    const now = children(child.pid!);
    return now.length === 2 && !now.includes(workers[0]!) ? now : undefined;
  });

  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('a worker killed with SIGKILL keeps every count it reported: only its last 200 ms can be lost (the stated bound)', async (t) => {
  const { child, port, admin } = await startWorkers(t, '0');
  const counts = async () => {
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    const accepted = Number(/^fulcrum_connections_accepted_total\{service="default"\} (\d+)/m.exec(metrics)?.[1]);
    const total = [...metrics.matchAll(/^fulcrum_backend_connections_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    return { accepted, total };
  };
  for (let i = 0; i < 40; i++) await httpGet(port);
  // Every connection has ended and been reported (a report every 200 ms) before the kill.
  await until('the counts reported', async () => ((await counts()).accepted === 40 ? true : undefined));
  const [victim] = children(child.pid!);
  process.kill(victim!, 'SIGKILL');
  await until('a replacement worker', () => {
    const now = children(child.pid!);
    return now.length === 2 && !now.includes(victim!) ? now : undefined;
  });
  assert.deepEqual(await counts(), { accepted: 40, total: 40 });
  for (let i = 0; i < 10; i++) await httpGet(port);
  await until('new counts add to the old', async () => ((await counts()).accepted === 50 ? true : undefined));
  assert.deepEqual(await counts(), { accepted: 50, total: 50 });
  child.kill('SIGTERM');
  assert.equal((await once(child, 'exit'))[0], 0);
});

test('--data-plane stream reaches every worker, and the workers proxy on it', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workers', '2', '--demo', '--data-plane', 'stream', '--algo', 'rr',
    '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '0', '--log-level', 'silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/demo-3/.test(out)) await once(child.stdout, 'data');
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const workers = children(child.pid!);
  assert.equal(workers.length, 2, `expected 2 worker processes, saw ${workers.join(',')}`);
  for (const pid of workers) {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    assert.ok(env.includes('FULCRUM_WORKER_DATA_PLANE=stream'), `worker ${pid} was not told the stream plane`);
  }
  const bodies = new Set<string>();
  for (let i = 0; i < 6; i++) bodies.add(await httpGet(port));
  assert.deepEqual([...bodies].sort(), ['hello from demo-1\n', 'hello from demo-2\n', 'hello from demo-3\n']);
});

/** The first snapshot of the dashboard's stream. */
function firstSnapshot(admin: string): Promise<{ services: { name: string; queue: { length: number; size: number } | null }[] }> {
  return new Promise((resolve, reject) => {
    const req = request(`${admin}/events`, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        const m = /event: snapshot\ndata: (.*)\n\n/.exec(text);
        if (m) {
          req.destroy();
          resolve(JSON.parse(m[1]!));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('with workers, the queue in /metrics and on the dashboard is the workers\' queues, summed', async (t) => {
  // One connection at a time per worker: of four clients, at most two are served and the rest wait.
  const { admin, port } = await startWorkers(t, '0', ['--max-connections', '1', '--queue-timeout', '60s']);
  const queued = async () => Number(/^fulcrum_queue_length\{service="default"\} (\d+)$/m.exec(await (await fetch(`${admin}/metrics`)).text())?.[1]);
  assert.equal(await queued(), 0);
  const answered = new Set<Socket>();
  const clients = await Promise.all(Array.from({ length: 4 }, () => dial({ port })));
  for (const c of clients) {
    c.on('error', () => {});
    c.once('data', () => answered.add(c));
    // Keep-alive: an answered client keeps its slot until it closes.
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  }
  t.after(() => clients.forEach((c) => c.destroy()));
  const waiting = await until('served and queued add up to four', async () => {
    const n = await queued();
    return n >= 2 && n + answered.size === 4 ? n : undefined;
  });
  const snapshot = await firstSnapshot(admin);
  const queue = snapshot.services[0]!.queue!;
  assert.deepEqual([queue.length, queue.size], [waiting, 1024]);
  // The served ones leave; the waiting ones are served, and the queue empties. Each served client leaves in turn:
  // the primary may hand three of the four to one worker, whose third waits for its second to go.
  await until('every waiting client served', () => {
    for (const c of answered) c.destroy();
    return clients.every((c) => answered.has(c)) ? true : undefined;
  }, 10_000);
  await until('the queue empty', async () => ((await queued()) === 0 ? true : undefined));
});
