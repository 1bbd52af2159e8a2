/**
 * The composition root: builds the registry, strategy, health checks,
 * data-plane listener and admin API from one validated config, and owns
 * their lifecycle. Nothing here runs per connection.
 */
import type { AddressInfo } from 'node:net';
import type { Backend } from './backends/backend.ts';
import { Registry } from './backends/registry.ts';
import type { FulcrumConfig } from './config/config.ts';
import type { BackendSpec } from './config/parse.ts';
import { silentLogger, type Logger } from './observability/log.ts';
import { ProxyStats } from './observability/stats.ts';
import { ProxyListener } from './proxy/listener.ts';
import type { ConnectObserver } from './proxy/session.ts';
import { createStrategy } from './strategies/index.ts';

export interface LoadBalancerOptions {
  readonly log?: Logger;
  /** Uniform in [0, 1); injectable for reproducible tests. @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
}

const NO_OBSERVER: ConnectObserver = { connectSucceeded() {}, connectFailed() {} };

export class LoadBalancer {
  readonly config: FulcrumConfig;
  readonly log: Logger;
  readonly registry: Registry;
  readonly stats = new ProxyStats();
  readonly listener: ProxyListener;
  #closed: Promise<void> | undefined;

  private constructor(config: FulcrumConfig, options: LoadBalancerOptions) {
    this.config = config;
    this.log = options.log ?? silentLogger();
    const strategy = createStrategy(config.algo, {
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      stickyTtlMs: config.stickyTtlMs,
      stickyMaxEntries: config.stickyMaxEntries,
    });
    this.registry = new Registry({ strategy, initialHealth: config.health.intervalMs > 0 ? 'unknown' : 'up' });
    this.listener = new ProxyListener({
      registry: this.registry,
      stats: this.stats,
      log: this.log,
      observer: NO_OBSERVER,
      connectTimeoutMs: config.connectTimeoutMs,
      retries: config.retries,
      idleTimeoutMs: config.idleTimeoutMs,
    });
  }

  /** Builds everything, registers the configured backends and binds the listeners. */
  static async start(config: FulcrumConfig, options: LoadBalancerOptions = {}): Promise<LoadBalancer> {
    const lb = new LoadBalancer(config, options);
    for (const spec of config.backends) lb.addBackend(spec);
    try {
      await lb.listener.listen(config.listen);
    } catch (err) {
      await lb.destroy();
      throw err;
    }
    return lb;
  }

  get proxyAddress(): AddressInfo {
    return this.listener.address!;
  }

  /** Registers a backend or updates the weight of the one at that address. */
  addBackend(spec: BackendSpec): { backend: Backend; created: boolean } {
    const result = this.registry.upsert(spec);
    if (result.created) this.log.info({ backend: result.backend.key, weight: spec.weight }, 'backend registered');
    return result;
  }

  /**
   * Deregisters a backend: no new connections from now on. Existing ones run
   * to their end unless `force`. Returns how many are still open.
   */
  removeBackend(backend: Backend, { force = false } = {}): number {
    this.registry.remove(backend);
    this.log.info({ backend: backend.key, force }, 'backend deregistered');
    if (force) this.listener.destroyConnectionsTo(backend);
    return backend.active;
  }

  /** Graceful: stop accepting, let connections finish (at most `graceMs`). Idempotent. */
  close(graceMs = 5000): Promise<void> {
    this.#closed ??= this.listener.close(graceMs);
    return this.#closed;
  }

  /** Now: stop accepting and close every connection. Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all([this.listener.destroy(), this.close(0)]);
  }
}
