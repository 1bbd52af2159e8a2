/**
 * Edge cases of the data plane that the checklist in proxy.test.ts does
 * not reach (run on both planes: proxy-edge.stream.test.ts loads this file): the shared read buffer under many slow
 * peers at once, write errors during the relay, aborts after a half-close,
 * a connection destroyed while it connects, host-name backends, graceful
 * close, exact byte counters, and an exception in a callback.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Registry } from '../../src/backends/registry.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { ProxyStats } from '../../src/observability/stats.ts';
import { createProxyListener } from '../../src/proxy/plane.ts';
import { createStrategy } from '../../src/strategies/index.ts';
import { startBlackhole } from '../helpers/blackhole.ts';
import { startBackend, echo } from '../helpers/fault-backend.ts';
import { closed, dial, readAll, readBytes, sha256 } from '../helpers/net.ts';
import { backendAt, planeUnderTest, startProxy } from '../helpers/proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads everything, but only after a stall, and pausing now and then, so the
 * proxy's writes to this socket fill the kernel's buffers and queue.
 */
function readSlowly(socket: Socket, stallMs: number, pauseMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    setTimeout(() => {
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        if (++n % 4 === 0) {
          socket.pause();
          setTimeout(() => socket.resume(), pauseMs);
        }
      });
    }, stallMs);
  });
}

test('8 slow connections at once, both ways, every byte in order', async (t) => {
  const ups = new Map<number, Buffer>();
  const downs = new Map<number, Buffer>();
  const received = new Map<number, Promise<Buffer>>();
  const backend = await startBackend((s) => {
    // The first 4 bytes the client sends name its connection.
    s.once('readable', () => {
      const head = s.read(4) as Buffer | null;
      if (!head) return s.destroy();
      const id = head.readUInt32BE(0);
      received.set(id, readSlowly(s, 100 + id * 10, 5).then((rest) => Buffer.concat([head, rest])));
      s.end(downs.get(id)!);
    });
  });
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const results = await Promise.all(
    Array.from({ length: 8 }, async (_, id) => {
      const up = Buffer.concat([Buffer.from([0, 0, 0, id]), randomBytes(6 * 1024 * 1024 + id * 997)]);
      ups.set(id, up);
      downs.set(id, randomBytes(8 * 1024 * 1024 + id * 1013));
      const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
      const got = readSlowly(client, 150 - id * 5, 5);
      client.end(up);
      return { id, got: await got };
    }),
  );
  for (const { id, got } of results) {
    assert.equal(sha256(got), sha256(downs.get(id)!), `connection ${id}: backend → client`);
    assert.equal(sha256(await received.get(id)!), sha256(ups.get(id)!), `connection ${id}: client → backend`);
  }
  await waitFor(() => lb.listener.sessions.size === 0);
  const b = lb.registry.list()[0]!;
  assert.equal(b.active, 0);
  assert.equal(b.total, 8);
  assert.equal(b.bytesIn, [...ups.values()].reduce((n, x) => n + x.length, 0));
  assert.equal(b.bytesOut, [...downs.values()].reduce((n, x) => n + x.length, 0));
});

test('byte counters are exact for each direction', async (t) => {
  const backend = await startBackend((s) => {
    s.on('data', () => {});
    s.on('end', () => s.end(Buffer.alloc(54_321, 7)));
  });
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
  const got = readAll(client);
  client.end(Buffer.alloc(123_457, 1));
  assert.equal((await got).length, 54_321);
  await waitFor(() => lb.listener.sessions.size === 0);
  const b = lb.registry.list()[0]!;
  assert.deepEqual([b.bytesIn, b.bytesOut, b.active, b.total, b.failed], [123_457, 54_321, 0, 1, 0]);
});

test('a write to a client that has gone fails, and the backend gets a reset', async (t) => {
  const chunk = randomBytes(64 * 1024);
  const backend = await startBackend((s) => {
    const pump = () => {
      while (!s.destroyed && s.write(chunk));
      if (!s.destroyed) s.once('drain', pump);
    };
    pump();
  });
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const accepted = backend.nextConnection();
  const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
  // Our FIN first: the proxy stops reading this side, so only a write can find out that it is gone.
  client.end();
  await readBytes(client, 256 * 1024);
  const upstream = await accepted;
  const upstreamClosed = closed(upstream);
  client.destroy(); // unread bytes pending: the kernel answers the proxy's next segment with RST
  const { error } = await upstreamClosed;
  assert.ok(error, 'the backend saw a clean close, not an abort');
  await waitFor(() => lb.listener.sessions.size === 0);
  assert.equal(lb.registry.list()[0]!.active, 0);
});

test('a backend reset after the client half-closed still resets the client', async (t) => {
  const backend = await startBackend((s) => {
    s.resume();
    s.on('end', () => setTimeout(() => s.resetAndDestroy(), 20));
  });
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
  const done = closed(client);
  client.end('bye');
  const { error } = await done;
  assert.equal(error?.code, 'ECONNRESET');
  await waitFor(() => lb.listener.sessions.size === 0);
});

test('a client reset after the backend half-closed still resets the backend', async (t) => {
  const backend = await startBackend((s) => {
    s.resume();
    s.end('bye');
  });
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const accepted = backend.nextConnection();
  const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
  assert.equal((await readAll(client)).toString(), 'bye');
  const upstreamClosed = closed(await accepted);
  client.resetAndDestroy();
  const { error } = await upstreamClosed;
  assert.equal(error?.code, 'ECONNRESET');
  await waitFor(() => lb.listener.sessions.size === 0);
});

test('destroying a connection while it connects gives its backend slot back', async (t) => {
  const hole = await startBlackhole();
  t.after(() => hole.close());
  const lb = await startProxy(t, { connectTimeoutMs: 10_000, backends: [backendAt(hole.port)] });
  const b = lb.registry.list()[0]!;
  const client = await dial({ port: lb.proxyAddress.port });
  await waitFor(() => b.active === 1);
  const done = closed(client);
  assert.equal(lb.listener.destroyConnectionsTo(b), 1);
  await done;
  assert.deepEqual([b.active, b.failed, b.total, lb.listener.sessions.size], [0, 0, 0, 0]);
});

test('a backend given by host name is dialled after a lookup', async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [{ host: 'localhost', port: backend.port, weight: 1 }] });
  const client = await dial({ port: lb.proxyAddress.port, allowHalfOpen: true });
  const got = readAll(client);
  client.end('by name');
  assert.equal((await got).toString(), 'by name');
});

/** A proxy over one echo backend, with one client connection through it that has already echoed. */
async function proxiedEchoConnection(t: TestContext) {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  const client = await dial({ port: lb.proxyAddress.port });
  client.write('hi');
  await readBytes(client, 2);
  return { lb, client };
}

test('close(grace) lets open connections run, then closes what is left', async (t) => {
  const { lb, client } = await proxiedEchoConnection(t);
  const started = Date.now();
  let resolved = false;
  const closing = lb.listener.close(300).then(() => (resolved = true));
  await sleep(100);
  assert.equal(resolved, false, 'close() resolved while a connection was open');
  client.write('still here');
  assert.equal((await readBytes(client, 10)).toString(), 'still here');
  await Promise.all([closing, closed(client)]);
  assert.ok(Date.now() - started >= 250);
  assert.equal(lb.listener.sessions.size, 0);
});

test('close(grace) resolves as soon as the last connection ends', async (t) => {
  const { lb, client } = await proxiedEchoConnection(t);
  const started = Date.now();
  const closing = lb.listener.close(10_000);
  client.end();
  await closing;
  assert.ok(Date.now() - started < 2000);
});

test('an exception in a callback closes that connection, not the process', async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const registry = new Registry({ strategy: createStrategy('rr', { random: Math.random, now: Date.now, stickyTtlMs: 1000, stickyMaxEntries: 10 }), initialHealth: 'up' });
  const b = registry.upsert(backendAt(backend.port)).backend;
  let calls = 0;
  const listener = createProxyListener(planeUnderTest(), {
    registry,
    stats: new ProxyStats(),
    log: silentLogger(),
    observer: {
      connectSucceeded() {
        if (++calls === 1) throw new Error('observer bug');
      },
      connectFailed() {},
    },
    connectTimeoutMs: 1000,
    retries: 0,
    idleTimeoutMs: 0,
  });
  const { port } = await listener.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => listener.destroy());
  const first = await dial({ port });
  await closed(first);
  const second = await dial({ port, allowHalfOpen: true });
  const got = readAll(second);
  second.end('after the bug');
  assert.equal((await got).toString(), 'after the bug');
  await waitFor(() => listener.sessions.size === 0);
  assert.deepEqual([b.active, b.total], [0, 2]);
});

test('a client that connects and leaves at once leaves nothing behind', async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const lb = await startProxy(t, { backends: [backendAt(backend.port)] });
  await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const client = await dial({ port: lb.proxyAddress.port });
      if (i % 2) client.resetAndDestroy();
      else client.end();
      await once(client, 'close');
    }),
  );
  await waitFor(() => lb.listener.sessions.size === 0);
  const b = lb.registry.list()[0]!;
  assert.deepEqual([b.active, b.failed], [0, 0]);
});
