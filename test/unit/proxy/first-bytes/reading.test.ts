/**
 * FirstBytesReading, the state machine both planes feed: a PROXY header,
 * then a ClientHello, in any split; what it keeps for the backend; which
 * service it names; why it refuses. Table-driven over every split point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FirstBytesReading, STEP, originOf, type FirstBytesPlan } from '../../../../src/proxy/first-bytes/reading.ts';
import { SniRouter } from '../../../../src/proxy/first-bytes/sni-router.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local } from '../../../../src/proxy/first-bytes/proxy-encode.ts';
import { buildClientHello } from '../../../helpers/client-hello.ts';

type Svc = { name: string; sni?: readonly string[] };
const a: Svc = { name: 'a', sni: ['a.test'] };
const wild: Svc = { name: 'wild', sni: ['*.w.test'] };
const rest: Svc = { name: 'rest' };

function plan(acceptProxy: boolean, services: Svc[] | undefined): FirstBytesPlan<Svc> {
  const router = services && new SniRouter(services);
  return { acceptProxy, proxyHeaderTimeoutMs: 3000, router, sniTimeoutMs: 5000, only: services ? undefined : rest };
}

/** Feeds `bytes` cut at `cut` (and whole when cut is 0); the final step. */
function feed(r: FirstBytesReading<Svc>, bytes: Buffer, cut: number): number {
  if (cut <= 0 || cut >= bytes.length) return r.push(bytes);
  const s = r.push(bytes.subarray(0, cut));
  return s === STEP.MORE ? r.push(bytes.subarray(cut)) : s;
}

const header = encodeProxyV2({ address: '192.0.2.7', port: 5555 }, { address: '198.51.100.1', port: 443 });
const hello = buildClientHello({ names: ['x.W.test'] });

test('acceptProxy then SNI, split at every byte: the wildcard service, the header consumed, the ClientHello and what follows kept', () => {
  const all = Buffer.concat([header, hello, Buffer.from('early')]);
  for (let cut = 0; cut < all.length; cut++) {
    const r = new FirstBytesReading(plan(true, [a, wild, rest]));
    assert.equal(feed(r, all, cut), STEP.DONE, `cut at ${cut}`);
    assert.equal(r.member, wild);
    assert.equal(r.serverName, 'x.w.test');
    // Everything fed after the header; a cut past the ClientHello's end means the rest was never fed (the plane stops reading at `done`).
    const fed = cut >= header.length + hello.length ? cut : all.length;
    assert.deepEqual(r.replay, all.subarray(header.length, cut === 0 || cut < header.length + hello.length ? all.length : fed), `cut at ${cut}`);
    const o = originOf(r, () => ({ address: '127.0.0.1', port: 1 }), () => ({ address: '127.0.0.1', port: 2 }));
    assert.deepEqual([o.clientIp, o.client, o.local, o.sni], ['192.0.2.7', { address: '192.0.2.7', port: 5555 }, { address: '198.51.100.1', port: 443 }, 'x.w.test']);
  }
});

test('acceptProxy alone: done at the header, nothing kept unless bytes came with it; LOCAL and UNKNOWN take the socket\'s addresses', () => {
  for (const h of [encodeProxyV2Local(), Buffer.from('PROXY UNKNOWN\r\n')]) {
    const r = new FirstBytesReading(plan(true, undefined));
    assert.equal(r.push(h), STEP.DONE);
    assert.equal(r.member, rest);
    assert.equal(r.replay, undefined);
    const o = originOf(r, () => ({ address: '::ffff:127.0.0.3', port: 1 }), () => ({ address: '::ffff:127.0.0.1', port: 2 }));
    assert.equal(o.clientIp, '127.0.0.3');
  }
  const r = new FirstBytesReading(plan(true, undefined));
  assert.equal(r.push(Buffer.concat([encodeProxyV1({ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 }), Buffer.from('x')])), STEP.DONE);
  assert.deepEqual(r.replay, Buffer.from('x'));
});

test('refusals: kind and reason', () => {
  const cases: [string, FirstBytesPlan<Svc>, Buffer | 'end' | 'timeout', 'proxy-header' | 'sni', RegExp][] = [
    ['garbage instead of a header', plan(true, undefined), Buffer.from('GET / HTTP/1.1\r\n'), 'proxy-header', /not a PROXY protocol header/],
    ['EOF inside the header', plan(true, undefined), 'end', 'proxy-header', /closed before/],
    ['the header late', plan(true, undefined), 'timeout', 'proxy-header', /within 3000 ms/],
    ['no name matches and no default', plan(false, [a, wild]), buildClientHello({ names: ['b.test'] }), 'sni', /no service for server name "b.test"/],
    ['not TLS and no default', plan(false, [a, wild]), Buffer.from('GET /'), 'sni', /no service without sni/],
    ['a malformed ClientHello', plan(false, [a, rest]), Buffer.from([0x16, 3, 1, 0, 0]), 'sni', /record length 0/],
    ['the ClientHello late', plan(false, [a, rest]), 'timeout', 'sni', /ClientHello within 5000 ms/],
  ];
  for (const [name, p, input, kind, reason] of cases) {
    const r = new FirstBytesReading(p);
    const step = input === 'end' ? (r.push(Buffer.from('PROX')), r.ended()) : input === 'timeout' ? r.timedOut() : r.push(input);
    assert.equal(step, STEP.REJECT, name);
    assert.equal(r.rejectKind, kind, name);
    assert.match(r.reason, reason, name);
    assert.equal(r.replay, undefined, name);
  }
});

test('SNI: not TLS and a ClientHello without a name go to the default; an exact name wins over a wildcard', () => {
  const both: Svc = { name: 'exact', sni: ['a.w.test'] };
  for (const [bytes, want] of [[Buffer.from('SSH-2.0-x\r\n'), rest], [buildClientHello({}), rest], [buildClientHello({ names: ['A.W.test'] }), both], [buildClientHello({ names: ['b.w.test'] }), wild]] as const) {
    const r = new FirstBytesReading(plan(false, [both, wild, rest]));
    assert.equal(r.push(bytes), STEP.DONE);
    assert.equal(r.member, want);
    assert.deepEqual(r.replay, bytes);
  }
});
