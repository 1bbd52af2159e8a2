/**
 * Property-based tests of the admin API (issue 16): random methods, paths,
 * query strings, headers and bodies (JSON, near-valid JSON for the routes that
 * change things, and not JSON at all), sent as raw HTTP/1.1 so no client
 * library tidies them. Every answer is below 500 and, but for the dashboard's
 * files and /metrics, a JSend body whose `status` agrees with the code; an
 * answer of 4xx leaves the registry exactly as it was. Then raw bytes: the
 * process keeps answering.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import fc from 'fast-check';
import { adminClient } from '../helpers/admin-client.ts';
import { params } from '../helpers/fuzz.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';

/** A round trip per case: `npm run fuzz` (100,000 cases) needs far longer than CI's 1,000. */
const T = { timeout: 120_000 + Number(process.env.FUZZ_RUNS ?? 0) * 30 };

/**
 * Sends `bytes`, returns the raw answer (the server closes: every request says
 * Connection: close). No FIN from our side unless `fin` (for bytes that may
 * never make a whole request): node:http aborts a request whose client
 * half-closed before the answer was written.
 */
async function raw(port: number, bytes: Buffer, fin = false): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  if (fin) socket.end(bytes);
  else socket.write(bytes);
  await once(socket, 'close');
  // An `Expect: 100-continue` request gets an interim 100 first; the answer is what follows.
  return Buffer.concat(chunks).toString('latin1').replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n\r\n)+/, '');
}

const token = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&\'*+-.^_`|~'), minLength: 1, maxLength: 10 });
const method = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'TRACE', 'get') }, token);
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('backends', 'register', 'deregister', 'services', 'default') },
  fc.constantFrom('backends', 'register', 'deregister', 'reload', 'services', 'default', 'other', 'healthz', 'metrics', 'dashboard', '..', '.', '', '%2e%2e', '%00', 'x'.repeat(300)),
  fc.string({ unit: fc.constantFrom(...'abcdef0123456789%._~-'), maxLength: 14 }),
);

/** The routes that change things, as they are spelled (half the cases), or random segments. */
const ROUTE_SEGMENTS = [['register'], ['deregister'], ['backends', '@id'], ['services', 'default', 'register'], ['services', 'default', 'backends', '@id'], ['services', 'nope', 'deregister']];

function pathArb(ids: () => string[]) {
  const segs = fc.oneof(fc.constantFrom(...ROUTE_SEGMENTS), fc.array(fc.oneof(segment, fc.constant('@id')), { minLength: 1, maxLength: 4 }));
  return fc.tuple(segs, fc.option(fc.constantFrom('force=1', 'force=0', 'a=b&a=c', '=', '%zz'), { nil: undefined })).map(([segs, query]) => {
    const list = ids();
    const path = `/${segs.map((s, i) => (s === '@id' ? (list[i % Math.max(1, list.length)] ?? 'none') : s)).join('/')}`;
    return query === undefined ? path : `${path}?${query}`;
  });
}

const address = fc.oneof(
  fc.constantFrom('127.0.0.1:9001', '127.0.0.1:9002', '127.1:9003', '[::1]:9004', 'tcp://127.0.0.1:9005', 'http://127.0.0.1', 'localhost:0', ':80', '127.0.0.1:99999', ''),
  fc.string({ maxLength: 20 }),
  fc.integer(),
);
const body = fc.oneof(
  fc.record({ address, weight: fc.oneof(fc.integer({ min: -5, max: 1005 }), fc.string({ maxLength: 3 }), fc.constant(null)) }, { requiredKeys: [] }),
  fc.record({ weight: fc.integer({ min: -2, max: 1002 }), state: fc.constantFrom('active', 'draining', 'removing', 'up', '') }, { requiredKeys: [] }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 4 }),
).map((v) => JSON.stringify(v));
const notJson = fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('{', '{"address":', '[1,2', 'null', '{"a":1}{"b":2}', '\u0000', '{"__proto__":{"weight":5}}', `${'['.repeat(40)}${']'.repeat(40)}`));
const contentType = fc.option(fc.oneof({ weight: 4, arbitrary: fc.constant('application/json') }, fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'APPLICATION/JSON', 'application/jsonx')), { nil: undefined });
const extraHeaders = fc.array(
  fc.oneof(
    fc.constantFrom('Origin: http://evil.example', 'Origin: null', 'Host: evil.example', 'Expect: 100-continue', 'Upgrade: websocket', 'Content-Encoding: gzip'),
    fc.tuple(token, fc.string({ unit: fc.constantFrom(...'abc 123;=/,'), maxLength: 20 })).map(([k, v]) => `X-${k}: ${v}`),
  ),
  { maxLength: 3 },
);

interface Snapshot {
  readonly backends: string;
}

test('random requests: JSend 4xx (never 5xx, never silence), and a refused request changes nothing', T, async (t) => {
  const lb = await startProxy(t, { backends: [backendAt(9001), backendAt(9002, 3)] });
  const api = adminClient(lb.adminAddress);
  const port = lb.adminAddress.port;
  const snapshot = async (): Promise<Snapshot> => ({
    backends: JSON.stringify((await api.backends()).map((b) => [b.id, b.address, b.weight, b.state, b.origin])),
  });
  let ids: string[] = (await api.backends()).map((b) => b.id);
  const seen = new Map<number, number>();

  await fc.assert(
    fc.asyncProperty(method, pathArb(() => ids), contentType, fc.oneof(body, notJson, fc.constant(undefined)), extraHeaders, async (m, path, type, payload, extra) => {
      // The dashboard's event stream never ends by design; every other target answers and closes.
      if (path.split('?')[0] === '/events') return;
      const before = await snapshot();
      const bodyBytes = payload === undefined ? Buffer.alloc(0) : Buffer.from(payload);
      const headers = [`${m} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
      if (type !== undefined) headers.push(`Content-Type: ${type}`);
      headers.push(...extra);
      if (payload !== undefined) headers.push(`Content-Length: ${bodyBytes.length}`);
      const answer = await raw(port, Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), bodyBytes]));
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
      assert.ok(status >= 200 && status < 500, `${m} ${path}: ${JSON.stringify(answer.slice(0, 200))}`);
      seen.set(status, (seen.get(status) ?? 0) + 1);
      const split = answer.indexOf('\r\n\r\n');
      const head = answer.slice(0, split);
      const text = answer.slice(split + 4);
      const json = /\r\ncontent-type: application\/json/i.test(head);
      if (status >= 400 || (json && m !== 'HEAD')) {
        assert.ok(json, `${m} ${path} ${status} is not JSON: ${head}`);
        if (m !== 'HEAD') {
          const jsend = JSON.parse(text);
          assert.equal(jsend.status, status < 400 ? 'success' : 'fail', text);
          if (status >= 400) assert.equal(typeof jsend.data.title, 'string');
        }
      }
      const after = await snapshot();
      if (status >= 400) assert.equal(after.backends, before.backends, `${m} ${path} answered ${status} and changed the registry`);
      ids = (await api.backends()).map((b) => b.id);
    }),
    params(1000),
  );
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
  assert.ok([...seen.keys()].some((s) => s >= 400), 'some requests were refused');
  assert.equal((await api.get('/healthz')).status, 200);
});

test('random bytes on the admin port: an HTTP 4xx or a close, and the API keeps answering', T, async (t) => {
  const lb = await startProxy(t, { backends: [backendAt(9001)] });
  const api = adminClient(lb.adminAddress);
  const port = lb.adminAddress.port;
  const before = JSON.stringify(await api.backends());
  const prefix = fc.constantFrom('', 'GET / HTTP/1.1\r\n', 'POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n', 'GET /backends HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await fc.assert(
    fc.asyncProperty(prefix, fc.uint8Array({ maxLength: 300 }), async (p, bytes) => {
      const answer = await raw(port, Buffer.concat([Buffer.from(p, 'latin1'), bytes, Buffer.from('\r\n\r\n')]), true);
      if (answer === '') return;
      const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(answer)?.[1]);
      assert.ok(status >= 200 && status < 500, JSON.stringify(answer.slice(0, 200)));
    }),
    params(1000),
  );
  assert.equal(JSON.stringify(await api.backends()), before, 'raw bytes changed nothing');
  assert.equal((await api.get('/healthz')).status, 200);
});
