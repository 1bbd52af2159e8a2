import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../src/config/cidr.ts';
import { parseRate } from '../../../src/config/parse.ts';
import { Acl } from '../../../src/service/controls/acl.ts';
import { PerIpTable } from '../../../src/service/controls/per-ip.ts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

test('CIDRs: IPv4, IPv6, bare addresses, IPv4-mapped taken as IPv4; bad ones named', () => {
  assert.deepEqual(parseCidr('allow', '10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  assert.deepEqual(parseCidr('allow', '::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  assert.deepEqual(parseCidr('allow', '::ffff:127.0.0.2/128'), { address: '127.0.0.2', prefix: 32, family: 'ipv4' });
  assert.throws(() => parseCidr('deny[0]', '10.0.0.0/33'), /deny\[0\]: "10.0.0.0\/33" has an invalid prefix length \(use 0-32\)/);
  assert.throws(() => parseCidr('deny[0]', 'example.com'), /is not an address or CIDR/);
});

test('ACL: deny wins; with an allow list the rest is denied; IPv4-mapped clients match IPv4 rules', () => {
  const acl = new Acl([parseCidr('a', '127.0.0.0/8'), parseCidr('a', '::1')], [parseCidr('d', '127.0.0.2/32')]);
  const cases: [string, boolean][] = [
    ['127.0.0.1', true], ['127.0.0.2', false], ['::ffff:127.0.0.2', false], ['::ffff:127.0.0.3', true], ['::1', true], ['10.0.0.1', false], ['fd00::1', false],
  ];
  for (const [ip, want] of cases) assert.equal(acl.allowed(ip), want, ip);
  assert.equal(new Acl([], []).active, false);
  assert.equal(new Acl([], [parseCidr('d', '10.0.0.0/8')]).allowed('192.168.1.1'), true);
});

test('per-IP: open connections limited, released ones free a slot', () => {
  const t = new PerIpTable({ maxConnectionsPerIp: 2, connectionRate: 0, ratePeriodMs: 1000 });
  assert.deepEqual(['a', 'a', 'a', 'b'].map((ip) => t.admit(ip)), ['ok', 'ok', 'per-ip-connections', 'ok']);
  t.release('a');
  assert.equal(t.admit('a'), 'ok');
});

test('per-IP: a token bucket, 5/s refills one every 200 ms (injected clock)', () => {
  let now = 0;
  const t = new PerIpTable({ maxConnectionsPerIp: 0, connectionRate: 5, ratePeriodMs: 1000 }, 100, () => now);
  const burst = Array.from({ length: 6 }, () => t.admit('a'));
  assert.deepEqual(burst, ['ok', 'ok', 'ok', 'ok', 'ok', 'per-ip-rate']);
  now = 199;
  assert.equal(t.admit('a'), 'per-ip-rate');
  now = 401; // 0.2 token short of the last refusal, then two more refills
  assert.equal(t.admit('a'), 'ok');
  assert.equal(t.admit('b'), 'ok', 'another IP has its own bucket');
  assert.deepEqual(parseRate('r', '50/s'), { count: 50, periodMs: 1000 });
  assert.deepEqual(parseRate('r', '600/m'), { count: 600, periodMs: 60_000 });
  assert.throws(() => parseRate('limits.connectionRatePerIp', '50 per second'), /limits\.connectionRatePerIp: "50 per second" is not a rate \(use e\.g\. 50\/s or 600\/m\)/);
});

test('per-IP: 1,000,000 distinct IPs keep the table at its bound; memory stays bounded', () => {
  const t = new PerIpTable({ maxConnectionsPerIp: 10, connectionRate: 0, ratePeriodMs: 1000 }, 10_000);
  // What the table retains, not garbage a collection has not reached yet (that made this flaky: 78 MiB once on Node 24).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000_000; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(t.admit(ip), 'ok');
    t.release(ip);
  }
  assert.ok(t.size <= 10_000, `${t.size} entries`);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  // 10,000 entries (a key string, an entry object, a Map slot: about 150 B each), 1.5 MiB; a million kept would be 150.
  assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
  // Full of IPs with open connections: new ones are admitted untracked, never stored.
  const full = new PerIpTable({ maxConnectionsPerIp: 1, connectionRate: 0, ratePeriodMs: 1000 }, 100);
  for (let i = 0; i < 100; i++) full.admit(`10.0.0.${i}`);
  assert.equal(full.admit('10.0.1.1'), 'ok');
  assert.equal(full.untracked, 1);
  assert.equal(full.size, 100);
});
