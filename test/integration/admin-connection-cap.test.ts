/**
 * The admin API holds at most 256 connections, so idle admin clients cannot
 * take the descriptors the proxy needs; and idle ones cannot lock the
 * operator out either: a connection over the cap displaces the oldest one with
 * no request in progress. Requests being served are never cut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { closed, dial, readAll } from '../helpers/net.ts';
import { startProxy } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

async function healthz(port: number): Promise<string> {
  const socket = await dial({ port });
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  return (await readAll(socket)).toString();
}

/** Dials and counts the connections still open from this side. */
function tracker() {
  let open = 0;
  return {
    open: () => open,
    dial: async (port: number) => {
      const s = await dial({ port });
      open++;
      s.on('error', () => {});
      s.once('close', () => open--);
      return s;
    },
  };
}

test('over 256 admin connections, the oldest idle ones are closed and new requests are served', { timeout: 20_000 }, async (t) => {
  const lb = await startProxy(t);
  const port = lb.adminAddress.port;
  const idle: Socket[] = [];
  t.after(() => idle.forEach((s) => s.destroy()));
  const tracked = tracker();
  for (let i = 0; i < 300; i++) idle.push(await tracked.dial(port));
  // 44 over the cap: the 44 oldest went, in order.
  await until('the admin to hold 256', () => (tracked.open() === 256 ? true : undefined));
  assert.ok(idle.slice(0, 44).every((s) => s.destroyed || s.readableEnded), 'the oldest were closed');
  assert.match(await healthz(port), /^HTTP\/1\.1 200 /, 'a request over the cap is served');
  await until('the admin to hold 255 idle', () => (tracked.open() === 255 ? true : undefined));
});

test('requests in progress are never displaced: with 256 of them, a newcomer is the one closed', { timeout: 20_000 }, async (t) => {
  const lb = await startProxy(t);
  const port = lb.adminAddress.port;
  const busy: Socket[] = [];
  t.after(() => busy.forEach((s) => s.destroy()));
  // Headers complete, body still on its way: the request is being served (the 100 Continue says the server has it).
  const tracked = tracker();
  for (let i = 0; i < 256; i++) {
    const s = await tracked.dial(port);
    s.write(`POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: 28\r\n\r\n`);
    assert.match((await once(s, 'data'))[0].toString(), /^HTTP\/1\.1 100 Continue/);
    s.write('{"address":');
    busy.push(s);
  }
  assert.equal(await healthz(port), '', 'a connection over a cap of busy ones was served');
  assert.equal(tracked.open(), 256, 'no request in progress was cut');
  const first = busy.shift()!;
  first.write('"127.0.0.1:9001"}');
  const answer = (await readAll(first)).toString();
  assert.match(answer, /^HTTP\/1\.1 200 /);
  await closed(first);
  for (let i = 0; ; i++) {
    if ((await healthz(port)) !== '') break;
    assert.ok(i < 100, 'the admin API never served again');
  }
});

test('a connection whose pipelined second request is still in progress is not taken for idle', { timeout: 20_000 }, async (t) => {
  const lb = await startProxy(t);
  const port = lb.adminAddress.port;
  const others: Socket[] = [];
  t.after(() => others.forEach((s) => s.destroy()));
  // Oldest connection: a GET answered at once, then a registration whose body is still on its way.
  const pipelined = await dial({ port });
  t.after(() => pipelined.destroy());
  let answers = '';
  pipelined.on('data', (c: Buffer) => (answers += c));
  pipelined.write(
    'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' +
      'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 28\r\n\r\n{"address":',
  );
  await until('the first answer', () => (/^HTTP\/1\.1 200 /.test(answers) ? true : undefined));
  const tracked = tracker();
  for (let i = 0; i < 256; i++) others.push(await tracked.dial(port));
  // 257 open: the oldest idle one goes, which is the first of the others, not the busy pipelined one.
  await until('one idle connection closed', () => (tracked.open() === 255 ? true : undefined));
  assert.ok(others[0]!.destroyed || others[0]!.readableEnded, 'the oldest idle connection was the one closed');
  pipelined.end('"127.0.0.1:9001"}');
  await closed(pipelined);
  assert.match(answers.slice(answers.indexOf('HTTP/1.1', 10)), /^HTTP\/1\.1 200 /, 'the registration in progress was answered');
});
