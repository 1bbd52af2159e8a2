/** HAProxy as a real peer in tests: started in the foreground on an ephemeral port, killed after the test. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

export const HAVE_HAPROXY = spawnSync('haproxy', ['-v']).status === 0;
/** For `test(…, { skip })`: false where haproxy runs, else why not. */
export const skipWithoutHaproxy: false | string = HAVE_HAPROXY ? false : 'haproxy is not installed here (.ci/run installs it)';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs haproxy with `config(port)` (its listening port chosen here); resolves with the port once it accepts. */
export async function startHaproxy(t: TestContext, config: (port: number) => string[]): Promise<number> {
  return (await startHaproxyLogged(t, config)).port;
}

/**
 * `startHaproxy`, with what haproxy wrote to stderr so far: with
 * `log stderr format raw local0` in `global`, its session and handshake-error
 * log lines (e.g. `fe/1: Connection closed while waiting for PROXY protocol header`).
 */
export async function startHaproxyLogged(t: TestContext, config: (port: number) => string[]): Promise<{ port: number; log: () => string }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-haproxy-'));
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [...config(port), ''].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited ${child.exitCode}: ${stderr}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true))).on('error', () => r(false));
    });
    if (ok) return { port, log: () => stderr };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`haproxy did not listen: ${stderr}`);
}
