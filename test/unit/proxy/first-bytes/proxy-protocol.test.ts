import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader, ProxyHeaderParser } from '../../../../src/proxy/first-bytes/proxy-protocol.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local } from '../../../../src/proxy/first-bytes/proxy-encode.ts';
import { crc32c } from '../../../../src/proxy/first-bytes/crc32c.ts';
import { PP2_TYPE } from '../../../../src/proxy/first-bytes/proxy-header.ts';

const SIG = '0d0a0d0a000d0a515549540a';

/** `source port -> destination port` for a decoded header, `UNKNOWN`, or `reject: reason`. */
function show(input: Buffer | string): string {
  const r = parseProxyHeader(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  if (r.kind === 'more') return 'more';
  if (r.kind === 'reject') return `reject: ${r.reason}`;
  const h = r.header;
  const what = h.family === 'UNKNOWN' ? `v${h.version} ${h.command} UNKNOWN` : `v${h.version} ${h.family} ${h.source.address} ${h.source.port} -> ${h.destination.address} ${h.destination.port}`;
  return `${what} (${r.consumed})`;
}

test('proxy v1: exact lines decode, everything else is refused (proxy-protocol.txt 2.1)', () => {
  const cases: [string, string][] = [
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n', 'v1 TCP4 192.168.0.1 56324 -> 192.168.0.11 443 (47)'],
    ['PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n', 'v1 TCP4 255.255.255.255 65535 -> 255.255.255.255 65535 (56)'],
    ['PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n', 'v1 TCP4 0.0.0.0 0 -> 10.0.0.1 0 (33)'],
    ['PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n', 'v1 TCP6 2001:db8::1 1 -> ::1 2 (41)'],
    ['PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.2 5 6\r\n', 'v1 TCP6 ::ffff:127.0.0.1 5 -> ::ffff:127.0.0.2 6 (50)'],
    [`PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`, `v1 TCP6 ${'ffff:'.repeat(7)}ffff 65535 -> ${'ffff:'.repeat(7)}ffff 65535 (104)`],
    ['PROXY UNKNOWN\r\n', 'v1 PROXY UNKNOWN (15)'],
    [`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`, 'v1 PROXY UNKNOWN (107)'],
    [`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`, 'reject: v1: no CRLF within 107 bytes'],
    ['PROXY UNKNOWNX\r\n', 'reject: v1: protocol is not TCP4, TCP6 or UNKNOWN'],
    ['PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', 'reject: v1: protocol is not TCP4, TCP6 or UNKNOWN'],
    ['PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n', 'reject: v1: protocol is not TCP4, TCP6 or UNKNOWN'],
    ['PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n', 'reject: v1: source is not a dotted-quad IPv4 address'],
    ['PROXY TCP4 1.2.3.4 1.2.3.256 1 2\r\n', 'reject: v1: destination is not a dotted-quad IPv4 address'],
    ['PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n', 'reject: v1: source is not a dotted-quad IPv4 address'],
    ['PROXY TCP4 ::1 ::1 1 2\r\n', 'reject: v1: source is not a dotted-quad IPv4 address'],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'reject: v1: source is not an IPv6 address'],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'reject: v1: source is not an IPv6 address'],
    ['PROXY TCP6 1::2::3 ::1 1 2\r\n', 'reject: v1: source is not an IPv6 address'],
    ['PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', 'reject: v1: source is not an IPv6 address'],
    ['PROXY TCP6 12345::1 ::1 1 2\r\n', 'reject: v1: source is not an IPv6 address'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n', 'reject: v1: a port is not a decimal 0-65535 without leading zeros'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n', 'reject: v1: a port is not a decimal 0-65535 without leading zeros'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 -2\r\n', 'reject: v1: a port is not a decimal 0-65535 without leading zeros'],
    ['PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n', 'reject: v1: not exactly four fields after the protocol'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n', 'reject: v1: not exactly four fields after the protocol'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n', 'reject: v1: not exactly four fields after the protocol'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n', 'reject: v1: a CR or LF alone; the line must end with CRLF'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX', 'reject: v1: a CR or LF alone; the line must end with CRLF'],
    ['PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n', 'reject: v1: protocol is not TCP4, TCP6 or UNKNOWN'],
    ['PROXY\r\n', 'reject: not a PROXY protocol header (v1 must start "PROXY ")'],
    ['PROXY \r\n', 'reject: v1: protocol is not TCP4, TCP6 or UNKNOWN'],
    ['PROXY TCP4 1.2.3.4', 'more'],
    ['PROXZ', 'reject: not a PROXY protocol header (v1 must start "PROXY ")'],
    ['GET / HTTP/1.1\r\n', 'reject: not a PROXY protocol header (neither "PROXY " nor the v2 signature)'],
    ['\x16\x03\x01', 'reject: not a PROXY protocol header (neither "PROXY " nor the v2 signature)'],
  ];
  assert.deepEqual(cases.map(([input]) => show(input)), cases.map(([, expected]) => expected));
});

function v2(verCmd: number, fam: number, body: Buffer): Buffer {
  const head = Buffer.from(`${SIG}${verCmd.toString(16).padStart(2, '0')}${fam.toString(16).padStart(2, '0')}0000`, 'hex');
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
const V4_BODY = Buffer.from('0a0000010a00000200500051', 'hex'); // 10.0.0.1:80 -> 10.0.0.2:81

test('proxy v2: commands, families, lengths and TLVs (proxy-protocol.txt 2.2)', () => {
  const tlv = (type: number, value: Buffer) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 255]), value]);
  const cases: [Buffer, string][] = [
    [v2(0x21, 0x11, V4_BODY), 'v2 TCP4 10.0.0.1 80 -> 10.0.0.2 81 (28)'],
    [Buffer.concat([v2(0x21, 0x11, V4_BODY), Buffer.from('hello')]), 'v2 TCP4 10.0.0.1 80 -> 10.0.0.2 81 (28)'],
    [v2(0x21, 0x21, Buffer.concat([Buffer.alloc(15), Buffer.from([1]), Buffer.from('20010db8000000000000000000000002', 'hex'), Buffer.from('ffff0001', 'hex')])), 'v2 TCP6 ::1 65535 -> 2001:db8::2 1 (52)'],
    [encodeProxyV2Local(), 'v2 LOCAL UNKNOWN (16)'],
    [v2(0x20, 0x11, V4_BODY), 'v2 LOCAL UNKNOWN (28)'], // LOCAL: family and addresses skipped by len
    [v2(0x20, 0xff, Buffer.alloc(3)), 'v2 LOCAL UNKNOWN (19)'], // the family is ignored for LOCAL
    [v2(0x21, 0x00, Buffer.alloc(0)), 'v2 PROXY UNKNOWN (16)'],
    [v2(0x21, 0x12, V4_BODY), 'v2 PROXY UNKNOWN (28)'], // UDP falls back to UNSPEC
    [v2(0x21, 0x31, Buffer.alloc(216)), 'v2 PROXY UNKNOWN (232)'],
    [v2(0x21, 0x11, Buffer.concat([V4_BODY, tlv(PP2_TYPE.AUTHORITY, Buffer.from('a.test')), tlv(PP2_TYPE.NOOP, Buffer.alloc(2))])), 'v2 TCP4 10.0.0.1 80 -> 10.0.0.2 81 (42)'],
    [v2(0x21, 0x11, V4_BODY.subarray(0, 11)), 'reject: v2: len 11 is shorter than the 0x11 address block (12)'],
    [v2(0x21, 0x11, Buffer.concat([V4_BODY, Buffer.from([2, 0])])), 'reject: v2: a TLV header runs past the header length'],
    [v2(0x21, 0x11, Buffer.concat([V4_BODY, Buffer.from([2, 0, 9, 0x61])])), 'reject: v2: TLV 0x2 of 9 bytes runs past the header length'],
    [v2(0x21, 0x11, Buffer.concat([V4_BODY, tlv(PP2_TYPE.AUTHORITY, Buffer.alloc(0))])), 'reject: v2: AUTHORITY TLV is not 1-255 bytes'],
    [v2(0x21, 0x11, Buffer.concat([V4_BODY, tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(129))])), 'reject: v2: UNIQUE_ID TLV is over 128 bytes'],
    [v2(0x22, 0x11, V4_BODY), 'reject: v2: command 2 is neither LOCAL (0) nor PROXY (1)'],
    [v2(0x11, 0x11, V4_BODY), 'reject: v2: version 1, not 2'],
    [v2(0x21, 0x13, V4_BODY), 'reject: v2: family/protocol 0x13 is not one this receiver accepts'],
    [v2(0x21, 0x41, V4_BODY), 'reject: v2: family/protocol 0x41 is not one this receiver accepts'],
    [v2(0x21, 0x01, V4_BODY), 'reject: v2: family/protocol 0x01 is not one this receiver accepts'],
    [v2(0x21, 0x11, Buffer.alloc(4081)), 'reject: v2: header of 4097 bytes is over the 4096-byte limit'],
    [v2(0x21, 0x11, V4_BODY).subarray(0, 27), 'more'],
    [Buffer.from('0d0a0d0a000d0a515549540b', 'hex'), 'reject: v2: bad signature'],
    [Buffer.from('0d0a0d0a0a', 'hex'), 'reject: v2: bad signature'],
  ];
  assert.deepEqual(cases.map(([input]) => show(input)), cases.map(([, expected]) => expected));
});

test('proxy v2: a CRC32C TLV is checked against the whole header (2.2.3)', () => {
  const body = Buffer.concat([V4_BODY, Buffer.from([PP2_TYPE.CRC32C, 0, 4, 0, 0, 0, 0])]);
  const header = v2(0x21, 0x11, body);
  header.writeUInt32BE(crc32c(header), header.length - 4);
  assert.equal(show(header), 'v2 TCP4 10.0.0.1 80 -> 10.0.0.2 81 (35)');
  header[16] = header[16]! ^ 1;
  assert.equal(show(header), 'reject: v2: CRC32C does not match');
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283); // RFC 3720 B.4 check value
});

test('proxy: a header split at every point, and byte by byte, decodes the same; consumed counts the last chunk only', () => {
  const inputs = [
    encodeProxyV1({ address: '192.0.2.1', port: 1234 }, { address: '192.0.2.2', port: 443 }),
    encodeProxyV2({ address: '2001:db8::1', port: 1 }, { address: '2001:db8::2', port: 2 }, [{ type: PP2_TYPE.AUTHORITY, value: Buffer.from('a.test') }]),
  ];
  for (const header of inputs) {
    const whole = Buffer.concat([header, Buffer.from('payload')]);
    const expected = parseProxyHeader(whole);
    assert.equal(expected.kind, 'done');
    for (let cut = 1; cut < header.length; cut++) {
      const p = new ProxyHeaderParser();
      assert.equal(p.push(whole.subarray(0, cut)).kind, 'more');
      const r = p.push(whole.subarray(cut));
      assert.deepEqual(r.kind === 'done' && r.header, expected.kind === 'done' && expected.header);
      assert.equal(r.kind === 'done' && r.consumed, header.length - cut);
    }
    const p = new ProxyHeaderParser();
    for (let i = 0; i < header.length - 1; i++) assert.equal(p.push(whole.subarray(i, i + 1)).kind, 'more');
    const r = p.push(whole.subarray(header.length - 1, header.length + 3));
    assert.equal(r.kind === 'done' && r.consumed, 1);
    assert.throws(() => p.push(Buffer.from('x')), /after done/);
  }
});

test('proxy encoders: TCP4 for IPv4 and IPv4-mapped ends, TCP6 with the IPv4 end mapped otherwise; bad input throws ERR_PROXY_ENCODE', () => {
  const line = (s: string, d: string) => encodeProxyV1({ address: s, port: 1 }, { address: d, port: 2 }).toString('latin1');
  assert.equal(line('10.0.0.1', '10.0.0.2'), 'PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n');
  assert.equal(line('::ffff:10.0.0.1', '10.0.0.2'), 'PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n');
  assert.equal(line('::FFFF:10.0.0.1', '::ffff:a00:2'), 'PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n');
  assert.equal(line('2001:db8::1', '10.0.0.2'), 'PROXY TCP6 2001:db8::1 ::ffff:10.0.0.2 1 2\r\n');
  assert.equal(line('fe80::1%eth0', '::1'), 'PROXY TCP6 fe80::1 ::1 1 2\r\n');
  assert.equal(encodeProxyV2({ address: '::ffff:10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 81 }).toString('hex'), `${SIG}2111000c${V4_BODY.toString('hex')}`);
  assert.equal(encodeProxyV2Local().toString('hex'), `${SIG}20000000`);
  assert.throws(() => line('example.com', '::1'), { code: 'ERR_PROXY_ENCODE' });
  assert.throws(() => encodeProxyV1({ address: '::1', port: 65536 }, { address: '::1', port: 1 }), { code: 'ERR_PROXY_ENCODE' });
});
