/**
 * The access log: every way a connection can end, produced through real
 * sockets, and its line compared field by field with what the test did
 * (who connected from where, which backend, the bytes sent and received).
 * Runs on the stream plane too (access-log.stream.test.ts).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { parseCidr } from '../../src/config/cidr.ts';
import type { Fulcrum } from '../../src/fulcrum.ts';
import { accessLogPath, jsonLine, linesOf, type AccessLine } from '../helpers/access-log.ts';
import { startBackend, echo, type Behaviour } from '../helpers/fault-backend.ts';
import { closed, dial, readAll, readBytes, refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy, type ProxyOverrides } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 15_000 };

interface Setup {
  lb: Fulcrum;
  path: string;
  port: number;
  backendPort: number | undefined;
  since: number;
}

async function setup(t: TestContext, behaviour: Behaviour | undefined, overrides: ProxyOverrides = {}): Promise<Setup> {
  const since = Date.now();
  const path = accessLogPath(t);
  let backendPort: number | undefined;
  if (behaviour) {
    const backend = await startBackend(behaviour);
    t.after(() => backend.close());
    backendPort = backend.port;
  }
  const lb = await startProxy(t, {
    backends: backendPort === undefined ? [] : [backendAt(backendPort)],
    accessLog: path,
    passive: { maxFails: 0 },
    ...overrides,
  });
  return { lb, path, port: lb.proxyAddress.port, backendPort, since };
}

/** The fields every line has, checked against what the test knows. */
function assertCommon(line: AccessLine, s: Setup, client: { address: string; port: number }, before: number): void {
  assert.equal(line.service, 'default');
  assert.equal(line.client, `${client.address}:${client.port}`);
  assert.equal(line.listener, `127.0.0.1:${s.port}`);
  const started = Date.parse(line.time);
  assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(started >= s.since && started <= before, `time ${line.time} outside the test`);
  assert.ok(line.durationMs >= 0 && line.durationMs <= Date.now() - started + 1, `durationMs ${line.durationMs}`);
}

async function connected(s: Setup, localAddress = '127.0.0.2'): Promise<{ socket: Socket; client: { address: string; port: number } }> {
  const socket = await dial({ port: s.port, localAddress });
  socket.on('error', () => {});
  return { socket, client: { address: localAddress, port: socket.localPort! } };
}

test('client-closed: the client sends its FIN first; bytes as sent and echoed', T, async (t) => {
  const s = await setup(t, echo);
  const { socket, client } = await connected(s);
  socket.write('hello');
  assert.equal((await readBytes(socket, 5)).toString(), 'hello');
  socket.end();
  await readAll(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual(
    { backend: line.backend, attempts: line.attempts, queueMs: line.queueMs, bytesIn: line.bytesIn, bytesOut: line.bytesOut, end: line.end, detail: line.detail },
    { backend: `127.0.0.1:${s.backendPort}`, attempts: 1, queueMs: null, bytesIn: 5, bytesOut: 5, end: 'client-closed', detail: undefined },
  );
  assert.ok(line.connectMs !== null && line.connectMs >= 0 && line.connectMs < 1000, `connectMs ${line.connectMs}`);
});

test('backend-closed: a server-first backend sends a banner and its FIN', T, async (t) => {
  const s = await setup(t, (sock) => sock.end('220 ready\r\n'));
  const { socket, client } = await connected(s);
  assert.equal((await readAll(socket)).toString(), '220 ready\r\n');
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.attempts, line.bytesIn, line.bytesOut, line.end], [`127.0.0.1:${s.backendPort}`, 1, 0, 11, 'backend-closed']);
});

test('client-reset: the client resets after an exchange', T, async (t) => {
  const s = await setup(t, echo);
  const { socket, client } = await connected(s);
  socket.write('abc');
  await readBytes(socket, 3);
  socket.resetAndDestroy();
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.bytesIn, line.bytesOut, line.end], [3, 3, 'client-reset']);
});

test('backend-reset: the backend resets once it has the request', T, async (t) => {
  const s = await setup(t, (sock) => {
    sock.write('x');
    sock.once('data', () => sock.resetAndDestroy());
  });
  const { socket, client } = await connected(s);
  await readBytes(socket, 1);
  socket.write('go');
  const { error } = await closed(socket);
  assert.equal(error?.code, 'ECONNRESET', 'the reset reaches the client');
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.bytesIn, line.bytesOut, line.end], [`127.0.0.1:${s.backendPort}`, 2, 1, 'backend-reset']);
});

test('backend-reset: a backend process killed with SIGKILL while it has unread bytes', T, async (t) => {
  // A backend in its own process that greets and never reads: its kernel resets the connection when it dies.
  const child = spawn(process.execPath, ['-e', "const s = require('net').createServer({ pauseOnConnect: true }, (c) => c.write('hi')); s.listen(0, '127.0.0.1', () => console.log(s.address().port));"], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const [out] = (await once(child.stdout!, 'data')) as [Buffer];
  const backendPort = Number(out.toString().trim());
  const s = await setup(t, undefined, { backends: [backendAt(backendPort)] });
  const { socket, client } = await connected(s);
  assert.equal((await readBytes(socket, 2)).toString(), 'hi');
  socket.write(Buffer.alloc(1000, 7));
  const sessions = s.lb.listener.sessions as unknown as { forEach(fn: (x: { bytesIn: number }) => void): void };
  await until('the 1,000 bytes to reach the backend\'s socket', () => {
    let sent = 0;
    sessions.forEach((x) => (sent = x.bytesIn));
    return sent === 1000 ? true : undefined;
  });
  child.kill('SIGKILL');
  const { error } = await closed(socket);
  assert.equal(error?.code, 'ECONNRESET', 'the reset reaches the client');
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.attempts, line.bytesIn, line.bytesOut, line.end], [`127.0.0.1:${backendPort}`, 1, 1000, 2, 'backend-reset']);
});

test('idle-timeout: nothing either way for idleTimeout', T, async (t) => {
  const s = await setup(t, echo, { idleTimeoutMs: 200 });
  const { socket, client } = await connected(s);
  socket.write('z');
  await readBytes(socket, 1);
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.bytesIn, line.bytesOut, line.end], [1, 1, 'idle-timeout']);
  assert.ok(line.durationMs >= 200, `durationMs ${line.durationMs}`);
});

test('max-lifetime: a busy connection ended at maxLifetime', T, async (t) => {
  const s = await setup(t, echo, { maxLifetimeMs: 200 });
  const { socket, client } = await connected(s);
  socket.write('12345678');
  await readBytes(socket, 8);
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.bytesIn, line.bytesOut, line.end], [8, 8, 'max-lifetime']);
  assert.ok(line.durationMs >= 200, `durationMs ${line.durationMs}`);
});

test('connect-failed: every attempt refused; the backend tried and the error named', T, async (t) => {
  const dead = await refusedPort();
  const s = await setup(t, undefined, { backends: [backendAt(dead)], retries: 0 });
  const { socket, client } = await connected(s);
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual(
    [line.backend, line.attempts, line.connectMs, line.bytesIn, line.bytesOut, line.end, line.detail],
    [`127.0.0.1:${dead}`, 1, null, 0, 0, 'connect-failed', 'ECONNREFUSED'],
  );
});

test('no-backend: nothing to try', T, async (t) => {
  const s = await setup(t, undefined);
  const { socket, client } = await connected(s);
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.attempts, line.connectMs, line.end, line.detail], [null, 0, null, 'no-backend', undefined]);
});

test('queue-timeout, and rejected (queue-full): the second client waits out the queue, the third finds it full', T, async (t) => {
  const s = await setup(t, echo, { maxConnections: 1, queue: { size: 1, timeoutMs: 300 } });
  const first = await connected(s, '127.0.0.2');
  first.socket.write('a');
  await readBytes(first.socket, 1); // holds the only slot
  const second = await connected(s, '127.0.0.3');
  await until('the second client to queue', () => (s.lb.service('default')!.admission.length === 1 ? true : undefined));
  const third = await connected(s, '127.0.0.4');
  await closed(third.socket);
  const full = await jsonLine(s.path, 1);
  assertCommon(full, s, third.client, Date.now());
  assert.deepEqual([full.backend, full.attempts, full.end, full.detail], [null, 0, 'rejected', 'queue-full']);
  await closed(second.socket);
  const timedOut = await jsonLine(s.path, 2);
  assertCommon(timedOut, s, second.client, Date.now());
  assert.deepEqual([timedOut.backend, timedOut.attempts, timedOut.end], [null, 0, 'queue-timeout']);
  assert.ok(timedOut.queueMs !== null && timedOut.queueMs >= 300 && timedOut.queueMs < 2000, `queueMs ${timedOut.queueMs}`);
  first.socket.end();
  await readAll(first.socket);
  const served = await jsonLine(s.path, 3);
  assert.deepEqual([served.client, served.end, served.bytesIn, served.bytesOut], [`127.0.0.2:${first.client.port}`, 'client-closed', 1, 1]);
});

test('a queued client that gets its slot logs how long it waited', T, async (t) => {
  const s = await setup(t, echo, { maxConnections: 1, queue: { size: 1, timeoutMs: 5000 } });
  const first = await connected(s, '127.0.0.2');
  first.socket.write('a');
  await readBytes(first.socket, 1);
  const second = await connected(s, '127.0.0.3');
  await until('the second client to queue', () => (s.lb.service('default')!.admission.length === 1 ? true : undefined));
  await new Promise((r) => setTimeout(r, 100)); // a wait worth measuring
  first.socket.end();
  await readAll(first.socket);
  second.socket.end('bb');
  assert.equal((await readAll(second.socket)).toString(), 'bb');
  const lines = (await linesOf(s.path, 2)).map((l) => JSON.parse(l) as AccessLine);
  const waited = lines.find((l) => l.client === `127.0.0.3:${second.client.port}`)!;
  assert.deepEqual([waited.attempts, waited.bytesIn, waited.bytesOut, waited.end], [1, 2, 2, 'client-closed']);
  assert.ok(waited.queueMs !== null && waited.queueMs >= 100, `queueMs ${waited.queueMs}`);
});

test('rejected (denied): the client controls refuse it, with the verdict', T, async (t) => {
  const s = await setup(t, echo, { deny: [parseCidr('deny', '127.0.0.5')] });
  const { socket, client } = await connected(s, '127.0.0.5');
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.attempts, line.end, line.detail], [null, 0, 'rejected', 'denied']);
});

test('proxy-header: a client whose PROXY header is malformed is closed before any backend, and its line says why', T, async (t) => {
  const s = await setup(t, echo, { acceptProxy: true });
  const { socket, client } = await connected(s);
  socket.write('GET / HTTP/1.0\r\n\r\n');
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.attempts, line.bytesIn, line.bytesOut, line.end], [null, 0, 0, 0, 'proxy-header']);
  assert.match(line.detail ?? '', /PROXY/);
});

test('acceptProxy: the line names the client the PROXY header gave, not the balancer in front', T, async (t) => {
  const s = await setup(t, echo, { acceptProxy: true });
  const { socket } = await connected(s);
  socket.write('PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nping');
  await readBytes(socket, 4);
  socket.end();
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, { address: '203.0.113.7', port: 5555 }, Date.now());
  assert.deepEqual([line.backend, line.bytesIn, line.bytesOut, line.end], [`127.0.0.1:${s.backendPort}`, 4, 4, 'client-closed']);
});

test('forced: its backend deregistered with force', T, async (t) => {
  const s = await setup(t, echo);
  const { socket, client } = await connected(s);
  socket.write('1234');
  await readBytes(socket, 4);
  const backend = s.lb.registry.list()[0]!;
  s.lb.removeBackend(backend, { force: true });
  await closed(socket);
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.backend, line.bytesIn, line.bytesOut, line.end], [`127.0.0.1:${s.backendPort}`, 4, 4, 'forced']);
});

test('shutdown: cut at the end of the drain', T, async (t) => {
  const s = await setup(t, echo);
  const { socket, client } = await connected(s);
  socket.write('12');
  await readBytes(socket, 2);
  const closing = s.lb.service('default')!.close(0);
  await closed(socket);
  await closing;
  const line = await jsonLine(s.path);
  assertCommon(line, s, client, Date.now());
  assert.deepEqual([line.bytesIn, line.bytesOut, line.end], [2, 2, 'shutdown']);
});

test('text format: one line of fixed fields, as HAProxy tcplog', T, async (t) => {
  const s = await setup(t, echo, { accessLogFormat: 'text' });
  const { socket, client } = await connected(s);
  socket.write('hello');
  await readBytes(socket, 5);
  socket.end();
  await readAll(socket);
  const [line] = await linesOf(s.path, 1);
  const m = /^(\S+) \[(\S+)\] (\S+) (\S+) (\S+) (\d+) (-1|[\d.]+)\/([\d.]+)\/(\d+) (\d+) (\d+) (\S+) (\S+)$/.exec(line!);
  assert.ok(m, `not a text line: ${line}`);
  const [, who, time, service, listener, backend, attempts, queue, , , bytesIn, bytesOut, end, detail] = m;
  assert.deepEqual(
    [who, service, listener, backend, attempts, queue, bytesIn, bytesOut, end, detail],
    [`127.0.0.2:${client.port}`, 'default', `127.0.0.1:${s.port}`, `127.0.0.1:${s.backendPort}`, '1', '-1', '5', '5', 'client-closed', '-'],
  );
  assert.ok(Date.parse(time!) >= s.since);
});

test('access log off: nothing is opened or written', T, async (t) => {
  const s = await setup(t, echo, { accessLog: 'off' });
  const { socket } = await connected(s);
  socket.end('x');
  assert.equal((await readAll(socket)).toString(), 'x');
  await until('the session to end', () => (s.lb.listener.sessions.size === 0 ? true : undefined));
  assert.equal(existsSync(s.path), false);
});
