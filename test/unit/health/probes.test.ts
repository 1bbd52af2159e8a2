/** The probes on real sockets: each outcome, each always settles in time and closes its socket. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { httpCheck } from '../../../src/health/http-check.ts';
import { tcpCheck } from '../../../src/health/tcp-check.ts';
import { startBlackhole } from '../../helpers/blackhole.ts';
import { refusedPort } from '../../helpers/net.ts';

interface RawServer {
  readonly target: { host: string; port: number; key: string };
  readonly server: Server;
  /** Resolves when every connection accepted so far has closed. */
  allClosed(): Promise<void>;
  /** Bytes received on each connection, in order. */
  readonly received: string[];
}

/** A TCP server whose connections get `behaviour`; tracks open sockets. */
async function rawServer(t: { after(fn: () => unknown): void }, behaviour: (s: Socket) => void): Promise<RawServer> {
  const open = new Set<Socket>();
  const received: string[] = [];
  let waiting: (() => void) | undefined;
  const server = createServer((s) => {
    open.add(s);
    const i = received.push('') - 1;
    s.on('data', (c: Buffer) => (received[i] += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      open.delete(s);
      if (open.size === 0) waiting?.();
    });
    behaviour(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of open) s.destroy();
    return new Promise((r) => server.close(r));
  });
  const { port } = server.address() as AddressInfo;
  return {
    target: { host: '127.0.0.1', port, key: `127.0.0.1:${port}` },
    server,
    received,
    allClosed: () => (open.size === 0 ? Promise.resolve() : new Promise<void>((r) => (waiting = r))),
  };
}

const respond = (status: string) => (s: Socket) =>
  s.once('data', () => s.end(`HTTP/1.1 ${status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`));

test('tcp probe: a listening backend passes and the probe socket is closed', async (t) => {
  const srv = await rawServer(t, () => {});
  assert.deepEqual(await tcpCheck(srv.target, 1000), { ok: true, reason: 'connected' });
  await srv.allClosed();
  assert.equal(srv.received.length, 1);
});

test('tcp probe: a refused port fails with ECONNREFUSED', async () => {
  const port = await refusedPort();
  assert.deepEqual(await tcpCheck({ host: '127.0.0.1', port, key: `127.0.0.1:${port}` }, 1000), { ok: false, reason: 'ECONNREFUSED' });
});

test('tcp probe: a connect that hangs fails at the timeout', async (t) => {
  const hole = await startBlackhole();
  t.after(() => hole.close());
  const started = Date.now();
  const result = await tcpCheck({ host: '127.0.0.1', port: hole.port, key: `127.0.0.1:${hole.port}` }, 150);
  const took = Date.now() - started;
  assert.deepEqual(result, { ok: false, reason: 'timeout after 150ms' });
  assert.ok(took >= 145 && took < 1000, `settled after ${took}ms`);
});

const httpCases: { name: string; behaviour: (s: Socket) => void; expected: { ok: boolean; reason: string } }[] = [
  { name: '200 passes', behaviour: respond('200 OK'), expected: { ok: true, reason: 'HTTP 200' } },
  { name: '204 passes', behaviour: respond('204 No Content'), expected: { ok: true, reason: 'HTTP 204' } },
  { name: '302 passes', behaviour: respond('302 Found'), expected: { ok: true, reason: 'HTTP 302' } },
  { name: '399 passes', behaviour: respond('399 Whatever'), expected: { ok: true, reason: 'HTTP 399' } },
  { name: '404 fails', behaviour: respond('404 Not Found'), expected: { ok: false, reason: 'HTTP 404' } },
  { name: '503 fails', behaviour: respond('503 Service Unavailable'), expected: { ok: false, reason: 'HTTP 503' } },
  { name: '199 fails', behaviour: respond('199 Odd'), expected: { ok: false, reason: 'HTTP 199' } },
  { name: 'a status line without reason passes', behaviour: (s) => s.once('data', () => s.end('HTTP/1.0 200\r\n\r\n')), expected: { ok: true, reason: 'HTTP 200' } },
  {
    name: 'a status line split over writes is reassembled',
    behaviour: (s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 2');
        setTimeout(() => s.end('01 Created\r\n\r\n'), 20);
      }),
    expected: { ok: true, reason: 'HTTP 201' },
  },
  { name: 'not HTTP fails', behaviour: (s) => s.once('data', () => s.end('SSH-2.0-OpenSSH\r\n')), expected: { ok: false, reason: 'no HTTP status line' } },
  { name: 'a close without an answer fails', behaviour: (s) => s.once('data', () => s.end()), expected: { ok: false, reason: 'closed by backend' } },
  { name: 'an endless line without CRLF fails', behaviour: (s) => s.once('data', () => s.write('x'.repeat(5000))), expected: { ok: false, reason: 'no HTTP status line' } },
  { name: 'no answer fails at the timeout', behaviour: () => {}, expected: { ok: false, reason: 'timeout after 200ms' } },
];

for (const c of httpCases) {
  test(`http probe: ${c.name}, and its socket is closed`, async (t) => {
    const srv = await rawServer(t, c.behaviour);
    assert.deepEqual(await httpCheck('/health')(srv.target, 200), c.expected);
    await srv.allClosed();
  });
}

test('http probe: sends GET PATH with Host = backend address and Connection: close', async (t) => {
  const srv = await rawServer(t, respond('200 OK'));
  await httpCheck('/status?full=1')(srv.target, 1000);
  await srv.allClosed();
  const lines = srv.received[0]!.split('\r\n');
  assert.equal(lines[0], 'GET /status?full=1 HTTP/1.1');
  assert.ok(lines.includes(`Host: ${srv.target.key}`), lines.join(' | '));
  assert.ok(lines.includes('Connection: close'), lines.join(' | '));
  assert.equal(srv.received[0]!.endsWith('\r\n\r\n'), true);
});

test('http probe: a refused port fails with ECONNREFUSED', async () => {
  const port = await refusedPort();
  assert.deepEqual(await httpCheck('/')({ host: '127.0.0.1', port, key: `127.0.0.1:${port}` }, 1000), { ok: false, reason: 'ECONNREFUSED' });
});
