/**
 * A client that leaves while its backend connection is being made is not
 * the backend's fault: with a PROXY header to send, its address can no
 * longer be read, and that once counted as a failed connect (and, with
 * maxFails 1, ejected a healthy backend).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { dial } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

test('a queued client that resets before its backend connection is up costs the backend nothing', { timeout: 15_000 }, async (t) => {
  const held: Socket[] = [];
  const server = createServer((s) => {
    held.push(s);
    s.on('error', () => {});
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const lb = await startProxy(t, {
    backends: [backendAt((server.address() as AddressInfo).port)],
    proxyProtocol: 'v1',
    maxConnections: 1,
    queue: { size: 8, timeoutMs: 10_000 },
    passive: { maxFails: 1, ejectBaseMs: 30_000 },
  });
  const backend = lb.registry.list()[0]!;
  const admission = lb.service('default')!.admission;
  const a = await dial({ port: lb.proxyAddress.port, localAddress: '127.0.0.2' });
  a.on('error', () => {});
  await until('A served', () => (held.length === 1 ? true : undefined));
  const b = await dial({ port: lb.proxyAddress.port, localAddress: '127.0.0.3' });
  b.on('error', () => {});
  await until('B queued', () => (admission.length === 1 ? true : undefined));
  b.resetAndDestroy();
  a.destroy(); // A's slot frees: B, gone, is dialled
  await until('B dialled and done', () => (held.length === 2 && admission.length === 0 && backend.active === 0 ? true : undefined));
  assert.deepEqual([backend.failed, backend.health, backend.ejectedUntil ?? 0], [0, 'up', 0]);
  assert.equal(backend.total, 1); // only A was relayed
});
