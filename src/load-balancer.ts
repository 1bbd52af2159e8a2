/**
 * The composition root: builds the registry, strategy, health checks,
 * data-plane listener and admin API from one validated config, and owns
 * their lifecycle. Nothing here runs per connection.
 */
import type { AddressInfo } from 'node:net';
import { AdminServer } from './admin/server.ts';
import type { Backend } from './backends/backend.ts';
import { Registry } from './backends/registry.ts';
import type { FulcrumConfig } from './config/config.ts';
import type { BackendSpec } from './config/parse.ts';
import { HealthChecker } from './health/checker.ts';
import { httpCheck } from './health/http-check.ts';
import { HealthMonitor, HealthStats } from './health/monitor.ts';
import { PanicWatch } from './health/panic.ts';
import { PassiveHealth } from './health/passive.ts';
import { tcpCheck } from './health/tcp-check.ts';
import { silentLogger, type Logger } from './observability/log.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { ProxyStats } from './observability/stats.ts';
import { WorkerPool } from './cluster/primary.ts';
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
  readonly healthStats = new HealthStats();
  /** The in-process data plane; undefined with `--workers` > 1, where each worker has its own. */
  readonly #listener: ProxyListener | undefined;
  readonly #pool: WorkerPool | undefined;
  #proxyAddress: AddressInfo | undefined;
  readonly metrics: Metrics;
  readonly admin: AdminServer;
  readonly #monitor: HealthMonitor;
  /** Undefined when active checks are off (`health.intervalMs` 0). */
  readonly #checker: HealthChecker | undefined;
  /** Undefined when passive health is off (`passive.maxFails` 0). */
  readonly #passive: PassiveHealth | undefined;
  readonly #panic: PanicWatch;
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
    const activeChecks = config.health.intervalMs > 0;
    this.registry = new Registry({ strategy, initialHealth: activeChecks ? 'unknown' : 'up' });
    this.#monitor = new HealthMonitor({
      registry: this.registry,
      log: this.log,
      stats: this.healthStats,
      thresholds: config.health,
      activeChecks,
      now: options.now ?? Date.now,
    });
    // Built before any backend is added, so it sees every one through the registry's 'change'.
    this.#checker = activeChecks
      ? new HealthChecker({
          registry: this.registry,
          monitor: this.#monitor,
          probe: config.health.httpPath === undefined ? tcpCheck : httpCheck(config.health.httpPath),
          intervalMs: config.health.intervalMs,
          timeoutMs: config.health.timeoutMs,
          random: options.random ?? Math.random,
        })
      : undefined;
    this.#passive =
      config.passive.maxFails > 0
        ? new PassiveHealth({ registry: this.registry, ejector: this.#monitor, config: config.passive, now: options.now ?? Date.now })
        : undefined;
    this.#panic = new PanicWatch(this.registry, this.log);
    this.metrics = createMetrics({ registry: this.registry, stats: this.stats, health: this.healthStats });
    const observer = this.#passive ?? NO_OBSERVER;
    if (config.workers > 1) {
      this.#pool = new WorkerPool({ config, registry: this.registry, stats: this.stats, observer, log: this.log });
    } else {
      this.#listener = new ProxyListener({
        registry: this.registry,
        stats: this.stats,
        log: this.log,
        observer,
        connectTimeoutMs: config.connectTimeoutMs,
        retries: config.retries,
        idleTimeoutMs: config.idleTimeoutMs,
      });
    }
    this.admin = new AdminServer({ api: this, log: this.log, token: config.adminToken, allowedHosts: config.adminAllowedHosts });
  }

  /** Builds everything, registers the configured backends and binds the listeners. */
  static async start(config: FulcrumConfig, options: LoadBalancerOptions = {}): Promise<LoadBalancer> {
    const lb = new LoadBalancer(config, options);
    for (const spec of config.backends) lb.addBackend(spec);
    try {
      if (lb.#pool) {
        const { host, port } = await lb.#pool.start();
        lb.#proxyAddress = { address: host, port, family: host.includes(':') ? 'IPv6' : 'IPv4' };
      } else {
        lb.#proxyAddress = await lb.#listener!.listen(config.listen);
      }
      await lb.admin.listen(config.admin);
    } catch (err) {
      await lb.destroy();
      throw err;
    }
    return lb;
  }

  get proxyAddress(): AddressInfo {
    return this.#proxyAddress!;
  }

  /** The in-process listener. Single-process mode only: with `--workers` > 1 the workers own theirs. */
  get listener(): ProxyListener {
    if (!this.#listener) throw new Error('no in-process listener: the data plane runs in worker processes');
    return this.#listener;
  }

  get adminAddress(): AddressInfo {
    return this.admin.address!;
  }

  /** Registers a backend or updates the weight of the one at that address. */
  addBackend(spec: BackendSpec): { backend: Backend; created: boolean } {
    const result = this.registry.upsert(spec);
    if (result.created) this.log.info({ backend: result.backend.key, weight: spec.weight }, 'backend registered');
    return result;
  }

  /**
   * Deregisters a backend: no new connections from now on. Existing ones run
   * to their end unless `force`. Returns how many are still open: with
   * `force`, 0, since their sockets are destroyed here (the per-backend
   * `active` counter catches up when their 'close' events run).
   */
  removeBackend(backend: Backend, { force = false } = {}): number {
    this.registry.remove(backend);
    this.log.info({ backend: backend.key, force }, 'backend deregistered');
    if (force) {
      this.#listener?.destroyConnectionsTo(backend);
      this.#pool?.destroyConnectionsTo(backend);
      return 0;
    }
    return backend.active;
  }

  /** Graceful: stop accepting, let connections finish (at most `graceMs`). Idempotent. */
  close(graceMs = 5000): Promise<void> {
    this.#closed ??= (() => {
      this.#checker?.close();
      this.#passive?.close();
      this.#monitor.close();
      this.#panic.close();
      const dataPlane = this.#pool ? this.#pool.close(graceMs) : this.#listener!.close(graceMs);
      return Promise.all([dataPlane, this.admin.close(graceMs)]).then(() => {});
    })();
    return this.#closed;
  }

  /** Now: stop accepting and close every connection. Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all([this.#listener?.destroy(), this.admin.destroy(), this.close(0)]);
  }
}
