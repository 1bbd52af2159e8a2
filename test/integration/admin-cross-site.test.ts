/**
 * A web page in the operator's browser must not drive the admin API: bodies
 * need Content-Type: application/json (415), a foreign Origin is refused
 * (403), a Host that is not the admin's own is refused (421, DNS rebinding).
 * curl (no Origin, Host 127.0.0.1:P or localhost:P) keeps working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { adminClient } from '../helpers/admin-client.ts';
import { startCli } from '../helpers/cli.ts';
import { startProxy } from '../helpers/proxy.ts';

const T = { timeout: 20_000 };

/** One request over a raw socket, headers exactly as given (fetch would add or refuse some). */
async function raw(address: Pick<AddressInfo, 'port'>, head: string, headers: Record<string, string>, body = '', host = '127.0.0.1') {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const length = body === '' ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  const answer = await exchange(host, address.port, `${head} HTTP/1.1\r\n${lines}${length}Connection: close\r\n\r\n${body}`);
  const end = answer.indexOf('\r\n\r\n');
  return { status: Number(answer.slice(9, 12)), body: JSON.parse(answer.slice(end + 4)) };
}

/** Sends `bytes` to host:port and returns everything until the server closes. */
async function exchange(host: string, port: number, bytes: string): Promise<string> {
  const socket = connect(port, host);
  let out = '';
  socket.on('data', (c) => (out += c));
  socket.write(bytes);
  await once(socket, 'close');
  return out;
}

const REGISTER = JSON.stringify({ address: '127.0.0.1:9001' });

test('a body that is not declared application/json is a 415 and changes nothing', T, async (t) => {
  const lb = await startProxy(t);
  const host = `127.0.0.1:${lb.adminAddress.port}`;
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
    const res = await raw(lb.adminAddress, 'POST /register', { Host: host, ...(type === undefined ? {} : { 'Content-Type': type }) }, REGISTER);
    assert.equal(res.status, 415, String(type));
    assert.equal(res.body.status, 'fail');
    assert.match(res.body.data.title, /^body must be sent as Content-Type: application\/json/);
  }
  assert.equal(lb.registry.list().length, 0);
  for (const type of ['application/json', 'Application/JSON; charset=utf-8']) {
    assert.equal((await raw(lb.adminAddress, 'POST /register', { Host: host, 'Content-Type': type }, REGISTER)).status, 200, type);
  }
});

test('a request with a foreign Origin is a 403; its own origin and no Origin pass', T, async (t) => {
  const lb = await startProxy(t);
  const host = `127.0.0.1:${lb.adminAddress.port}`;
  const json = { Host: host, 'Content-Type': 'application/json' };
  for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${lb.adminAddress.port + 1}`, 'http://127.0.0.1']) {
    const res = await raw(lb.adminAddress, 'POST /register', { ...json, Origin: origin }, REGISTER);
    assert.equal(res.status, 403, origin);
    assert.equal(res.body.data.code, 'ERR_ORIGIN_NOT_ALLOWED');
    assert.equal((await raw(lb.adminAddress, 'GET /backends', { Host: host, Origin: origin })).status, 403, origin);
  }
  assert.equal(lb.registry.list().length, 0);
  assert.equal((await raw(lb.adminAddress, 'POST /register', { ...json, Origin: `http://${host}` }, REGISTER)).status, 200);
  assert.equal((await raw(lb.adminAddress, 'GET /backends', { Host: host })).status, 200);
});

test('a Host that is not the admin API own is a 421 (DNS rebinding); localhost and its address pass', T, async (t) => {
  const lb = await startProxy(t);
  const port = lb.adminAddress.port;
  for (const host of [`evil.example:${port}`, `127.0.0.2:${port}`, `[::1]:${port}`, 'localhost.evil.example', `127.0.0.1.nip.io:${port}`]) {
    const res = await raw(lb.adminAddress, 'GET /backends', { Host: host });
    assert.equal(res.status, 421, host);
    assert.equal(res.body.data.code, 'ERR_HOST_NOT_ALLOWED');
  }
  const absolute = await raw(lb.adminAddress, `GET http://evil.example:${port}/backends`, { Host: `127.0.0.1:${port}` });
  assert.equal(absolute.status, 421, 'the authority of an absolute-form target stands in for Host');
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST.:${port}`, '127.1', `[::ffff:127.0.0.1]:${port}`]) {
    assert.equal((await raw(lb.adminAddress, 'GET /backends', { Host: host })).status, 200, host);
  }
});

test('listening on 0.0.0.0, a Host naming the address dialled passes, another address does not', T, async (t) => {
  const lb = await startProxy(t, { admin: { host: '0.0.0.0', port: 0 } });
  const port = lb.adminAddress.port;
  assert.equal((await raw({ port }, 'GET /backends', { Host: `127.0.0.2:${port}` }, '', '127.0.0.2')).status, 200);
  assert.equal((await raw({ port }, 'GET /backends', { Host: `127.0.0.1:${port}` }, '', '127.0.0.1')).status, 200);
  assert.equal((await raw({ port }, 'GET /backends', { Host: `10.9.8.7:${port}` }, '', '127.0.0.1')).status, 421);
});

test('curl as the README shows it works; --admin-allowed-host lets another name in', T, async (t) => {
  const cli = await startCli(t, ['--health-interval', '0', '--log-level', 'silent', '--admin-allowed-host', 'Admin.Internal.', '--admin-allowed-host', '[::1]']);
  const curl = async (...args: string[]) => (await promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}', ...args])).stdout.split('\n').pop();
  assert.equal(await curl('--json', REGISTER, `localhost:${cli.adminPort}/register`), '200');
  assert.equal(await curl(`127.0.0.1:${cli.adminPort}/backends`), '200');
  assert.equal(await curl('-XPOST', '-d', REGISTER, `localhost:${cli.adminPort}/register`), '415');
  assert.equal(await curl('-H', 'Host: admin.internal', `127.0.0.1:${cli.adminPort}/backends`), '200');
  assert.equal(await curl('-H', `Host: [::1]:${cli.adminPort}`, `127.0.0.1:${cli.adminPort}/backends`), '200');
  assert.equal(await curl('-H', 'Host: other.internal', `127.0.0.1:${cli.adminPort}/backends`), '421');
  const res = await adminClient({ port: cli.adminPort } as AddressInfo).backends();
  assert.deepEqual(res.map((b) => b.address), ['127.0.0.1:9001']);
});
