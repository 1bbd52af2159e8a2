/**
 * Floods of bad peers (issue 16): clients that send half a request and stop
 * (slowloris) or nothing at all, backends that accept and never answer or
 * answer one byte a second, and 1,000 source addresses against a per-IP
 * limit. Nothing grows without bound: the timeouts reclaim every connection,
 * the counters say how many, and the process's descriptors come back to
 * where they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { AdminServer } from '../../src/admin/server.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { startBackend, type Behaviour } from '../helpers/fault-backend.ts';
import { metrics } from '../helpers/metrics.ts';
import { closed, dial, readAll } from '../helpers/net.ts';
import { startProxy } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };
const fds = () => readdirSync('/proc/self/fd').length;
/** Reads everything, answers nothing; closes its side when the client closes its own (a normal server's FIN). */
const silent: Behaviour = (s) => {
  s.resume();
  s.on('end', () => s.end());
};

async function openMany(n: number, port: number, first?: string): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const s = await dial({ port, localAddress: `127.0.${Math.floor(i / 250) + 1}.${(i % 250) + 1}` });
      s.on('error', () => {});
      if (first !== undefined) s.write(first);
      return s;
    }),
  );
}

test('slowloris and silent clients to a backend that never answers hold their slot until the idle timeout, then are reclaimed and counted', T, async (t) => {
  const backend = await startBackend(silent);
  t.after(() => backend.close());
  const baseline = fds();
  const lb = await startProxy(t, {
    backends: [{ host: '127.0.0.1', port: backend.port, weight: 1 }],
    idleTimeoutMs: 3000,
    maxConnections: 200,
    queue: { size: 100, timeoutMs: 10_000 },
  });
  const api = adminClient(lb.adminAddress);
  const started = performance.now();
  const loris = [...(await openMany(100, lb.proxyAddress.port, 'GET / HTTP/1.1\r\nHost: x\r\n')), ...(await openMany(100, lb.proxyAddress.port))];
  await until('200 at the backend', () => (backend.accepted === 200 ? true : undefined));
  // Every slot is taken: a client with a real request waits in the queue until the idle timeout frees one.
  const waiting = await dial({ port: lb.proxyAddress.port });
  const answered = readAll(waiting);
  waiting.end('hello');
  const outcomes = await Promise.all(loris.map((s) => closed(s)));
  const reclaimedMs = performance.now() - started;
  assert.ok(outcomes.every((o) => o.error === undefined || o.error.code === 'ECONNRESET'));
  assert.ok(reclaimedMs >= 3000 && reclaimedMs < 10_000, `reclaimed after ${Math.round(reclaimedMs)} ms`);
  assert.equal(backend.accepted >= 201, true, 'the waiting client got a slot once they were reclaimed');
  waiting.destroy();
  await answered.catch(() => {});
  await until('everything closed', async () => ((await metrics(api))('fulcrum_connections_active') === 0 ? true : undefined));
  const m = await metrics(api);
  assert.equal(m('fulcrum_connections_accepted_total'), 201);
  assert.equal(m('fulcrum_idle_timeouts_total'), 200);
  assert.equal(m('fulcrum_backend_active_connections'), 0);
  await lb.destroy();
  await backend.close();
  await until(`descriptors back to ${baseline}`, () => (fds() <= baseline ? true : undefined));
});

test('a backend answering one byte a second: maxLifetime reclaims its connections, and the bytes counted are the bytes delivered', T, async (t) => {
  const trickle: Behaviour = (s) => {
    s.resume();
    const timer = setInterval(() => s.write('.'), 1000);
    s.on('close', () => clearInterval(timer));
  };
  const backend = await startBackend(trickle);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [{ host: '127.0.0.1', port: backend.port, weight: 1 }], idleTimeoutMs: 1500, maxLifetimeMs: 3500 });
  const api = adminClient(lb.adminAddress);
  const clients = await openMany(50, lb.proxyAddress.port, 'x');
  const got = await Promise.all(clients.map((s) => readAll(s).catch(() => Buffer.alloc(0))));
  // The idle timeout never fires (a byte comes every second); the lifetime cap does, after 3 bytes.
  const received = got.reduce((n, b) => n + b.length, 0);
  assert.ok(got.every((b) => b.length >= 1 && b.length <= 4), `bytes per client: ${got.map((b) => b.length)}`);
  await until('everything closed', async () => ((await metrics(api))('fulcrum_connections_active') === 0 ? true : undefined));
  const m = await metrics(api);
  assert.equal(m('fulcrum_idle_timeouts_total'), 0);
  assert.equal(m('fulcrum_backend_bytes_out_total'), received);
  assert.equal(m('fulcrum_backend_bytes_in_total'), 50);
  assert.equal(m('fulcrum_backend_connections_total'), 50);
});

test('a flood from 1,000 source addresses against maxConnectionsPerIp 2: two each get in, every third is refused and counted', T, async (t) => {
  const backend = await startBackend(silent);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [{ host: '127.0.0.1', port: backend.port, weight: 1 }], limits: { maxConnectionsPerIp: 2 } });
  const api = adminClient(lb.adminAddress);
  const ips = Array.from({ length: 1000 }, (_, i) => `127.${10 + Math.floor(i / 250)}.${(i % 250) + 1}.${(i % 7) + 1}`);
  const held: Socket[] = [];
  t.after(() => held.forEach((s) => s.destroy()));
  for (let round = 0; round < 2; round++) {
    held.push(...(await Promise.all(ips.map((ip) => dial({ port: lb.proxyAddress.port, localAddress: ip })))));
  }
  for (const s of held) s.on('error', () => {});
  await until('2,000 held', async () => ((await metrics(api))('fulcrum_backend_active_connections') === 2000 ? true : undefined), 20_000);
  const third = await Promise.all(ips.map((ip) => dial({ port: lb.proxyAddress.port, localAddress: ip }).then((s) => closed(s))));
  assert.equal(third.length, 1000);
  const m = await metrics(api);
  assert.equal(m('fulcrum_connections_rejected_total', { reason: 'per-ip-connections' }), 1000);
  assert.equal(m('fulcrum_backend_active_connections'), 2000);
  assert.equal(backend.accepted, 2000, 'no refused client reached the backend');
  for (const s of held) s.destroy();
  let last = -1;
  await until('everything closed', async () => ((last = (await metrics(api))('fulcrum_connections_active')) === 0 ? true : undefined), 20_000).catch(async (e) => {
    const m = await metrics(api);
    throw new Error(`${e.message}: active ${last}, backend active ${m('fulcrum_backend_active_connections')}, accepted ${m('fulcrum_connections_accepted_total')}`);
  });
  // Once they are gone, every address gets in again.
  const again = await dial({ port: lb.proxyAddress.port, localAddress: ips[0] });
  again.write('x');
  await until('the first address back in', async () => ((await metrics(api))('fulcrum_backend_active_connections') === 1 ? true : undefined));
  again.destroy();
});

test('slowloris on the admin port: the headers and request timeouts close them, and the API answers others all along', T, async (t) => {
  const lb = await startProxy(t, { backends: [{ host: '127.0.0.1', port: 9, weight: 1 }] });
  // The balancer's own admin API object behind a server with short timeouts (the defaults are 10 s and 30 s).
  const admin = new AdminServer({ api: lb, log: silentLogger(), token: undefined, headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
  const address = await admin.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => admin.destroy());
  const api = adminClient(address);
  const before = JSON.stringify(await api.backends());
  const started = performance.now();
  const headers = await openMany(200, address.port, 'GET /backends HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const bodies = await openMany(200, address.port, 'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"addr');
  // A byte now and then keeps no connection alive past its timeout: the clock runs from the request's start.
  const drip = setInterval(() => [...headers, ...bodies].forEach((s) => s.writable && s.write('x')), 200);
  t.after(() => clearInterval(drip));
  const answers = [...headers, ...bodies].map((s) => readAll(s).catch(() => Buffer.alloc(0)));
  let served = 0;
  const done = Promise.all(answers);
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    assert.equal((await api.get('/healthz')).status, 200, 'the admin API answered during the flood');
    served++;
  }
  clearInterval(drip);
  const ms = performance.now() - started;
  const got = (await done).map((b) => b.toString());
  assert.ok(got.slice(0, 200).every((a) => a === '' || /^HTTP\/1\.1 408 /.test(a)), 'slow headers: 408 or closed');
  assert.ok(got.slice(200).every((a) => a === '' || /^HTTP\/1\.1 408 /.test(a)), 'slow bodies: 408 or closed');
  assert.ok(ms < 8000, `every slow client was closed in ${Math.round(ms)} ms (timeouts 1 s and 2 s)`);
  assert.ok(served >= 5, `${served} requests answered meanwhile`);
  assert.equal(JSON.stringify(await api.backends()), before, 'no half-sent registration got through');
});
