/**
 * Health checks that speak the protocol, end to end: send/expect against a
 * real redis-server (started here on an ephemeral port), the postgres
 * preset against a listener that answers like PostgreSQL, HTTP checks with
 * health.host and health.expectStatus, health.port, and why a backend is
 * down as the admin API shows it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { promisify } from 'node:util';
import { probeFor } from '../../src/service/service-health.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';
import { until, waitFor } from '../helpers/wait.ts';

const T = { timeout: 30_000 };
const FAST = { intervalMs: 50, timeoutMs: 500, rise: 1, fall: 2 } as const;

/** A redis-server on a free port, stopped after the test (if the test has not stopped it). */
async function startRedis(t: TestContext): Promise<{ port: number }> {
  const port = await refusedPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await until('redis-server to answer', () => pingable(port), 10_000);
  return { port };
}

/** true once something on `port` answers PING with +PONG; undefined until then. */
function pingable(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', () => resolve(undefined));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG') ? true : undefined);
    });
    s.write('PING\r\n');
  });
}

/** A listener that answers `reply` to whatever it is sent (or at once, with `banner`). */
async function answering(t: TestContext, reply: string | Buffer, port = 0, banner = false): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    if (banner) socket.write(reply);
    else socket.once('data', () => socket.write(reply));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return server;
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

test('send/expect against a real Redis: up while it answers +PONG, down with the reason when it stops, down when something else answers', T, async (t) => {
  const redis = await startRedis(t);
  const lb = await startProxy(t, { backends: [backendAt(redis.port)], health: { ...FAST, send: 'PING\\r\\n', expect: '+PONG' } });
  const api = adminClient(lb.adminAddress);
  const backend = lb.registry.list()[0]!;
  await waitFor(() => backend.health === 'up', 5000, 'redis up');
  let [listed] = (await api.get('/services/default/backends')).body.data.backends;
  assert.equal(listed.health, 'up');
  assert.equal(listed.healthDetail.activeCheck, 'passing (replied "+PONG")');
  assert.equal(listed.healthDetail.failedActiveCheck, false);
  assert.equal(typeof listed.healthDetail.lastCheckDurationMs, 'number');

  await promisify(execFile)('redis-cli', ['-p', String(redis.port), 'shutdown', 'nosave']).catch(() => {}); // the server hangs up as it goes
  await waitFor(() => backend.health === 'down', 5000, 'redis down');
  [listed] = (await api.get('/services/default/backends')).body.data.backends;
  assert.equal(listed.health, 'down');
  assert.match(listed.healthDetail.activeCheck, /^failed: connection refused \((\d+) in a row\)$/);
  assert.equal(listed.healthDetail.failedActiveCheck, true);
  assert.equal(listed.healthDetail.ejectedUntil, null);
  assert.equal(listed.healthDetail.admin, 'active');
  assert.ok(Date.parse(listed.healthDetail.lastCheck) > Date.now() - 5000);

  // Something else on the port: it connects, but says the wrong thing.
  await answering(t, '-ERR unknown command\r\n', redis.port);
  await waitFor(() => backend.activeCheck?.startsWith('failed: unexpected reply') === true, 5000, 'a wrong reply seen');
  assert.equal(backend.health, 'down');
  [listed] = (await api.get('/services/default/backends')).body.data.backends;
  assert.match(listed.healthDetail.activeCheck, /^failed: unexpected reply "-ERR unknown command\\r\\n" \(\d+ in a row\)$/);
  const metrics = (await api.get('/metrics')).text;
  assert.match(metrics, new RegExp(`fulcrum_backend_health_flag\\{service="default",backend="127.0.0.1:${redis.port}",flag="failed_active_check"\\} 1`));
});

test('type: redis against a real Redis passes; against a listener answering otherwise it fails', T, async (t) => {
  const redis = await startRedis(t);
  const probe = probeFor({ ...FAST, httpPath: undefined, type: 'redis' });
  const target = (port: number) => ({ host: '127.0.0.1', port, key: `127.0.0.1:${port}` });
  assert.deepEqual(await probe(target(redis.port), 1000), { ok: true, reason: 'replied "+PONG"' });
  const noauth = await answering(t, '-NOAUTH Authentication required.\r\n');
  assert.deepEqual(await probe(target(portOf(noauth)), 1000), { ok: false, reason: 'unexpected reply "-NOAUTH Authentication required.\\r\\n"' });
});

test('type: postgres passes on N (or S), fails on anything else; /regex/ and a banner without send', T, async (t) => {
  const sent: Buffer[] = [];
  const pg = createServer((socket) => socket.once('data', (d) => { sent.push(d); socket.write('N'); }));
  pg.listen(0, '127.0.0.1');
  await once(pg, 'listening');
  t.after(() => pg.close());
  const lb = await startProxy(t, { backends: [backendAt(portOf(pg))], health: { ...FAST, type: 'postgres' } });
  await waitFor(() => lb.registry.list()[0]!.health === 'up', 5000, 'postgres up');
  assert.deepEqual([...sent[0]!], [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], 'an SSLRequest');

  const target = (s: Server) => ({ host: '127.0.0.1', port: portOf(s), key: '' });
  const postgres = probeFor({ ...FAST, httpPath: undefined, type: 'postgres' });
  assert.equal((await postgres(target(await answering(t, 'S')), 1000)).ok, true);
  assert.deepEqual(await postgres(target(await answering(t, 'E\x00\x00')), 1000), { ok: false, reason: 'unexpected reply "E\\u0000\\u0000"' });
  // An SMTP-like banner, no send: /regex/ over what the server says first.
  const smtp = await answering(t, '220 mail.example.com ESMTP\r\n', 0, true);
  assert.equal((await probeFor({ ...FAST, httpPath: undefined, expect: '/^220 /' })(target(smtp), 1000)).ok, true);
  assert.equal((await probeFor({ ...FAST, httpPath: undefined, expect: '/^250 /' })(target(smtp), 300)).ok, false);
});

test('HTTP checks send health.host as Host and pass only on health.expectStatus; health.port probes another port', T, async (t) => {
  const hosts: (string | undefined)[] = [];
  let status = 200;
  const http = createHttpServer((req, res) => {
    hosts.push(req.headers.host);
    res.writeHead(status).end();
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  t.after(() => http.close());
  const httpPort = (http.address() as AddressInfo).port;
  // Traffic goes to a port nothing listens on; the check goes to health.port.
  const trafficPort = await refusedPort();
  const lb = await startProxy(t, {
    backends: [backendAt(trafficPort)],
    health: { ...FAST, httpPath: '/ready', host: 'www.example.com', expectStatus: '200-299', port: httpPort },
  });
  const backend = lb.registry.list()[0]!;
  await waitFor(() => backend.health === 'up', 5000, 'up by the HTTP check on health.port');
  assert.equal(hosts[0], 'www.example.com');
  status = 302;
  await waitFor(() => backend.health === 'down', 5000, 'down on 302');
  assert.match(backend.activeCheck!, /^failed: HTTP 302 \(\d+ in a row\)$/);
});
