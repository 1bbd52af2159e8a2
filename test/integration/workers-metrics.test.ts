/**
 * /metrics with --workers 2: process metrics of the primary, of each worker
 * and of the workers together; histograms and byte counters summed over the
 * workers; all parsed strictly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCli } from '../helpers/cli.ts';
import { echo, startBackend } from '../helpers/fault-backend.ts';
import { dial, readAll } from '../helpers/net.ts';
import { histogramOf, parseProm } from '../helpers/prom.ts';
import { until } from '../helpers/wait.ts';

test('--workers 2: process metrics per worker and summed; the connection histograms count every worker\'s connections', { timeout: 40_000 }, async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const cli = await startCli(t, ['--workers', '2', '--health-interval', '0', '--backend', `127.0.0.1:${backend.port}`]);
  const n = 40;
  for (let i = 0; i < n; i += 10) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const c = await dial({ port: cli.proxyPort, allowHalfOpen: true });
      c.end('abc');
      assert.equal((await readAll(c)).toString(), 'abc');
    }));
  }
  const scrape = async () => parseProm(await (await fetch(`${cli.admin}/metrics`)).text());
  const key = { service: 'default', backend: `127.0.0.1:${backend.port}` };
  // Workers report every 200 ms: wait until both have reported every connection.
  const f = await until('every connection in the workers\' reports', async () => {
    const m = await scrape();
    return histogramOf(m, 'fulcrum_connection_duration_seconds', { service: 'default' })?.count === n ? m : undefined;
  }, 10_000);
  assert.equal(histogramOf(f, 'fulcrum_backend_connect_seconds', key)!.count, n);
  const bytesIn = f.get('fulcrum_backend_bytes_in_total')!.samples.find((s) => s.labels.backend === key.backend)!.value;
  assert.equal(bytesIn, 3 * n);

  const rss = f.get('process_resident_memory_bytes')!;
  assert.equal(rss.type, 'gauge');
  const byWorker = new Map(rss.samples.map((s) => [s.labels.worker, s.value]));
  assert.deepEqual([...byWorker.keys()].sort(), ['1', '2', 'all', undefined].sort(), 'the primary (no label), each worker, and all');
  assert.ok(byWorker.get('1')! > 10 * 2 ** 20 && byWorker.get('2')! > 10 * 2 ** 20, 'each worker is a process of its own');
  assert.equal(byWorker.get('all'), byWorker.get('1')! + byWorker.get('2')!);
  const fds = f.get('process_open_fds')!.samples;
  assert.equal(fds.find((s) => s.labels.worker === 'all')!.value, fds.filter((s) => s.labels.worker === '1' || s.labels.worker === '2').reduce((a, s) => a + s.value, 0));
});
