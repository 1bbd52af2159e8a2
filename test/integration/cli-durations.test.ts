/**
 * One rule for every duration: at least 1ms, 0 only where it means off
 * (--idle-timeout, --health-interval), never rounded down to 0; negative
 * values named as invalid durations; --health-http only takes what can go in
 * a request line. Each refusal is exit 2 and one line naming the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitOf, startCli } from '../helpers/cli.ts';

const T = { timeout: 25_000 };

const BAD: Array<{ args: string[]; message: RegExp }> = [
  { args: ['--health-interval', '0.0001'], message: /^fulcrum: --health-interval: "0\.0001" is invalid: under the 1ms minimum \(use 1ms or more, or 0 to turn it off\)$/ },
  { args: ['--health-timeout', '0.4ms'], message: /^fulcrum: --health-timeout: "0\.4ms" is invalid: under the 1ms minimum \(use 1ms or more\)$/ },
  { args: ['--idle-timeout', '0.4ms'], message: /^fulcrum: --idle-timeout: "0\.4ms" is invalid: under the 1ms minimum/ },
  { args: ['--connect-timeout', '0'], message: /^fulcrum: --connect-timeout: "0" is invalid: under the 1ms minimum \(use 1ms or more\)$/ },
  { args: ['--health-timeout', '0s'], message: /^fulcrum: --health-timeout: "0s" is invalid: under the 1ms minimum/ },
  { args: ['--sticky-ttl', '0.0000001h'], message: /^fulcrum: --sticky-ttl: "0\.0000001h" is invalid: under the 1ms minimum/ },
  { args: ['--eject-time', '0'], message: /^fulcrum: --eject-time: "0" is invalid: under the 1ms minimum/ },
  { args: ['--health-interval', '-1s'], message: /^fulcrum: --health-interval: "-1s" is invalid: a duration cannot be negative/ },
  { args: ['-t', '-1s'], message: /^fulcrum: --health-interval: "-1s" is invalid: a duration cannot be negative/ },
  { args: ['--idle-timeout', '-5'], message: /^fulcrum: --idle-timeout: "-5" is invalid: a duration cannot be negative/ },
  { args: ['--connect-timeout', '-0.5ms'], message: /^fulcrum: --connect-timeout: "-0\.5ms" is invalid: a duration cannot be negative/ },
  { args: ['--health-http', '/health\r\nX-Injected: 1'], message: /^fulcrum: --health-http: "\/health\\r\\nX-Injected: 1" contains "\\r", which cannot go in a request line/ },
  { args: ['--health-http', '/a b'], message: /^fulcrum: --health-http: "\/a b" contains " ", which cannot go in a request line \(percent-encode it/ },
  { args: ['--health-http', '/tab\there'], message: /^fulcrum: --health-http: .* contains "\\t"/ },
  { args: ['--health-http', '/ü'], message: /^fulcrum: --health-http: "\/ü" contains "ü"/ },
  { args: ['--health-http', 'health'], message: /^fulcrum: --health-http: "health" must be a path starting with "\/"/ },
];

for (const { args, message } of BAD) {
  test(`${JSON.stringify(args)} exits 2 with one line naming the flag`, T, async () => {
    const { code, stderr, stdout } = await exitOf(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args]);
    assert.equal(code, 2, stderr);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr.trim(), message);
    assert.equal(stdout, '');
  });
}

test('0 still turns off the idle timeout and the probes; 1ms and a query path are taken', T, async (t) => {
  const off = await startCli(t, ['--idle-timeout', '0', '--health-interval', '0', '--log-level', 'silent']);
  assert.ok(off.proxyPort > 0);
  const fast = await startCli(t, ['--health-interval', '1ms', '--health-timeout', '1.4ms', '--health-http', "/health?probe=fulcrum&x=%20'", '--log-level', 'silent']);
  assert.ok(fast.proxyPort > 0);
});
