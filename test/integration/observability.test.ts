/**
 * What an operator sees: log formats, warnings that repeat per connection
 * limited to a line a second, the open-connections gauge and process
 * metrics, and a Grafana dashboard that queries only metrics that exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { makeConfig } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { LimitedLog } from '../../src/observability/limited-log.ts';
import { startDemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { closed, dial, readBytes, refusedPort } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';
import { once } from 'node:events';
import { spawnCli } from '../helpers/cli.ts';

/** Runs the CLI until stdout matches `until`, sends `signal`, and resolves with what it printed once it exits. */
async function runCli(args: string[], { until: ready, signal }: { until: RegExp; signal: NodeJS.Signals }): Promise<{ stdout: string; stderr: string }> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  while (!ready.test(stdout)) await once(child.stdout!, 'data');
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
  return { stdout, stderr };
}
import { until } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const loopback = { host: '127.0.0.1', port: 0 };

test('300 refused connections in a second give a few warning lines, the last with the count', async (t) => {
  const lines: Array<{ msg: string; suppressed?: number; kind?: string }> = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, listen: loopback, backends: [backendAt(await refusedPort())], health: { intervalMs: 0 }, retries: 0, passive: { maxFails: 0 } }), { log });
  t.after(() => lb.destroy());
  for (let i = 0; i < 300; i++) {
    const c = await dial({ port: lb.proxyAddress.port });
    await closed(c);
  }
  // The count of the suppressed ones comes when their second ends.
  await until('the count line', () => (lines.some((l) => (l.suppressed ?? 0) > 0) ? true : undefined), 3000);
  const noBackend = lines.filter((l) => l.kind === 'no-backend');
  assert.ok(noBackend.length >= 2 && noBackend.length <= 8, `${noBackend.length} lines for 300 refusals`);
  // A window's first line stands for itself; its closing line for the `suppressed` ones it counts.
  const counted = () => lines.filter((l) => l.kind === 'no-backend').reduce((n, l) => n + (l.suppressed ?? 1), 0);
  await until('every refusal counted', () => (counted() === 300 ? true : undefined), 3000);
  assert.match(lines.filter((l) => l.kind === 'no-backend').at(-1)!.msg, /^no backend could take the connection \(\d+ more in the last 1 s\)$/);
});

test('LimitedLog: one line per window and kind, then the count', () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  let now = 1000;
  const limited = new LimitedLog(log, 1000, () => now);
  limited.warn('a', { n: 1 }, 'first');
  limited.warn('a', { n: 2 }, 'again');
  limited.warn('b', { n: 3 }, 'other kind');
  now = 2500;
  limited.warn('a', { n: 4 }, 'next window');
  assert.deepEqual(lines.map((l) => [l.msg, l.kind, l.n]), [['first', 'a', 1], ['other kind', 'b', 3], ['next window', 'a', 4]]);
});

test('/metrics: open connections per service, accept errors, process metrics', async (t) => {
  const echo = await startDemoBackend('echo');
  t.after(() => echo.close());
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, listen: loopback, backends: [backendAt(echo.address.port)], health: { intervalMs: 0 } }));
  t.after(() => lb.destroy());
  const open = await dial({ port: lb.proxyAddress.port });
  open.write('hi');
  await readBytes(open, 2);
  const text = (await adminClient(lb.adminAddress).get('/metrics')).text;
  assert.match(text, /^fulcrum_connections_active\{service="default"\} 1$/m);
  assert.match(text, /^fulcrum_accept_errors_total\{service="default"\} 0$/m);
  for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_p99_seconds', 'process_cpu_seconds_total', 'fulcrum_log_dropped_total']) {
    assert.match(text, new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'), name);
  }
  open.destroy();
});

test('the Grafana dashboard queries only metrics /metrics has', async (t) => {
  const dashboard = JSON.parse(readFileSync(`${ROOT}/tools/grafana/fulcrum-dashboard.json`, 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, listen: loopback, backends: [backendAt(9)], health: { intervalMs: 0 } }));
  t.after(() => lb.destroy());
  const text = (await adminClient(lb.adminAddress).get('/metrics')).text;
  const exposed = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' || type === 'summary' ? [name!, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
  const FUNCTIONS = new Set(['sum', 'by', 'rate', 'increase', 'label_values', 'service', 'backend', 'result', 'avg', 'max', 'min', 'histogram_quantile', 'le']);
  const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((x) => [...x.expr.matchAll(/[a-z_]+[a-z0-9_]*(?=\s*[{[(]|\s*$|\))/g)].map((m) => m[0])));
  const metrics = queried.filter((n) => !FUNCTIONS.has(n));
  assert.ok(metrics.length >= 15, `only ${metrics.length} metrics found in the dashboard`);
  for (const name of metrics) assert.ok(exposed.has(name), `the dashboard queries ${name}, which /metrics does not have`);
});

test('--log-format pretty: one aligned line per event, fields after the message; json: level names and ISO times', async () => {
  const pretty = await runCli(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', '127.0.0.1:9', '--health-interval', '0', '--log-format', 'pretty', '--log-level', 'info'], { until: /admin listening/, signal: 'SIGTERM' });
  const line = pretty.stderr.split('\n').find((l) => l.includes('shutting down'));
  assert.match(line ?? '', /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO : shutting down: draining open connections \{"signal":"SIGTERM",/);
  const json = await runCli(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', '127.0.0.1:9', '--health-interval', '0', '--log-format', 'json', '--log-level', 'info'], { until: /admin listening/, signal: 'SIGTERM' });
  const obj = JSON.parse(json.stderr.split('\n').find((l) => l.includes('shutting down'))!) as { level: string; time: string };
  assert.equal(obj.level, 'info');
  assert.match(obj.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});
