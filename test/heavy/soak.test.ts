/**
 * The soak (tools/soak.ts), bounded for CI: 20 s of mixed load through
 * `--workers 2` while backends are killed and restarted, registered, drained
 * and deleted, the config is reloaded and a worker is killed; it must exit 0
 * (every invariant held) and print its table. Heavy: .ci/run runs it once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from '../helpers/cli.ts';

test('a 20 s soak with kills, registrations, drains, reloads and a worker kill keeps every invariant', { timeout: 120_000 }, async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/soak.ts', '--duration', '20s', '--workers', '2', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const [code] = await once(child, 'exit');
  for (const line of out.trim().split('\n')) t.diagnostic(line);
  assert.match(out, /\| connections \(short \/ stream\) +\| \d+/);
  assert.match(out, /\| faults injected +\| .*backend killed \d+/);
  assert.match(out, /PASS {2}no failure a fault does not explain/);
  assert.doesNotMatch(out, /^FAIL/m);
  assert.equal(code, 0, `${out}\n${err.slice(-2000)}`);
});
