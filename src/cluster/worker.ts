/**
 * A data-plane worker: a replica registry fed by the primary, a proxy
 * listener on the shared port, counters reported back on a short interval.
 * It runs no health checks and no admin API; those stay in the primary.
 */
import type { Backend } from '../backends/backend.ts';
import { Registry } from '../backends/registry.ts';
import { createLogger } from '../observability/log.ts';
import { ProxyStats } from '../observability/stats.ts';
import { ProxyListener } from '../proxy/listener.ts';
import type { ConnectObserver } from '../proxy/session.ts';
import { createStrategy } from '../strategies/index.ts';
import { configFromEnv, STATS_INTERVAL_MS, type BackendState, type FromWorker, type ToWorker } from './messages.ts';

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Makes the replica match the primary's list: same members, weights, states, health. */
function reconcile(registry: Registry, states: readonly BackendState[]): void {
  const keep = new Set<Backend>();
  for (const s of states) {
    const { backend } = registry.upsert({ host: s.host, port: s.port, weight: s.weight });
    registry.setAdminState(backend, s.state);
    registry.setHealth(backend, s.health);
    keep.add(backend);
  }
  for (const b of registry.list()) if (!keep.has(b)) registry.remove(b);
}

/** Forwards failures, and the first success after one, so passive health sees what it needs without an IPC message per connection. */
class ForwardingObserver implements ConnectObserver {
  readonly #failing = new Set<string>();

  connectSucceeded(backend: Backend): void {
    if (!this.#failing.delete(backend.key)) return;
    send({ t: 'connect', key: backend.key, ok: true, code: undefined });
  }

  connectFailed(backend: Backend, error: Error): void {
    this.#failing.add(backend.key);
    send({ t: 'connect', key: backend.key, ok: false, code: (error as NodeJS.ErrnoException).code });
  }
}

export async function runWorker(): Promise<void> {
  const config = configFromEnv();
  const log = createLogger(config.logLevel).child({ worker: process.pid });
  const strategy = createStrategy(config.algo, {
    random: Math.random,
    now: Date.now,
    stickyTtlMs: config.stickyTtlMs,
    stickyMaxEntries: config.stickyMaxEntries,
  });
  const registry = new Registry({ strategy, initialHealth: 'up' });
  const stats = new ProxyStats();
  const listener = new ProxyListener({
    registry,
    stats,
    log,
    observer: new ForwardingObserver(),
    connectTimeoutMs: config.connectTimeoutMs,
    retries: config.retries,
    idleTimeoutMs: config.idleTimeoutMs,
  });
  // Deregistered backends with open connections, so a force-close that arrives after the removal still finds them.
  const retiring = new Set<Backend>();
  registry.on('removed', (b) => retiring.add(b));

  const report = () => {
    for (const b of retiring) if (b.active === 0) retiring.delete(b);
    const backends = registry.list().map((b) => ({
      key: b.key, active: b.active, total: b.total, failed: b.failed, bytesIn: b.bytesIn, bytesOut: b.bytesOut,
    }));
    send({ t: 'stats', backends, proxy: { ...stats } });
  };
  const timer = setInterval(report, STATS_INTERVAL_MS);

  process.on('message', (message: ToWorker) => {
    switch (message.t) {
      case 'backends':
        return reconcile(registry, message.backends);
      case 'kill':
        for (const b of [...registry.list(), ...retiring]) if (b.key === message.key) listener.destroyConnectionsTo(b);
        return;
      case 'close':
        void listener.close(message.graceMs).then(() => {
          clearInterval(timer);
          report();
          process.disconnect?.();
        });
        return;
    }
  });
  // The primary going away (crash, kill -9) must not leave an orphan serving traffic.
  process.on('disconnect', () => void listener.destroy().then(() => process.exit(0)));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => {}); // the primary decides when workers stop

  const first = new Promise<void>((resolve) => {
    const onFirst = (m: ToWorker) => {
      if (m.t !== 'backends') return;
      process.off('message', onFirst);
      resolve();
    };
    process.on('message', onFirst);
  });
  send({ t: 'hello' });
  await first;
  const address = await listener.listen(config.listen);
  send({ t: 'listening', host: address.address, port: address.port });
}

await runWorker();
