/**
 * stderr that stops reading, then goes away: the log buffer stays bounded
 * (what does not fit is dropped and counted), and shutdown still ends,
 * promptly, at the first signal.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli, type RunningCli } from '../helpers/cli.ts';
import { startBackend } from '../helpers/fault-backend.ts';
import { closed, dial, refusedPort } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 40_000 };

/** A FIFO nobody reads: the returned `closeReader` makes every later write to it fail with EPIPE. */
function stalledFifo(t: TestContext): { writeFd: number; closeReader: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-fifo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'stderr');
  execFileSync('mkfifo', [path]);
  let readFd: number | undefined = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(path, constants.O_WRONLY);
  const closeReader = () => {
    if (readFd !== undefined) closeSync(readFd);
    readFd = undefined;
  };
  t.after(closeReader);
  return { writeFd, closeReader };
}

/**
 * Every connection to a proxy whose only backend refuses logs a debug line
 * (connect failed); its "no backend" warning is limited to a line a second.
 */
async function startLogging(t: TestContext, writeFd: number): Promise<RunningCli> {
  const dead = await refusedPort();
  const cli = await startCli(t, ['--log-level', 'debug', '--health-interval', '0', '--max-fails', '0', '--retries', '0', '--backend', `127.0.0.1:${dead}`], {
    stdio: ['ignore', 'pipe', writeFd],
  });
  closeSync(writeFd);
  return cli;
}

async function connections(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, async () => {
      const c = await dial({ port });
      c.resume();
      await closed(c); // a FIN or a reset, whichever the proxy sends

    }));
  }
}

const droppedTotal = async (admin: string) => Number(/^fulcrum_log_dropped_total (\d+)/m.exec(await (await fetch(`${admin}/metrics`)).text())?.[1]);

test('with stderr stalled, logs are dropped and counted past the bound instead of buffered without limit', T, async (t) => {
  const { writeFd } = stalledFifo(t);
  const cli = await startLogging(t, writeFd);
  // About 170 bytes a connection: 12,000 make 2 MB, more than the pipe (64 KiB) and the 1 MiB bound together.
  await connections(cli.proxyPort, 12_000);
  // About 0.9 MB cannot fit: thousands of lines dropped, not buffered.
  const dropped = await droppedTotal(cli.admin);
  assert.ok(dropped > 1000, `fulcrum_log_dropped_total is ${dropped}`);
});

test('SIGTERM with stderr stalled, then its reader gone: the process exits 0 within the flush bound', T, async (t) => {
  const { writeFd, closeReader } = stalledFifo(t);
  const cli = await startLogging(t, writeFd);
  await connections(cli.proxyPort, 500); // fills the FIFO: the writer is now stalled
  const exited = once(cli.child, 'exit');
  const started = Date.now();
  cli.child.kill('SIGTERM');
  closeReader();
  const [code, signal] = await exited;
  assert.deepEqual([code, signal], [0, null]);
  assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
});

test('a second signal exits at once even while stderr is stalled', T, async (t) => {
  const { writeFd } = stalledFifo(t);
  const cli = await startLogging(t, writeFd);
  await connections(cli.proxyPort, 500);
  // A connection held open by a silent backend keeps the graceful close waiting (up to 5 s),
  // so only the second signal can end the process sooner.
  const silent = await startBackend(() => {});
  t.after(() => silent.close());
  const json = { 'content-type': 'application/json' };
  const backends = (await (await fetch(`${cli.admin}/backends`)).json()) as { data: { backends: Array<{ id: string }> } };
  await fetch(`${cli.admin}/register`, { method: 'POST', headers: json, body: JSON.stringify({ address: `127.0.0.1:${silent.port}` }) });
  await fetch(`${cli.admin}/backends/${backends.data.backends[0]!.id}`, { method: 'DELETE' });
  const reached = silent.nextConnection();
  const open = await dial({ port: cli.proxyPort });
  t.after(() => open.destroy());
  await reached;
  const exited = once(cli.child, 'exit');
  const started = Date.now();
  cli.child.kill('SIGTERM');
  // Signals do not queue: wait until the first was handled (the listener is closed) before sending the second.
  await until('the proxy to stop accepting', () => dial({ port: cli.proxyPort }).then((c) => void c.destroy(), () => true));
  cli.child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms: the second signal did not exit at once`);
});
