/**
 * The event stream's bound: a client that never reads is disconnected once
 * its queue passes the limit, and the server never holds more than that (plus
 * one frame) for it; a client that reads keeps its stream meanwhile. A
 * reconnect with Last-Event-ID is replayed what it missed.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { SseHub, type SseOptions } from '../../../src/admin/sse.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { until } from '../../helpers/wait.ts';

const T = { timeout: 20_000 };

async function serve(t: TestContext, options: SseOptions) {
  const hub = new SseHub(options);
  const responses: ServerResponse[] = [];
  const server = createServer((req, res) => {
    responses.push(res);
    hub.attach(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    hub.close();
    server.closeAllConnections();
    server.close();
  });
  return { hub, responses, port: (server.address() as AddressInfo).port };
}

function openRaw(port: number, headers = ''): Socket {
  const s = connect(port, '127.0.0.1');
  s.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
  s.on('error', () => {});
  return s;
}

test('a client that never reads is dropped, its queue bounded; a reading client carries on', T, async (t) => {
  // Snapshots alone never pass the byte limit (a congested client is sent none), so it is the stall limit that drops it.
  const LIMIT = 256 * 1024;
  const payload = 'x'.repeat(64 * 1024);
  let maxQueued = 0;
  let responses: ServerResponse[] = [];
  const { hub, port, responses: r } = await serve(t, {
    intervalMs: 2,
    maxBufferedBytes: LIMIT,
    maxStallMs: 300,
    snapshot: () => {
      for (const res of responses) maxQueued = Math.max(maxQueued, res.writableLength);
      return { payload };
    },
  });
  responses = r;
  const stalled = openRaw(port);
  stalled.pause(); // reads nothing: the kernel buffers fill, then ours would
  const reader = openRaw(port);
  let read = 0;
  reader.on('data', (chunk: Buffer) => (read += chunk.length));
  const closed = once(stalled, 'close');
  await until('the stalled client is dropped', () => (hub.stats.dropped === 1 ? true : undefined), 15_000);
  assert.equal(hub.stats.clients, 1, 'the reading client is still connected');
  assert.ok(maxQueued <= LIMIT + payload.length + 200, `queued at most the limit and one frame (saw ${maxQueued})`);
  assert.ok(hub.stats.skipped > 0, 'snapshots were skipped while it was congested');
  stalled.resume();
  await closed;
  const before = read;
  await until('the reader still gets snapshots', () => (read > before + payload.length ? true : undefined), 5_000);
  reader.destroy();
  await until('no client left: the timer stops', () => (hub.stats.clients === 0 ? true : undefined));
  const ticks = hub.stats.ticks;
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(hub.stats.ticks, ticks, 'no snapshot is built without a client');
});

test('events still go to a congested client, and past the byte limit it is dropped', T, async (t) => {
  const bus = new EventBus();
  const LIMIT = 128 * 1024;
  const { hub, port } = await serve(t, { intervalMs: 60_000, maxStallMs: 60_000, maxBufferedBytes: LIMIT, bus, snapshot: () => ({}) });
  const stalled = openRaw(port);
  stalled.pause();
  await until('connected', () => (hub.stats.clients === 1 ? true : undefined));
  const detail = 'y'.repeat(16 * 1024);
  for (let i = 0; i < 2000 && hub.stats.dropped === 0; i++) {
    bus.publish({ type: 'reload', to: 'applied', detail });
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(hub.stats.dropped, 1);
  assert.equal(hub.stats.clients, 0);
  stalled.destroy();
});

test('Last-Event-ID: a reconnect is given the events it missed, then the snapshot', T, async (t) => {
  const bus = new EventBus();
  const { port } = await serve(t, { intervalMs: 60_000, bus, snapshot: () => ({ n: 1 }) });
  const first = bus.publish({ type: 'reload', to: 'applied' });
  bus.publish({ type: 'health', service: 'web', backend: '127.0.0.1:9001', from: 'up', to: 'down' });
  bus.publish({ type: 'state', service: 'web', backend: '127.0.0.1:9001', from: 'active', to: 'draining' });
  const s = openRaw(port, `Last-Event-ID: ${first.id}\r\n`);
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  await until('the snapshot arrives', () => (text.includes('event: snapshot') ? true : undefined));
  s.destroy();
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  const frames = body.split('\n\n').filter((f) => f.includes('event:'));
  assert.deepEqual(
    frames.map((f) => /event: (\w+)/.exec(f)?.[1]),
    ['change', 'change', 'snapshot'],
  );
  assert.match(frames[0]!, new RegExp(`^id: ${bus.boot}-2\nevent: change\ndata: .*"to":"down"`));
  assert.match(frames[1]!, new RegExp(`^id: ${bus.boot}-3\n`));
  assert.match(text, /content-type: text\/event-stream/i);
});

test('more streams than maxClients get a 503', T, async (t) => {
  const { port } = await serve(t, { maxClients: 1, snapshot: () => ({}) });
  const a = openRaw(port);
  await once(a, 'data');
  const b = openRaw(port);
  const [chunk] = (await once(b, 'data')) as [Buffer];
  assert.match(chunk.toString(), /^HTTP\/1\.1 503 /);
  a.destroy();
  b.destroy();
});

test('a snapshot larger than maxBufferedBytes still reaches a client that reads: the bound is on what waits before a frame', T, async (t) => {
  const payload = 'x'.repeat(512 * 1024);
  const { hub, port } = await serve(t, { intervalMs: 20, maxBufferedBytes: 64 * 1024, snapshot: () => ({ payload }) });
  const reader = openRaw(port);
  let snapshots = 0;
  let tail = '';
  reader.setEncoding('latin1');
  reader.on('data', (chunk: string) => {
    const text = tail + chunk;
    snapshots += text.split('event: snapshot\n').length - 1;
    tail = text.slice(-20);
  });
  t.after(() => reader.destroy());
  await until('three whole snapshots read', () => (snapshots >= 3 ? true : undefined), 10_000);
  assert.equal(hub.stats.dropped, 0);
  assert.equal(hub.stats.clients, 1);
});
