/**
 * The config file as a user drives it: `validate`, start from a file, SIGHUP
 * reloads (a new service, a removed one draining, a broken edit refused with
 * its line and column), SIGTERM drains, and the same reload with workers.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../../src/config/file.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { startBackend } from '../helpers/fault-backend.ts';
import { closed, dial, httpGet, readAll, readBytes, sha256 } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const T = { timeout: 60_000 };

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'fulcrum-')), name);
  writeFileSync(path, text);
  return path;
}

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
  /** Waits until stdout or stderr matches. */
  waitFor(re: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpExecArray>;
}

function run(t: TestContext | undefined, args: string[]): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT });
  t?.after(() => child.kill('SIGKILL'));
  const r: Running = {
    child,
    stdout: '',
    stderr: '',
    async waitFor(re, stream = 'stdout') {
      for (;;) {
        const m = re.exec(r[stream]);
        if (m) return m;
        if (child.exitCode !== null) assert.fail(`exited ${child.exitCode} before ${re}: ${r.stderr}`);
        await Promise.race([once(child[stream], 'data'), once(child, 'exit')]);
      }
    },
  };
  child.stdout.on('data', (c) => (r.stdout += c));
  child.stderr.on('data', (c) => (r.stderr += c));
  return r;
}

async function exitOf(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = run(undefined, args);
  const [code] = await once(r.child, 'exit');
  return { code, stdout: r.stdout, stderr: r.stderr };
}

const admin = (port: number) => ({
  get: async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).json() as Promise<any>,
  post: async (path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  },
});

async function demos(t: TestContext, ...names: string[]): Promise<DemoBackend[]> {
  const list = await Promise.all(names.map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(list.map((b) => b.close())));
  return list;
}

const TWO = (a: number, b: number) => `# a two-service file
admin: { listen: 127.0.0.1:0 }
drainTimeout: 20s
defaults:
  health: { interval: 100ms }
services:
  - name: web
    listen: 127.0.0.1:0
    algo: wrr
    backends:
      - 127.0.0.1:${a}
  - name: cache
    listen: 127.0.0.1:0
    algo: lc
    backends: [ "127.0.0.1:${b}" ]
`;

test('validate: the summary and exit 0; --print gives back the same config; a broken file gives every error and exit 2', T, async (t) => {
  const file = tempFile('fulcrum.yaml', TWO(9001, 6379));
  const ok = await exitOf(['validate', '-c', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'ok: 2 services: web on 127.0.0.1:0 (weighted-round-robin, 1 backend), cache on 127.0.0.1:0 (least-connections, 1 backend)\n');
  const printed = await exitOf(['validate', '-c', file, '--print']);
  assert.equal(printed.code, 0);
  const yaml = printed.stdout.slice(printed.stdout.indexOf('\n') + 1);
  const again = parseConfigText(yaml, 'printed.yaml', {});
  assert.deepEqual({ ...again, configFile: undefined }, { ...parseConfigText(TWO(9001, 6379), 'f.yaml', {}), configFile: undefined });

  const broken = tempFile('broken.yaml', TWO(9001, 6379).replace('algo: wrr', 'algo: fastest').replace('127.0.0.1:6379', '127.0.0.1'));
  const bad = await exitOf(['validate', '-c', broken]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.deepEqual(bad.stderr.trim().split('\n'), [
    `${broken}:9:11: services[0].algo: unknown strategy "fastest" (valid: rr|round-robin, wrr|weighted-round-robin, srr|sticky-round-robin, lc|least-connections, ptc|power-of-two-choices, lrt|least-response-time, sih|source-ip-hash, maglev, random)`,
    `${broken}:15:17: services[1].backends[0]: "127.0.0.1" has no port (use host:port)`,
    `fulcrum validate: 2 errors in ${broken}`,
  ]);
  // Starting from it fails the same way, before anything listens.
  const start = await exitOf(['-c', broken]);
  assert.equal(start.code, 2);
  assert.equal(start.stderr.trim().split('\n').length, 2);
  assert.match(start.stderr, /^fulcrum: .*broken\.yaml:9:11: services\[0\]\.algo: unknown strategy/);
  // Per-service flags belong in the file.
  const mixed = await exitOf(['-c', file, '--backend', '127.0.0.1:9']);
  assert.equal(mixed.code, 2);
  assert.equal(mixed.stderr, `fulcrum: --backend: cannot be used with --config; set services[].backends in ${file}\n`);
});

/** A backend that sends `size` random bytes to every client, and the sha256 of what it sent. */
async function downloadBackend(t: TestContext, size: number) {
  const body = randomBytes(size);
  const backend = await startBackend((s) => s.end(body));
  t.after(() => backend.close());
  return { port: backend.port, sha: sha256(body), size };
}

async function reloadScenario(t: TestContext, extraArgs: string[]): Promise<void> {
  const [a, b, c, extra] = await demos(t, 'a', 'b', 'c', 'extra');
  const download = await downloadBackend(t, 16 * 1024 * 1024);
  const file = tempFile('fulcrum.yaml', TWO(a!.address.port, b!.address.port).replace(`- 127.0.0.1:${a!.address.port}`, `- 127.0.0.1:${a!.address.port}\n      - 127.0.0.1:${download.port}`));
  const p = run(t, ['-c', file, '--log-level', 'info', ...extraArgs]);
  const web = Number((await p.waitFor(/service web listening on 127\.0\.0\.1:(\d+) \(weighted-round-robin\)/))[1]);
  const cache = Number((await p.waitFor(/service cache listening on 127\.0\.0\.1:(\d+) \(least-connections\)/))[1]);
  const adminPort = Number((await p.waitFor(/admin listening on 127\.0\.0\.1:(\d+)/))[1]);
  const api = admin(adminPort);
  await until('backends up', async () => ((await api.get('/services/web/backends')).data.backends.every((x: any) => x.health === 'up') ? true : undefined), 10_000);

  // Both ports serve; the API adds a backend to one service.
  assert.equal((await httpGet(cache)).trim(), 'hello from b');
  const reg = await api.post('/services/web/register', { address: `127.0.0.1:${extra!.address.port}` });
  assert.equal(reg.status, 200);

  // A long download through web, paused part-way across the reloads.
  // wrr spreads over a, the download backend and extra: dial until the download backend answers.
  let downloader;
  let first: Buffer;
  for (;;) {
    downloader = await dial({ port: web });
    downloader.write('GET / HTTP/1.0\r\n\r\n');
    const socket = downloader;
    // Paused in the handler itself, so nothing flows past it; backpressure then holds the rest in the proxy and the kernel.
    first = await new Promise<Buffer>((resolve) => socket.once('data', (c: Buffer) => (socket.pause(), resolve(c))));
    if (first.subarray(0, 4).toString() !== 'HTTP') break;
    downloader.destroy();
  }
  const cacheConn = await dial({ port: cache, allowHalfOpen: true });
  cacheConn.write('ping');
  assert.equal((await readBytes(cacheConn, 4)).toString(), 'ping');

  // Edit: add a third service, remove cache.
  writeFileSync(file, TWO(a!.address.port, b!.address.port).replace(/  - name: cache[\s\S]*$/, `  - name: third\n    listen: 127.0.0.1:0\n    backends: [ "127.0.0.1:${c!.address.port}" ]\n`).replace(`- 127.0.0.1:${a!.address.port}`, `- 127.0.0.1:${a!.address.port}\n      - 127.0.0.1:${download.port}`));
  p.child.kill('SIGHUP');
  await p.waitFor(/"msg":"config reloaded"/, 'stderr');
  const services = (await api.get('/services')).data.services;
  assert.deepEqual(services.map((s: any) => s.name), ['web', 'third']);
  const third = Number(/:(\d+)$/.exec(services[1].listen)![1]);
  await until('third up', async () => ((await api.get('/services/third/backends')).data.backends[0]?.health === 'up' ? true : undefined), 10_000);
  assert.equal((await httpGet(third)).trim(), 'hello from c');
  await until('cache refuses new connections', async () => (await dial({ port: cache }).then((s) => (s.destroy(), undefined), () => true)));
  // The API backend survived the reload; the removed service's connection still works.
  assert.ok((await api.get('/services/web/backends')).data.backends.some((x: any) => x.address === `127.0.0.1:${extra!.address.port}` && x.origin === 'api'));
  cacheConn.write('pong');
  assert.equal((await readBytes(cacheConn, 4)).toString(), 'pong');

  // POST /reload of the same file: nothing to change; with workers, it answers once each has the state.
  const noop = await api.post('/reload');
  assert.equal(noop.status, 200);
  assert.deepEqual([noop.body.data.added, noop.body.data.removed, noop.body.data.changed], [[], [], {}]);
  const workers = extraArgs.includes('--workers') ? Number(extraArgs[extraArgs.indexOf('--workers') + 1]) : undefined;
  assert.deepEqual(noop.body.data.workers, workers === undefined ? undefined : { acknowledged: workers, missing: [] });

  // A broken edit is refused with its line and column; the old services keep serving.
  writeFileSync(file, TWO(a!.address.port, b!.address.port).replace('algo: wrr', 'algo: wrr\n    helth: {}'));
  p.child.kill('SIGHUP');
  const refused = await p.waitFor(/"msg":"reload refused; nothing changed"/, 'stderr');
  assert.ok(refused);
  assert.match(p.stderr, new RegExp(`fulcrum\\.yaml:10:5: services\\[0\\]\\.helth: unknown key \\(did you mean \\\\"health\\\\"\\?\\)`));
  assert.deepEqual((await api.get('/services')).data.services.map((s: any) => s.name), ['web', 'third']);
  assert.equal((await httpGet(third)).trim(), 'hello from c');

  // The download resumes and completes intact.
  const restP = readAll(downloader);
  downloader.resume();
  const rest = await restP;
  assert.equal(first!.length + rest.length, download.size);
  assert.equal(sha256(Buffer.concat([first!, rest])), download.sha);
  const cacheEnd = closed(cacheConn);
  cacheConn.end();
  assert.equal((await cacheEnd).error, undefined);

  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  assert.match(metrics, /^fulcrum_config_reloads_total\{result="success"\} 2$/m);
  assert.match(metrics, /^fulcrum_config_reloads_total\{result="failure"\} 1$/m);
  p.child.kill('SIGTERM');
  const [code] = await once(p.child, 'exit');
  assert.equal(code, 0);
}

test('a two-service file: serves both ports; SIGHUP adds a service and drains a removed one while a download completes; a broken edit is refused', T, (t) =>
  reloadScenario(t, []));

test('the same reload with --workers 2', T, (t) => reloadScenario(t, ['--workers', '2']));

test('SIGHUP without --config changes nothing and says so', T, async (t) => {
  const [a] = await demos(t, 'a');
  const p = run(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `127.0.0.1:${a!.address.port}`, '--health-interval', '0']);
  const port = Number((await p.waitFor(/proxy listening on 127\.0\.0\.1:(\d+)/))[1]);
  p.child.kill('SIGHUP');
  await p.waitFor(/nothing to reload/, 'stderr');
  assert.equal((await httpGet(port)).trim(), 'hello from a');
  p.child.kill('SIGTERM');
  assert.equal((await once(p.child, 'exit'))[0], 0);
});

test('SIGTERM drains: connections that end inside drainTimeout finish, those that outlast it are closed, exit 0', T, async (t) => {
  const [a] = await demos(t, 'a');
  const file = tempFile('f.yaml', `admin: { listen: 127.0.0.1:0 }\ndrainTimeout: 1s\ndefaults: { health: { interval: 0 } }\nservices:\n  - { name: s, listen: 127.0.0.1:0, backends: [ "127.0.0.1:${a!.address.port}" ] }\n`);
  const p = run(t, ['-c', file]);
  const port = Number((await p.waitFor(/service s listening on 127\.0\.0\.1:(\d+)/))[1]);
  await p.waitFor(/admin listening/);
  const quick = await dial({ port, allowHalfOpen: true });
  const slow = await dial({ port });
  for (const s of [quick, slow]) {
    s.write('hi');
    assert.equal((await readBytes(s, 2)).toString(), 'hi');
  }
  const slowEnd = closed(slow);
  const started = Date.now();
  p.child.kill('SIGTERM');
  await p.waitFor(/shutting down/, 'stderr');
  // The quick one still works during the drain, then ends on its own.
  quick.write('again');
  assert.equal((await readBytes(quick, 5)).toString(), 'again');
  const quickEnd = readAll(quick);
  quick.end();
  await quickEnd;
  await slowEnd;
  const [code] = await once(p.child, 'exit');
  assert.equal(code, 0);
  assert.ok(Date.now() - started >= 900, 'the slow one was held until the drain timeout');
  assert.match(p.stderr, /"finished":1,"closed":1/);
});
