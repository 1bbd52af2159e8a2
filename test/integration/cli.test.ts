/** The `fulcrum` command as a user runs it: exit codes, messages, startup lines, --demo. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { httpGet } from '../helpers/net.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function exitOf(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = run(args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

const BAD: Array<{ args: string[]; message: RegExp }> = [
  { args: ['--algo', 'fastest'], message: /^fulcrum: --algo: unknown strategy "fastest" \(valid: rr\|round-robin, .*random/ },
  { args: ['--listen', '70000'], message: /^fulcrum: --listen: port 70000 is out of range/ },
  { args: ['--backend', '127.0.0.1:9001@0'], message: /^fulcrum: --backend: weight "0" is invalid \(use an integer 1-1000\)/ },
  { args: ['--backend', '127.0.0.1:9001@1001'], message: /^fulcrum: --backend: weight "1001" is invalid/ },
  { args: ['--backend', 'no-port-here'], message: /^fulcrum: --backend: "no-port-here" has no port/ },
  { args: ['--backend', '::1:80'], message: /^fulcrum: --backend: "::1:80" looks like a bare IPv6 address/ },
  { args: ['--connect-timeout', 'soon'], message: /^fulcrum: --connect-timeout: "soon" is not a duration/ },
  { args: ['--idle-timeout', '5 parsecs'], message: /^fulcrum: --idle-timeout: "5 parsecs" is not a duration/ },
  { args: ['--retries', '-1'], message: /^fulcrum: --retries: "-1" is invalid/ },
  { args: ['--backend', '127.0.0.1:0'], message: /^fulcrum: --backend: "127.0.0.1:0" has port 0/ },
  { args: ['--admin-token', ''], message: /^fulcrum: --admin-token: is empty/ },
  { args: ['--workers', 'many'], message: /^fulcrum: --workers: "many" is invalid/ },
  { args: ['--no-such-flag'], message: /^fulcrum: usage: Unknown argument/ },
  { args: ['--data-plane', 'raw'], message: /^fulcrum: --data-plane: "raw" is invalid \(use auto, native, stream\)$/m },
];

for (const { args, message } of BAD) {
  test(`${args.join(' ')} exits 2 with one line naming the flag`, async () => {
    const { code, stderr, stdout } = await exitOf(args);
    assert.equal(code, 2);
    assert.match(stderr, message);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.equal(stdout, '');
  });
}

test('--algo is case-insensitive and takes long names', async () => {
  const child = run(['--algo', 'Least-Connections', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  const [line] = await once(child.stdout, 'data');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.match(String(line), /^fulcrum: proxy listening on 127\.0\.0\.1:\d+ \(least-connections\)/);
  assert.equal(code, 0);
});

test('--help lists every flag with its default and exits 0', async () => {
  const { code, stdout } = await exitOf(['--help']);
  assert.equal(code, 0);
  for (const flag of ['--listen', '--admin', '--algo', '--backend', '--connect-timeout', '--retries', '--idle-timeout', '--demo']) {
    assert.ok(stdout.includes(flag), `help lacks ${flag}`);
  }
  assert.match(stdout, /\[default: "ptc"\]/);
});

test('--demo answers HTTP through the proxy, the three backends taking turns, and SIGINT exits 0', async () => {
  const child = run(['--demo', '--algo', 'rr', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '100ms']);
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  while (!/proxy listening on 127\.0\.0\.1:(\d+)/.test(stdout)) await once(child.stdout, 'data');
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
  const bodies: string[] = [];
  for (let i = 0; i < 6; i++) bodies.push(await httpGet(port));
  child.kill('SIGINT');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.deepEqual(
    bodies.map((b) => b.trim()).sort(),
    ['hello from demo-1', 'hello from demo-1', 'hello from demo-2', 'hello from demo-2', 'hello from demo-3', 'hello from demo-3'],
  );
  assert.notEqual(bodies[0], bodies[1]);
  assert.notEqual(bodies[1], bodies[2]);
});

test('--data-plane stream and native both proxy; the start-up check prints no deprecation warning, even under --pending-deprecation', async (t) => {
  for (const plane of ['native', 'stream', 'auto']) {
    const child = spawn(process.execPath, ['--pending-deprecation', '--import', 'tsx', 'src/main.ts', '--demo', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--data-plane', plane], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    while (!/demo-3/.test(stdout)) await once(child.stdout, 'data');
    const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
    assert.match(await httpGet(port), /^hello from demo-\d/, plane);
    child.kill('SIGTERM');
    await once(child, 'exit');
    assert.doesNotMatch(stderr, /DEP0111|DeprecationWarning|"level":40/, `${plane}: ${stderr}`);
  }
});
