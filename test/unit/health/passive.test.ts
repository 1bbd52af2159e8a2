/**
 * Passive health and the monitor on a real Registry with a fake clock: when
 * ejections happen, how long they last, what brings a backend back. Timers
 * are only used where active checks are off (the monitor's readmission).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Backend } from '../../../src/backends/backend.ts';
import { Registry } from '../../../src/backends/registry.ts';
import { makeService } from '../../../src/config/config.ts';
import { HealthMonitor, HealthStats } from '../../../src/health/monitor.ts';
import { PassiveHealth } from '../../../src/health/passive.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { createStrategy } from '../../../src/strategies/index.ts';

const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
const pass = { ok: true, reason: 'connected' };
const fail = { ok: false, reason: 'ECONNREFUSED' };

function setup(opts: { activeChecks: boolean; maxFails?: number; ejectBaseMs?: number; ejectMaxMs?: number }) {
  let clock = 1_000_000;
  const now = () => clock;
  const registry = new Registry({
    strategy: createStrategy('round-robin', { random: Math.random, now, stickyTtlMs: 1, stickyMaxEntries: 1 }),
    initialHealth: opts.activeChecks ? 'unknown' : 'up',
  });
  const stats = new HealthStats();
  const monitor = new HealthMonitor({ registry, log: silentLogger(), stats, thresholds: { rise: 2, fall: 3 }, activeChecks: opts.activeChecks, now });
  const config = makeService({ passive: { maxFails: opts.maxFails ?? 3, ejectBaseMs: opts.ejectBaseMs ?? 5000, ejectMaxMs: opts.ejectMaxMs ?? 300_000 } }).passive;
  const passive = new PassiveHealth({ registry, ejector: monitor, config, now });
  const { backend } = registry.upsert({ host: '127.0.0.1', port: 9001, weight: 1 });
  const failTimes = (b: Backend, n: number) => {
    for (let i = 0; i < n; i++) passive.connectFailed(b, refused);
  };
  return {
    registry, monitor, passive, stats, backend, failTimes,
    advance: (ms: number) => (clock += ms),
    close: () => (monitor.close(), passive.close()),
  };
}

test('passive: max-fails consecutive failures eject at once; a success in between resets the count', (t) => {
  const s = setup({ activeChecks: true });
  t.after(s.close);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'up');
  s.failTimes(s.backend, 2);
  s.passive.connectSucceeded(s.backend);
  s.failTimes(s.backend, 2);
  assert.equal(s.backend.health, 'up');
  assert.equal(s.registry.readyCount, 1);
  s.failTimes(s.backend, 1);
  assert.equal(s.backend.health, 'down');
  assert.equal(s.backend.ready, false);
  assert.equal(s.registry.readyCount, 0);
  assert.equal(s.stats.ejections, 1);
  assert.equal(s.stats.flips, 2); // unknown → up, up → down
});

test('passive: probes during the ejection do not readmit; the first passing one after it does', (t) => {
  const s = setup({ activeChecks: true });
  t.after(s.close);
  s.monitor.report(s.backend, pass);
  s.failTimes(s.backend, 3);
  assert.equal(s.backend.health, 'down');
  s.advance(4999);
  s.monitor.report(s.backend, pass);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'down');
  s.advance(1);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'up');
});

test('passive: a failing probe after the ejection keeps it down until rise passes', (t) => {
  const s = setup({ activeChecks: true });
  t.after(s.close);
  s.monitor.report(s.backend, pass);
  s.failTimes(s.backend, 3);
  s.advance(5000);
  s.monitor.report(s.backend, fail);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'down');
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'up');
});

test('passive: ejections double while they follow each other, capped at the maximum', (t) => {
  const s = setup({ activeChecks: true, ejectBaseMs: 5000, ejectMaxMs: 30_000 });
  t.after(s.close);
  s.monitor.report(s.backend, pass);
  const lasted: number[] = [];
  for (let i = 0; i < 5; i++) {
    s.failTimes(s.backend, 3);
    assert.equal(s.backend.health, 'down');
    // Probe every 100ms until one readmits it: that is how long the ejection lasted.
    let waited = 0;
    while (s.backend.health === 'down') {
      s.advance(100);
      waited += 100;
      s.monitor.report(s.backend, pass);
    }
    lasted.push(waited);
    s.advance(100); // back up, but for less than its last ejection
  }
  assert.deepEqual(lasted, [5000, 10_000, 20_000, 30_000, 30_000]);
  assert.equal(s.stats.ejections, 5);
});

test('passive: staying up for a full ejection period resets the doubling', (t) => {
  const s = setup({ activeChecks: true });
  t.after(s.close);
  s.monitor.report(s.backend, pass);
  s.failTimes(s.backend, 3);
  s.advance(5000);
  s.monitor.report(s.backend, pass);
  s.failTimes(s.backend, 3); // second in a row: 10s
  s.advance(9999);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'down');
  s.advance(1);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'up');
  s.advance(10_000); // up for as long as the last ejection lasted
  s.failTimes(s.backend, 3);
  s.advance(5000);
  s.monitor.report(s.backend, pass);
  assert.equal(s.backend.health, 'up', 'back to the base ejection time');
});

test('passive: failures of a backend that is down or unknown do not count', (t) => {
  const s = setup({ activeChecks: true });
  t.after(s.close);
  s.failTimes(s.backend, 10); // unknown: panic traffic
  assert.equal(s.stats.ejections, 0);
  s.monitor.report(s.backend, pass);
  s.failTimes(s.backend, 2);
  assert.equal(s.backend.health, 'up', 'the failures before it was up were not counted');
});

test('passive: max-fails 0 disables ejection', (t) => {
  const s = setup({ activeChecks: false, maxFails: 0 });
  t.after(s.close);
  s.failTimes(s.backend, 100);
  assert.equal(s.backend.health, 'up');
  assert.equal(s.stats.ejections, 0);
});

/** The monitor's timers are unref'd (a balancer's listener keeps the process alive); here nothing else does. */
function keepAlive(t: { after(fn: () => void): void }): void {
  const timer = setInterval(() => {}, 1000);
  t.after(() => clearInterval(timer));
}

test('passive: with active checks off the backend is readmitted when the ejection ends', async (t) => {
  keepAlive(t);
  const s = setup({ activeChecks: false, ejectBaseMs: 50 });
  t.after(s.close);
  assert.equal(s.backend.health, 'up');
  const started = Date.now();
  s.failTimes(s.backend, 3);
  assert.equal(s.backend.health, 'down');
  await once(s.registry, 'state');
  assert.equal(s.backend.health, 'up');
  assert.ok(Date.now() - started >= 45, `readmitted after ${Date.now() - started}ms`);
});

test('passive: a removed backend is forgotten: no readmission timer fires for it', async (t) => {
  keepAlive(t);
  const s = setup({ activeChecks: false, ejectBaseMs: 30 });
  t.after(s.close);
  s.failTimes(s.backend, 3);
  s.registry.remove(s.backend);
  let events = 0;
  s.registry.on('state', () => events++);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(events, 0);
  assert.equal(s.backend.health, 'down');
});
