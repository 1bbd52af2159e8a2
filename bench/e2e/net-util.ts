/** Small loopback helpers: free ports, readiness polling, a one-shot GET, finding binaries. */
import net from 'node:net';
import http from 'node:http';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { sleep, type Spawned } from './children.ts';

export const HOST = '127.0.0.1';

/**
 * A port the kernel just handed out and we released. Another process could
 * take it before our child binds; readiness polling then fails loudly, which is
 * acceptable for a benchmark on a quiet loopback.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.setTimeout(500);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

/** Polls TCP connect until it succeeds; throws with the child's output if it exits or time runs out. */
export async function waitForPort(port: number, proc: Spawned, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`exited before listening: ${lastLines(proc.tail())}`);
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`not listening on ${HOST}:${port} after ${timeoutMs} ms: ${lastLines(proc.tail())}`);
}

export function lastLines(text: string, n = 3): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  return lines.length === 0 ? '(no output)' : lines.slice(-n).join(' | ');
}

/** One GET on a fresh connection; resolves with status and body length. */
export function httpGet(port: number, path: string, timeoutMs = 3000): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Like `which`, but also looks in the sbin directories a non-root PATH often lacks. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}
