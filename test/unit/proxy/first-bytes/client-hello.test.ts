import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientHelloParser, parseClientHello, type ClientHelloResult } from '../../../../src/proxy/first-bytes/client-hello.ts';
import { matchSni, SniRouter } from '../../../../src/proxy/first-bytes/sni-router.ts';
import { buildClientHello, captureFirstFlight, helloMessage, nodeTlsClient, opensslClient, records, unframe } from '../../../helpers/client-hello.ts';

function show(r: ClientHelloResult): string {
  if (r.kind === 'done') return `sni ${r.serverName ?? '(none)'} (${r.length})`;
  return r.kind === 'more' ? 'more' : `${r.code}: ${r.reason}`;
}

/** Every byte its own chunk; the answer at the end. */
function byteByByte(input: Buffer): ClientHelloResult {
  const p = new ClientHelloParser();
  for (let i = 0; i < input.length; i++) {
    const r = p.push(input.subarray(i, i + 1));
    if (r.kind !== 'more') return r;
  }
  return { kind: 'more' };
}

test('client hello: server names, records and lengths', () => {
  const hello = (names?: (string | Buffer)[], more = {}) => buildClientHello({ names, ...more });
  const base = hello(['a.test']);
  const withLen = (b: Buffer, at: number, v: number) => {
    const c = Buffer.from(b);
    c.writeUInt16BE(v, at);
    return c;
  };
  const cases: [Buffer, string][] = [
    [base, `sni a.test (${base.length})`],
    [hello(['A.Test.']), `sni a.test (${base.length + 1})`],
    [hello(), 'sni (none) (88)'],
    [hello(undefined, { noExtensions: true }), 'sni (none) (86)'],
    [hello(['a.test'], { before: [{ type: 10, data: Buffer.alloc(8) }], after: [{ type: 43, data: Buffer.from([2, 3, 4]) }] }), 'sni a.test (122)'],
    [Buffer.concat([base, Buffer.from('trailing bytes')]), `sni a.test (${base.length})`],
    [records(helloMessage({ names: ['a.test'] }), 7), 'sni a.test (168)'],
    [hello(['a.test', 'b.test']), 'ERR_CLIENT_HELLO: two host_name entries'],
    [hello([Buffer.from('a\0b')]), 'ERR_CLIENT_HELLO: host_name is not 1-255 printable ASCII bytes'],
    [hello(['x'.repeat(256)]), 'ERR_CLIENT_HELLO: host_name is not 1-255 printable ASCII bytes'],
    [hello(['a.test'], { after: [{ type: 0, data: Buffer.from([0, 3, 0, 0, 0]) }] }), 'ERR_CLIENT_HELLO: two server_name extensions'],
    [hello(undefined, { after: [{ type: 0, data: Buffer.from([0, 3, 0, 0, 0]) }] }), 'ERR_CLIENT_HELLO: a server name is empty or runs past the list'],
    [hello(['a.test'], { sessionId: 33 }), 'ERR_CLIENT_HELLO: session id longer than 32 bytes or past the end'],
    [hello(['a.test'], { ciphers: 0 }), 'ERR_CLIENT_HELLO: cipher suites: not an even length 2.. within the ClientHello'],
    [withLen(base, 3, 1000), `sni a.test (${base.length})`], // the record goes on; the ClientHello is whole
    [withLen(base, 3, 0), 'ERR_CLIENT_HELLO: record length 0 is not 1..16384'],
    [withLen(base, 3, 16385), 'ERR_CLIENT_HELLO: record length 16385 is not 1..16384'],
    [withLen(base, base.length - 13, 50), 'ERR_CLIENT_HELLO: extension 0 runs past the extensions'], // server_name's length
    [withLen(base, base.length - 13, 9), 'ERR_CLIENT_HELLO: server_name list length does not match its extension'],
    [buildClientHello({ names: ['a.test'], after: [{ type: 21, data: Buffer.alloc(17_000) }] }), 'ERR_CLIENT_HELLO: ClientHello of 17102 bytes is over the 16384-byte limit'],
    [Buffer.from([0x17, 3, 3, 0, 5]), 'ERR_NOT_TLS: not a TLS handshake record'],
    [Buffer.from('GET / HTTP/1.1\r\n'), 'ERR_NOT_TLS: not a TLS handshake record'],
    [Buffer.from([0x16, 2]), 'ERR_NOT_TLS: not TLS (record version is not 3.x)'],
    [Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]), 'ERR_CLIENT_HELLO: handshake message type 2 is not ClientHello (1)'],
    [Buffer.concat([records(helloMessage({ names: ['a.test'] }), 50).subarray(0, 55), Buffer.from([0x17, 3, 3, 0, 1, 0])]), 'ERR_CLIENT_HELLO: record type 23 inside the ClientHello'],
  ];
  assert.deepEqual(cases.map(([b]) => show(parseClientHello(b))), cases.map(([, e]) => e));
  // split byte by byte, the same answers
  assert.deepEqual(cases.map(([b]) => show(byteByByte(b))), cases.map(([, e]) => e));
});

for (const [who, client] of [['node:tls', nodeTlsClient('a.test')], ['openssl s_client -servername a.test', opensslClient('a.test')]] as const) {
  test(`client hello: the one ${who} sends decodes to a.test, whole, byte by byte and re-framed into 1-byte records`, async () => {
    const capture = await captureFirstFlight(client);
    assert.ok(capture.length > 100, `captured ${capture.length} bytes`);
    const whole = parseClientHello(capture);
    assert.equal(show(whole), `sni a.test (${capture.length})`);
    assert.equal(show(byteByByte(capture)), `sni a.test (${capture.length})`);
    const msg = unframe(capture);
    assert.equal(show(parseClientHello(records(msg, 1))), `sni a.test (${msg.length * 6})`);
  });
}

test('sni router: exact before wildcard, one label for a wildcard, case-insensitive, the default for the rest', () => {
  type Svc = { name: string; sni?: readonly string[] };
  const a: Svc = { name: 'a', sni: ['a.test', '*.example.com'] };
  const b: Svc = { name: 'b', sni: ['WWW.Example.com'] };
  const d: Svc = { name: 'default' };
  const router = new SniRouter([a, b, d]);
  const names = ['a.test', 'A.TEST', 'www.example.com', 'api.example.com', 'example.com', 'x.api.example.com', 'other.test', undefined];
  assert.deepEqual(names.map((n) => router.match(n)?.name), ['a', 'a', 'b', 'a', 'default', 'default', 'default', 'default']);
  assert.equal(new SniRouter([a]).match('other.test'), undefined);
  assert.equal(matchSni('api.example.com', [b, a])?.name, 'a');
  assert.throws(() => new SniRouter<Svc>([d, { name: 'd2', sni: [] }]), { code: 'ERR_CONFIG', message: /at most one service/ });
  assert.throws(() => new SniRouter<Svc>([a, { name: 'c', sni: ['A.test'] }]), { code: 'ERR_CONFIG', message: /claimed by two services/ });
  for (const bad of ['*', '*.', 'a.*.test', '**.test', 'a.test.', 'a b.test', '-a.test']) {
    assert.throws(() => new SniRouter([{ sni: [bad] }]), { code: 'ERR_CONFIG' }, bad);
  }
});
