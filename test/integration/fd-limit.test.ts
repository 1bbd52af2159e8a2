/**
 * Running out of file descriptors is this host's problem, not the backend's:
 * the client is closed, the event counted as a local error, and the backend
 * keeps its clean record (so passive health does not eject a healthy backend).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { startBackend } from '../helpers/fault-backend.ts';
import { closed, dial } from '../helpers/net.ts';
import { planeUnderTest } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('out of descriptors: the client is closed, counted as a local error, not as a backend failure', async (t) => {
  const backend = await startBackend(() => {}); // holds every connection open, silent
  t.after(() => backend.close());
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--algo', 'rr',
    '--health-interval', '0', '--max-fails', '1', '--log-level', 'silent', '--backend', `127.0.0.1:${backend.port}`, '--data-plane', planeUnderTest()], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  const exited = once(child, 'exit').then(([code]) => Promise.reject(new Error(`fulcrum exited (${code}) before listening`)));
  exited.catch(() => {});
  while (!/admin listening/.test(out)) await Promise.race([once(child.stdout, 'data'), exited]);
  // 64 descriptors once it runs, not from the start: Node's ESM loader opens module files concurrently
  // and died of EMFILE while loading under `ulimit -n 64` now and then (Node 22, 24, under load).
  execFileSync('prlimit', ['--pid', String(child.pid), '--nofile=64:64']);
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const admin = `http://127.0.0.1:${/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]}`;

  const clients: Socket[] = [];
  t.after(() => clients.forEach((c) => c.destroy()));
  let refused: Socket | undefined;
  for (let i = 0; i < 64 && !refused; i++) {
    // Either the proxy reaches the backend with this client, or it closes the client: whichever comes first.
    const proxied = once(backend.server, 'connection').then(() => 'proxied');
    const c = await dial({ port });
    clients.push(c);
    if ((await Promise.race([closed(c).then(() => 'closed'), proxied])) === 'closed') refused = c;
  }
  assert.ok(refused, 'the proxy never ran out of descriptors under ulimit -n 64');

  // Free the proxy's descriptors so its admin API can accept again (it was out of them too).
  // A reset, not a FIN: a half-closed client keeps its connection (and descriptors) open by design.
  for (const c of clients) c.resetAndDestroy();
  const metrics = await until('the admin API to accept again', () => fetch(`${admin}/metrics`).then((r) => r.text(), () => undefined));
  assert.match(metrics, /^fulcrum_local_errors_total{service="default"} [1-9]/m);
  const { data } = (await (await fetch(`${admin}/backends`)).json()) as { data: { backends: Array<{ failedConnections: number; health: string }> } };
  assert.equal(data.backends[0]!.failedConnections, 0);
  assert.equal(data.backends[0]!.health, 'up');
});
