/**
 * Property-based tests of the ClientHello reader: generated ClientHellos
 * framed into records of random sizes and split into random chunks, the
 * same and real captures (node:tls, openssl s_client) mutated, and random
 * bytes behind a handshake record header. Each property: nothing throws,
 * the ClientHello never extends past the input, bytes after it do not change
 * the answer and are never written, the answer is the same however the
 * input is split; generated ones decode to the name they were built with.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientHelloParser, parseClientHello, type ClientHelloResult } from '../../../../src/proxy/first-bytes/client-hello.ts';
import { buildClientHello, captureFirstFlight, nodeTlsClient, opensslClient, type HelloSpec } from '../../../helpers/client-hello.ts';
import { cuts, mutate, mutations, params, RUNS, split } from '../../../helpers/fuzz.ts';

function withoutConsumed(r: ClientHelloResult): unknown {
  return r.kind === 'done' ? { ...r, consumed: undefined } : r;
}

function feed(chunks: readonly Buffer[]): ClientHelloResult {
  const p = new ClientHelloParser();
  let before = 0;
  for (const c of chunks) {
    const r = p.push(c);
    if (r.kind === 'done') {
      assert.ok(r.consumed >= 1 && r.consumed <= c.length);
      assert.equal(before + r.consumed, r.length);
    }
    if (r.kind !== 'more') return r;
    before += c.length;
  }
  return { kind: 'more' };
}

/** The records' payloads in `input[0, end)`, joined (the records are known good up to `end`). */
function payloads(input: Buffer, end: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < end; ) {
    const len = input.readUInt16BE(i + 3);
    out.push(input.subarray(i + 5, Math.min(i + 5 + len, end)));
    i += 5 + len;
  }
  return Buffer.concat(out);
}

function invariants(input: Buffer, at: readonly number[], other: Buffer): ClientHelloResult {
  const copy = Buffer.from(input);
  const whole = parseClientHello(input);
  const r = feed(split(input, at));
  assert.deepEqual(input, copy, 'the input is never written');
  assert.deepEqual(withoutConsumed(r), withoutConsumed(whole), 'the answer does not depend on how the input is split');
  if (whole.kind === 'done') {
    assert.ok(whole.length <= input.length);
    assert.deepEqual(parseClientHello(Buffer.concat([input.subarray(0, whole.length), other])), whole);
    if (whole.serverName !== undefined) {
      assert.ok(payloads(input, whole.length).toString('latin1').toLowerCase().includes(whole.serverName), 'the name is in the bytes read');
    }
  } else if (whole.kind === 'reject') {
    assert.match(whole.code, /^ERR_(CLIENT_HELLO|NOT_TLS)$/);
  }
  return whole;
}

const name = fc.tuple(fc.domain(), fc.boolean(), fc.boolean()).map(([d, upper, dot]) => (upper ? d.toUpperCase() : d) + (dot ? '.' : ''));
const extension = fc.record({ type: fc.integer({ min: 1, max: 65535 }), data: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) });
const spec: fc.Arbitrary<HelloSpec> = fc.record({
  names: fc.option(name.map((n) => [n]), { nil: undefined }),
  sessionId: fc.nat(32),
  ciphers: fc.integer({ min: 1, max: 40 }),
  before: fc.array(extension, { maxLength: 4 }),
  after: fc.array(extension, { maxLength: 4 }),
  noExtensions: fc.boolean().map((b) => b && Math.random() < 0.2),
});
const recordSize = fc.oneof(fc.constant(16_384), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2000 }));
const trailer = fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a));

test(`client hello fuzz: generated ClientHellos in records of random sizes, split into chunks, give their name (${RUNS} runs)`, () => {
  fc.assert(
    fc.property(spec, recordSize, trailer, cuts, trailer, (s, size, rest, at, other) => {
      const hello = buildClientHello(s, size);
      const r = invariants(Buffer.concat([hello, rest]), at, other);
      const expected = s.noExtensions || s.names === undefined ? undefined : s.names[0]!.toString().toLowerCase().replace(/\.$/, '');
      assert.deepEqual(withoutConsumed(r), { kind: 'done', serverName: expected, length: hello.length, consumed: undefined });
    }),
    params(),
  );
});

let real: Buffer[] = [];
before(async () => {
  real = [await captureFirstFlight(nodeTlsClient('a.test')), await captureFirstFlight(opensslClient('a.test'))];
});

test(`client hello fuzz: mutated ClientHellos, generated and captured from node:tls and openssl, decode consistently or are refused (${RUNS} runs)`, () => {
  const seed = fc.oneof(fc.tuple(spec, recordSize).map(([s, size]) => buildClientHello(s, size)), fc.nat(1).map((i) => real[i]!));
  fc.assert(
    fc.property(seed, mutations, trailer, cuts, trailer, (hello, ms, rest, at, other) => {
      invariants(Buffer.concat([mutate(hello, ms), rest]), at, other);
    }),
    params(),
  );
});

test(`client hello fuzz: random bytes, bare or behind a handshake record header, never crash (${RUNS} runs)`, () => {
  const prefix = fc.constantFrom(Buffer.alloc(0), Buffer.from([0x16, 3, 1]), Buffer.from([0x16, 3, 1, 1, 0, 1]), Buffer.from([0x16, 3, 3, 0, 80, 1, 0, 0, 76, 3, 3]));
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 400 }), cuts, trailer, (pre, bytes, at, other) => {
      invariants(Buffer.concat([pre, bytes]), at, other);
    }),
    params(),
  );
});
