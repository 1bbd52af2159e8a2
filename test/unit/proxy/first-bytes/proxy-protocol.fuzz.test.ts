/**
 * Property-based tests of the PROXY protocol parser: encode -> parse round
 * trips split into many chunks, mutated headers, and random bytes. Each
 * property: nothing throws, the header never extends past the input, the
 * bytes after it do not change the answer and are never written, and the
 * answer is the same however the input is split. Decoded v1 lines are also
 * checked against an independent oracle (a regular expression with Node's
 * net.isIPv4/isIPv6 and net.SocketAddress for the canonical form).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { ProxyHeaderParser, parseProxyHeader } from '../../../../src/proxy/first-bytes/proxy-protocol.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local } from '../../../../src/proxy/first-bytes/proxy-encode.ts';
import type { ProxyEndpoint, ProxyParseResult, ProxyTlv } from '../../../../src/proxy/first-bytes/proxy-header.ts';
import { cuts, mutate, mutations, params, RUNS, split } from '../../../helpers/fuzz.ts';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const word = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
/** IPv6 in several spellings: expanded, upper case, compressed by Node, IPv4-mapped. */
const ipv6 = fc.oneof(
  fc.tuple(fc.array(word, { minLength: 8, maxLength: 8 }), fc.boolean()).map(([w, upper]) => {
    const s = w.map((x) => x.toString(16)).join(':');
    return upper ? s.toUpperCase() : s;
  }),
  fc.array(word, { minLength: 8, maxLength: 8 }).map((w) => canonical6(w.map((x) => x.toString(16)).join(':'))),
  ipv4.map((a) => `::ffff:${a}`),
);
const endpoint = (address: fc.Arbitrary<string>): fc.Arbitrary<ProxyEndpoint> => fc.record({ address, port: fc.integer({ min: 0, max: 65535 }) });
const tlv: fc.Arbitrary<ProxyTlv> = fc
  .record({ type: fc.integer({ min: 0, max: 255 }).filter((t) => t !== 3 && t !== 4), value: fc.uint8Array({ minLength: 1, maxLength: 48 }) })
  .filter((t) => t.type !== 5 || t.value.length <= 128)
  .map((t) => ({ type: t.type, value: Buffer.from(t.value) }));
const trailer = fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a));

function canonical6(a: string): string {
  return new net.SocketAddress({ address: a, family: 'ipv6' }).address;
}
/** IPv4, or IPv6 that is IPv4-mapped however it is spelled. */
function isV4(a: string): boolean {
  return net.isIPv4(a) || /^::ffff:[\d.]+$/.test(canonical6(a));
}
function unmap(a: string): string {
  return net.isIPv4(a) ? a : canonical6(a).replace(/^::ffff:([\d.]+)$/, '$1');
}

/** Feeds the chunks; returns the answer and how many bytes of the input the header took (or -1). */
function feed(chunks: readonly Buffer[]): { r: ProxyParseResult; length: number } {
  const p = new ProxyHeaderParser();
  let before = 0;
  for (const c of chunks) {
    const r = p.push(c);
    if (r.kind === 'done') {
      assert.ok(r.consumed >= 1 && r.consumed <= c.length, 'consumed lies within the last chunk');
      assert.equal(before + r.consumed, r.length, 'earlier chunks were all header');
      return { r, length: r.length };
    }
    if (r.kind === 'reject') return { r, length: -1 };
    before += c.length;
  }
  return { r: { kind: 'more' }, length: -1 };
}

function withoutConsumed(r: ProxyParseResult): unknown {
  return r.kind === 'done' ? { ...r, consumed: undefined } : r;
}

/** The properties every input must have; returns the one-chunk answer. */
function invariants(input: Buffer, at: readonly number[], other: Buffer): ProxyParseResult {
  const copy = Buffer.from(input);
  const whole = parseProxyHeader(input);
  const { r, length } = feed(split(input, at));
  assert.deepEqual(input, copy, 'the input is never written');
  assert.deepEqual(withoutConsumed(r), withoutConsumed(whole), 'the answer does not depend on how the input is split');
  if (whole.kind === 'done') {
    assert.ok(length <= input.length);
    // what follows the header is not looked at: other bytes there, same answer
    const again = parseProxyHeader(Buffer.concat([input.subarray(0, length), other]));
    assert.deepEqual(again, whole);
  }
  return whole;
}

/** An independent reading of a v1 TCP line, to hold decoded lines against. */
function oracleV1(line: string): { family: string; source: ProxyEndpoint; destination: ProxyEndpoint } | undefined {
  const m = /^PROXY (TCP4|TCP6) ([^ ]+) ([^ ]+) (0|[1-9]\d{0,4}) (0|[1-9]\d{0,4})\r\n/.exec(line);
  if (!m || Number(m[4]) > 65535 || Number(m[5]) > 65535) return undefined;
  const ok = m[1] === 'TCP4' ? net.isIPv4 : (a: string) => net.isIPv6(a) && !a.includes('%');
  if (!ok(m[2]!) || !ok(m[3]!)) return undefined;
  const norm = m[1] === 'TCP4' ? (a: string) => a : canonical6;
  return { family: m[1]!, source: { address: norm(m[2]!), port: Number(m[4]) }, destination: { address: norm(m[3]!), port: Number(m[5]) } };
}

test(`proxy fuzz: encode -> parse round trip, v1 and v2, split into chunks (${RUNS} runs)`, () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.tuple(endpoint(ipv4), endpoint(ipv4)), fc.tuple(endpoint(ipv6), endpoint(fc.oneof(ipv6, ipv4)))),
      fc.boolean(), fc.array(tlv, { maxLength: 4 }), trailer, cuts, trailer,
      ([src, dst], v1, tlvs, rest, at, other) => {
        const header = v1 ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst, tlvs);
        const r = invariants(Buffer.concat([header, rest]), at, other);
        assert.equal(r.kind, 'done');
        if (r.kind !== 'done' || r.header.family === 'UNKNOWN') return;
        assert.equal(r.length, header.length);
        const four = isV4(src.address) && isV4(dst.address);
        const norm = four ? unmap : (a: string) => canonical6(isV4(a) ? `::ffff:${unmap(a)}` : a);
        assert.deepEqual(r.header, {
          version: v1 ? 1 : 2, command: 'PROXY', family: four ? 'TCP4' : 'TCP6',
          source: { address: norm(src.address), port: src.port },
          destination: { address: norm(dst.address), port: dst.port },
          tlvs: v1 ? [] : tlvs,
        });
      },
    ),
    params(),
  );
});

const seeds = fc.oneof(
  fc.tuple(endpoint(ipv4), endpoint(ipv4)).map(([s, d]) => encodeProxyV1(s, d)),
  fc.tuple(endpoint(ipv6), endpoint(ipv6)).map(([s, d]) => encodeProxyV1(s, d)),
  fc.tuple(endpoint(ipv4), endpoint(ipv6), fc.array(tlv, { maxLength: 3 })).map(([s, d, t]) => encodeProxyV2(s, d, t)),
  fc.tuple(endpoint(ipv4), endpoint(ipv4), fc.array(tlv, { maxLength: 3 })).map(([s, d, t]) => encodeProxyV2(s, d, t)),
  fc.constant(encodeProxyV2Local()),
  fc.constant(Buffer.from('PROXY UNKNOWN\r\n')),
);

test(`proxy fuzz: mutated headers (bit flips, bytes set, inserted, deleted, truncations) decode consistently or are refused (${RUNS} runs)`, () => {
  fc.assert(
    fc.property(seeds, mutations, trailer, cuts, trailer, (header, ms, rest, at, other) => {
      const input = Buffer.concat([mutate(header, ms), rest]);
      const r = invariants(input, at, other);
      if (r.kind === 'reject') assert.equal(r.code, 'ERR_PROXY_HEADER');
      if (r.kind !== 'done') return;
      const line = input.subarray(0, r.length).toString('latin1');
      if (r.header.version === 1 && r.header.family !== 'UNKNOWN') {
        const o = oracleV1(line);
        assert.ok(o, `the oracle refuses a line the parser took: ${JSON.stringify(line)}`);
        assert.deepEqual({ family: r.header.family, source: r.header.source, destination: r.header.destination }, o);
      }
      if (r.header.version === 1 && r.header.family === 'UNKNOWN') assert.match(line, /^PROXY UNKNOWN( [^\r\n]*)?\r\n$/);
      if (r.header.version === 2 && r.header.family !== 'UNKNOWN') {
        // a decoded v2 header re-encodes to the same ends and TLVs (an
        // IPv4-mapped pair comes back as TCP4: the encoder's choice)
        const again = parseProxyHeader(encodeProxyV2(r.header.source, r.header.destination, r.header.tlvs));
        assert.ok(again.kind === 'done' && again.header.family !== 'UNKNOWN');
        const ends = (h: { source: ProxyEndpoint; destination: ProxyEndpoint; tlvs: readonly ProxyTlv[] }) =>
          [unmap(h.source.address), h.source.port, unmap(h.destination.address), h.destination.port, h.tlvs];
        assert.deepEqual(ends(again.header), ends(r.header));
      }
    }),
    params(),
  );
});

test(`proxy fuzz: v1 lines the oracle accepts, the parser accepts, and the other way round (${RUNS} runs)`, () => {
  const field = fc.oneof(ipv4, ipv6, fc.constantFrom('1.2.3.04', '::1%lo', '1.2.3', '', '1::2::3', '00', '65536', '0', '8080'), fc.string({ maxLength: 8 }));
  fc.assert(
    fc.property(fc.constantFrom('TCP4', 'TCP6'), field, field, fc.oneof(fc.nat(65535).map(String), field), fc.oneof(fc.nat(65535).map(String), field), (fam, a, b, p, q) => {
      const line = `PROXY ${fam} ${a} ${b} ${p} ${q}\r\n`;
      const input = Buffer.from(line, 'latin1');
      const r = parseProxyHeader(input);
      const o = input.length <= 107 && !/[\r\n]/.test(line.slice(0, -2)) ? oracleV1(line) : undefined;
      if (o === undefined) assert.equal(r.kind, 'reject', JSON.stringify(line));
      else assert.deepEqual(r.kind === 'done' && { family: r.header.family, source: (r.header as { source: unknown }).source, destination: (r.header as { destination: unknown }).destination }, o);
    }),
    params(),
  );
});

test(`proxy fuzz: random bytes, bare or after a valid signature, never crash (${RUNS} runs)`, () => {
  const prefix = fc.constantFrom(Buffer.alloc(0), Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '), Buffer.from('PROXY UNKNOWN'), encodeProxyV2Local().subarray(0, 12), encodeProxyV2Local().subarray(0, 14));
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 300 }), cuts, trailer, (pre, bytes, at, other) => {
      const r = invariants(Buffer.concat([pre, bytes]), at, other);
      assert.ok(r.kind === 'more' || r.kind === 'done' || (r.kind === 'reject' && r.code === 'ERR_PROXY_HEADER'));
    }),
    params(),
  );
});
