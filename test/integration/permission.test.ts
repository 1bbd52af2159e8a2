/**
 * Under Node's permission model, with the grants a user would give: the
 * start-up check sees `process.binding` refused, `auto` falls back to the
 * stream data plane with one warning line and proxies; `--data-plane native`
 * stops with one line and exit 2, never a stack trace.
 *
 * Grants: read the package (its node_modules inside) and /etc/hosts (the
 * resolver reads it); `--allow-net` where Node has it (26 refuses sockets
 * without). Where Node does not strip types itself (Node 20), tsx's loader
 * runs in a worker thread, compiles with an esbuild child process, caches
 * in the temp folder and probes paths outside the package: that needs
 * `--allow-worker --allow-child-process --allow-fs-read=* --allow-fs-write=TMP`,
 * grants Node itself says may invalidate the model. Prefer a Node that strips
 * types (22.18 and later) under the permission model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { stripsTypes } from '../../src/runtime/ts-loader.mjs';
import { ROOT } from '../helpers/cli.ts';
import { startBackend, echo } from '../helpers/fault-backend.ts';
import { dial, readAll } from '../helpers/net.ts';

const flags = process.allowedNodeEnvironmentFlags;
const permissionFlag = flags.has('--permission') ? '--permission' : flags.has('--experimental-permission') ? '--experimental-permission' : undefined;
const skip = permissionFlag === undefined ? `this Node (${process.version}) has no permission model` : false;

function grants(): string[] {
  const out = [permissionFlag!, `--allow-fs-read=${ROOT}`, '--allow-fs-read=/etc/hosts'];
  if (flags.has('--allow-net')) out.push('--allow-net');
  // tsx also probes paths of its own choosing (upper-cased ones, to learn whether the file system is case-sensitive): read everything.
  if (!stripsTypes) out.push('--allow-worker', '--allow-child-process', '--allow-fs-read=*', `--allow-fs-write=${tmpdir()}`);
  return out;
}

/** Node's own warnings about the permission model, not Fulcrum's output. */
const nodesOwn = (line: string) => line.startsWith('(node:') || line.startsWith('(Use `node');

function run(args: readonly string[]) {
  const child = spawn(process.execPath, [...grants(), 'tools/fulcrum.mjs', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
    killSignal: 'SIGKILL',
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (c) => (out.stdout += c));
  child.stderr.on('data', (c) => (out.stderr += c));
  return { child, out, ours: () => out.stderr.split('\n').filter((l) => l !== '' && !nodesOwn(l)) };
}

test('under --permission, auto runs the stream data plane, says why in one warning, and proxies', { skip, timeout: 30_000 }, async (t) => {
  const backend = await startBackend(echo);
  t.after(() => backend.close());
  const { child, out, ours } = run(['--backend', `127.0.0.1:${backend.port}`, '--health-interval', '0']);
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`fulcrum exited with ${code}: ${out.stdout}${out.stderr}`);
  });
  exited.catch(() => {});
  while (!/admin listening/.test(out.stdout)) await Promise.race([once(child.stdout, 'data'), exited]);
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out.stdout)![1]);

  const client = await dial({ port, allowHalfOpen: true });
  const got = readAll(client);
  client.end('hello through the stream plane');
  assert.equal((await got).toString(), 'hello through the stream plane');

  const lines = ours();
  const warnings = lines.filter((l) => l.includes('data plane'));
  assert.equal(warnings.length, 1, lines.join('\n'));
  const warning = JSON.parse(warnings[0]!) as { level: string; dataPlane: string; reason: string };
  assert.deepEqual([warning.level, warning.dataPlane, warning.reason], ['warn', 'stream', 'this Node refuses process.binding (permission model)']);
  assert.ok(!/DEP0111|process\.binding\(\) is deprecated|\n\s+at /.test(out.stderr), out.stderr);
});

test('under --permission, --data-plane native stops with one line and exit 2', { skip, timeout: 30_000 }, async () => {
  const { child, ours } = run(['--data-plane', 'native']);
  const [code] = await once(child, 'exit');
  assert.deepEqual({ code, stderr: ours() }, { code: 2, stderr: ['fulcrum: --data-plane native: this Node refuses process.binding (permission model); use auto or stream'] });
});
