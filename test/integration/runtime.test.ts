/**
 * Fulcrum as a tool: the `fulcrum` bin from any directory (its loader and its
 * workers' loader come from the package's own folder), `--version`, and
 * `npm start` stopped with SIGTERM leaving nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { httpGet } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../tools/fulcrum.mjs', import.meta.url));
const QUIET = ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '0', '--log-level', 'silent'];

/** Resolves with stdout so far once it matches `pattern`; rejects if the process exits first. */
async function stdoutUntil(child: ChildProcess, pattern: RegExp): Promise<string> {
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`exited (${code}) before printing ${pattern}: ${out}`);
  });
  while (!pattern.test(out)) await Promise.race([once(child.stdout!, 'data'), exited]);
  exited.catch(() => {});
  return out;
}

/** Every process below `pid` (Linux: pgrep). */
function descendants(pid: number): number[] {
  let direct: number[];
  try {
    direct = execFileSync('pgrep', ['-P', String(pid)]).toString().trim().split('\n').map(Number);
  } catch {
    return [];
  }
  return direct.flatMap((p) => [p, ...descendants(p)]);
}

/** A pid that is gone or a zombie waiting for its reaper runs nothing. */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('connect', () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(true));
  });
}

test('fulcrum --version prints the package version', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const out = execFileSync(process.execPath, [BIN, '--version'], { cwd: '/' }).toString();
  assert.equal(out, `${version}\n`);
});

test('the bin run from / with --workers 2 finds its loader and its workers theirs, and proxies', async (t) => {
  const child = spawn(process.execPath, [BIN, '--workers', '2', '--demo', ...QUIET], { cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const out = await stdoutUntil(child, /demo-3/);
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const workers = execFileSync('pgrep', ['-P', String(child.pid), '-f', 'cluster/worker']).toString().trim().split('\n');
  assert.equal(workers.length, 2, 'two workers');
  assert.match(await httpGet(port), /^hello from demo-\d/);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('npm start stopped with SIGTERM stops Fulcrum too: no process left, ports closed', async (t) => {
  const npm = spawn('npm', ['start', '--', ...QUIET], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => npm.kill('SIGKILL'));
  const out = await stdoutUntil(npm, /admin listening/);
  const proxy = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const admin = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const below = descendants(npm.pid!);
  assert.ok(below.length >= 1, 'npm runs Fulcrum below itself');
  t.after(() => below.forEach((p) => running(p) && process.kill(p, 'SIGKILL')));

  npm.kill('SIGTERM');
  await once(npm, 'exit');
  await until('every process npm started to end', () => (below.some(running) ? undefined : true));
  assert.ok(await refuses(proxy), 'the proxy port still accepts');
  assert.ok(await refuses(admin), 'the admin port still accepts');
});

test('started under ulimit -n 1024, fulcrum warns once how to raise the open-file limit, and runs', async (t) => {
  const cmd = `ulimit -n 1024 && exec "${process.execPath}" "${BIN}" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --health-interval 0 --log-level warn`;
  const child = spawn('bash', ['-c', cmd], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  await stdoutUntil(child, /admin listening/);
  await until('the warning on stderr', () => (err.includes('\n') ? true : undefined));
  const lines = err.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; fdLimit: number });
  assert.equal(lines.length, 1, err);
  assert.equal(lines[0]!.level, 'warn');
  assert.equal(lines[0]!.fdLimit, 1024);
  assert.match(lines[0]!.msg, /open-file limit is 1024, .* `ulimit -n 65536` .* LimitNOFILE=65536/);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});
