/**
 * The root: the set of services, the admin API, and `apply(config)`, which
 * start-up and every reload go through. Nothing here runs per connection.
 *
 * A reload applies whole or not at all. Every listener it needs (new
 * services, changed `listen`) is bound first; if one cannot bind, those it
 * opened are closed again and nothing else has changed. Only then are
 * services removed (they drain), changed (settings swapped whole; open
 * connections keep theirs) and started.
 */
import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { AdminServer } from './admin/server.ts';
import type { Backend } from './backends/backend.ts';
import type { Registry } from './backends/registry.ts';
import { WorkerPool } from './cluster/primary.ts';
import { reopenAccessLogs } from './observability/access-log/writer.ts';
import { DEFAULT_SERVICE, type FulcrumConfig, type ServiceConfig } from './config/config.ts';
import { formatHostPort, type BackendSpec } from './config/parse.ts';
import { FulcrumError } from './errors.ts';
import type { HealthStats } from './health/monitor.ts';
import { EventBus } from './observability/events.ts';
import { silentLogger, type Logger } from './observability/log.ts';
import { createMetrics, ReloadStats, type Metrics } from './observability/metrics.ts';
import type { ProxyStats } from './observability/stats.ts';
import type { DataPlaneListener } from './proxy/listener.ts';
import { resolveDataPlane } from './proxy/plane.ts';
import { localListeners, proxyOf } from './service/local-listener.ts';
import { VERSION } from './runtime/version.ts';
import { MemoryStore, type BackendStore, type InstanceInfo } from './store/store.ts';
import { Service, type ListenerFactory, type ServiceChanges, type ServiceEnv, type ServiceListener } from './service/service.ts';

export interface FulcrumOptions {
  readonly log?: Logger;
  /** Uniform in [0, 1); injectable for reproducible tests. @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Reads the config again for a reload (SIGHUP, `POST /reload`): the file,
   * with the process-wide flags laid over it. Throws a ConfigFileError (or
   * any error with `errors: string[]`) when the file is invalid. Without it,
   * there is nothing to reload.
   */
  readonly reread?: () => FulcrumConfig | Promise<FulcrumConfig>;
  /** Makes the shared store's Redis clients (tests pass ioredis-mock). @default ioredis */
  readonly connectStore?: (options: RedisOptions) => Redis;
}

export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: Readonly<Record<string, ServiceChanges>>;
  /** Process-wide settings a reload cannot change (they need a restart); left as they were. */
  readonly ignored: readonly string[];
  /** With `--workers`: how many workers acknowledged the new state, and the pids of any that did not in time. */
  readonly workers?: { readonly acknowledged: number; readonly missing: readonly number[] };
}

/** A reload that changed nothing: the file was invalid, or a listener could not bind. */
export class ReloadError extends FulcrumError {
  readonly errors: readonly string[];

  constructor(errors: readonly string[], code = 'ERR_RELOAD', options?: { cause?: unknown }) {
    super(`reload failed: ${errors.join('; ')}`, code, 'config', options);
    this.errors = errors;
  }
}

/**
 * The key under which a service's listen address is shared: the address as
 * configured. Every fixed port has one (so a reload can add an SNI service
 * beside a running one); a `:0` address only when one of its services sets
 * `sni` (each plain `:0` service gets a port of its own).
 */
export function shareKeys(services: readonly ServiceConfig[]): (service: ServiceConfig) => string | undefined {
  const routed = new Set<string>();
  for (const s of services) if (s.sni !== undefined && s.sni.length > 0) routed.add(formatHostPort(s.listen));
  return (s) => {
    const key = formatHostPort(s.listen);
    return s.listen.port !== 0 || routed.has(key) ? key : undefined;
  };
}

export class Fulcrum {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly admin: AdminServer;
  readonly reloads = new ReloadStats();
  /** Flips, admin changes and reloads, for the dashboard's stream. */
  readonly events = new EventBus();
  /** Where API backends and admin state live: this process, or Redis shared with other instances. */
  #store: BackendStore;
  readonly #connectStore: FulcrumOptions['connectStore'];
  /** This instance in the fleet view (`GET /cluster`). */
  readonly instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly startedAt = new Date();
  #config: FulcrumConfig;
  readonly #services = new Map<string, Service>();
  readonly #env: ServiceEnv;
  readonly #pool: WorkerPool | undefined;
  readonly #reread: FulcrumOptions['reread'];
  /** Reloads run one at a time; a second waits for the first. */
  #reloading: Promise<unknown> = Promise.resolve();
  #closed: Promise<{ finished: number; closed: number }> | undefined;

  private constructor(config: FulcrumConfig, options: FulcrumOptions) {
    this.#config = config;
    this.log = options.log ?? silentLogger();
    this.#reread = options.reread;
    const dataPlane = resolveDataPlane(config.dataPlane, this.log);
    this.#pool = config.workers > 1 ? new WorkerPool({ workers: config.workers, logLevel: config.logLevel, logFormat: config.logFormat, dataPlane, log: this.log }) : undefined;
    const listeners: ListenerFactory = this.#pool ?? localListeners(dataPlane);
    this.#env = { log: this.log, random: options.random ?? Math.random, now: options.now ?? Date.now, listeners };
    const pool = this.#pool;
    this.metrics = createMetrics({
      services: () => [...this.#services.values()],
      reloads: this.reloads,
      ...(pool && { workerProcessMetrics: () => pool.processMetrics() }),
      ...(config.store && { store: () => this.#store }),
    });
    this.admin = new AdminServer({ api: this, log: this.log, token: config.adminToken, allowedHosts: config.adminAllowedHosts });
    this.#store = new MemoryStore(() => ({ ...this.#self(), stateVersion: 0 }));
    this.#connectStore = options.connectStore;
  }

  get store(): BackendStore {
    return this.#store;
  }

  /** With a store configured: connects and loads the shared state (ioredis is loaded only then). */
  async #startStore(): Promise<void> {
    const config = this.#config.store;
    if (!config) return;
    const { SharedStore } = await import('./store/shared.ts');
    const store = new SharedStore({
      config,
      log: this.log,
      services: () => this.services(),
      names: () => this.#config.services.map((s) => s.name),
      self: () => this.#self(),
      ...(this.#connectStore && { connect: this.#connectStore }),
    });
    this.#store = store;
    let last = store.state;
    store.redis.on('state', (to) => {
      this.events.publish({ type: 'store', from: last, to, detail: { where: store.where } });
      last = to;
    });
    await store.start();
  }

  #self(): Omit<InstanceInfo, 'stateVersion'> {
    const admin = this.admin.address;
    return {
      id: this.instanceId,
      admin: admin ? formatHostPort({ host: admin.address, port: admin.port }) : formatHostPort(this.#config.admin),
      version: VERSION,
      startedAt: this.startedAt.toISOString(),
      openConnections: this.services().reduce((n, s) => n + s.openConnections, 0),
    };
  }

  /** Starts every service and the admin API; on any failure, closes what it opened and throws. */
  static async start(config: FulcrumConfig, options: FulcrumOptions = {}): Promise<Fulcrum> {
    const fulcrum = new Fulcrum(config, options);
    try {
      await fulcrum.#pool?.start();
      // The shared backends are in before any listener takes a connection (bounded by the store's start-up timeout).
      await fulcrum.#startStore();
      await fulcrum.#apply(config);
      await fulcrum.admin.listen(config.admin);
      await fulcrum.#store.announce();
    } catch (err) {
      await fulcrum.destroy();
      throw err;
    }
    return fulcrum;
  }

  get config(): FulcrumConfig {
    return this.#config;
  }

  /** Every service, in config order. */
  services(): readonly Service[] {
    return [...this.#services.values()];
  }

  service(name: string): Service | undefined {
    return this.#services.get(name);
  }

  /** Whether a config file is behind this process (else a reload has nothing to read). */
  get reloadable(): boolean {
    return this.#reread !== undefined;
  }

  /**
   * Re-reads the config and applies the difference. Rejects with a
   * ReloadError (nothing changed) when the file is invalid or a listener
   * cannot bind. Counted either way.
   */
  reload(): Promise<ReloadSummary> {
    const run = this.#reloading.then(async () => {
      if (!this.#reread) throw new ReloadError(['no config file to reload (started from flags; use --config FILE)'], 'ERR_NO_CONFIG_FILE');
      try {
        let next: FulcrumConfig;
        try {
          next = await this.#reread();
        } catch (err) {
          const errors = (err as { errors?: unknown }).errors;
          throw new ReloadError(Array.isArray(errors) ? errors.map(String) : [(err as Error).message], 'ERR_CONFIG_INVALID', { cause: err });
        }
        const summary = await this.apply(next);
        this.reloads.succeeded(this.#env.now());
        this.log.info({ ...summary }, 'config reloaded');
        this.events.reloaded({ ok: true, summary });
        return summary;
      } catch (err) {
        this.reloads.failed(this.#env.now());
        const errors = err instanceof ReloadError ? err.errors : [(err as Error).message];
        for (const e of errors) this.log.error({ error: e }, 'reload refused; nothing changed');
        this.events.reloaded({ ok: false, errors });
        throw err;
      }
    });
    this.#reloading = run.catch(() => {});
    return run;
  }

  /** Applies a validated config: the difference with the running services. */
  async apply(next: FulcrumConfig): Promise<ReloadSummary> {
    const ignored: string[] = [];
    const prev = this.#config;
    if (formatHostPort(next.admin) !== formatHostPort(prev.admin)) ignored.push('admin.listen');
    if (next.workers !== prev.workers) ignored.push('workers');
    if (next.dataPlane !== prev.dataPlane) ignored.push('dataPlane');
    if (JSON.stringify(next.store) !== JSON.stringify(prev.store)) ignored.push('store');
    const summary = await this.#apply(next);
    this.#config = Object.freeze({ ...next, admin: prev.admin, workers: prev.workers, dataPlane: prev.dataPlane, store: prev.store });
    if (next.adminToken !== prev.adminToken) this.admin.setToken(next.adminToken);
    if (next.logLevel !== prev.logLevel) this.log.level = next.logLevel;
    if (ignored.length > 0) this.log.warn({ settings: ignored }, 'these settings need a restart; left as they were');
    // A service the reload added has had only the changes heard since; read its whole shared state.
    if (summary.added.length > 0) void this.#store.resync('services added');
    if (!this.#pool) return { ...summary, ignored };
    // Answer once every worker runs the new state (or say which did not).
    const { acknowledged, missing } = await this.#pool.sync();
    if (missing.length > 0) this.log.warn({ missing }, 'workers did not acknowledge the reload in time');
    return { ...summary, ignored, workers: { acknowledged, missing } };
  }

  async #apply(next: FulcrumConfig): Promise<Omit<ReloadSummary, 'ignored'>> {
    const wanted = new Map(next.services.map((s) => [s.name, s]));
    const fresh: { config: ServiceConfig; service: Service }[] = [];
    const moved: { service: Service; config: ServiceConfig }[] = [];
    for (const config of next.services) {
      const current = this.#services.get(config.name);
      if (!current) fresh.push({ config, service: new Service(config, this.#env) });
      else if (!current.listensOn(config.listen)) moved.push({ service: current, config });
    }

    // Step one: every new listener, or none.
    const bound = new Map<Service, ServiceListener>();
    const share = shareKeys(next.services);
    try {
      for (const { service, config } of [...fresh, ...moved]) {
        try {
          bound.set(service, await service.bind(config.listen, share(config)));
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          throw new ReloadError([`services.${config.name}.listen: cannot listen on ${formatHostPort(config.listen)}: ${e.code ?? e.message}`], 'ERR_LISTEN', { cause: err });
        }
      }
    } catch (err) {
      await Promise.all([...bound.values()].map((l) => l.close(0)));
      for (const { service } of fresh) await service.close(0);
      throw err;
    }

    // Step two: cannot fail.
    const drainMs = next.drainTimeoutMs;
    const removed: string[] = [];
    for (const [name, service] of this.#services) {
      if (wanted.has(name)) continue;
      this.#services.delete(name);
      removed.push(name);
      void service.close(drainMs).then(({ finished, closed }) => service.log.info({ finished, closed }, 'removed service drained'));
      service.log.info({ openConnections: service.openConnections, drainMs }, 'service removed; draining');
    }
    const changed: Record<string, ServiceChanges> = {};
    const ordered = new Map<string, Service>();
    for (const config of next.services) {
      let service = this.#services.get(config.name);
      if (service) {
        const c = service.apply(config, bound.get(service), drainMs);
        // The reload rewrote the file's backends; what the store says of them (weights, drains, removals) still holds.
        const s = service;
        s.registry.batch(() => this.store.overlay(s));
        if (Object.keys(c).length > 0) changed[config.name] = c;
      } else {
        service = fresh.find((f) => f.config.name === config.name)!.service;
        // In the same turn as start: no connection is accepted before the shared backends are in.
        const s = service;
        s.registry.initial(() => this.store.overlay(s));
        service.start(bound.get(service)!);
        this.events.watch(service);
        service.log.info({ listen: formatHostPort({ host: service.address!.address, port: service.address!.port }), algo: config.algo, backends: config.backends.length }, 'service started');
      }
      ordered.set(config.name, service);
    }
    this.#services.clear();
    for (const [name, service] of ordered) {
      service.registry.flush(); // every change of the reload in force before it answers
      this.#services.set(name, service);
    }
    this.#config = next;
    return { added: fresh.map((f) => f.config.name), removed, changed };
  }

  /**
   * Stops every service: no new connections; open ones get up to `graceMs`
   * (the config's drainTimeout by default), then are closed. Resolves with
   * how many finished and how many were closed. Idempotent.
   */
  close(graceMs = this.#config.drainTimeoutMs): Promise<{ finished: number; closed: number }> {
    this.#closed ??= (async () => {
      const results = await Promise.all([...this.#services.values()].map((s) => s.close(graceMs)));
      await Promise.all([this.#pool?.close(Math.min(graceMs, 1000)), this.admin.close(Math.min(graceMs, 5000)), this.store.close()]);
      return results.reduce((a, r) => ({ finished: a.finished + r.finished, closed: a.closed + r.closed }), { finished: 0, closed: 0 });
    })();
    return this.#closed;
  }

  /** SIGUSR1: every access-log file is opened again (after logrotate moved it), here and in every worker. */
  reopenLogs(): void {
    reopenAccessLogs();
    this.#pool?.broadcast({ t: 'reopen' });
  }

  /** Now: stop accepting and close every connection. Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all([this.admin.destroy(), this.close(0)]);
  }

  get adminAddress(): AddressInfo {
    return this.admin.address!;
  }

  // The one service (or the one named `default`): what the un-scoped admin
  // endpoints act on, and a convenience for tests and embedding.

  /** The service today's un-scoped endpoints act on, or undefined (several services, none named `default`). */
  defaultService(): Service | undefined {
    if (this.#services.size === 1) return this.#services.values().next().value;
    return this.#services.get(DEFAULT_SERVICE);
  }

  #only(): Service {
    const s = this.defaultService();
    if (!s) throw new Error(`no default service: there are ${this.#services.size} services and none is named "${DEFAULT_SERVICE}"`);
    return s;
  }

  get registry(): Registry {
    return this.#only().registry;
  }

  get stats(): ProxyStats {
    return this.#only().stats;
  }

  get healthStats(): HealthStats {
    return this.#only().health.stats;
  }

  get proxyAddress(): AddressInfo {
    return this.#only().address!;
  }

  /** The default service's in-process listener. Single-process mode only. */
  get listener(): DataPlaneListener {
    const proxy = proxyOf(this.#only().currentListener);
    if (!proxy) throw new Error('no in-process listener: the data plane runs in worker processes');
    return proxy;
  }

  addBackend(spec: BackendSpec): { backend: Backend; created: boolean } {
    return this.#only().addBackend(spec);
  }

  removeBackend(backend: Backend, options: { force?: boolean } = {}): number {
    return this.#only().removeBackend(backend, options);
  }
}
