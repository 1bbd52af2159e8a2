/**
 * maglev across processes: `fulcrum --workers 2` (its table built in each
 * worker from the services message) and an in-process Fulcrum that learned
 * the same backends in the opposite order send every client address to the
 * same backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startDemoBackend } from '../../tools/backend.ts';
import { httpGet } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('maglev: --workers 2 and another instance with the backends in the opposite order agree on 300 client addresses', async (t) => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  const backends = await Promise.all(names.map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const flags = backends.flatMap((b, i) => ['--backend', `127.0.0.1:${b.address.port}@${1 + (i % 2)}`]);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workers', '2', '--algo', 'maglev', '--hash-key', 'client-ip', '--hash-table', '1009',
    ...flags, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '0', '--log-level', 'info'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/proxy listening on 127\.0\.0\.1:(\d+)/.test(out)) await once(child.stdout, 'data');
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);

  const reversed = backends.map((b, i) => backendAt(b.address.port, 1 + (i % 2))).reverse();
  const other = await startProxy(t, { algo: 'maglev', hash: { key: 'client-ip', table: 1009 }, backends: reversed });
  const clients = Array.from({ length: 300 }, (_, i) => `127.0.${10 + Math.floor(i / 250)}.${1 + (i % 250)}`);
  const answer = async (p: number, ip: string) => (await httpGet(p, ip)).trim();
  const differ: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < clients.length; i += 20) {
    const batch = clients.slice(i, i + 20);
    const [viaWorkers, viaOther] = await Promise.all([Promise.all(batch.map((ip) => answer(port, ip))), Promise.all(batch.map((ip) => answer(other.proxyAddress.port, ip)))]);
    batch.forEach((ip, j) => {
      seen.add(viaWorkers[j]!);
      if (viaWorkers[j] !== viaOther[j]) differ.push(`${ip}: ${viaWorkers[j]} / ${viaOther[j]}`);
    });
  }
  assert.deepEqual(differ, []);
  assert.equal(seen.size, 5);
});
