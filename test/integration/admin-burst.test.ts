/**
 * A burst of admin changes must not stall traffic: rebuilds of the picker
 * are coalesced (src/backends/registry.ts), so registering 1,000 backends
 * with source-IP hash (the dearest rebuild) costs a few dozen rebuilds, not
 * a thousand, and echo round trips through the proxy keep flowing meanwhile.
 * (The latencies here share one loop with the test's own HTTP client; the
 * figures in the README come from `npm run bench:admin-burst`, with the
 * balancer in a process of its own.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { makeConfig, makeService } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { startBackend, echo } from '../helpers/fault-backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { dial, readBytes } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';

test('registering 1,000 backends with sih: rebuilds coalesced, echo round trips keep flowing', { timeout: 120_000 }, async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const loopback = { host: '127.0.0.1', port: 0 };
  const lb = await Fulcrum.start(
    makeConfig({ admin: loopback, services: [makeService({ name: 'hash', listen: loopback, algo: 'source-ip-hash', backends: [backendAt(backend.port)], health: { intervalMs: 0 } })] }),
  );
  t.after(() => lb.destroy());
  const registry = lb.service('hash')!.registry;
  const api = adminClient(lb.adminAddress);
  const before = registry.set.version;

  // One client echoes a byte at a time through the proxy for the whole burst.
  const client = await dial({ port: lb.service('hash')!.address!.port });
  const rtts: number[] = [];
  let bursting = true;
  const echoes = (async () => {
    while (bursting) {
      const started = performance.now();
      client.write('x');
      await readBytes(client, 1);
      rtts.push(performance.now() - started);
    }
  })();
  const started = performance.now();
  // Eight at a time, as a deploy script would; addresses on 127.0.0.2.. that nothing listens on (no probes run).
  for (let i = 0; i < 1000; i += 8) {
    await Promise.all(
      Array.from({ length: 8 }, (_, k) => api.post('/register', { address: `127.0.${2 + ((i + k) >> 8)}.${(i + k) & 255}:9` }).then((r) => assert.equal(r.status, 200))),
    );
  }
  const burstMs = performance.now() - started;
  bursting = false;
  await echoes;
  client.destroy();

  assert.equal(registry.list().length, 1001);
  registry.flush();
  const rebuilds = registry.set.version - before;
  rtts.sort((a, b) => a - b);
  const p99 = rtts[Math.floor(rtts.length * 0.99)]!;
  t.diagnostic(`1,000 registrations in ${burstMs.toFixed(0)} ms, ${rebuilds} rebuilds, ${rtts.length} echoes meanwhile, p50 ${rtts[rtts.length >> 1]!.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${rtts.at(-1)!.toFixed(1)} ms`);
  // Without coalescing this is 1,000 (one per registration).
  assert.ok(rebuilds < 250, `${rebuilds} rebuilds for 1,000 registrations`);
  // Traffic kept flowing on the one connection throughout (its latencies are measured apart, see above).
  assert.ok(rtts.length >= 10, `only ${rtts.length} echoes got through during the burst`);
});
