/**
 * /metrics while connections are open: byte counters that move every second
 * (not only when a connection ends), and the histograms (backend connect
 * time, connection duration, queue wait), parsed strictly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Fulcrum } from '../../src/fulcrum.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { echo, startBackend } from '../helpers/fault-backend.ts';
import { dial, readAll, readBytes } from '../helpers/net.ts';
import { histogramOf, parseProm, type Family } from '../helpers/prom.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 15_000 };

async function families(lb: Fulcrum): Promise<Map<string, Family>> {
  const res = await adminClient(lb.adminAddress).get('/metrics');
  assert.equal(res.status, 200);
  return parseProm(res.text);
}

const value = (f: Map<string, Family>, name: string, labels: Record<string, string>) =>
  f.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

test('a long-lived connection\'s bytes show in /metrics while it is open, within about a second', T, async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const key = { service: 'default', backend: `127.0.0.1:${backend.port}` };
  const client = await dial({ port: lb.proxyAddress.port });
  t.after(() => client.destroy());
  const bytesAre = async (n: number) => {
    const started = Date.now();
    await until(`bytes in and out at ${n}`, async () => {
      const f = await families(lb);
      return value(f, 'fulcrum_backend_bytes_in_total', key) === n && value(f, 'fulcrum_backend_bytes_out_total', key) === n ? true : undefined;
    }, 3000);
    return Date.now() - started;
  };
  client.write(Buffer.alloc(10_000, 1));
  await readBytes(client, 10_000);
  assert.ok((await bytesAre(10_000)) < 2000);
  client.write(Buffer.alloc(5_000, 2));
  await readBytes(client, 5_000);
  assert.ok((await bytesAre(15_000)) < 2000);
  const f = await families(lb);
  assert.equal(value(f, 'fulcrum_connections_active', { service: 'default' }), 1, 'still open');
  // At the end only the rest is added: the totals stay exact.
  client.end(Buffer.alloc(1, 3));
  assert.equal((await readAll(client)).length, 1);
  await bytesAre(15_001);
});

test('histograms: backend connect time, connection duration, queue wait', T, async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)], maxConnections: 1, queue: { size: 5, timeoutMs: 5000 } });
  const port = lb.proxyAddress.port;
  // Three connections one after another, the third held open ~150 ms.
  for (const holdMs of [0, 0, 150]) {
    const c = await dial({ port, allowHalfOpen: true });
    c.write('x');
    await readBytes(c, 1);
    if (holdMs) await new Promise((r) => setTimeout(r, holdMs));
    c.end();
    await readAll(c);
  }
  // A fourth holds the only slot while a fifth waits ~100 ms in the queue.
  const holder = await dial({ port, allowHalfOpen: true });
  holder.write('h');
  await readBytes(holder, 1);
  const waiter = await dial({ port, allowHalfOpen: true });
  await until('the fifth to queue', () => (lb.service('default')!.admission.length === 1 ? true : undefined));
  await new Promise((r) => setTimeout(r, 100));
  holder.end();
  await readAll(holder);
  waiter.end('w');
  assert.equal((await readAll(waiter)).toString(), 'w');
  await until('every connection to end', () => (lb.listener.sessions.size === 0 ? true : undefined));

  const f = await families(lb);
  const connect = histogramOf(f, 'fulcrum_backend_connect_seconds', { service: 'default', backend: `127.0.0.1:${backend.port}` })!;
  assert.equal(connect.count, 5);
  assert.ok(connect.sum > 0 && connect.sum < 5, `connect sum ${connect.sum}`);
  const duration = histogramOf(f, 'fulcrum_connection_duration_seconds', { service: 'default' })!;
  assert.equal(duration.count, 5);
  // The one held 150 ms is above the 0.1 s bucket; the waiter's ~100 ms wait counts in its duration too.
  const le01 = duration.buckets.find(([le]) => le === 0.1)![1];
  assert.ok(le01 <= 3, `at most 3 connections under 100 ms, got ${le01}`);
  assert.ok(duration.sum >= 0.25, `duration sum ${duration.sum}`);
  const wait = histogramOf(f, 'fulcrum_queue_wait_seconds', { service: 'default' })!;
  assert.equal(wait.count, 1);
  assert.ok(wait.sum >= 0.1 && wait.sum < 5, `queue wait ${wait.sum}`);
  assert.equal(wait.buckets.find(([le]) => le === 0.05)![1], 0, 'the wait is over 50 ms');
});

test('no queue wait histogram where no queue can form; the access-log drop counter is there at 0', T, async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const f = await families(lb);
  assert.equal(f.get('fulcrum_queue_wait_seconds')?.samples.length ?? 0, 0);
  assert.equal(value(f, 'fulcrum_access_log_dropped_total', { service: 'default' }), 0);
});
