/**
 * Reference cases from a real sender nobody here wrote: HAProxy with
 * `send-proxy` / `send-proxy-v2` on its server line, in front of a listener
 * that keeps what it receives. The client dials from 127.0.0.2 so its
 * address cannot be mistaken for HAProxy's own. `.ci/run` installs haproxy.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { parseProxyHeader } from '../../src/proxy/first-bytes/proxy-protocol.ts';
import { encodeProxyV1, encodeProxyV2Local } from '../../src/proxy/first-bytes/proxy-encode.ts';
import { PP2_TYPE } from '../../src/proxy/first-bytes/proxy-header.ts';
import { crc32c } from '../../src/proxy/first-bytes/crc32c.ts';
import { skipWithoutHaproxy, startHaproxy } from '../helpers/haproxy.ts';

const skip = skipWithoutHaproxy;

/** A listener that keeps every connection's bytes; `next(until)` resolves with the first connection's bytes that satisfy `until`. */
async function captureListener(t: TestContext) {
  const server = net.createServer();
  const seen: Buffer[] = [];
  const waiters: { until: (b: Buffer) => boolean; resolve: (b: Buffer) => void }[] = [];
  server.on('connection', (socket) => {
    const i = seen.push(Buffer.alloc(0)) - 1;
    socket.on('error', () => {});
    socket.on('data', (d) => {
      seen[i] = Buffer.concat([seen[i]!, d]);
      for (const w of waiters.splice(0)) (w.until(seen[i]!) ? w.resolve(seen[i]!) : waiters.push(w));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const next = (until: (b: Buffer) => boolean) =>
    new Promise<Buffer>((resolve) => {
      const found = seen.find(until);
      if (found) resolve(found);
      else waiters.push({ until, resolve });
    });
  return { port: (server.address() as AddressInfo).port, next };
}

/** Runs haproxy in the foreground with `server` as its only server line; resolves once its frontend accepts. */
function startRelayHaproxy(t: TestContext, backendPort: number, serverOptions: string, frontendExtra = ''): Promise<number> {
  return startHaproxy(t, (port) => [
    'global', '  maxconn 100',
    'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s',
    'frontend fe', `  bind 127.0.0.1:${port}`, frontendExtra, '  default_backend be',
    'backend be', `  server s1 127.0.0.1:${backendPort} ${serverOptions}`,
  ]);
}

/** Dials HAProxy from 127.0.0.2, sends `hello`, returns what the backend received and the client's port. */
async function throughHaproxy(t: TestContext, serverOptions: string, frontendExtra = '') {
  const backend = await captureListener(t);
  const front = await startRelayHaproxy(t, backend.port, serverOptions, frontendExtra);
  // (startHaproxy's readiness probe was relayed too, but never says hello)
  const client = net.connect({ port: front, host: '127.0.0.1', localAddress: '127.0.0.2' });
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write('hello');
  const bytes = await backend.next((b) => b.includes('hello'));
  return { bytes, front, clientPort: client.localPort! };
}

test('haproxy send-proxy: the v1 line decodes to the client HAProxy saw, and is byte for byte what encodeProxyV1 writes', { skip }, async (t) => {
  const { bytes, front, clientPort } = await throughHaproxy(t, 'send-proxy');
  const r = parseProxyHeader(bytes);
  assert.equal(r.kind, 'done', JSON.stringify(r));
  if (r.kind !== 'done') return;
  const source = { address: '127.0.0.2', port: clientPort };
  const destination = { address: '127.0.0.1', port: front };
  assert.deepEqual(r.header, { version: 1, command: 'PROXY', family: 'TCP4', source, destination, tlvs: [] });
  assert.equal(bytes.subarray(r.consumed).toString(), 'hello');
  assert.deepEqual(bytes.subarray(0, r.consumed), encodeProxyV1(source, destination));
});

test('haproxy send-proxy-v2 with a CRC32C and a unique-id TLV: decodes to the client HAProxy saw, the checksum verified', { skip }, async (t) => {
  const { bytes, front, clientPort } = await throughHaproxy(t, 'send-proxy-v2 proxy-v2-options crc32c,unique-id', '  unique-id-format %ci:%cp');
  const r = parseProxyHeader(bytes);
  assert.equal(r.kind, 'done', JSON.stringify(r));
  if (r.kind !== 'done') return;
  const source = { address: '127.0.0.2', port: clientPort };
  assert.deepEqual({ ...r.header, tlvs: undefined }, { version: 2, command: 'PROXY', family: 'TCP4', source, destination: { address: '127.0.0.1', port: front }, tlvs: undefined });
  assert.deepEqual(r.header.tlvs.map((x) => x.type).sort(), [PP2_TYPE.CRC32C, PP2_TYPE.UNIQUE_ID]);
  assert.equal(r.header.tlvs.find((x) => x.type === PP2_TYPE.UNIQUE_ID)?.value.toString(), `127.0.0.2:${clientPort}`);
  assert.equal(bytes.subarray(r.consumed).toString(), 'hello');
  // and a checksum HAProxy computed matches ours over the header with the field zeroed
  const header = Buffer.from(bytes.subarray(0, r.consumed));
  const at = header.indexOf(Buffer.from([PP2_TYPE.CRC32C, 0, 4]), 28) + 3;
  const sent = header.readUInt32BE(at);
  header.writeUInt32BE(0, at);
  assert.equal(crc32c(header), sent);
});

test('haproxy check-send-proxy with send-proxy-v2: its health check sends the same v2 LOCAL header as encodeProxyV2Local', { skip }, async (t) => {
  const backend = await captureListener(t);
  const check = backend.next((b) => b.length >= 16 && b[12] === 0x20); // a LOCAL header, not the readiness probe's
  await startRelayHaproxy(t, backend.port, 'send-proxy-v2 check check-send-proxy inter 100ms');
  const bytes = await check;
  assert.deepEqual(bytes.subarray(0, 16), encodeProxyV2Local());
  const r = parseProxyHeader(bytes);
  assert.deepEqual(r.kind === 'done' && r.header, { version: 2, command: 'LOCAL', family: 'UNKNOWN', tlvs: [] });
});
