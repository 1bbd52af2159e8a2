/**
 * Property-based tests of the address parsers (issue 16) against references
 * that are not ours: libuv's inet_pton/inet_ntop through net.SocketAddress for
 * the allocation-free IP text of the PROXY reader (ip-text.ts), and 128-bit
 * arithmetic for what an allow/deny list (cidr.ts, then the Acl) lets in.
 * Host:port parsing and canonical hosts: only ConfigError, and one spelling
 * is a fixed point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { ConfigError } from '../../../src/errors.ts';
import { formatCidr, parseCidr, type Cidr } from '../../../src/config/cidr.ts';
import { canonicalHost } from '../../../src/config/canonical-host.ts';
import { formatHostPort, parseHostPort } from '../../../src/config/parse.ts';
import { orderAddresses, type Address } from '../../../src/net/addresses.ts';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../../src/proxy/first-bytes/ip-text.ts';
import { Acl } from '../../../src/service/controls/acl.ts';
import { params } from '../../helpers/fuzz.ts';

/** inet_pton then inet_ntop (libuv), or undefined when inet_pton refuses. */
function libuv(text: string, family: 'ipv4' | 'ipv6'): string | undefined {
  if (text.includes('%')) return undefined; // a zone is SocketAddress's extension, not inet_pton's
  try {
    return new SocketAddress({ address: text, family }).address;
  } catch {
    return undefined;
  }
}

const v4Text = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
  fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 18 }),
);
const hexGroup = fc.nat(0xffff).map((n) => n.toString(16));
const v6Text = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b, 0)),
  fc.array(hexGroup, { minLength: 1, maxLength: 9 }).chain((gs) =>
    fc.tuple(fc.constant(gs), fc.nat(gs.length), fc.boolean()).map(([g, at, dbl]) => (dbl ? [...g.slice(0, at), '', ...g.slice(at)] : g).join(':')),
  ),
  fc.tuple(fc.array(hexGroup, { maxLength: 6 }), v4Text).map(([g, v4]) => `${g.join(':')}::${v4}`),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 }),
);

test('parseIPv4 accepts exactly what inet_pton does, and formats it back the same', () => {
  const out = new Uint8Array(4);
  fc.assert(
    fc.property(v4Text, (s) => {
      const ok = parseIPv4(Buffer.from(s, 'latin1'), 0, s.length, out, 0);
      const ref = libuv(s, 'ipv4');
      assert.equal(ok, ref !== undefined, s);
      if (ok) assert.equal(formatIPv4(out, 0), ref);
    }),
    params(),
  );
});

test('parseIPv6 accepts exactly what inet_pton does; formatIPv6 writes what inet_ntop writes', () => {
  const out = new Uint8Array(16);
  fc.assert(
    fc.property(v6Text, fc.nat(3), (s, pad) => {
      const buf = Buffer.from(`${' '.repeat(pad)}${s}${' '.repeat(pad)}`, 'latin1');
      const ok = parseIPv6(buf, pad, pad + s.length, out, 0);
      const ref = libuv(s, 'ipv6');
      assert.equal(ok, ref !== undefined, s);
      if (ok) assert.equal(formatIPv6(out, 0), ref, s);
    }),
    params(),
  );
});

// --- allow/deny lists against 128-bit arithmetic

const toBig = (ip: string): bigint => {
  if (isIP(ip) === 4) return (0xffffn << 32n) | ip.split('.').reduce((n, p) => (n << 8n) | BigInt(p), 0n);
  const b = new Uint8Array(16);
  assert.ok(parseIPv6(Buffer.from(ip, 'latin1'), 0, ip.length, b, 0), ip);
  return b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
};
/** A rule as written, read as an IPv6 prefix (IPv4 rules as the mapped range ::ffff:0:0/96 plus the prefix). */
const covers = (text: string, ip: string): boolean => {
  const [address, p] = text.split('/') as [string, string | undefined];
  const v4 = isIP(address) === 4;
  const bits = BigInt(p === undefined ? 128 : v4 ? 96 + Number(p) : Number(p));
  const shift = 128n - bits;
  return toBig(address) >> shift === toBig(ip) >> shift;
};

const anyV4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const anyV6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b, 0));
const nearV4 = (base: string) => anyV4.map((ip) => base.split('.').slice(0, 2).concat(ip.split('.').slice(2)).join('.'));
const rule = fc.oneof(
  fc.tuple(anyV4, fc.nat(32)).map(([a, p]) => `${a}/${p}`),
  fc.tuple(anyV6, fc.nat(128)).map(([a, p]) => `${a}/${p}`),
  fc.tuple(anyV4, fc.nat(128)).map(([a, p]) => `::ffff:${a}/${p}`),
  fc.tuple(hexGroup, hexGroup, fc.nat(128)).map(([h, l, p]) => `::ffff:${h}:${l}/${p}`),
  fc.nat(128).map((p) => `::/${p}`),
  anyV4,
);
const client = fc.oneof(anyV4, anyV6, anyV4.map((a) => `::ffff:${a}`), nearV4('10.1.0.0'));

test('an allow/deny list lets in exactly the clients its prefixes cover (deny wins)', () => {
  fc.assert(
    fc.property(fc.array(rule, { maxLength: 3 }), fc.array(rule, { maxLength: 3 }), fc.array(client, { minLength: 1, maxLength: 8 }), (a, d, clients) => {
      const allow = a.map((t) => parseCidr('allow', t));
      const deny = d.map((t) => parseCidr('deny', t));
      const acl = new Acl(allow, deny);
      for (const ip of clients) {
        const expected = !d.some((r) => covers(r, ip)) && (a.length === 0 || a.some((r) => covers(r, ip)));
        assert.equal(acl.allowed(ip), expected, `${ip} with allow ${a} deny ${d}`);
      }
    }),
    params(),
  );
});

test('parseCidr: only ConfigError, and what it accepts formats to a fixed point', () => {
  fc.assert(
    fc.property(fc.oneof(rule, fc.string({ maxLength: 50 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdef:./ '), maxLength: 50 })), (s) => {
      let c: Cidr;
      try {
        c = parseCidr('allow', s);
      } catch (err) {
        assert.ok(err instanceof ConfigError, `threw ${(err as Error).message}`);
        assert.match(err.message, /^allow: /);
        return;
      }
      assert.ok(isIP(c.address) !== 0);
      assert.ok(c.prefix >= 0 && c.prefix <= (c.family === 'ipv4' ? 32 : 128));
      assert.deepEqual(parseCidr('allow', formatCidr(c)), c);
    }),
    params(),
  );
});

test('parseHostPort: only ConfigError; the canonical spelling is a fixed point', () => {
  const host = fc.oneof(anyV4, anyV6.map((a) => `[${a}]`), fc.domain(), fc.string({ maxLength: 30 }), fc.string({ unit: fc.constantFrom(...'0123456789xX.'), maxLength: 20 }));
  const text = fc.oneof(
    fc.tuple(host, fc.nat(70000)).map(([h, p]) => `${h}:${p}`),
    fc.tuple(fc.constantFrom('tcp://', 'http://', 'ftp://', ''), host, fc.constantFrom('', ':80', '/x', ':')).map((p) => p.join('')),
    fc.string({ maxLength: 60 }),
  );
  fc.assert(
    fc.property(text, (s) => {
      let hp;
      try {
        hp = parseHostPort('address', s);
      } catch (err) {
        assert.ok(err instanceof ConfigError, `threw ${(err as Error).message}`);
        return;
      }
      assert.ok(hp.port >= 0 && hp.port <= 65535);
      assert.equal(canonicalHost(hp.host), hp.host, 'canonical twice is canonical once');
      assert.deepEqual(parseHostPort('address', formatHostPort(hp)), hp);
    }),
    params(),
  );
});

test('orderAddresses: a permutation, families alternate from the first, idempotent', () => {
  const addr: fc.Arbitrary<Address> = fc.oneof(anyV4.map((ip) => ({ ip, family: 4 as const })), anyV6.map((ip) => ({ ip, family: 6 as const })));
  fc.assert(
    fc.property(fc.array(addr, { maxLength: 10 }), (list) => {
      const out = orderAddresses(list);
      assert.deepEqual([...out].sort((x, y) => (x.ip < y.ip ? -1 : 1)), [...list].sort((x, y) => (x.ip < y.ip ? -1 : 1)));
      assert.deepEqual(orderAddresses(out), out);
      for (let i = 1; i < out.length; i++) {
        if (out[i]!.family === out[i - 1]!.family) assert.ok(out.slice(i).every((a) => a.family === out[i]!.family), 'a run of one family only at the end');
      }
    }),
    params(),
  );
});

test('an IPv4-mapped rule with a prefix under 96 stays IPv6: it covers IPv6 clients too (found by the property above)', () => {
  assert.deepEqual(parseCidr('allow', '::ffff:0.0.0.0/0'), { address: '::ffff:0.0.0.0', prefix: 0, family: 'ipv6' });
  const acl = new Acl([parseCidr('allow', '::ffff:10.0.0.0/64')], []);
  assert.equal(acl.allowed('::1'), true, '::1 is inside ::/64');
  assert.equal(acl.allowed('192.0.2.1'), true, 'every mapped IPv4 address is inside ::/64');
  assert.equal(acl.allowed('2001:db8::1'), false);
  assert.deepEqual(parseCidr('allow', '::ffff:10.0.0.0/104'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
});
