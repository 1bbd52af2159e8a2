/**
 * Active health checks end to end: real backends killed and restarted, the
 * HTTP probe, probes of new and removed backends, the flip log, and panic.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Backend, Health } from '../../src/backends/backend.ts';
import type { Registry } from '../../src/backends/registry.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { dial, httpGet, readAll, refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';

const T = { timeout: 15_000 };
/** Scheduling allowance on a loaded test machine, on top of the bound the requirement sets. */
const SLACK_MS = 150;

function captureLog(): { log: Logger; lines: any[] } {
  const lines: any[] = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }), lines };
}

/** Resolves once `predicate` holds, re-checking on every registry 'state' event. */
function until(registry: Registry, predicate: () => boolean): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!predicate()) return;
      registry.off('state', check);
      resolve();
    };
    registry.on('state', check);
  });
}

const healthOf = (registry: Registry, b: Backend, health: Health) => until(registry, () => b.health === health);

async function demo(t: TestContext, name: string, port = 0): Promise<DemoBackend> {
  const b = await startDemoBackend(name, port);
  t.after(() => b.close());
  return b;
}

const flips = (lines: any[], key: string) =>
  lines.filter((l) => l.msg === 'backend health changed' && l.backend === key).map(({ from, to, reason }) => ({ from, to, reason }));

test('a killed backend goes down within interval × fall and gets no new connection; restarted, it is back within interval × rise', T, async (t) => {
  const interval = 100;
  const timeout = 200;
  const rise = 2;
  const fall = 3;
  const a = await startDemoBackend('a');
  const port = a.address.port;
  const b = await demo(t, 'b');
  const { log, lines } = captureLog();
  const lb = await startProxy(
    t,
    { backends: [backendAt(port), backendAt(b.address.port)], health: { intervalMs: interval, timeoutMs: timeout, rise, fall } },
    { log },
  );
  await until(lb.registry, () => lb.registry.readyCount === 2);
  const backendA = lb.registry.getByKey(`127.0.0.1:${port}`)!;
  // From here on every flip is the test's doing. (Before, a first probe that a starved machine
  // did not finish within the 200 ms timeout could add a flip through down on the way up.)
  const flipsAtStart = lb.healthStats.flips;
  const linesAtStart = lines.length;
  assert.equal(flips(lines, backendA.key).at(-1)?.to, 'up');

  const killed = Date.now();
  await a.close();
  await healthOf(lb.registry, backendA, 'down');
  const downAfter = Date.now() - killed;
  // At most `fall` probes (each at most interval + 10% apart, refused at once); at least `fall - 1` intervals.
  assert.ok(downAfter <= fall * interval * 1.1 + timeout + SLACK_MS, `down after ${downAfter}ms`);
  assert.ok(downAfter >= (fall - 1) * interval * 0.9 - 5, `down after only ${downAfter}ms: fewer than ${fall} failures`);
  assert.equal(lb.registry.readyCount, 1);
  // Why and since when, as the API and the dashboard show them.
  const down = backendA.toJSON().healthDetail;
  assert.equal(down.reason, 'active check failed: connection refused (ECONNREFUSED)');
  assert.ok(Date.parse(down.since!) >= killed - 1 && Date.parse(down.since!) <= Date.now(), `down since ${down.since}`);

  const answers = [];
  for (let i = 0; i < 6; i++) answers.push((await httpGet(lb.proxyAddress.port)).trim());
  assert.deepEqual(answers, Array(6).fill('hello from b'));
  assert.equal(backendA.total, 0);
  assert.equal(backendA.failed, 0, 'not even tried');

  const restarted = Date.now();
  const again = await demo(t, 'a', port);
  assert.equal(again.address.port, port);
  await healthOf(lb.registry, backendA, 'up');
  const upAfter = Date.now() - restarted;
  assert.equal(backendA.toJSON().healthDetail.reason, 'active check passed: connected');
  assert.ok(Date.parse(backendA.toJSON().healthDetail.since!) >= restarted - 1);
  assert.ok(upAfter <= rise * interval * 1.1 + SLACK_MS, `up after ${upAfter}ms`);
  assert.ok(upAfter >= (rise - 1) * interval * 0.9 - 5, `up after only ${upAfter}ms: fewer than ${rise} passes`);

  const after = [];
  for (let i = 0; i < 4; i++) after.push((await httpGet(lb.proxyAddress.port)).trim());
  assert.deepEqual(after.sort(), ['hello from a', 'hello from a', 'hello from b', 'hello from b']);

  // One line per flip, none while a state held (many probes ran in each state).
  assert.deepEqual(flips(lines.slice(linesAtStart), backendA.key), [
    { from: 'up', to: 'down', reason: 'ECONNREFUSED' },
    { from: 'down', to: 'up', reason: 'connected' },
  ]);
  assert.equal(lb.healthStats.flips, flipsAtStart + 2);
  assert.equal(lines.find((l) => l.msg === 'backend health changed' && l.to === 'down')?.level, 40, 'down is a warning');
});

test('--health-http: GET PATH with Host and Connection: close; 2xx/3xx up, other statuses down', T, async (t) => {
  let status = 200;
  const seen: { method: string | undefined; url: string | undefined; headers: IncomingHttpHeaders }[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(status, { 'content-length': 0 });
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const { log, lines } = captureLog();
  const lb = await startProxy(
    t,
    { backends: [backendAt(port)], health: { intervalMs: 50, timeoutMs: 200, rise: 2, fall: 2, httpPath: '/ready?deep=1' } },
    { log },
  );
  const backend = lb.registry.list()[0]!;
  await healthOf(lb.registry, backend, 'up');
  assert.deepEqual(
    { method: seen[0]!.method, url: seen[0]!.url, host: seen[0]!.headers.host, connection: seen[0]!.headers.connection },
    { method: 'GET', url: '/ready?deep=1', host: `127.0.0.1:${port}`, connection: 'close' },
  );
  status = 503;
  await healthOf(lb.registry, backend, 'down');
  status = 302;
  await healthOf(lb.registry, backend, 'up');
  status = 404;
  await healthOf(lb.registry, backend, 'down');
  assert.deepEqual(flips(lines, backend.key), [
    { from: 'unknown', to: 'up', reason: 'HTTP 200' },
    { from: 'up', to: 'down', reason: 'HTTP 503' },
    { from: 'down', to: 'up', reason: 'HTTP 302' },
    { from: 'up', to: 'down', reason: 'HTTP 404' },
  ]);
});

test('a new backend that fails its first probe is down at once, long before the interval', T, async (t) => {
  const lb = await startProxy(t, { health: { intervalMs: 10_000, timeoutMs: 500 } });
  const started = Date.now();
  const { backend } = lb.addBackend(backendAt(await refusedPort()));
  assert.equal(backend.health, 'unknown');
  await healthOf(lb.registry, backend, 'down');
  assert.ok(Date.now() - started < 1000);
});

test('a removed backend is no longer probed', T, async (t) => {
  let probes = 0;
  let onSecond: () => void = () => {};
  const server = createServer((s) => {
    s.on('error', () => {});
    if (++probes === 2) onSecond();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((r) => server.close(r)));
  const lb = await startProxy(t, { backends: [backendAt((server.address() as AddressInfo).port)], health: { intervalMs: 30, timeoutMs: 100 } });
  const backend = lb.registry.list()[0]!;
  // Removed while the second probe is still in flight: its result must be dropped too.
  await new Promise<void>((resolve) => {
    onSecond = () => {
      lb.removeBackend(backend);
      resolve();
    };
  });
  const healthAtRemoval = backend.health;
  // Absence can only be shown by waiting: ten intervals.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(probes, 2);
  assert.equal(backend.health, healthAtRemoval);
});

test('panic is logged once on the way in and once on the way out, and panic picks are counted', T, async (t) => {
  const a = await startDemoBackend('a');
  const b = await startDemoBackend('b');
  const portA = a.address.port;
  const { log, lines } = captureLog();
  const lb = await startProxy(
    t,
    { backends: [backendAt(portA), backendAt(b.address.port)], retries: 1, health: { intervalMs: 40, timeoutMs: 200, rise: 1, fall: 1 } },
    { log },
  );
  await until(lb.registry, () => lb.registry.readyCount === 2);
  assert.equal(lines.filter((l) => /panic/.test(l.msg)).length, 0, 'unknown → up is no panic');
  await a.close();
  await b.close();
  await until(lb.registry, () => lb.registry.list().every((x) => x.health === 'down'));
  assert.deepEqual(lines.filter((l) => /panic/.test(l.msg)).map((l) => [l.msg, l.level]), [['panic: no backend is ready; trying enabled backends anyway', 50]]);

  // In panic the data plane still tries both (and both refuse): two panic picks, one connection without a backend.
  const client = await dial({ port: lb.proxyAddress.port });
  await readAll(client).catch(() => {});
  assert.equal(lb.stats.panic, 2);
  assert.equal(lb.stats.noBackend, 1);

  const back = await demo(t, 'a', portA);
  assert.equal(back.address.port, portA);
  await until(lb.registry, () => lb.registry.readyCount === 1);
  assert.equal((await httpGet(lb.proxyAddress.port)).trim(), 'hello from a');
  assert.deepEqual(lines.filter((l) => /panic/.test(l.msg)).map((l) => l.msg), ['panic: no backend is ready; trying enabled backends anyway', 'panic over']);
  assert.equal(lb.stats.panic, 2);
});
