/**
 * The dashboard's routes over HTTP, without a browser: the page and its
 * files with their types, policy and caching; nothing else reachable under
 * them; the token needed for the stream and not for the files; the stream's
 * first snapshot listing every service; events as they happen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { makeService } from '../../src/config/config.ts';
import { rawAdminRequest } from '../helpers/admin-client.ts';
import { startProxy, backendAt } from '../helpers/proxy.ts';

const T = { timeout: 20_000 };
const loopback = { host: '127.0.0.1', port: 0 };

/** Reads an event stream until `done(text)` says so; resolves with what came. */
function readStream(port: number, headers: Record<string, string>, done: (text: string) => boolean): Promise<{ status: number; text: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/events', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      const finish = () => {
        req.destroy();
        resolve({ status: res.statusCode!, text, type: res.headers['content-type'] });
      };
      if (res.statusCode !== 200) return res.on('data', (c: string) => (text += c)).on('end', finish);
      res.on('data', (c: string) => {
        text += c;
        if (done(text)) finish();
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('the page and its files: types, CSP, ETag and 304; nothing else under /dashboard/', T, async (t) => {
  const lb = await startProxy(t, { services: [makeService({ name: 'web', listen: loopback, backends: [backendAt(9)], health: { intervalMs: 0 } })] });
  const base = `http://127.0.0.1:${lb.adminAddress.port}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = page.headers.get('content-security-policy') ?? '';
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) assert.ok(csp.includes(d), d);
  assert.ok(!csp.includes('unsafe-inline'));
  assert.match(await page.text(), /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
  for (const [path, type] of [['/dashboard/app.js', 'text/javascript'], ['/dashboard/style.css', 'text/css'], ['/dashboard/vendor/uPlot.esm.js', 'text/javascript'], ['/dashboard/vendor/uPlot.min.css', 'text/css']]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), `${type}; charset=utf-8`, path);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const again = await fetch(base + path, { headers: { 'if-none-match': res.headers.get('etag')! } });
    assert.equal(again.status, 304, path);
  }
  // Raw targets, so that nothing normalises the dots away on the way.
  for (const path of ['/dashboard/../admin/server.ts', '/dashboard/..%2fserver.ts', '/dashboard/%2e%2e%2fserver.ts', '/dashboard/vendor/package.json', '/dashboard/vendor/uPlot.cjs.js', '/dashboard/dashboard.ts', '/dashboard/', '/dashboard/.hidden.js', '/index.html']) {
    const answer = await rawAdminRequest(lb.adminAddress, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 404 /, path);
  }
});

test('with a token: the files are served without it, the stream and the API are not', T, async (t) => {
  const lb = await startProxy(t, { adminToken: 'tok', services: [makeService({ name: 'web', listen: loopback, health: { intervalMs: 0 } })] }, {});
  const port = lb.adminAddress.port;
  assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${port}/dashboard/app.js`)).status, 200);
  assert.equal((await readStream(port, {}, () => true)).status, 401);
  assert.equal((await readStream(port, { authorization: 'Bearer nope' }, () => true)).status, 401);
  const ok = await readStream(port, { authorization: 'Bearer tok' }, (text) => text.includes('event: snapshot'));
  assert.equal(ok.status, 200);
  assert.equal(ok.type, 'text/event-stream; charset=utf-8');
});

test('the stream: a snapshot of every service at once, then events as they happen', T, async (t) => {
  const lb = await startProxy(t, {
    services: [
      makeService({ name: 'web', listen: loopback, algo: 'round-robin', backends: [backendAt(9), backendAt(10, 3)], health: { intervalMs: 0 } }),
      makeService({ name: 'cache', listen: loopback, algo: 'least-connections', backends: [backendAt(11)], health: { intervalMs: 0 } }),
    ],
  });
  const port = lb.adminAddress.port;
  const web = lb.service('web')!;
  const pending = readStream(port, {}, (text) => text.includes('"to":"draining"'));
  await new Promise((r) => setTimeout(r, 100));
  web.registry.setAdminState(web.registry.getByKey('127.0.0.1:9')!, 'draining');
  const { text } = await pending;
  const snapshot = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)![1]!);
  assert.deepEqual(snapshot.services.map((s: { name: string; algo: string }) => [s.name, s.algo]), [['web', 'round-robin'], ['cache', 'least-connections']]);
  assert.deepEqual(snapshot.services[0].backends.map((b: { address: string; weight: number }) => [b.address, b.weight]), [['127.0.0.1:9', 1], ['127.0.0.1:10', 3]]);
  assert.equal(typeof snapshot.services[0].counters.accepted, 'number');
  const change = JSON.parse(/event: change\ndata: (.*"to":"draining".*)\n/.exec(text)![1]!);
  assert.deepEqual([change.type, change.service, change.backend, change.from, change.to], ['state', 'web', '127.0.0.1:9', 'active', 'draining']);
  assert.match(text, new RegExp(`id: ${lb.events.boot}-\\d+\\nevent: change`));
});
