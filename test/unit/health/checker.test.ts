/** The checker's scheduling with a scripted probe: when it probes, what it drops, the jitter. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../../src/backends/backend.ts';
import { Registry } from '../../../src/backends/registry.ts';
import { HealthChecker } from '../../../src/health/checker.ts';
import type { ProbeResult } from '../../../src/health/probe.ts';
import { createStrategy } from '../../../src/strategies/index.ts';

function registry(): Registry {
  return new Registry({
    strategy: createStrategy('round-robin', { random: Math.random, now: Date.now, stickyTtlMs: 1, stickyMaxEntries: 1 }),
    initialHealth: 'unknown',
  });
}

/** A probe the test settles by hand; records every call. */
function scriptedProbe() {
  const calls: { backend: Backend; settle: (r: ProbeResult) => void }[] = [];
  const probe = (backend: Backend) => new Promise<ProbeResult>((settle) => void calls.push({ backend, settle }));
  return { calls, probe: probe as unknown as ConstructorParameters<typeof HealthChecker>[0]['probe'] };
}

const spec = (port: number) => ({ host: '127.0.0.1', port, weight: 1 });
const tick = () => new Promise((r) => setImmediate(r));

test('checker: backends present at start and added later are probed at once', (t) => {
  const reg = registry();
  reg.upsert(spec(9001));
  const { calls, probe } = scriptedProbe();
  const checker = new HealthChecker({ registry: reg, monitor: { report() {} }, probe, intervalMs: 60_000, timeoutMs: 10 });
  t.after(() => checker.close());
  assert.deepEqual(calls.map((c) => c.backend.port), [9001]);
  reg.upsert(spec(9002));
  assert.deepEqual(calls.map((c) => c.backend.port), [9001, 9002]);
  reg.upsert({ ...spec(9001), weight: 5 }); // a weight change is no new backend
  assert.deepEqual(calls.map((c) => c.backend.port), [9001, 9002]);
});

test('checker: results go to the monitor and set lastCheck; a removed backend\'s in-flight result is dropped', async (t) => {
  const reg = registry();
  const { backend: a } = reg.upsert(spec(9001));
  const { backend: b } = reg.upsert(spec(9002));
  const { calls, probe } = scriptedProbe();
  const reports: [number, boolean][] = [];
  const checker = new HealthChecker({
    registry: reg, probe, intervalMs: 60_000, timeoutMs: 10,
    monitor: { report: (backend, r) => void reports.push([backend.port, r.ok]) },
  });
  t.after(() => checker.close());
  calls[0]!.settle({ ok: true, reason: 'connected' });
  reg.remove(b);
  calls[1]!.settle({ ok: false, reason: 'ECONNREFUSED' });
  await tick();
  assert.deepEqual(reports, [[9001, true]]);
  assert.ok(a.lastCheck > 0);
  assert.equal(b.lastCheck, 0);
});

test('checker: the next probe follows the interval; none after close', async (t) => {
  const reg = registry();
  reg.upsert(spec(9001));
  const { calls, probe } = scriptedProbe();
  // The interval runs from the start of the first probe, which the constructor makes: measure from before it.
  const started = Date.now();
  const checker = new HealthChecker({ registry: reg, monitor: { report() {} }, probe, intervalMs: 30, timeoutMs: 10 });
  t.after(() => checker.close());
  const keep = setInterval(() => {}, 1000);
  t.after(() => clearInterval(keep));
  calls[0]!.settle({ ok: true, reason: 'connected' });
  while (calls.length < 2) await new Promise((r) => setTimeout(r, 2));
  const gap = Date.now() - started;
  assert.ok(gap >= 26 && gap < 200, `second probe after ${gap}ms`);
  checker.close();
  calls[1]!.settle({ ok: true, reason: 'connected' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(calls.length, 2);
});

test('checker: jitter keeps delays within the interval ± 10%', () => {
  let r = 0;
  const reg = registry();
  const checker = new HealthChecker({ registry: reg, monitor: { report() {} }, probe: scriptedProbe().probe, intervalMs: 1000, timeoutMs: 10, random: () => r });
  const delays = [0, 0.25, 0.5, 0.75, 0.999999].map((x) => ((r = x), Math.round(checker.nextDelay())));
  assert.deepEqual(delays, [900, 950, 1000, 1050, 1100]);
  checker.close();
});

test('checker: an interval of 0 is refused (the balancer builds no checker then)', () => {
  assert.throws(() => new HealthChecker({ registry: registry(), monitor: { report() {} }, probe: scriptedProbe().probe, intervalMs: 0, timeoutMs: 10 }), RangeError);
});
