/**
 * Several services in one process: each on its own port with its own
 * strategy and backends, the admin API per service, and reloads applied
 * under traffic without losing a byte.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { createServer } from 'node:net';
import { makeConfig, makeService, type FulcrumConfig, type ServiceConfig } from '../../src/config/config.ts';
import { Fulcrum, ReloadError } from '../../src/fulcrum.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { closed, dial, httpGet, readBytes, sha256 } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 30_000 };
const loopback = { host: '127.0.0.1', port: 0 };

async function demos(t: TestContext, ...names: string[]): Promise<DemoBackend[]> {
  const list = await Promise.all(names.map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(list.map((b) => b.close())));
  return list;
}

const svc = (name: string, algo: string, backends: DemoBackend[], extra: Partial<ServiceConfig> = {}) =>
  makeService({ name, listen: loopback, algo, backends: backends.map((b) => backendAt(b.address.port)), health: { intervalMs: 0 }, ...extra });

async function start(t: TestContext, config: FulcrumConfig, reread?: () => FulcrumConfig): Promise<Fulcrum> {
  const lb = await Fulcrum.start(config, reread ? { reread } : {});
  t.after(() => lb.destroy());
  return lb;
}

const portOf = (lb: Fulcrum, name: string) => lb.service(name)!.address!.port;

test('two services: each on its own port, with its own strategy and backends', T, async (t) => {
  const [a1, a2, b1] = await demos(t, 'a1', 'a2', 'b1');
  const lb = await start(t, makeConfig({ admin: loopback, services: [svc('web', 'round-robin', [a1!, a2!]), svc('cache', 'least-connections', [b1!])] }));
  const web = await Promise.all([1, 2, 3, 4].map(() => httpGet(portOf(lb, 'web'))));
  assert.deepEqual(new Set(web.map((s) => s.trim())), new Set(['hello from a1', 'hello from a2']));
  assert.equal((await httpGet(portOf(lb, 'cache'))).trim(), 'hello from b1');
  assert.equal(lb.service('web')!.registry.strategyName, 'round-robin');
  assert.equal(lb.service('cache')!.registry.strategyName, 'least-connections');
  // Nothing per service is shared: not even the connection-count table least-connections scans.
  assert.notEqual(lb.service('web')!.registry.counts, lb.service('cache')!.registry.counts);
});

test('admin per service: list, detail, register, backends; un-scoped endpoints 404 with two services', T, async (t) => {
  const [a1, b1, extra] = await demos(t, 'a1', 'b1', 'extra');
  const lb = await start(t, makeConfig({ admin: loopback, services: [svc('web', 'rr', [a1!]), svc('cache', 'lc', [b1!])] }));
  const api = adminClient(lb.adminAddress);

  const list = await api.get('/services');
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.data.services.map((s: { name: string; algo: string; backends: number; ready: number; activeConnections: number }) => [s.name, s.algo, s.backends, s.ready, s.activeConnections]),
    [['web', 'rr', 1, 1, 0], ['cache', 'lc', 1, 1, 0]],
  );
  assert.equal(list.body.data.services[0].listen, `127.0.0.1:${portOf(lb, 'web')}`);
  const detail = await api.get('/services/cache');
  assert.equal(detail.status, 200);
  assert.equal(detail.body.data.service.settings.connectTimeoutMs, 3000);

  const reg = await api.post('/services/web/register', { address: `127.0.0.1:${extra!.address.port}` });
  assert.equal(reg.status, 200);
  assert.equal(reg.body.data.backend.origin, 'api');
  const webBackends = await api.get('/services/web/backends');
  assert.deepEqual(
    webBackends.body.data.backends.map((b: { address: string; origin: string }) => [b.address, b.origin]),
    [[`127.0.0.1:${a1!.address.port}`, 'file'], [`127.0.0.1:${extra!.address.port}`, 'api']],
  );
  assert.equal((await api.get('/services/cache/backends')).body.data.backends.length, 1);
  const id = reg.body.data.backend.id;
  assert.equal((await api.get(`/services/web/backends/${id}`)).status, 200);
  assert.equal((await api.get(`/services/cache/backends/${id}`)).status, 404);
  assert.equal((await api.patch(`/services/web/backends/${id}`, { weight: 4 })).body.data.backend.weight, 4);

  const unknown = await api.get('/services/nope/backends');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.data.title, 'no service named "nope" (services: web, cache)');
  for (const [method, path] of [['GET', '/backends'], ['POST', '/register']] as const) {
    const res = method === 'GET' ? await api.get(path) : await api.post(path, { address: '127.0.0.1:9' });
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(res.body.data.title, 'there are several services and none is named "default": use /services/:name/… (services: web, cache)');
  }
  const del = await api.delete(`/services/web/backends/${id}`);
  assert.equal(del.status, 200);
  assert.equal(lb.service('web')!.registry.list().length, 1);
});

test('one service from a file: the un-scoped endpoints act on it, whatever its name', T, async (t) => {
  const [a1] = await demos(t, 'a1');
  const lb = await start(t, makeConfig({ admin: loopback, services: [svc('web', 'rr', [a1!])] }));
  const api = adminClient(lb.adminAddress);
  const res = await api.post('/register', { address: '127.0.0.1:9' });
  assert.equal(res.status, 200);
  assert.equal((await api.get('/backends')).body.data.backends.length, 2);
  assert.equal(lb.service('web')!.registry.list().length, 2);
});

test('a removed backend stays listed as removing while a connection is open; a forced delete closes it', T, async (t) => {
  const [a1, a2] = await demos(t, 'a1', 'a2');
  const lb = await start(t, makeConfig({ admin: loopback, services: [svc('web', 'rr', [a1!, a2!])] }));
  const api = adminClient(lb.adminAddress);
  const client = await dial({ port: portOf(lb, 'web') });
  client.write('ping');
  assert.equal((await readBytes(client, 4)).toString(), 'ping');
  const busy = lb.service('web')!.registry.list().find((b) => b.active === 1)!;
  assert.equal((await api.delete(`/services/web/backends/${busy.id}`)).body.data.openConnections, 1);
  const listed = (await api.get('/services/web/backends')).body.data.backends;
  assert.deepEqual(
    listed.map((b: { id: string; state: string; activeConnections: number }) => [b.id, b.state, b.activeConnections]).filter(([id]: [string]) => id === busy.id),
    [[busy.id, 'removing', 1]],
  );
  const gone = closed(client);
  const forced = await api.delete(`/services/web/backends/${busy.id}?force=1`);
  assert.equal(forced.status, 200);
  assert.equal(forced.body.data.closedConnections, 1);
  await gone;
  await until('the removing backend drops off', async () => ((await api.get(`/services/web/backends/${busy.id}`)).status === 404 ? true : undefined));
});

/** A client streaming random bytes through an echo backend, chunk by chunk; every chunk must come back intact. */
class Stream {
  readonly socket: Socket;
  readonly #sent: Buffer[] = [];
  readonly #received: Buffer[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
  }

  static async open(port: number): Promise<Stream> {
    return new Stream(await dial({ port }));
  }

  /** Sends a chunk and waits for its echo. */
  async step(): Promise<void> {
    const chunk = randomBytes(4096 + Math.floor(Math.random() * 60_000));
    this.#sent.push(chunk);
    this.socket.write(chunk);
    this.#received.push(await readBytes(this.socket, chunk.length));
  }

  check(label: string): void {
    assert.equal(sha256(Buffer.concat(this.#received)), sha256(Buffer.concat(this.#sent)), label);
  }
}

async function refused(port: number): Promise<boolean> {
  try {
    const s = await dial({ port });
    s.destroy();
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

test('reload under traffic: 50 streams survive 10 reloads intact; a removed service drains; a broken config changes nothing', T, async (t) => {
  const [a1, a2, a3, b1, c1] = await demos(t, 'a1', 'a2', 'a3', 'b1', 'c1');
  const base = { admin: loopback, drainTimeoutMs: 20_000 };
  const first = makeConfig({ ...base, services: [svc('a', 'rr', [a1!, a2!]), svc('b', 'rr', [b1!])] });
  const steps: (FulcrumConfig | Error)[] = [];
  const lb = await start(t, first, () => {
    const next = steps.shift()!;
    if (next instanceof Error) throw next;
    return next;
  });
  const aPort = portOf(lb, 'a');
  const bPort = portOf(lb, 'b');
  const pinned = (s: ServiceConfig) => ({ ...s, listen: { host: '127.0.0.1', port: lb.service(s.name)?.address?.port ?? 0 } });
  const streams = [
    ...(await Promise.all(Array.from({ length: 40 }, () => Stream.open(aPort)))),
    ...(await Promise.all(Array.from({ length: 10 }, () => Stream.open(bPort)))),
  ];
  await Promise.all(streams.map((s) => s.step()));

  let a = pinned(first.services[0]!);
  let c: ServiceConfig | undefined;
  const reloads: [string, () => FulcrumConfig | Error, (r: Awaited<ReturnType<Fulcrum['reload']>> | ReloadError) => Promise<void> | void][] = [
    ['add service c', () => ((c = svc('c', 'random', [c1!])), makeConfig({ ...base, services: [a, pinned(first.services[1]!), c] })), async (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.added, ['c']);
      assert.equal((await httpGet(portOf(lb, 'c'))).trim(), 'hello from c1');
    }],
    ['remove service b', () => ((c = pinned(c!)), makeConfig({ ...base, services: [a, c] })), async (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.removed, ['b']);
      assert.ok(await refused(bPort), 'the removed service refuses new connections');
    }],
    ['change the strategy', () => ((a = { ...a, algo: 'least-connections' }), makeConfig({ ...base, services: [a, c!] })), (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.changed.a?.settings, ['algo']);
      assert.equal(lb.service('a')!.registry.strategyName, 'least-connections');
    }],
    ['re-weight', () => ((a = { ...a, backends: [backendAt(a1!.address.port, 5), backendAt(a2!.address.port)] }), makeConfig({ ...base, services: [a, c!] })), (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.changed.a?.backendsChanged, [`127.0.0.1:${a1!.address.port}`]);
    }],
    ['add a backend', () => ((a = { ...a, backends: [...a.backends, backendAt(a3!.address.port)] }), makeConfig({ ...base, services: [a, c!] })), (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.changed.a?.backendsAdded, [`127.0.0.1:${a3!.address.port}`]);
    }],
    ['a broken config', () => Object.assign(new Error('invalid'), { errors: ['fulcrum.yaml:3:9: services[0].listen: "x" has no port (use host:port)'] }), (r) => {
      assert.ok(r instanceof ReloadError);
      assert.deepEqual(r.errors, ['fulcrum.yaml:3:9: services[0].listen: "x" has no port (use host:port)']);
      assert.equal(lb.reloads.failure, 1);
      assert.deepEqual(lb.services().map((s) => s.name), ['a', 'c']);
    }],
    ['remove a backend with open streams', () => ((a = { ...a, backends: a.backends.filter((b) => b.port !== a1!.address.port) }), makeConfig({ ...base, services: [a, c!] })), (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.changed.a?.backendsRemoved, [`127.0.0.1:${a1!.address.port}`]);
      assert.ok(lb.service('a')!.registry.removing().some((b) => b.port === a1!.address.port), 'listed as removing while its streams run');
    }],
    ['change timeouts', () => ((a = { ...a, idleTimeoutMs: 120_000, connectTimeoutMs: 1000 }), makeConfig({ ...base, services: [a, c!] })), (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual(r.changed.a?.settings, ['connectTimeoutMs', 'idleTimeoutMs']);
    }],
    ['move service c to another port', () => ((c = { ...c!, listen: loopback }), makeConfig({ ...base, services: [a, c] })), async (r) => {
      assert.ok(!(r instanceof Error));
      assert.ok(r.changed.c?.listen);
      assert.equal((await httpGet(portOf(lb, 'c'))).trim(), 'hello from c1');
      c = pinned(c!);
    }],
    ['nothing changed', () => makeConfig({ ...base, services: [a, c!] }), (r) => {
      assert.ok(!(r instanceof Error));
      assert.deepEqual([r.added, r.removed, r.changed], [[], [], {}]);
    }],
  ];
  for (const [label, next, check] of reloads) {
    steps.push(next());
    const result = await lb.reload().catch((err: ReloadError) => err);
    await check(result);
    // Every stream moves bytes between reloads, so each one spans all of them.
    await Promise.all(streams.map((s) => s.step()));
    assert.ok(lb.services().length > 0, label);
  }
  assert.equal(lb.reloads.success, 9);
  const ends = streams.map((s) => closed(s.socket));
  for (const [i, s] of streams.entries()) s.check(`stream ${i}`);
  for (const s of streams) s.socket.end();
  const results = await Promise.all(ends);
  assert.deepEqual(results.filter((r) => r.error !== undefined), [], 'no stream was reset');
  await until('every backend back to 0 open', () => (lb.services().every((s) => s.registry.listAll().every((b) => b.active === 0)) ? true : undefined));
});

test('a reload whose new listener cannot bind changes nothing, and closes what it opened', T, async (t) => {
  const [a1] = await demos(t, 'a1');
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => taken.close());
  const busyPort = (taken.address() as { port: number }).port;
  const first = makeConfig({ admin: loopback, services: [svc('a', 'rr', [a1!])] });
  let next: FulcrumConfig | undefined;
  const lb = await start(t, first, () => next!);
  const aPort = portOf(lb, 'a');
  next = makeConfig({
    admin: loopback,
    services: [
      { ...first.services[0]!, listen: { host: '127.0.0.1', port: aPort }, algo: 'least-connections' },
      svc('fresh', 'rr', [a1!]),
      { ...svc('blocked', 'rr', [a1!]), listen: { host: '127.0.0.1', port: busyPort } },
    ],
  });
  const err = await lb.reload().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ReloadError);
  assert.match(err.errors[0]!, new RegExp(`^services\\.blocked\\.listen: cannot listen on 127\\.0\\.0\\.1:${busyPort}: EADDRINUSE$`));
  assert.deepEqual(lb.services().map((s) => s.name), ['a']);
  assert.equal(lb.service('a')!.registry.strategyName, 'round-robin', 'the strategy change was not applied either');
  assert.equal(lb.reloads.failure, 1);
  assert.equal((await httpGet(aPort)).trim(), 'hello from a1');
  const metrics = (await adminClient(lb.adminAddress).get('/metrics')).text;
  assert.match(metrics, /^fulcrum_config_reloads_total\{result="failure"\} 1$/m);
  assert.match(metrics, /^fulcrum_config_last_reload_successful 0$/m);
});

test('POST /reload: 200 with what changed, 400 with every error, 409 without a config file', T, async (t) => {
  const [a1] = await demos(t, 'a1');
  const first = makeConfig({ admin: loopback, services: [svc('a', 'rr', [a1!])] });
  let next: FulcrumConfig | Error = first;
  const lb = await start(t, first, () => {
    if (next instanceof Error) throw next;
    return next;
  });
  const api = adminClient(lb.adminAddress);
  next = makeConfig({ admin: loopback, services: [{ ...first.services[0]!, listen: { host: '127.0.0.1', port: portOf(lb, 'a') } }, svc('b', 'rr', [a1!])] });
  const ok = await api.post('/reload');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.data, { added: ['b'], removed: [], changed: {}, ignored: [] });
  next = Object.assign(new Error('bad'), { errors: ['f.yaml:1:1: services: is required', 'f.yaml:2:3: workers: "x" is invalid'] });
  const bad = await api.post('/reload');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.status, 'fail');
  assert.deepEqual(bad.body.data.errors, ['f.yaml:1:1: services: is required', 'f.yaml:2:3: workers: "x" is invalid']);
  assert.equal(bad.body.data.code, 'ERR_CONFIG_INVALID');
  assert.deepEqual(lb.services().map((s) => s.name), ['a', 'b']);

  const flagsOnly = await start(t, makeConfig({ admin: loopback, listen: loopback }));
  const none = await adminClient(flagsOnly.adminAddress).post('/reload');
  assert.equal(none.status, 409);
  assert.equal(none.body.data.code, 'ERR_NO_CONFIG_FILE');
});

test('a reload that changes health settings keeps every backend up: no flap to unknown, no flip counted', T, async (t) => {
  const [a1, a2] = await demos(t, 'a1', 'a2');
  const withHealth = (intervalMs: number) =>
    makeConfig({ admin: loopback, services: [{ ...svc('a', 'rr', [a1!, a2!]), listen: { host: '127.0.0.1', port: lb ? portOf(lb, 'a') : 0 }, health: { intervalMs, timeoutMs: 500, rise: 1, fall: 3, httpPath: undefined } }] });
  let lb: Fulcrum | undefined;
  let next = withHealth(50);
  lb = await start(t, next, () => next);
  const service = lb.service('a')!;
  await until('both up', () => (service.registry.list().every((b) => b.health === 'up') ? true : undefined));
  const flips = service.health.stats.flips;
  const states: string[] = [];
  service.registry.on('state', (b) => states.push(`${b.key} ${b.health}`));
  next = withHealth(80);
  const reloadedAt = Date.now();
  const r = await lb.reload();
  assert.deepEqual(r.changed.a?.settings, ['health']);
  // Probes under the new settings keep passing; nothing went through unknown.
  await until('probes under the new settings', () => (service.registry.list().every((b) => b.lastCheck > reloadedAt + 100) ? true : undefined));
  assert.deepEqual(states, []);
  assert.equal(service.health.stats.flips, flips);
  assert.ok(service.registry.list().every((b) => b.health === 'up'));
});

for (const plane of ['native', 'stream'] as const) test(`a forced delete and the end of a drain reset both sides: a cut transfer never looks complete (${plane} data plane)`, T, async (t) => {
  const { startBackend } = await import('../helpers/fault-backend.ts');
  const backendSides: Promise<{ error: NodeJS.ErrnoException | undefined }>[] = [];
  // A transfer in progress: 1 MiB sent, more to come (the backend neither ends nor closes).
  const backend = await startBackend((s) => {
    backendSides.push(closed(s));
    s.write(randomBytes(1024 * 1024));
  });
  t.after(() => backend.close());
  const lb = await start(t, makeConfig({ admin: loopback, dataPlane: plane, drainTimeoutMs: 200, services: [makeService({ name: 'd', listen: loopback, backends: [backendAt(backend.port)], health: { intervalMs: 0 } })] }));
  const api = adminClient(lb.adminAddress);
  const port = portOf(lb, 'd');

  // The client has read everything sent so far, so the kernel reports the reset rather than dropping it behind queued bytes.
  const forcedClient = await dial({ port });
  await readBytes(forcedClient, 1024 * 1024);
  const forcedEnd = closed(forcedClient);
  const id = lb.service('d')!.registry.list()[0]!.id;
  assert.equal((await api.delete(`/services/d/backends/${id}?force=1`)).body.data.closedConnections, 1);
  assert.equal((await forcedEnd).error?.code, 'ECONNRESET', 'the client sees a reset, not a clean end');
  assert.equal((await backendSides[0]!).error?.code, 'ECONNRESET', 'so does the backend');

  // The same at the end of a drain.
  assert.equal((await api.post('/services/d/register', { address: `127.0.0.1:${backend.port}` })).status, 200);
  const drained = await dial({ port });
  await readBytes(drained, 1024 * 1024);
  const drainedEnd = closed(drained);
  const { finished, closed: cut } = await lb.close();
  assert.deepEqual([finished, cut], [0, 1]);
  assert.equal((await drainedEnd).error?.code, 'ECONNRESET');
  assert.equal((await backendSides[1]!).error?.code, 'ECONNRESET');
});

test('two addresses whose ids would collide (127.0.0.1:5003, 127.0.0.2:21176) both stay reachable by id, before and after one is deleted', T, async (t) => {
  const lb = await start(t, makeConfig({ admin: loopback, services: [makeService({ name: 's', listen: loopback, health: { intervalMs: 0 } })] }));
  const api = adminClient(lb.adminAddress);
  const a = (await api.post('/services/s/register', { address: '127.0.0.1:5003' })).body.data.backend;
  const b = (await api.post('/services/s/register', { address: '127.0.0.2:21176' })).body.data.backend;
  assert.equal(a.id, '4997afbb22');
  assert.equal(b.id, '4997afbb22c5', 'the later one takes two more digits');
  assert.equal((await api.get(`/services/s/backends/${a.id}`)).body.data.backend.address, '127.0.0.1:5003');
  assert.equal((await api.get(`/services/s/backends/${b.id}`)).body.data.backend.address, '127.0.0.2:21176');
  assert.equal((await api.delete(`/services/s/backends/${a.id}`)).status, 200);
  assert.equal((await api.get(`/services/s/backends/${b.id}`)).body.data.backend.address, '127.0.0.2:21176');
  assert.equal((await api.patch(`/services/s/backends/${b.id}`, { weight: 3 })).body.data.backend.weight, 3);
  assert.equal((await api.get(`/services/s/backends/${a.id}`)).status, 404);
});

test('a reload keeps backends registered over the API; a file entry for the same address takes one over', T, async (t) => {
  const [a1, a2, a3] = await demos(t, 'a1', 'a2', 'a3');
  const first = makeConfig({ admin: loopback, services: [svc('a', 'rr', [a1!])] });
  let next = first;
  const lb = await start(t, first, () => next);
  const api = adminClient(lb.adminAddress);
  const pinned = { host: '127.0.0.1', port: portOf(lb, 'a') };
  for (const b of [a2!, a3!]) assert.equal((await api.post('/services/a/register', { address: `127.0.0.1:${b.address.port}` })).status, 200);
  const origins = () => Object.fromEntries(lb.service('a')!.registry.list().map((b) => [b.port, b.origin]));
  // The file now declares a2 (registered over the API) and no longer a1.
  next = makeConfig({ admin: loopback, services: [{ ...svc('a', 'rr', [a2!]), listen: pinned }] });
  const r = await lb.reload();
  assert.deepEqual(r.changed.a?.backendsRemoved, [`127.0.0.1:${a1!.address.port}`]);
  assert.deepEqual(origins(), { [a2!.address.port]: 'file', [a3!.address.port]: 'api' });
  // Dropped from the file, the taken-over backend goes; the API one stays.
  next = makeConfig({ admin: loopback, services: [{ ...svc('a', 'rr', []), listen: pinned }] });
  await lb.reload();
  assert.deepEqual(origins(), { [a3!.address.port]: 'api' });
  assert.equal((await httpGet(pinned.port)).trim(), 'hello from a3');
});
