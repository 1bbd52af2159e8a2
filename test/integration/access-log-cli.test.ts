/**
 * The access log as an operator runs it, in the real process: a file moved
 * away and SIGUSR1 (logrotate's postrotate), a destination that stops
 * reading (lines dropped and counted, connections not slowed), and
 * `--workers` writing one file from several processes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessLogPath, linesOf, readLines, type AccessLine } from '../helpers/access-log.ts';
import { startCli } from '../helpers/cli.ts';
import { echo, startBackend } from '../helpers/fault-backend.ts';
import { dial, readAll } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };

/** One echoed exchange; resolves with the client's port. */
async function exchange(port: number, payload = 'ping'): Promise<number> {
  const c = await dial({ port, allowHalfOpen: true });
  const local = c.localPort!;
  c.end(payload);
  assert.equal((await readAll(c)).toString(), payload);
  return local;
}

async function echoBackend(t: TestContext): Promise<number> {
  const b = await startBackend(echo);
  t.after(() => b.close());
  return b.port;
}

test('SIGUSR1 after logrotate moved the file: new lines go to a new file at the path', T, async (t) => {
  const path = accessLogPath(t);
  const backend = await echoBackend(t);
  const cli = await startCli(t, ['--health-interval', '0', '--backend', `127.0.0.1:${backend}`, '--access-log', path]);
  const first = await exchange(cli.proxyPort);
  await linesOf(path, 1);
  renameSync(path, `${path}.1`);
  const second = await exchange(cli.proxyPort); // still to the moved file: the descriptor is the old one
  await linesOf(`${path}.1`, 2);
  cli.child.kill('SIGUSR1');
  await until('the path to be opened again', () => (existsSync(path) ? true : undefined));
  const third = await exchange(cli.proxyPort);
  const fresh = (await linesOf(path, 1)).map((l) => JSON.parse(l) as AccessLine);
  const rotated = readLines(`${path}.1`).map((l) => JSON.parse(l) as AccessLine);
  assert.deepEqual(rotated.map((l) => l.client), [`127.0.0.1:${first}`, `127.0.0.1:${second}`]);
  assert.deepEqual(fresh.map((l) => [l.client, l.end, l.bytesIn, l.bytesOut]), [[`127.0.0.1:${third}`, 'client-closed', 4, 4]]);
  assert.equal(cli.child.exitCode, null, 'SIGUSR1 did not stop the process (nor start an inspector in its place)');
});

/** A FIFO nobody reads (opened for reading once, non-blocking, and never read). */
function stalledFifo(t: TestContext): number {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-fifo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'stderr');
  execFileSync('mkfifo', [path]);
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(readFd));
  return openSync(path, constants.O_WRONLY);
}

const metric = async (admin: string, name: string) => Number(new RegExp(`^${name}\\{service="default"\\} (\\d+)`, 'm').exec(await (await fetch(`${admin}/metrics`)).text())?.[1]);

test('a destination nobody reads: lines are dropped and counted, connections go on at the same pace', T, async (t) => {
  const backend = await echoBackend(t);
  const writeFd = stalledFifo(t);
  const cli = await startCli(t, ['--health-interval', '0', '--backend', `127.0.0.1:${backend}`, '--access-log', 'stderr', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', writeFd],
  });
  closeSync(writeFd);
  // About 250 bytes a line: 5,000 connections make 1.25 MB, more than the pipe (64 KiB) and the 1 MiB bound together.
  const batch = async (n: number) => {
    const started = performance.now();
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => exchange(cli.proxyPort)));
    return (performance.now() - started) / n;
  };
  const early = await batch(1000); // the FIFO and the buffer still take lines
  await batch(4000);
  const dropped = await metric(cli.admin, 'fulcrum_access_log_dropped_total');
  assert.ok(dropped > 100, `fulcrum_access_log_dropped_total is ${dropped}`);
  const late = await batch(1000); // every line now dropped
  assert.ok(late < early * 2 + 0.5, `${late.toFixed(2)} ms a connection with the destination stalled, ${early.toFixed(2)} before`);
  // Each line is offered before its client sees the close: all 1,000 of the stalled batch were refused.
  assert.ok((await metric(cli.admin, 'fulcrum_access_log_dropped_total')) >= dropped + 1000, 'the later lines are dropped too');
});

test('--workers 2: every worker logs its own connections to the one file, whole lines', T, async (t) => {
  const path = accessLogPath(t);
  const backend = await echoBackend(t);
  const cli = await startCli(t, ['--workers', '2', '--health-interval', '0', '--backend', `127.0.0.1:${backend}`, '--access-log', path]);
  const ports = new Set<number>();
  for (let i = 0; i < 300; i += 30) {
    for (const p of await Promise.all(Array.from({ length: 30 }, () => exchange(cli.proxyPort, 'x'.repeat(100))))) ports.add(p);
  }
  const lines = (await linesOf(path, 300, 10_000)).map((l) => JSON.parse(l) as AccessLine);
  assert.equal(lines.length, 300);
  assert.deepEqual(new Set(lines.map((l) => Number(l.client.split(':')[1]))), ports);
  assert.ok(lines.every((l) => l.end === 'client-closed' && l.bytesIn === 100 && l.bytesOut === 100));
});
