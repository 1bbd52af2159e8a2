/**
 * nginx as a real peer in tests: a `stream` server from a config written
 * here (the stream module loaded from Debian's libnginx-mod-stream), run in
 * the foreground with its pid, logs and prefix in a temp dir, on ephemeral
 * ports, killed after the test. nginx cannot report a port it picked, so a
 * free one is found by binding port 0 and closing it; if something takes it
 * in between, nginx fails with EADDRINUSE and another port is tried.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './haproxy.ts';

export const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
export const HAVE_NGINX_STREAM = spawnSync('nginx', ['-v']).status === 0 && existsSync(STREAM_MODULE);
/** For `test(…, { skip })`: false where nginx and its stream module are installed, else why not. */
export const skipWithoutNginx: false | string = HAVE_NGINX_STREAM ? false : 'nginx with the stream module is not installed here (.ci/run installs nginx-light and libnginx-mod-stream)';

export interface Nginx {
  readonly port: number;
  /** What nginx wrote to its error log so far. */
  errorLog(): string;
}

/**
 * Runs nginx with `server` (the lines of one `stream { server { … } }`, given
 * the port to listen on) and resolves once it accepts on 127.0.0.1:port.
 */
export async function startNginxStream(t: TestContext, server: (port: number) => string[]): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-nginx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const errorLog = path.join(dir, 'error.log');
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, [
      `load_module ${STREAM_MODULE};`,
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'worker_processes 1;',
      'events { worker_connections 256; }',
      'stream {',
      '  server {',
      ...server(port).map((line) => `    ${line}`),
      '  }',
      '}',
      '',
    ].join('\n'));
    // -e: the log nginx writes to before it has read the config; -p: the prefix for any relative path.
    const child = spawn('nginx', ['-p', dir, '-e', errorLog, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const log = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '') + stderr;
    t.after(() => void child.kill('SIGKILL'));
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true))).on('error', () => r(false));
      });
      if (ok) return { port, errorLog: log };
      await new Promise((r) => setTimeout(r, 50));
    }
    if (child.exitCode === null) child.kill('SIGKILL');
    if (!/Address already in use/.test(log())) throw new Error(`nginx did not listen on ${port}: ${log()}`);
  }
  throw new Error(`nginx found no free port in 5 tries: ${readFileSync(errorLog, 'utf8')}`);
}
