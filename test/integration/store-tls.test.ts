/**
 * `rediss://`: two Fulcrum processes share a store through a redis-server
 * that speaks TLS only (Debian's is built with it), with a certificate from a
 * test CA that the processes trust through NODE_EXTRA_CA_CERTS. The
 * certificate is checked (a process without the CA cannot connect).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDemoBackend } from '../../tools/backend.ts';
import { startCli } from '../helpers/cli.ts';
import { httpGet, refusedPort } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };
const run = promisify(execFile);

test('rediss://: a backend registered on A reaches B over a TLS-only Redis; without the CA the store stays disconnected', T, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-redis-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=fulcrum test CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('san.ext')]);

  const port = await refusedPort();
  const redis = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', f('server.pem'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.pem'), '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  t.after(() => redis.kill('SIGKILL'));
  const ca = readFileSync(f('ca.pem'));
  await until('redis-server answers over TLS', () => new Promise<true | undefined>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca }, () => s.write('PING\r\n'));
    s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG') ? true : undefined); });
    s.once('error', () => resolve(undefined));
  }), 10_000);

  const d1 = await startDemoBackend('d1');
  t.after(() => d1.close());
  const url = `rediss://127.0.0.1:${port}/0`;
  const env = { NODE_EXTRA_CA_CERTS: f('ca.pem') };
  const a = await startCli(t, ['--store', url, '--health-interval', '0'], { env });
  const b = await startCli(t, ['--store', url, '--health-interval', '0'], { env });
  const res = await fetch(`${a.admin}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `127.0.0.1:${d1.address.port}` }) });
  assert.equal(res.status, 200);
  await until('B sends to d1', async () => ((await httpGet(b.proxyPort).catch(() => '')).trim() === 'hello from d1' ? true : undefined));
  assert.equal((await (await fetch(`${b.admin}/healthz`)).json()).data.store, 'connected');

  // The same URL without the CA: the certificate is refused, so the store never connects (and start-up goes on after its timeout).
  const c = await startCli(t, ['--store', url, '--health-interval', '0']);
  const health = (await (await fetch(`${c.admin}/healthz`)).json()).data;
  assert.equal(health.store, 'disconnected');
  assert.equal(health.backends, 0);
});
