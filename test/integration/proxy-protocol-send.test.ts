/**
 * `proxyProtocol: v1 | v2` on a service: the header reaches the backend
 * first, carrying the real client. Checked against HAProxy as the receiver
 * (`bind … accept-proxy`, answering with the address it decoded), on both
 * data planes, and with a server-first backend that greets before the
 * client sends a byte (the bug another balancer had: a header sent only
 * after the client's first byte).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig, makeService } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { parseProxyHeader } from '../../src/proxy/first-bytes/proxy-protocol.ts';
import { startBackend } from '../helpers/fault-backend.ts';
import { skipWithoutHaproxy, startHaproxy } from '../helpers/haproxy.ts';
import { dial, readAll, readBytes } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';

/** HAProxy in HTTP mode behind `accept-proxy`, answering every request with the client and destination it decoded. */
function haproxyReceiver(t: TestContext): Promise<number> {
  return startHaproxy(t, (port) => [
    'global', '  maxconn 100',
    'defaults', '  mode http', '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s',
    'frontend fe', `  bind 127.0.0.1:${port} accept-proxy`,
    '  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[dst]:%[dst_port]"',
  ]);
}

const skip = skipWithoutHaproxy;

for (const dataPlane of ['native', 'stream'] as const) {
  for (const version of ['v1', 'v2'] as const) {
    test(`${dataPlane} plane, proxyProtocol ${version}: HAProxy behind Fulcrum sees the client bound to 127.0.0.2 and the address it dialled`, { skip, timeout: 30_000 }, async (t) => {
      const receiver = await haproxyReceiver(t);
      const lb = await Fulcrum.start(
        makeConfig({
          admin: { host: '127.0.0.1', port: 0 },
          dataPlane,
          services: [makeService({ name: 'pp', listen: { host: '127.0.0.1', port: 0 }, backends: [backendAt(receiver)], health: { intervalMs: 0 }, proxyProtocol: version })],
        }),
      );
      t.after(() => lb.destroy());
      const port = lb.service('pp')!.address!.port;
      const client = await dial({ port, localAddress: '127.0.0.2', allowHalfOpen: true });
      const clientPort = client.localPort;
      const body = readAll(client);
      client.end('GET / HTTP/1.0\r\n\r\n');
      const text = (await body).toString();
      assert.match(text, /^HTTP\/1\.[01] 200/);
      assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), `127.0.0.2:${clientPort} 127.0.0.1:${port}`);
    });
  }
}

test('a server-first backend greets through a proxyProtocol v2 service before the client sends a byte; the header came first', { timeout: 30_000 }, async (t) => {
  let received: Promise<Buffer> | undefined;
  const backend = await startBackend((s) => {
    received = readAll(s);
    s.write('220 ready\r\n');
  });
  t.after(() => backend.close());
  const lb = await Fulcrum.start(
    makeConfig({ admin: { host: '127.0.0.1', port: 0 }, services: [makeService({ name: 'smtp', listen: { host: '127.0.0.1', port: 0 }, backends: [backendAt(backend.port)], health: { intervalMs: 0 }, proxyProtocol: 'v2' })] }),
  );
  t.after(() => lb.destroy());
  const client = await dial({ port: lb.service('smtp')!.address!.port, localAddress: '127.0.0.3' });
  const clientPort = client.localPort;
  // Nothing sent yet: the greeting still arrives.
  assert.equal((await readBytes(client, 11)).toString(), '220 ready\r\n');
  client.end('QUIT\r\n');
  const bytes = await received!;
  const r = parseProxyHeader(bytes);
  assert.equal(r.kind, 'done', JSON.stringify(r));
  if (r.kind !== 'done' || r.header.family === 'UNKNOWN') return assert.fail('no address in the header');
  assert.deepEqual(r.header.source, { address: '127.0.0.3', port: clientPort });
  assert.equal(bytes.subarray(r.length).toString(), 'QUIT\r\n', 'the client bytes follow the header, intact');
  client.destroy();
});
