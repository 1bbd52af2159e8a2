/**
 * A backend's `maxConnections` with `--workers 2`: each worker enforces it
 * (every limit there is per worker), whether it came from the file or from a
 * later `register`. Two holding backends, one limited, one not; clients hold
 * their connections open, and what is counted is how many are open at each
 * backend at once.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dial } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENTS = 12;

/** A backend that keeps every connection open and counts those open now. */
async function holding(t: TestContext): Promise<{ port: number; open: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, open: () => sockets.size };
}

async function startWorkers(t: TestContext, plane: string, limited: number, other: number) {
  const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-')), 'fulcrum.yaml');
  writeFileSync(file, `admin: { listen: 127.0.0.1:0 }
services:
  - name: web
    listen: 127.0.0.1:0
    algo: round-robin
    health: { interval: 0s }
    backends:
      - { address: 127.0.0.1:${limited}, maxConnections: 1 }
      - 127.0.0.1:${other}
`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', file, '--workers', '2', '--data-plane', plane, '--log-level', 'silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/admin listening on/.test(out)) {
    if (child.exitCode !== null) assert.fail(`exited ${child.exitCode}`);
    await once(child.stdout, 'data');
  }
  const port = Number(/service web listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const admin = `http://127.0.0.1:${/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]}`;
  return { port, admin };
}

/** Opens CLIENTS connections at once and holds them until every one is open at a backend; returns how many the limited one has, then closes them. */
async function burst(port: number, limited: { open: () => number }, other: { open: () => number }): Promise<number> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => dial({ port })));
  try {
    await until('every client at a backend', () => (limited.open() + other.open() === CLIENTS ? true : undefined));
    return limited.open();
  } finally {
    for (const c of clients) c.destroy();
    await until('the backends saw them go', () => (limited.open() + other.open() === 0 ? true : undefined));
  }
}

for (const plane of ['native', 'stream']) {
  test(`--workers 2 (${plane} plane): a backend limit from the file holds in each worker, and a limit set by register reaches them`, { timeout: 60_000 }, async (t) => {
    const limited = await holding(t);
    const other = await holding(t);
    const { port, admin } = await startWorkers(t, plane, limited.port, other.port);

    // maxConnections 1, per worker: at most one open connection from each of the two (round-robin would give it half).
    const first = await burst(port, limited, other);
    assert.ok(first >= 1 && first <= 2, `the limited backend held ${first} of ${CLIENTS} connections at once (at most 2: one per worker)`);

    // Raised to 3 through the admin API: each worker lets more through, never past 3 apiece.
    const res = await fetch(`${admin}/services/web/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `127.0.0.1:${limited.port}`, maxConnections: 3 }) });
    assert.equal(res.status, 200, await res.text());
    let seen = 0;
    await until('the new limit reached the workers', async () => {
      seen = await burst(port, limited, other);
      assert.ok(seen <= 6, `the limited backend held ${seen} connections at once (at most 3 per worker)`);
      return seen > 2 ? true : undefined;
    });

    // Back down to 1: never more than one per worker again.
    const down = await fetch(`${admin}/services/web/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `127.0.0.1:${limited.port}`, maxConnections: 1 }) });
    assert.equal(down.status, 200);
    await until('the lower limit reached the workers', async () => ((await burst(port, limited, other)) <= 2 ? true : undefined));
    for (let i = 0; i < 3; i++) {
      const n = await burst(port, limited, other);
      assert.ok(n >= 1 && n <= 2, `the limited backend held ${n} connections at once after the limit went back to 1`);
    }
  });
}
