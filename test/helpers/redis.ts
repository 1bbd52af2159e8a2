/** A real redis-server on a free port for a test, in a temporary directory it can save to and restart from. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { refusedPort } from './net.ts';
import { until } from './wait.ts';

export interface TestRedis {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  /** `SHUTDOWN SAVE`: the data is on disk in `dir` when it resolves, and the server gone. */
  shutdown(): Promise<void>;
  /** `SHUTDOWN NOSAVE` and the saved data removed: the next `restart` comes up empty. */
  wipe(): Promise<void>;
  /** Starts again on the same port from what `dir` holds. */
  restart(): Promise<void>;
  /** Kills it and removes its directory (done after the test when started with one). */
  destroy(): void;
}

/** true once something on `port` answers PING with +PONG; undefined until then. */
export function pingable(port: number): Promise<true | undefined> {
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

/** Starts redis-server on `port` from `dir`; resolves once it answers. */
export async function runRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await until('redis-server to answer', () => pingable(port), 10_000);
  return child;
}

export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('redis-cli', ['-p', String(port), ...args]);
  return stdout.trim();
}

export async function startRedis(t: TestContext | undefined): Promise<TestRedis> {
  const port = await refusedPort();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-redis-'));
  let child = await runRedis(port, dir);
  const cleanup = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  t?.after(cleanup);
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}/0`,
    async shutdown() {
      const exited = once(child, 'exit');
      await redisCli(port, 'shutdown', 'save').catch(() => {}); // the server hangs up as it goes
      await exited;
    },
    async wipe() {
      const exited = once(child, 'exit');
      await redisCli(port, 'shutdown', 'nosave').catch(() => {});
      await exited;
      rmSync(join(dir, 'dump.rdb'), { force: true });
    },
    async restart() {
      child = await runRedis(port, dir);
    },
    destroy: cleanup,
  };
}
