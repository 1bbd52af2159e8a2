/**
 * Health checks of a backend that expects the PROXY protocol send a header
 * without a client first (HAProxy's `check-send-proxy`): v2 LOCAL, or
 * `PROXY UNKNOWN` for a v1 backend. The receiver is HAProxy with
 * `accept-proxy`, which closes a connection whose first bytes are not a
 * header, in front of a real backend: each check type is up through it only
 * with the header, and a backend without `proxyProtocol` behind the same
 * kind of receiver goes down. A bare TCP connect passes either way (HAProxy
 * accepts before it reads), so for it the receiver's log is the proof: it
 * took a header and connected on, instead of "closed while waiting for
 * PROXY protocol header".
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import type { HealthConfig } from '../../src/config/config.ts';
import { probeFor } from '../../src/service/service-health.ts';
import { freePort, skipWithoutHaproxy, startHaproxyLogged } from '../helpers/haproxy.ts';
import { refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { until, waitFor } from '../helpers/wait.ts';

const T = { timeout: 30_000, skip: skipWithoutHaproxy };
const FAST = { intervalMs: 50, timeoutMs: 500, rise: 1, fall: 1 } as const;

/**
 * One HAProxy, two frontends that both require the header (`accept-proxy`):
 * `with` for the backend that sends it, `without` for the one that does not.
 * `server` is where they forward (tcp mode), or 'http' to answer 200 themselves.
 */
async function receivers(t: TestContext, server: number | 'http') {
  const without = await freePort();
  const mode = server === 'http' ? 'http' : 'tcp';
  const forward = server === 'http' ? ['  http-request return status 200 content-type text/plain string ok'] : ['  default_backend be'];
  const h = await startHaproxyLogged(t, (port) => [
    'global', '  maxconn 200', '  log stderr format raw local0',
    'defaults', `  mode ${mode}`, '  log global', `  option ${mode}log`, '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s',
    'frontend with', `  bind 127.0.0.1:${port} accept-proxy`, ...forward,
    'frontend without', `  bind 127.0.0.1:${without} accept-proxy`, ...forward,
    ...(server === 'http' ? [] : ['backend be', `  server s 127.0.0.1:${server}`]),
  ]);
  // The helper's readiness connect carried no header, and HAProxy logs it when it closes: only what follows counts.
  const ready = await until('the readiness connect logged', () => /with\/\d+: Connection closed while waiting for PROXY protocol header\n/.exec(h.log()) ?? undefined);
  const from = ready.index + ready[0].length;
  return { with: h.port, without, log: () => h.log().slice(from) };
}

/** A redis-server on a free port, stopped after the test. */
async function startRedis(t: TestContext): Promise<number> {
  const port = await refusedPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await until('redis-server to answer', () => new Promise<true | undefined>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', () => resolve(undefined));
    s.once('data', (d) => (s.destroy(), resolve(d.toString().startsWith('+PONG') ? true : undefined)));
    s.write('PING\r\n');
  }), 10_000);
  return port;
}

/** A listener answering `N` to anything, as PostgreSQL answers an SSLRequest without TLS. */
async function postgresLike(t: TestContext): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.write('N'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A Fulcrum checking both receivers: `with` as a backend with `proxyProtocol: version`, `without` as one with none; resolves once both have a verdict. */
async function checkBoth(t: TestContext, r: { with: number; without: number }, health: Partial<HealthConfig>, version: 'v1' | 'v2' = 'v2') {
  const lb = await startProxy(t, {
    backends: [{ ...backendAt(r.with), proxyProtocol: version }, backendAt(r.without)],
    health: { ...FAST, httpPath: undefined, ...health },
  });
  const [sending, plain] = lb.registry.list();
  await waitFor(() => sending!.health !== 'unknown' && plain!.health !== 'unknown', 5000, 'both checked');
  return { sending: sending!, plain: plain! };
}

const cases: readonly { name: string; server: (t: TestContext) => Promise<number | 'http'>; health: Partial<HealthConfig>; version?: 'v1' | 'v2' }[] = [
  { name: 'send/expect PING/+PONG to a real redis-server', server: startRedis, health: { send: 'PING\\r\\n', expect: '+PONG' } },
  { name: 'type: redis, v1 backend (PROXY UNKNOWN)', server: startRedis, health: { type: 'redis' }, version: 'v1' },
  { name: 'type: http', server: async () => 'http', health: { type: 'http', httpPath: '/' } },
  { name: 'type: http, v1 backend (PROXY UNKNOWN)', server: async () => 'http', health: { httpPath: '/' }, version: 'v1' },
  { name: 'type: postgres', server: postgresLike, health: { type: 'postgres' } },
];

for (const c of cases) {
  test(`${c.name}: up through HAProxy accept-proxy with the header for checks, down without it`, T, async (t) => {
    const r = await receivers(t, await c.server(t));
    const { sending, plain } = await checkBoth(t, r, c.health, c.version);
    assert.equal(sending.health, 'up', `with the header: ${sending.activeCheck}`);
    await waitFor(() => plain.health === 'down', 5000, 'the backend without proxyProtocol down');
    assert.match(plain.activeCheck ?? '', /^failed: /);
    // And it stays so: the next probes agree.
    await new Promise((resolve) => setTimeout(resolve, 4 * FAST.intervalMs));
    assert.deepEqual([sending.health, plain.health], ['up', 'down']);
  });
}

test('a bare TCP connect check passes either way (HAProxy accepts before reading), but only with the LOCAL header does HAProxy take it as a connection and forward it', T, async (t) => {
  const sink = createServer((s) => s.on('error', () => {}).resume());
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  t.after(() => sink.close());
  const r = await receivers(t, (sink.address() as AddressInfo).port);
  const { sending, plain } = await checkBoth(t, r, {});
  assert.deepEqual([sending.health, plain.health], ['up', 'up']);
  // Several probes each.
  await until('probes logged', () => {
    const log = r.log();
    return (log.match(/ with be\/s /g)?.length ?? 0) >= 3 && (log.match(/without\/\d+: Connection closed while waiting for PROXY protocol header/g)?.length ?? 0) >= 3 ? true : undefined;
  });
  const log = r.log();
  assert.doesNotMatch(log, /(^|\n)[^\n]* with\/\d+: /, 'no handshake error on the frontend the header goes to');
  assert.doesNotMatch(log, / without be\/s /, 'nothing forwarded from the frontend no header reaches');
});

test('health.port aims checks elsewhere: no header there (HAProxy\'s rule for `check port`), so a plain redis-server on it keeps the backend up', T, async (t) => {
  const redis = await startRedis(t);
  const trafficPort = await refusedPort();
  const lb = await startProxy(t, {
    backends: [{ ...backendAt(trafficPort), proxyProtocol: 'v2' }],
    health: { ...FAST, httpPath: undefined, type: 'redis', port: redis },
  });
  const backend = lb.registry.list()[0]!;
  await waitFor(() => backend.health !== 'unknown', 5000, 'a verdict');
  // A LOCAL header in front of PING makes redis answer an error (and its QUIT line hangs up): the check would fail.
  assert.equal(backend.health, 'up', String(backend.activeCheck));
});

test('the bytes a check sends: the 16-byte v2 LOCAL header, or PROXY UNKNOWN for v1, then the check\'s own, on one connection', { timeout: 10_000 }, async (t) => {
  const seen: Buffer[] = [];
  const server = createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.toString('latin1').endsWith('PING\r\n')) {
        seen.push(all);
        s.end('+PONG\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const probe = probeFor({ ...FAST, httpPath: undefined, type: 'redis' });
  const key = `127.0.0.1:${port}`;
  assert.deepEqual(await probe({ host: '127.0.0.1', port, key, sendProxy: 'v2' }, 1000), { ok: true, reason: 'replied "+PONG"' });
  assert.deepEqual(await probe({ host: '127.0.0.1', port, key, sendProxy: 'v1' }, 1000), { ok: true, reason: 'replied "+PONG"' });
  assert.deepEqual(await probe({ host: '127.0.0.1', port, key }, 1000), { ok: true, reason: 'replied "+PONG"' });
  assert.deepEqual(seen.map((b) => b.toString('hex')), [
    Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'), Buffer.from('PING\r\n')]).toString('hex'),
    Buffer.from('PROXY UNKNOWN\r\nPING\r\n').toString('hex'),
    Buffer.from('PING\r\n').toString('hex'),
  ]);
});
