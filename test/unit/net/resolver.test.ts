/**
 * The backend-name resolver against a tiny DNS server on 127.0.0.1 (dns-packet)
 * that answers some names with TTLs and never answers others, with an
 * injected clock for the TTL rules.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from 'dns-packet';
import { parseHosts } from '../../../src/net/hosts-file.ts';
import { NameResolver, ResolveError, type ResolverOptions } from '../../../src/net/resolver.ts';

interface Zone {
  [name: string]: { a?: string[]; aaaa?: string[]; ttl: number } | 'silent';
}

/** Answers from `zone` (NXDOMAIN for names not in it); counts queries by `name/TYPE`. */
async function fakeDns(t: TestContext, zone: Zone): Promise<{ server: string; queries: Map<string, number> }> {
  const socket = createSocket('udp4');
  const queries = new Map<string, number>();
  socket.on('message', (msg, rinfo) => {
    const q = packet.decode(msg);
    const question = q.questions![0]!;
    const key = `${question.name}/${question.type}`;
    queries.set(key, (queries.get(key) ?? 0) + 1);
    const entry = zone[question.name];
    if (entry === 'silent') return;
    const ips = entry === undefined ? [] : question.type === 'A' ? (entry.a ?? []) : question.type === 'AAAA' ? (entry.aaaa ?? []) : [];
    const answers = ips.map((data) => ({ type: question.type as 'A', name: question.name, ttl: entry === undefined ? 0 : entry.ttl, data }));
    const reply = packet.encode({ id: q.id, type: 'response', flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | (entry === undefined ? 3 : 0), questions: q.questions, answers });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  t.after(() => socket.close());
  return { server: `127.0.0.1:${socket.address().port}`, queries };
}

function hostsFile(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-hosts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'hosts');
  writeFileSync(path, text);
  return path;
}

async function setup(t: TestContext, zone: Zone, options: ResolverOptions = {}) {
  const dns = await fakeDns(t, zone);
  const clock = { now: 1_000_000 };
  const resolver = new NameResolver({ servers: [dns.server], hostsPath: hostsFile(t, ''), now: () => clock.now, timeoutMs: 500, ...options });
  return { resolver, clock, queries: dns.queries };
}

const ips = (list: readonly { ip: string }[] | undefined) => list?.map((a) => a.ip);

test('answers are cached for their TTL: floored at 1 s, capped at 5 min, refreshed in the background after 3/4 of it', async (t) => {
  const { resolver, clock, queries } = await setup(t, {
    'zero.test': { a: ['10.0.0.1'], ttl: 0 },
    'long.test': { a: ['10.0.0.2'], ttl: 86_400 },
  });
  assert.equal(resolver.lookup('zero.test'), undefined, 'nothing cached yet');
  assert.deepEqual(ips(await resolver.resolveAsync('zero.test')), ['10.0.0.1']);
  assert.equal(queries.get('zero.test/A'), 1);
  clock.now += 749;
  assert.deepEqual(ips(resolver.lookup('zero.test')), ['10.0.0.1']);
  assert.equal(queries.get('zero.test/A'), 1, 'TTL 0 is served from the cache for the 1 s floor');
  clock.now += 1;
  assert.deepEqual(ips(resolver.lookup('zero.test')), ['10.0.0.1'], 'at 3/4 of the TTL: the cached answer, at once');
  assert.deepEqual(ips(resolver.lookup('zero.test')), ['10.0.0.1']);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(queries.get('zero.test/A'), 2, 'and one refresh in the background, however many uses');

  await resolver.resolveAsync('long.test');
  clock.now += 224_999; // just before 3/4 of the 5 min ceiling
  resolver.lookup('long.test');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(queries.get('long.test/A'), 1);
  clock.now += 1;
  resolver.lookup('long.test');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(queries.get('long.test/A'), 2, 'a day-long TTL is capped at 5 min');
});

test('a refresh that fails serves the last good answer for at most staleMs past its expiry', async (t) => {
  const zone: Zone = { 'flaky.test': { a: ['10.0.0.3'], ttl: 10 } };
  const { resolver, clock } = await setup(t, zone, { staleMs: 60_000 });
  await resolver.resolveAsync('flaky.test');
  zone['flaky.test'] = 'silent';
  clock.now += 10_000; // expired: a refresh starts, the old answer is served
  assert.deepEqual(ips(resolver.lookup('flaky.test')), ['10.0.0.3']);
  assert.deepEqual(ips(await resolver.resolveAsync('flaky.test')), ['10.0.0.3']);
  await new Promise((r) => setTimeout(r, 700)); // the refresh times out (500 ms)
  clock.now += 59_999;
  assert.deepEqual(ips(resolver.lookup('flaky.test')), ['10.0.0.3'], 'still within the stale bound');
  clock.now += 1;
  assert.equal(resolver.lookup('flaky.test'), undefined, 'past it');
  await assert.rejects(resolver.resolveAsync('flaky.test'), (e: ResolveError) => e.code === 'ERR_RESOLVE' && e.errno === 'ETIMEOUT' && (e.cause as NodeJS.ErrnoException).code === 'ETIMEOUT');
});

test('a name that never answers delays no other name, and concurrent lookups of it share one query', async (t) => {
  const { resolver, queries } = await setup(t, { 'slow.test': 'silent', 'good.test': { a: ['10.0.0.4'], aaaa: ['fd00::4'], ttl: 60 } });
  const started = Date.now();
  const slow = Array.from({ length: 10 }, () => resolver.resolveAsync('slow.test').then(
    () => assert.fail('slow.test resolved'),
    (e: ResolveError) => e,
  ));
  const good = await resolver.resolveAsync('good.test');
  assert.ok(Date.now() - started < 100, `good.test took ${Date.now() - started} ms`);
  assert.deepEqual(ips(good), ['fd00::4', '10.0.0.4'], 'IPv6 first, then alternating');
  const errors = await Promise.all(slow);
  assert.ok(Date.now() - started < 1000, 'the lookup ends at its timeout');
  assert.deepEqual(new Set(errors.map((e) => e.errno)), new Set(['ETIMEOUT']));
  assert.ok((queries.get('slow.test/A') ?? 0) <= 2, `one lookup (with one retry) for ten callers: ${queries.get('slow.test/A')} A queries`);
});

test('unknown names fail with ENOTFOUND, and the failure is cached for the 1 s floor', async (t) => {
  const { resolver, clock, queries } = await setup(t, {});
  await assert.rejects(resolver.resolveAsync('nope.test'), (e: ResolveError) => e.code === 'ERR_RESOLVE' && e.errno === 'ENOTFOUND');
  await assert.rejects(resolver.resolveAsync('nope.test'));
  assert.equal(queries.get('nope.test/A'), 1);
  clock.now += 1000;
  await assert.rejects(resolver.resolveAsync('nope.test'));
  assert.equal(queries.get('nope.test/A'), 2);
});

test('the hosts file wins over DNS, is re-read when it changes, and orders families as connects try them', async (t) => {
  const dns = await fakeDns(t, { 'both.test': { a: ['10.0.0.9'], ttl: 60 } });
  const path = hostsFile(t, '# comment\n::1 both.test dual # trailing\n127.0.0.1 Dual\n127.0.0.2 dual\n');
  const clock = { now: 0 };
  const resolver = new NameResolver({ servers: [dns.server], hostsPath: path, now: () => clock.now });
  assert.deepEqual(ips(resolver.lookup('dual')), ['::1', '127.0.0.1', '127.0.0.2']);
  assert.deepEqual(ips(await resolver.resolveAsync('both.test')), ['::1']);
  assert.equal(dns.queries.size, 0);
  writeFileSync(path, '10.1.1.1 dual\n');
  clock.now += 1000;
  assert.deepEqual(ips(resolver.lookup('dual')), ['10.1.1.1']);
  assert.deepEqual(ips(await resolver.resolveAsync('both.test')), ['10.0.0.9'], 'gone from the file: DNS');
  assert.deepEqual(ips(parseHosts('::1 x\n::2 x\n127.0.0.1 x\n').get('x')), ['::1', '127.0.0.1', '::2']);
});
