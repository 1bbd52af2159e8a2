/**
 * The admin API over real HTTP: every endpoint and status code, the registry
 * untouched by every bad request, concurrency, drain and delete against live
 * connections through the proxy.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { AdminServer } from '../../src/admin/server.ts';
import { backendId } from '../../src/backends/backend.ts';
import { pino } from 'pino';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { adminClient, rawAdminRequest, type AdminClient } from '../helpers/admin-client.ts';
import { closed, dial, httpGet, readBytes } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';
import { backendAt, startProxy, type ProxyOverrides } from '../helpers/proxy.ts';
import type { Fulcrum } from '../../src/fulcrum.ts';

/** Every test awaits events; a broken one fails here instead of hanging the run. */
const T = { timeout: 15_000 };

async function demo(t: TestContext, name: string): Promise<DemoBackend> {
  const b = await startDemoBackend(name);
  t.after(() => b.close());
  return b;
}

async function setup(t: TestContext, overrides: ProxyOverrides = {}): Promise<{ lb: Fulcrum; api: AdminClient }> {
  const lb = await startProxy(t, overrides);
  return { lb, api: adminClient(lb.adminAddress, overrides.adminToken) };
}

/** Opens a raw TCP connection through the proxy and checks it echoes; returns it with the backend it reached. */
async function openEcho(lb: Fulcrum, t: TestContext) {
  const before = new Map(lb.registry.list().map((b) => [b, b.active]));
  const socket = await dial({ port: lb.proxyAddress.port });
  t.after(() => socket.destroy());
  socket.write('ping-1');
  assert.equal((await readBytes(socket, 6)).toString(), 'ping-1');
  const reached = lb.registry.list().filter((b) => b.active === (before.get(b) ?? 0) + 1);
  assert.equal(reached.length, 1);
  return { socket, backend: reached[0]! };
}

async function echoes(socket: Socket, text: string): Promise<void> {
  socket.write(text);
  assert.equal((await readBytes(socket, Buffer.byteLength(text))).toString(), text);
}

test('POST /register: 200 with the backend; GET /backends and /backends/:id show it', T, async (t) => {
  const { lb, api } = await setup(t);
  const res = await api.post('/register', { address: '127.0.0.1:9001', weight: 5 });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  const id = backendId('127.0.0.1:9001');
  const since = res.body.data.backend.healthDetail.since;
  assert.ok(Math.abs(Date.parse(since) - Date.now()) < 5000, 'healthy since it was registered');
  const expected = {
    id, address: '127.0.0.1:9001', weight: 5, state: 'active', health: 'up',
    activeConnections: 0, totalConnections: 0, failedConnections: 0, bytesIn: 0, bytesOut: 0, lastCheck: null, origin: 'api', maxConnections: 0, proxyProtocol: 'none',
    effectiveWeight: 5, backup: false,
    healthDetail: { activeCheck: null, failedActiveCheck: false, ejectedUntil: null, admin: 'active', reason: null, since, ejections: 0, lastCheck: null, lastCheckDurationMs: null },
  };
  assert.deepEqual(res.body, { status: 'success', data: { backend: expected, created: true } });
  assert.deepEqual((await api.get('/backends')).body, { status: 'success', data: { backends: [expected] } });
  assert.deepEqual((await api.get(`/backends/${id}`)).body, { status: 'success', data: { backend: expected } });
  assert.equal(lb.registry.getByKey('127.0.0.1:9001')?.weight, 5);
});

test('POST /register: weight defaults to 1', T, async (t) => {
  const { api } = await setup(t);
  const res = await api.post('/register', { address: '127.0.0.1:9001' });
  assert.equal(res.status, 200);
  assert.equal(res.body.data.backend.weight, 1);
});

const ADDRESS_FORMS: { address: string; key: string }[] = [
  { address: '127.0.0.1:9001', key: '127.0.0.1:9001' },
  { address: '[::1]:9002', key: '[::1]:9002' },
  { address: 'tcp://127.0.0.1:9003', key: '127.0.0.1:9003' },
  { address: 'http://127.0.0.1:9004', key: '127.0.0.1:9004' },
  { address: 'http://127.0.0.1', key: '127.0.0.1:80' },
  { address: 'http://backend.internal/', key: 'backend.internal:80' },
  { address: 'localhost:9005', key: 'localhost:9005' },
];

test('POST /register: every address form', T, async (t) => {
  const { api } = await setup(t);
  for (const { address, key } of ADDRESS_FORMS) {
    const res = await api.post('/register', { address });
    assert.equal(res.status, 200, `${address}: ${res.text}`);
    assert.equal(res.body.data.backend.address, key, address);
    assert.equal(res.body.data.backend.id, backendId(key));
  }
  assert.deepEqual((await api.backends()).map((b) => b.address), ADDRESS_FORMS.map((f) => f.key));
});

test('POST /register of an existing address updates its weight (200, created false); without weight it keeps it', T, async (t) => {
  const { lb, api } = await setup(t);
  await api.post('/register', { address: '127.0.0.1:9001', weight: 2 });
  lb.registry.flush(); // rebuilds within a few ms of each other are coalesced (registry.ts): count them settled
  const version = lb.registry.set.version;
  const res = await api.post('/register', { address: 'tcp://127.0.0.1:9001', weight: 7 });
  assert.equal(res.status, 200);
  assert.equal(res.body.data.created, false);
  assert.equal(res.body.data.backend.weight, 7);
  lb.registry.flush();
  assert.equal(lb.registry.set.version, version + 1, 'one rebuild for the weight change');
  const again = await api.post('/register', { address: '127.0.0.1:9001' });
  assert.equal(again.status, 200);
  assert.equal(again.body.data.backend.weight, 7);
  lb.registry.flush();
  assert.equal(lb.registry.set.version, version + 1, 'no rebuild when nothing changed');
  assert.equal((await api.backends()).length, 1);
});

interface BadCase {
  name: string;
  method: string;
  path: string | ((id: string) => string);
  body?: unknown;
  status: number;
  title: RegExp;
  allow?: string;
}

const BAD: BadCase[] = [
  { name: 'register without a body', method: 'POST', path: '/register', status: 400, title: /^body is missing/ },
  { name: 'register with invalid JSON', method: 'POST', path: '/register', body: '{"address": "127.0.0.1:9001",', status: 400, title: /^body is not valid JSON/ },
  { name: 'register with invalid UTF-8', method: 'POST', path: '/register', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), status: 400, title: /^body is not valid UTF-8/ },
  { name: 'register with an array', method: 'POST', path: '/register', body: [{ address: '127.0.0.1:9009' }], status: 400, title: /^body must be a JSON object/ },
  { name: 'register with null', method: 'POST', path: '/register', body: 'null', status: 400, title: /^body must be a JSON object/ },
  { name: 'register with a string', method: 'POST', path: '/register', body: '"127.0.0.1:9009"', status: 400, title: /^body must be a JSON object/ },
  { name: 'register without address', method: 'POST', path: '/register', body: { weight: 3 }, status: 400, title: /^address: is required/ },
  { name: 'register with a numeric address', method: 'POST', path: '/register', body: { address: 9009 }, status: 400, title: /^address: must be a string/ },
  { name: 'register with no port', method: 'POST', path: '/register', body: { address: '127.0.0.1' }, status: 400, title: /^address: "127\.0\.0\.1" has no port/ },
  { name: 'register with port out of range', method: 'POST', path: '/register', body: { address: '127.0.0.1:70000' }, status: 400, title: /^address: port 70000 is out of range/ },
  { name: 'register with port 0', method: 'POST', path: '/register', body: { address: '127.0.0.1:0' }, status: 400, title: /^address: "127\.0\.0\.1:0" has port 0/ },
  { name: 'register with a bare IPv6', method: 'POST', path: '/register', body: { address: '::1:80' }, status: 400, title: /^address: "::1:80" looks like a bare IPv6 address/ },
  { name: 'register with another scheme', method: 'POST', path: '/register', body: { address: 'ftp://127.0.0.1:21' }, status: 400, title: /^address: .*unsupported scheme "ftp"/ },
  { name: 'register with a bad host', method: 'POST', path: '/register', body: { address: 'bad_host!:80' }, status: 400, title: /^address: .*invalid host/ },
  { name: 'register with a huge address', method: 'POST', path: '/register', body: { address: `${'a'.repeat(600)}:80` }, status: 400, title: /^address: is longer than 512 characters/ },
  { name: 'register with weight 0', method: 'POST', path: '/register', body: { address: '127.0.0.1:9009', weight: 0 }, status: 400, title: /^weight: .*invalid \(use an integer 1-1000\)/ },
  { name: 'register with weight 1001', method: 'POST', path: '/register', body: { address: '127.0.0.1:9009', weight: 1001 }, status: 400, title: /^weight: .*1001 is invalid/ },
  { name: 'register with weight 1.5', method: 'POST', path: '/register', body: { address: '127.0.0.1:9009', weight: 1.5 }, status: 400, title: /^weight: .*1\.5 is invalid/ },
  { name: 'register with weight "5"', method: 'POST', path: '/register', body: { address: '127.0.0.1:9009', weight: '5' }, status: 400, title: /^weight: "5" is invalid/ },
  { name: 'register with weight null', method: 'POST', path: '/register', body: { address: '127.0.0.1:9009', weight: null }, status: 400, title: /^weight: null is invalid/ },
  { name: 'register with an unknown field', method: 'POST', path: '/register', body: { address: '127.0.0.1:9009', weight: 2, region: 'eu' }, status: 403, title: /^unknown field "region" \(allowed: address, weight, maxConnections, backup, slowStart, proxyProtocol\)/ },
  { name: 'register with an unknown field and a bad value', method: 'POST', path: '/register', body: { address: 'x', wieght: 2 }, status: 403, title: /^unknown field "wieght"/ },
  { name: 'register with a body over 64 KiB', method: 'POST', path: '/register', body: JSON.stringify({ address: '127.0.0.1:9009', pad: 'x'.repeat(70 * 1024) }), status: 413, title: /^body is larger than 65536 bytes/ },
  { name: 'register with GET', method: 'GET', path: '/register', status: 405, title: /^GET is not allowed on \/register/, allow: 'POST' },
  { name: 'backends with PUT', method: 'PUT', path: '/backends', body: {}, status: 405, title: /^PUT is not allowed/, allow: 'GET' },
  { name: 'backends with DELETE', method: 'DELETE', path: '/backends', status: 405, title: /^DELETE is not allowed/, allow: 'GET' },
  { name: 'a backend with POST', method: 'POST', path: (id) => `/backends/${id}`, body: {}, status: 405, title: /^POST is not allowed/, allow: 'GET, PATCH, DELETE' },
  { name: 'healthz with POST', method: 'POST', path: '/healthz', status: 405, title: /^POST is not allowed/, allow: 'GET' },
  { name: 'an unknown path', method: 'GET', path: '/nope', status: 404, title: /^no such endpoint: \/nope/ },
  { name: 'a trailing slash', method: 'GET', path: '/backends/', status: 404, title: /^no such endpoint/ },
  { name: 'the root (the dashboard) with POST', method: 'POST', path: '/', body: {}, status: 405, title: /^POST is not allowed on \// , allow: 'GET' },
  { name: 'an unknown backend', method: 'GET', path: '/backends/0123456789', status: 404, title: /^no backend with id "0123456789"/ },
  { name: 'patch of an unknown backend', method: 'PATCH', path: '/backends/0123456789', body: { weight: 2 }, status: 404, title: /^no backend with id/ },
  { name: 'delete of an unknown backend', method: 'DELETE', path: '/backends/0123456789', status: 404, title: /^no backend with id/ },
  { name: 'deregister of an unknown address', method: 'POST', path: '/deregister', body: { address: '127.0.0.1:9999' }, status: 404, title: /^no backend registered at 127\.0\.0\.1:9999/ },
  { name: 'deregister without address', method: 'POST', path: '/deregister', body: {}, status: 400, title: /^address: is required/ },
  { name: 'deregister with an unknown field', method: 'POST', path: '/deregister', body: { address: '127.0.0.1:9001', weight: 1 }, status: 403, title: /^unknown field "weight" \(allowed: address\)/ },
  { name: 'patch with nothing', method: 'PATCH', path: (id) => `/backends/${id}`, body: {}, status: 400, title: /^nothing to change/ },
  { name: 'patch with weight 0', method: 'PATCH', path: (id) => `/backends/${id}`, body: { weight: 0 }, status: 400, title: /^weight: / },
  { name: 'patch with an unknown state', method: 'PATCH', path: (id) => `/backends/${id}`, body: { state: 'paused' }, status: 400, title: /^state: "paused" is invalid \(use "active" or "draining"\)/ },
  { name: 'patch with a good weight and a bad state', method: 'PATCH', path: (id) => `/backends/${id}`, body: { weight: 9, state: 'off' }, status: 400, title: /^state: / },
  { name: 'patch with an unknown field', method: 'PATCH', path: (id) => `/backends/${id}`, body: { weight: 9, health: 'up' }, status: 403, title: /^unknown field "health" \(allowed: weight, state\)/ },
  { name: 'patch with invalid JSON', method: 'PATCH', path: (id) => `/backends/${id}`, body: '{weight: 2}', status: 400, title: /^body is not valid JSON/ },
  { name: 'delete with a bad force', method: 'DELETE', path: (id) => `/backends/${id}?force=maybe`, status: 400, title: /^force: "maybe" is invalid/ },
  { name: 'deregister with a bad force', method: 'POST', path: '/deregister?force=yes', body: { address: '127.0.0.1:9001' }, status: 400, title: /^force: "yes" is invalid/ },
];

test('bad requests get the right status and a JSend fail body, and leave the registry unchanged', T, async (t) => {
  const { lb, api } = await setup(t);
  await api.post('/register', { address: '127.0.0.1:9001', weight: 3 });
  await api.post('/register', { address: '127.0.0.1:9002', weight: 4 });
  const id = backendId('127.0.0.1:9001');
  const before = await api.backends();
  lb.registry.flush(); // the two registrations' rebuild may still be owed (coalesced): settle it before counting
  const version = lb.registry.set.version;
  for (const c of BAD) {
    const path = typeof c.path === 'function' ? c.path(id) : c.path;
    const res = await api.request(c.method, path, c.body === undefined ? {} : { body: c.body });
    assert.equal(res.status, c.status, `${c.name}: ${res.text}`);
    assert.equal(res.body.status, 'fail', c.name);
    assert.match(res.body.data.title, c.title, c.name);
    assert.equal(typeof res.body.data.code, 'string', c.name);
    if (c.allow !== undefined) assert.equal(res.headers.get('allow'), c.allow, c.name);
    assert.deepEqual(await api.backends(), before, `registry changed by: ${c.name}`);
  }
  assert.equal(lb.registry.set.version, version);
  assert.equal(lb.registry.list().every((b) => b.state === 'active'), true);
});

test('a body over 64 KiB without Content-Length (chunked) is refused with 413 too', T, async (t) => {
  const { api } = await setup(t);
  const before = await api.backends();
  const big = JSON.stringify({ address: '127.0.0.1:9009', pad: 'y'.repeat(100 * 1024) });
  const stream = new ReadableStream({
    start(controller) {
      for (let i = 0; i < big.length; i += 8192) controller.enqueue(new TextEncoder().encode(big.slice(i, i + 8192)));
      controller.close();
    },
  });
  const res = await fetch(`${api.base}/register`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
  assert.equal(res.status, 413);
  assert.equal(((await res.json()) as any).status, 'fail');
  assert.deepEqual(await api.backends(), before);
});

test('malformed HTTP gets a JSend 400 and the server goes on', T, async (t) => {
  const { lb, api } = await setup(t);
  const answer = await rawAdminRequest(lb.adminAddress, 'THIS IS NOT HTTP\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  assert.equal(body.status, 'fail');
  assert.equal((await api.get('/healthz')).status, 200);
});

test('a client that hangs up mid-body changes nothing and the server goes on', T, async (t) => {
  const { lb, api } = await setup(t);
  const before = await api.backends();
  for (let i = 0; i < 5; i++) {
    const socket = await dial({ port: lb.adminAddress.port });
    socket.write('POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"address": "127.0.0.1:9009"');
    await new Promise((r) => setTimeout(r, 10)); // let the server start reading the body
    socket.destroy();
  }
  for (let i = 0; i < 5; i++) {
    const socket = await dial({ port: lb.adminAddress.port });
    socket.on('error', () => {});
    socket.write('POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"address"');
    socket.resetAndDestroy();
  }
  assert.deepEqual(await api.backends(), before);
  assert.equal((await api.get('/healthz')).status, 200);
});

test('oversized headers get a JSend 431', T, async (t) => {
  const { lb } = await setup(t);
  const answer = await rawAdminRequest(lb.adminAddress, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'z'.repeat(20_000)}\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 431 /);
  assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).status, 'fail');
});

test('GET /healthz: 200 while running', T, async (t) => {
  const { api } = await setup(t, { backends: [backendAt(9001), backendAt(9002)] });
  const res = await api.get('/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: 'success', data: { status: 'ok', services: 1, backends: 2, ready: 2 } });
});

test('admin token: 401 with WWW-Authenticate without it or with a wrong one; /healthz stays open', T, async (t) => {
  const token = 's3cret-token';
  const { lb } = await setup(t, { adminToken: token });
  const anon = adminClient(lb.adminAddress);
  const wrong = adminClient(lb.adminAddress, 'not-the-token');
  const right = adminClient(lb.adminAddress, token);
  for (const [client, path, method, body] of [
    [anon, '/backends', 'GET', undefined],
    [anon, '/metrics', 'GET', undefined],
    [anon, '/register', 'POST', { address: '127.0.0.1:9001' }],
    [wrong, '/register', 'POST', { address: '127.0.0.1:9001' }],
    [wrong, '/backends', 'GET', undefined],
    [anon, '/nope', 'GET', undefined],
    [anon, '/healthz', 'POST', undefined],
  ] as const) {
    const res = await client.request(method, path, body === undefined ? {} : { body });
    assert.equal(res.status, 401, `${method} ${path}`);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(res.body.status, 'fail');
  }
  for (const authorization of [`Basic ${token}`, `Bearer`, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token]) {
    const res = await anon.request('GET', '/backends', { headers: { authorization } });
    assert.equal(res.status, 401, authorization);
  }
  assert.equal(lb.registry.list().length, 0);
  assert.equal((await anon.get('/healthz')).status, 200);
  assert.equal((await right.get('/backends')).status, 200);
  assert.equal((await right.request('GET', '/backends', { headers: { authorization: `bearer ${token}` } })).status, 200, 'scheme is case-insensitive');
  assert.equal((await right.post('/register', { address: '127.0.0.1:9001' })).status, 200);
  assert.equal((await right.get('/metrics')).status, 200);
});

test('100 concurrent registrations end in a consistent registry', T, async (t) => {
  const { lb, api } = await setup(t);
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => api.post('/register', { address: `127.0.0.1:${20000 + i}`, weight: 1 + (i % 10) })));
  assert.deepEqual(results.map((r) => r.status), Array(100).fill(200));
  const list = await api.backends();
  assert.equal(list.length, 100);
  assert.equal(new Set(list.map((b) => b.id)).size, 100);
  for (let i = 0; i < 100; i++) {
    const b = list.find((x) => x.address === `127.0.0.1:${20000 + i}`);
    assert.ok(b, `missing ${20000 + i}`);
    assert.equal(b.weight, 1 + (i % 10));
  }
  assert.equal(lb.registry.list().length, 100);
  // The picker's snapshot trails a burst by at most one coalescing gap (registry.ts); settled, it holds them all.
  lb.registry.flush();
  assert.equal(lb.registry.set.backends.length, 100);
  assert.equal(lb.registry.readyCount, 100);
});

test('100 concurrent registrations of one address make one backend, created once', T, async (t) => {
  const { lb, api } = await setup(t);
  const results = await Promise.all(Array.from({ length: 100 }, () => api.post('/register', { address: '127.0.0.1:9001', weight: 3 })));
  assert.deepEqual(results.map((r) => r.status), Array(100).fill(200));
  assert.equal(results.filter((r) => r.body.data.created).length, 1);
  assert.equal(lb.registry.list().length, 1);
  assert.equal(lb.registry.readyCount, 1);
});

test('PATCH weight and state', T, async (t) => {
  const { lb, api } = await setup(t);
  await api.post('/register', { address: '127.0.0.1:9001' });
  const id = backendId('127.0.0.1:9001');
  const w = await api.patch(`/backends/${id}`, { weight: 42 });
  assert.equal(w.status, 200);
  assert.equal(w.body.data.backend.weight, 42);
  const s = await api.patch(`/backends/${id}`, { state: 'draining' });
  assert.equal(s.status, 200);
  assert.equal(s.body.data.backend.state, 'draining');
  assert.equal(lb.registry.readyCount, 0);
  const both = await api.patch(`/backends/${id}`, { weight: 7, state: 'active' });
  assert.deepEqual([both.body.data.backend.weight, both.body.data.backend.state], [7, 'active']);
  assert.equal(lb.registry.readyCount, 1);
});

test('drain: an open connection keeps working, new ones go elsewhere', T, async (t) => {
  const a = await demo(t, 'a');
  const b = await demo(t, 'b');
  const { lb, api } = await setup(t, { backends: [backendAt(a.address.port), backendAt(b.address.port)] });
  const { socket, backend } = await openEcho(lb, t);
  const other = backend.port === a.address.port ? 'b' : 'a';
  const res = await api.patch(`/backends/${backend.id}`, { state: 'draining' });
  assert.equal(res.status, 200);
  assert.equal(res.body.data.backend.state, 'draining');
  assert.equal(res.body.data.backend.activeConnections, 1);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push((await httpGet(lb.proxyAddress.port)).trim());
  assert.deepEqual(answers, Array(4).fill(`hello from ${other}`));
  await echoes(socket, 'still here after the drain');
  assert.equal(backend.active, 1);
  // Back to active: it takes new connections again.
  await api.patch(`/backends/${backend.id}`, { state: 'active' });
  const after = [];
  for (let i = 0; i < 4; i++) after.push((await httpGet(lb.proxyAddress.port)).trim());
  assert.deepEqual(after.sort(), ['hello from a', 'hello from a', 'hello from b', 'hello from b']);
});

test('DELETE without force: 200 with the open connections; they keep working, new ones go elsewhere', T, async (t) => {
  const a = await demo(t, 'a');
  const b = await demo(t, 'b');
  const { lb, api } = await setup(t, { backends: [backendAt(a.address.port), backendAt(b.address.port)] });
  const { socket, backend } = await openEcho(lb, t);
  const other = backend.port === a.address.port ? 'b' : 'a';
  const res = await api.delete(`/backends/${backend.id}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.data.openConnections, 1);
  assert.equal(res.body.data.backend.id, backend.id);
  assert.equal(res.body.data.closedConnections, undefined);
  // Still listed, as `removing`, while its connection is open.
  const removing = await api.get(`/backends/${backend.id}`);
  assert.equal(removing.status, 200);
  assert.equal(removing.body.data.backend.state, 'removing');
  assert.equal(removing.body.data.backend.activeConnections, 1);
  assert.deepEqual((await api.backends()).map((x) => x.id), [...lb.registry.list().map((x) => x.id), backend.id]);
  assert.equal(lb.registry.list().length, 1);
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(lb.proxyAddress.port)).trim(), `hello from ${other}`);
  await echoes(socket, 'the old connection still works');
  const gone = closed(socket);
  socket.end();
  await gone;
  await until('the removed backend drops off the list', async () => ((await api.get(`/backends/${backend.id}`)).status === 404 ? true : undefined));
  assert.deepEqual((await api.backends()).map((x) => x.id), lb.registry.list().map((x) => x.id));
  assert.equal((await api.delete(`/backends/${backend.id}`)).status, 404, 'a second delete finds nothing');
});

test('DELETE with ?force=1 closes its connections now and reports 0 still open', T, async (t) => {
  const a = await demo(t, 'a');
  const b = await demo(t, 'b');
  const { lb, api } = await setup(t, { backends: [backendAt(a.address.port), backendAt(b.address.port)] });
  const { socket, backend } = await openEcho(lb, t);
  const gone = closed(socket);
  const res = await api.delete(`/backends/${backend.id}?force=1`);
  assert.equal(res.status, 200);
  assert.equal(res.body.data.openConnections, 0);
  assert.equal(res.body.data.closedConnections, 1);
  await gone;
  assert.equal(lb.registry.list().length, 1);
  const other = backend.port === a.address.port ? 'b' : 'a';
  assert.equal((await httpGet(lb.proxyAddress.port)).trim(), `hello from ${other}`);
});

test('POST /deregister by address (any spelling), with and without force', T, async (t) => {
  const a = await demo(t, 'a');
  const { lb, api } = await setup(t, { backends: [backendAt(a.address.port), backendAt(9001)] });
  const res = await api.post('/deregister', { address: `tcp://127.0.0.1:9001` });
  assert.equal(res.status, 200);
  assert.deepEqual([res.body.data.backend.address, res.body.data.openConnections], ['127.0.0.1:9001', 0]);
  const { socket } = await openEcho(lb, t);
  const gone = closed(socket);
  const forced = await api.post('/deregister?force=1', { address: `127.0.0.1:${a.address.port}` });
  assert.equal(forced.status, 200);
  assert.deepEqual([forced.body.data.openConnections, forced.body.data.closedConnections], [0, 1]);
  await gone;
  assert.equal(lb.registry.list().length, 0);
  assert.equal((await api.post('/deregister', { address: '127.0.0.1:9001' })).status, 404);
});

test('a registered backend is probed at once and takes traffic as soon as a probe passes', T, async (t) => {
  const a = await demo(t, 'a');
  // A 10s interval: only the immediate probe of a new backend can make it ready within this test.
  const { lb, api } = await setup(t, { health: { intervalMs: 10_000, timeoutMs: 500 } });
  const up = once(lb.registry, 'state');
  const res = await api.post('/register', { address: `127.0.0.1:${a.address.port}` });
  assert.equal(res.status, 200);
  assert.equal(res.body.data.backend.health, 'unknown');
  const [backend] = await up;
  assert.equal(backend.health, 'up');
  assert.equal((await httpGet(lb.proxyAddress.port)).trim(), 'hello from a');
  const after = await api.get(`/backends/${backend.id}`);
  assert.equal(after.body.data.backend.health, 'up');
  assert.equal(typeof after.body.data.backend.lastCheck, 'string');
});

test('a server-side exception is a 500 JSend error, logged, and the server goes on', T, async (t) => {
  const lines: any[] = [];
  const log = pino({ level: 'error' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const { lb } = await setup(t);
  const server = new AdminServer({
    api: lb,
    log,
    token: undefined,
    routes: [
      { path: '/boom', methods: { GET: () => { throw new TypeError('kaboom'); } } },
      { path: '/ok', methods: { GET: () => ({ status: 200, json: { status: 'success', data: 1 } }) } },
    ],
  });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => server.destroy());
  const client = adminClient(address);
  const res = await client.get('/boom');
  assert.equal(res.status, 500);
  assert.deepEqual(res.body, { status: 'error', message: 'internal error; see the balancer log' });
  assert.equal(lines.length, 1);
  assert.equal(lines[0].msg, 'admin request failed');
  assert.equal(lines[0].err.message, 'kaboom');
  assert.equal((await client.get('/ok')).status, 200);
});
