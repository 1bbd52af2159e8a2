/**
 * Passive health end to end: connect failures on real traffic eject a backend
 * while the client's bytes still reach another one; the ejection ends on time,
 * by itself without probes, by a passing probe with them.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import type { Backend, Health } from '../../src/backends/backend.ts';
import type { Registry } from '../../src/backends/registry.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { httpGet, refusedPort } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';

const T = { timeout: 15_000 };

function captureLog(): { log: Logger; lines: any[] } {
  const lines: any[] = [];
  return { log: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) }), lines };
}

/** Resolves when `backend` reaches `health` (at once if it already has). */
function healthOf(registry: Registry, backend: Backend, health: Health): Promise<void> {
  if (backend.health === health) return Promise.resolve();
  return new Promise((resolve) => {
    const check = (b: Backend) => {
      if (b !== backend || b.health !== health) return;
      registry.off('state', check);
      resolve();
    };
    registry.on('state', check);
  });
}

/** Records when `backend` next goes down, as the registry reports it (not when the test notices). */
function downTime(registry: Registry, backend: Backend): () => number {
  let at = 0;
  const check = (b: Backend) => {
    if (b !== backend || b.health !== 'down') return;
    at = Date.now();
    registry.off('state', check);
  };
  registry.on('state', check);
  return () => {
    assert.ok(at > 0, 'never went down');
    return at;
  };
}

async function demo(t: TestContext, name: string, port = 0): Promise<DemoBackend> {
  const b = await startDemoBackend(name, port);
  t.after(() => b.close());
  return b;
}

/** Clients write first (an HTTP request), then read the answer; returns who answered, until `stop` holds. */
async function trafficUntil(port: number, stop: () => boolean, max: number): Promise<string[]> {
  const answers: string[] = [];
  while (!stop()) {
    if (answers.length >= max) throw new Error(`still not there after ${max} connections: ${answers.join(', ')}`);
    answers.push((await httpGet(port)).trim());
  }
  return answers;
}

test('a refusing backend is ejected after max-fails failures, clients served by another; back when the ejection ends (no probes)', T, async (t) => {
  const good = await demo(t, 'good');
  const { log, lines } = captureLog();
  const ejectMs = 300;
  const lb = await startProxy(
    t,
    { backends: [backendAt(await refusedPort()), backendAt(good.address.port)], retries: 1, passive: { maxFails: 3, ejectBaseMs: ejectMs } },
    { log },
  );
  const [bad] = lb.registry.list();
  assert.ok(bad);
  assert.equal(bad.health, 'up', 'active checks are off: assumed up');

  const ejected = downTime(lb.registry, bad);
  const answers = await trafficUntil(lb.proxyAddress.port, () => bad.health === 'down', 10);
  const ejectedAt = ejected();
  for (let i = 0; i < 5; i++) answers.push((await httpGet(lb.proxyAddress.port)).trim());
  assert.deepEqual(answers, Array(answers.length).fill('hello from good'));
  assert.equal(bad.failed, 3, 'ejected on the third failure and not tried after');
  assert.equal(lb.stats.retries, 3);
  assert.equal(lb.stats.noBackend, 0);
  assert.equal(lb.healthStats.ejections, 1);
  const flip = lines.filter((l) => l.msg === 'backend health changed' && l.backend === bad.key);
  assert.equal(flip.length, 1);
  assert.deepEqual([flip[0].from, flip[0].to], ['up', 'down']);
  assert.match(flip[0].reason, /^3 consecutive connect failures \(last: ECONNREFUSED\); ejected for 300ms$/);
  const detail = bad.toJSON().healthDetail;
  assert.deepEqual([detail.reason, detail.ejections], ['ejected: 3 consecutive connect failures (last: ECONNREFUSED)', 1]);
  // The end is set first, then the flip is stamped: the same millisecond, or a few after.
  const gap = Date.parse(detail.ejectedUntil!) - Date.parse(detail.since!);
  assert.ok(gap <= ejectMs && gap > ejectMs - 50, `ejected until ${gap} ms after it went down`);

  await healthOf(lb.registry, bad, 'up');
  const back = Date.now() - ejectedAt;
  assert.ok(back >= ejectMs - 2 && back < ejectMs + 300, `back after ${back}ms`);
  assert.equal(bad.toJSON().healthDetail.reason, 'ejection ended (active checks off)');
  // Still refusing: three more failures eject it again, for twice as long.
  await trafficUntil(lb.proxyAddress.port, () => bad.health === 'down', 10);
  assert.equal(bad.failed, 6);
  assert.match(lines.filter((l) => l.backend === bad.key && l.to === 'down')[1].reason, /ejected for 600ms$/);
  assert.equal(bad.toJSON().healthDetail.ejections, 2);
});

test('with probes: ejected by traffic before any probe fails; probes during the ejection do not readmit, the first after it does', T, async (t) => {
  const a = await startDemoBackend('a');
  const portA = a.address.port;
  const b = await demo(t, 'b');
  const ejectMs = 800;
  // fall 100: the probes alone would take 10s to mark it down, so only passive health can within this test.
  const lb = await startProxy(t, {
    backends: [backendAt(portA), backendAt(b.address.port)],
    retries: 1,
    health: { intervalMs: 100, timeoutMs: 200, rise: 2, fall: 100 },
    passive: { maxFails: 2, ejectBaseMs: ejectMs },
  });
  await new Promise<void>((resolve) => {
    const check = () => lb.registry.readyCount === 2 && (lb.registry.off('state', check), resolve());
    lb.registry.on('state', check);
  });
  const backendA = lb.registry.getByKey(`127.0.0.1:${portA}`)!;
  await a.close();
  const ejected = downTime(lb.registry, backendA);
  const answers = await trafficUntil(lb.proxyAddress.port, () => backendA.health === 'down', 10);
  const ejectedAt = ejected();
  assert.deepEqual(answers, Array(answers.length).fill('hello from b'));
  assert.equal(backendA.failed, 2);

  // Up again at once, but still ejected: passing probes must not bring it back yet.
  await demo(t, 'a', portA);
  const restartedAt = Date.now();
  const deadline = Date.now() + 2000;
  while (backendA.lastCheck <= restartedAt + 5) {
    assert.ok(Date.now() < deadline, 'no probe after the restart');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(Date.now() - ejectedAt < ejectMs, 'the probe came while still ejected');
  assert.equal(backendA.health, 'down');

  await healthOf(lb.registry, backendA, 'up');
  const back = Date.now() - ejectedAt;
  // The first passing probe after the ejection: within one interval (+10%) of its end.
  assert.ok(back >= ejectMs - 2 && back <= ejectMs + 110 + 150, `back after ${back}ms`);
  const after = [];
  for (let i = 0; i < 4; i++) after.push((await httpGet(lb.proxyAddress.port)).trim());
  assert.deepEqual(after.sort(), ['hello from a', 'hello from a', 'hello from b', 'hello from b']);
});

test('the last backend is ejected too, and the data plane still tries it (panic)', T, async (t) => {
  const lb = await startProxy(t, { backends: [backendAt(await refusedPort())], retries: 0, passive: { maxFails: 2, ejectBaseMs: 10_000 } });
  const [only] = lb.registry.list();
  assert.ok(only);
  for (let i = 0; i < 2; i++) await httpGet(lb.proxyAddress.port).catch(() => {});
  assert.equal(only.health, 'down');
  assert.equal(lb.registry.readyCount, 0);
  for (let i = 0; i < 3; i++) await httpGet(lb.proxyAddress.port).catch(() => {});
  assert.equal(only.failed, 5, 'still tried while down');
  assert.equal(lb.stats.panic, 3);
  assert.equal(lb.healthStats.ejections, 1, 'failures while down do not eject again');
});

test('max-fails 0 disables passive ejection', T, async (t) => {
  const good = await demo(t, 'good');
  const lb = await startProxy(t, { backends: [backendAt(await refusedPort()), backendAt(good.address.port)], retries: 1, passive: { maxFails: 0 } });
  const [bad] = lb.registry.list();
  for (let i = 0; i < 10; i++) assert.equal((await httpGet(lb.proxyAddress.port)).trim(), 'hello from good');
  assert.equal(bad!.health, 'up');
  // How many connections tried it first is the strategy's business; each such try failed and was retried.
  assert.ok(bad!.failed > 3, `only ${bad!.failed} failures: not enough to show anything`);
  assert.equal(lb.stats.retries, bad!.failed);
  assert.equal(lb.healthStats.ejections, 0);
});
