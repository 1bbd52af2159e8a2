/**
 * Cost of reading a connection's first bytes, per connection: a PROXY v1
 * line, a v2 header (TCP6, one TLV), each whole and split in two chunks,
 * and a TLS ClientHello (as node:tls sends it: 517 bytes, SNI among 11
 * extensions). Each case includes creating the parser, as a connection
 * would. `npm run bench:first-bytes`.
 */
import { bench, do_not_optimize, group, run } from 'mitata';
import { ProxyHeaderParser } from '../src/proxy/first-bytes/proxy-protocol.ts';
import { encodeProxyV1, encodeProxyV2 } from '../src/proxy/first-bytes/proxy-encode.ts';
import { ClientHelloParser } from '../src/proxy/first-bytes/client-hello.ts';
import { captureFirstFlight, nodeTlsClient } from '../test/helpers/client-hello.ts';

const v1 = Buffer.concat([encodeProxyV1({ address: '203.0.113.7', port: 51234 }, { address: '192.0.2.10', port: 443 }), Buffer.from('GET / HTTP/1.1\r\n')]);
const v1tcp6 = encodeProxyV1({ address: '2001:db8::7', port: 51234 }, { address: '2001:db8::10', port: 443 });
const v2 = Buffer.concat([
  encodeProxyV2({ address: '2001:db8::7', port: 51234 }, { address: '2001:db8::10', port: 443 }, [{ type: 0x02, value: Buffer.from('a.test') }]),
  Buffer.from('GET / HTTP/1.1\r\n'),
]);
const hello = await captureFirstFlight(nodeTlsClient('a.test'), 100);
const [v1a, v1b] = [v1.subarray(0, 20), v1.subarray(20)];
const [v2a, v2b] = [v2.subarray(0, 10), v2.subarray(10)];

group('PROXY header', () => {
  bench('v1 TCP4, one chunk', () => do_not_optimize(new ProxyHeaderParser().push(v1)));
  bench('v1 TCP6, one chunk', () => do_not_optimize(new ProxyHeaderParser().push(v1tcp6)));
  bench('v2 TCP6 + TLV, one chunk', () => do_not_optimize(new ProxyHeaderParser().push(v2)));
  bench('v1 TCP4, two chunks', () => {
    const p = new ProxyHeaderParser();
    p.push(v1a);
    do_not_optimize(p.push(v1b));
  });
  bench('v2 TCP6 + TLV, two chunks', () => {
    const p = new ProxyHeaderParser();
    p.push(v2a);
    do_not_optimize(p.push(v2b));
  });
});

group(`ClientHello (${hello.length} bytes from node:tls)`, () => {
  bench('one chunk', () => do_not_optimize(new ClientHelloParser().push(hello)));
  bench('two chunks', () => {
    const p = new ClientHelloParser();
    p.push(hello.subarray(0, 100));
    do_not_optimize(p.push(hello.subarray(100)));
  });
});

await run();
