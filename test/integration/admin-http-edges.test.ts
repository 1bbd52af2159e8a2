/**
 * HTTP at the edges of what the admin API serves: CONNECT, HEAD, absolute-form
 * targets, asterisk-form, Upgrade. Every request gets a JSend answer (HEAD:
 * its headers), on raw sockets so nothing in a client library smooths it over.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, rawAdminRequest } from '../helpers/admin-client.ts';
import { startProxy } from '../helpers/proxy.ts';

const T = { timeout: 15_000 };

function split(answer: string): { status: number; headers: string; body: string } {
  const end = answer.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no HTTP answer: ${JSON.stringify(answer.slice(0, 80))}`);
  return { status: Number(answer.slice(9, 12)), headers: answer.slice(0, end), body: answer.slice(end + 4) };
}

async function setup(t: TestContext) {
  const lb = await startProxy(t, { backends: [{ host: '127.0.0.1', port: 9001, weight: 1 }] });
  const port = lb.adminAddress.port;
  const ask = async (head: string) => split(await rawAdminRequest(lb.adminAddress, `${head}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
  const list = (await adminClient(lb.adminAddress).get('/backends')).text;
  return { port, ask, list };
}

test('CONNECT gets a JSend 405, not silence', T, async (t) => {
  const { port, ask } = await setup(t);
  const connect = await ask(`CONNECT 127.0.0.1:${port} HTTP/1.1`);
  assert.equal(connect.status, 405);
  assert.equal(JSON.parse(connect.body).status, 'fail');
  assert.match(JSON.parse(connect.body).data.title, /^CONNECT is not allowed/);
});

test('an absolute-form target routes by its path', T, async (t) => {
  const { port, ask, list } = await setup(t);
  const absolute = await ask(`GET http://127.0.0.1:${port}/backends HTTP/1.1`);
  assert.equal(absolute.status, 200);
  assert.equal(absolute.body, list);
  const absoluteQuery = await ask(`DELETE http://localhost:${port}/backends/0123456789?force=1 HTTP/1.1`);
  assert.equal(absoluteQuery.status, 404);
  assert.match(JSON.parse(absoluteQuery.body).data.title, /^no backend with id "0123456789"/);
});

test('HEAD answers as GET without the body', T, async (t) => {
  const { ask, list } = await setup(t);
  for (const path of ['/backends', '/healthz', '/metrics']) {
    const head = await ask(`HEAD ${path} HTTP/1.1`);
    assert.equal(head.status, 200, path);
    assert.equal(head.body, '', `HEAD ${path} sent a body`);
    assert.match(head.headers, /\r\ncontent-length: [1-9]\d*/i);
  }
  const headList = await ask('HEAD /backends HTTP/1.1');
  assert.match(headList.headers, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(list)}\\r\\n`, 'i'));
  assert.match(headList.headers, /\r\ncontent-type: application\/json/i);
  assert.equal((await ask('HEAD /register HTTP/1.1')).status, 405);
});

test('asterisk-form, OPTIONS and Upgrade get JSend answers too', T, async (t) => {
  const { ask } = await setup(t);
  const star = await ask('OPTIONS * HTTP/1.1');
  assert.equal(star.status, 404);
  assert.equal(JSON.parse(star.body).status, 'fail');
  const options = await ask('OPTIONS /backends HTTP/1.1');
  assert.equal(options.status, 405);
  assert.equal(JSON.parse(options.body).status, 'fail');
  const upgrade = await ask('GET /healthz HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13');
  assert.equal(upgrade.status, 200);
  assert.equal(JSON.parse(upgrade.body).status, 'success');
});
