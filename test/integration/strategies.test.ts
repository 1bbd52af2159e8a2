/**
 * Every strategy through the real proxy: which backend answered (demo
 * backends say their name), for connections from different source IPs.
 * Exact sequences where the strategy is deterministic; with an injected,
 * seeded random source otherwise.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startDemoBackend } from '../../tools/backend.ts';
import { dial, httpGet } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { mulberry32 } from '../helpers/random.ts';

/** Starts named demo backends and a proxy over them (weights in the same order). */
async function setup(t: TestContext, algo: string, names: string[], weights: number[] = [], random?: () => number) {
  const backends = await Promise.all(names.map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const lb = await startProxy(
    t,
    { algo, backends: backends.map((b, i) => backendAt(b.address.port, weights[i] ?? 1)) },
    random ? { random } : {},
  );
  const get = async (localAddress?: string) => (await httpGet(lb.proxyAddress.port, localAddress)).trim().replace('hello from ', '');
  return { lb, get, backends };
}

async function sequence(get: (ip?: string) => Promise<string>, n: number, ip?: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await get(ip));
  return out;
}

test('rr: strict rotation', async (t) => {
  const { get } = await setup(t, 'round-robin', ['a', 'b', 'c']);
  assert.deepEqual(await sequence(get, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

test('wrr: weights 5:1:1 give a a b a c a a, twice', async (t) => {
  const { get } = await setup(t, 'weighted-round-robin', ['a', 'b', 'c'], [5, 1, 1]);
  assert.deepEqual(await sequence(get, 14), [...'aabacaa', ...'aabacaa']);
});

test('srr: each client IP keeps the backend rotation gave it, and moves when it drains', async (t) => {
  const { get, lb } = await setup(t, 'sticky-round-robin', ['a', 'b', 'c']);
  assert.deepEqual(await sequence(get, 3, '127.0.0.2'), ['a', 'a', 'a']);
  assert.deepEqual(await sequence(get, 3, '127.0.0.3'), ['b', 'b', 'b']);
  assert.deepEqual(await sequence(get, 2, '127.0.0.2'), ['a', 'a']);
  lb.registry.setAdminState(lb.registry.list()[0]!, 'draining');
  const moved = await sequence(get, 3, '127.0.0.2');
  assert.notEqual(moved[0], 'a');
  assert.deepEqual(moved, [moved[0], moved[0], moved[0]]);
  assert.deepEqual(await sequence(get, 2, '127.0.0.3'), ['b', 'b']);
});

test('lc: a backend holding an open connection gets no new one while the others have none', async (t) => {
  const { get, lb } = await setup(t, 'least-connections', ['a', 'b', 'c']);
  const held = await dial({ port: lb.proxyAddress.port });
  t.after(() => held.destroy());
  held.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const heldBy = (await new Promise<Buffer>((r) => held.once('data', r))).toString().match(/hello from (\w)/)![1];
  const others = await sequence(get, 6);
  assert.ok(!others.includes(heldBy!), `${heldBy} holds a connection but got one of ${others.join(' ')}`);
  assert.deepEqual(new Set(others).size, 2, 'ties between the idle backends take turns');
});

test('ptc: of two backends, the one without an open connection wins', async (t) => {
  const { get, lb } = await setup(t, 'power-of-two-choices', ['a', 'b'], [], mulberry32(7));
  const held = await dial({ port: lb.proxyAddress.port });
  t.after(() => held.destroy());
  held.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const heldBy = (await new Promise<Buffer>((r) => held.once('data', r))).toString().match(/hello from (\w)/)![1];
  const other = heldBy === 'a' ? 'b' : 'a';
  assert.deepEqual(await sequence(get, 5), [other, other, other, other, other]);
});

test('sih: one client IP always reaches the same backend, and different IPs spread', async (t) => {
  const { get } = await setup(t, 'source-ip-hash', ['a', 'b', 'c']);
  const first: Record<string, string> = {};
  // 40 IPs: the table follows the backends' ports, new each run, and 12 IPs missed one of three backends
  // in about 1 run in 40 (3 × (2/3)^12); with 40 it is 3 × (2/3)^40, 1 in 3 million.
  for (let i = 2; i < 42; i++) first[`127.0.0.${i}`] = await get(`127.0.0.${i}`);
  for (const [ip, backend] of Object.entries(first)) {
    assert.deepEqual(await sequence(get, 2, ip), [backend, backend], ip);
  }
  assert.equal(new Set(Object.values(first)).size, 3, `40 IPs all landed on ${JSON.stringify(first)}`);
});

test('random: weights 3:1 split 400 connections about 3:1', async (t) => {
  const { get } = await setup(t, 'random', ['a', 'b'], [3, 1], mulberry32(42));
  const got = await sequence(get, 400);
  const share = got.filter((x) => x === 'a').length / got.length;
  assert.ok(Math.abs(share - 0.75) < 0.06, `share of a = ${share}`);
});
