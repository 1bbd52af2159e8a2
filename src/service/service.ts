/**
 * A service: one listener, its backends and strategy, its health, its stats
 * and the settings its connections read. Fulcrum is a set of these plus the
 * admin API (src/fulcrum.ts). Nothing here is shared with another service:
 * each has its own registry (and so its own connection-count table), its own
 * health checks and its own counters.
 *
 * A reload reaches a service in two steps, so that it applies whole or not
 * at all: `bind` opens a new listener (the only step that can fail), then
 * `apply` swaps settings, strategy, health and file backends, and retires the
 * old listener, whose connections drain.
 */
import type { AddressInfo } from 'node:net';
import type { Backend } from '../backends/backend.ts';
import { Registry } from '../backends/registry.ts';
import { settingsOf, type BackendOrigin, type ServiceConfig, type ServiceSettings } from '../config/config.ts';
import { formatHostPort, type BackendSpec, type HostPort } from '../config/parse.ts';
import type { Logger } from '../observability/log.ts';
import { ProxyStats } from '../observability/stats.ts';
import { createStrategy } from '../strategies/index.ts';
import type { ListenerSettings } from '../proxy/listener.ts';
import type { ConnectObserver } from '../proxy/session.ts';
import { Admission, type AdmissionOptions } from './controls/admission.ts';
import { ClientGate } from './controls/gate.ts';
import { ServiceHealth } from './service-health.ts';

/** What a service needs of a data plane: in this process (ProxyListener) or in the workers. */
export interface ServiceListener {
  readonly address: AddressInfo;
  /** New connections take these; open ones keep theirs. */
  setSettings(settings: ListenerSettings): void;
  /** The client controls new connections must pass (undefined: none); with workers, each worker builds its own from the settings. */
  setGate(gate: ClientGate | undefined): void;
  /** Closes every connection to `backend` now. */
  destroyConnectionsTo(backend: Backend): void;
  /** Stops accepting; open connections get `graceMs`, then are closed. Resolves with how many had to be closed. */
  close(graceMs: number): Promise<number>;
  /** Connections open now (for the shutdown summary). */
  readonly openConnections: number;
}

export interface ListenerFactory {
  /** `share`: the key of a listen address services share (SNI routing); the port already open under it is joined. */
  bind(service: Service, listen: HostPort, settings: ListenerSettings, share?: string): Promise<ServiceListener>;
}

export interface ServiceEnv {
  readonly log: Logger;
  readonly random: () => number;
  readonly now: () => number;
  readonly listeners: ListenerFactory;
}

/** What `apply` changed, for the reload answer. */
export interface ServiceChanges {
  readonly listen?: { readonly from: string; readonly to: string };
  readonly settings?: readonly string[];
  readonly backendsAdded?: readonly string[];
  readonly backendsRemoved?: readonly string[];
  readonly backendsChanged?: readonly string[];
}

export class Service {
  readonly name: string;
  readonly log: Logger;
  readonly registry: Registry;
  readonly stats = new ProxyStats();
  readonly health: ServiceHealth;
  readonly #env: ServiceEnv;
  #config: ServiceConfig;
  #settings: ServiceSettings;
  /** Allow/deny and per-IP limits; kept across reloads that leave them alone, so per-IP counts carry over. */
  #gate: ClientGate | undefined;
  /** The connection limit and queue, shared by every listener of the service; reconfigured in place on reload. */
  readonly admission: Admission;
  /** With --workers, the clients waiting in the workers' queues (as of their last reports); set by the primary. */
  queuedElsewhere = { length: 0, oldestWaitMs: 0 };
  #listener: ServiceListener | undefined;
  /** Listeners replaced by a reload, draining their connections. */
  readonly #retired = new Set<ServiceListener>();
  #closing: Promise<{ finished: number; closed: number }> | undefined;

  constructor(config: ServiceConfig, env: ServiceEnv) {
    this.name = config.name;
    this.#env = env;
    this.log = env.log.child({ service: config.name });
    this.#config = config;
    this.#settings = settingsOf(config);
    this.#gate = ClientGate.from(this.#settings, env.now);
    this.admission = new Admission(admissionOf(this.#settings));
    this.registry = new Registry({
      strategy: this.#strategy(this.#settings),
      initialHealth: 'unknown',
      slowStartMs: this.#settings.slowStartMs,
      allBackups: this.#settings.allBackups,
      proxyProtocol: this.#settings.proxyProtocol,
      now: env.now,
    });
    this.health = new ServiceHealth({ registry: this.registry, log: this.log, random: env.random, now: env.now });
    this.health.configure(this.#settings.health, this.#settings.passive);
    this.registry.initial(() => {
      for (const spec of config.backends) this.registry.upsert(spec, 'file');
    });
  }

  get config(): ServiceConfig {
    return this.#config;
  }

  get settings(): ServiceSettings {
    return this.#settings;
  }

  /** Passive health hears every connect outcome on real traffic. */
  get observer(): ConnectObserver {
    return this.health;
  }

  /** Closing or closed: stopped accepting for good. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The listener taking new connections. */
  get currentListener(): ServiceListener | undefined {
    return this.#listener;
  }

  /** The bound listen address; undefined before `bind` and after `close`. */
  get address(): AddressInfo | undefined {
    return this.#listener?.address;
  }

  /** Clients waiting in the service's queue, in this process and (with --workers) in the workers; and how long the first has waited, ms. */
  queueNow(now: number): { length: number; oldestWaitMs: number } {
    const elsewhere = this.queuedElsewhere;
    return { length: this.admission.length + elsewhere.length, oldestWaitMs: Math.max(this.admission.oldestWaitMs(now), elsewhere.oldestWaitMs) };
  }

  /** Connections open on every listener of this service, draining ones included. */
  get openConnections(): number {
    let n = this.#listener?.openConnections ?? 0;
    for (const l of this.#retired) n += l.openConnections;
    return n;
  }

  /**
   * Whether `listen` is where this service listens already: as configured, or
   * the address it bound (so a file that pins the port an ephemeral `:0`
   * got, or says `:0` again, is not a move).
   */
  listensOn(listen: HostPort): boolean {
    if (formatHostPort(listen) === formatHostPort(this.#config.listen)) return true;
    const bound = this.address;
    return bound !== undefined && listen.port === bound.port && (listen.host === bound.address || formatHostPort(listen) === formatHostPort({ host: bound.address, port: bound.port }));
  }

  /** Step one: opens a listener at `listen` (not yet in use), or joins the port open for `share`; throws when it cannot bind. */
  bind(listen: HostPort, share?: string): Promise<ServiceListener> {
    return this.#env.listeners.bind(this, listen, this.#settings, share);
  }

  /** Starts a new service on a listener from `bind`. */
  start(listener: ServiceListener): void {
    this.#listener = listener;
    listener.setSettings(this.#settings);
    listener.setGate(this.#gate);
  }

  /** The client controls in force (undefined: none). */
  get gate(): ClientGate | undefined {
    return this.#gate;
  }

  /**
   * Step two: takes `next` (same name) in force. `listener` is the one `bind`
   * opened when `listen` changed; the old one stops accepting and its
   * connections run on for at most `drainMs`. Cannot fail.
   */
  apply(next: ServiceConfig, listener: ServiceListener | undefined, drainMs: number): ServiceChanges {
    // One picker rebuild for the whole change, however many backends and settings it touches.
    return this.registry.batch(() => this.#apply(next, listener, drainMs));
  }

  #apply(next: ServiceConfig, listener: ServiceListener | undefined, drainMs: number): ServiceChanges {
    const prev = this.#config;
    const changes: {
      listen?: { from: string; to: string };
      settings?: string[];
      backendsAdded?: string[];
      backendsRemoved?: string[];
      backendsChanged?: string[];
    } = {};
    const settings = settingsOf(next);
    const changed = (Object.keys(settings) as (keyof ServiceSettings)[]).filter(
      (k) => JSON.stringify(settings[k]) !== JSON.stringify(this.#settings[k]),
    );
    this.#config = next;
    if (changed.length > 0) {
      changes.settings = changed;
      this.#settings = settings;
      if (changed.some((k) => STRATEGY_SETTINGS.includes(k))) {
        this.registry.setStrategy(this.#strategy(settings));
      }
      this.registry.setSlowStart(settings.slowStartMs);
      this.registry.setAllBackups(settings.allBackups);
      this.registry.setProxyProtocol(settings.proxyProtocol);
      this.health.configure(settings.health, settings.passive);
      this.#listener?.setSettings(settings);
      this.admission.configure(admissionOf(settings));
      if (ClientGate.keyOf(settings) !== (this.#gate?.key ?? ClientGate.keyOf(prev))) {
        this.#gate = ClientGate.from(settings, this.#env.now);
        this.#listener?.setGate(this.#gate);
      }
    }
    if (listener) {
      changes.listen = { from: formatHostPort(prev.listen), to: formatHostPort(next.listen) };
      this.#retire(drainMs);
      this.#listener = listener;
      listener.setSettings(settings);
      listener.setGate(this.#gate);
    }
    Object.assign(changes, this.#syncFileBackends(next.backends));
    return changes;
  }

  /** Registers a backend, or updates the weight of the one at that address. */
  addBackend(spec: BackendSpec, origin: BackendOrigin = 'api'): { backend: Backend; created: boolean } {
    const result = this.registry.upsert(spec, origin);
    if (result.created) this.log.info({ backend: result.backend.key, weight: spec.weight, origin }, 'backend registered');
    return result;
  }

  /**
   * Deregisters a backend: no new connections from now on. Existing ones run
   * to their end unless `force`. Returns how many are still open (with
   * `force`, 0: they are closed now). Works on a backend already removed and
   * still draining, to force its last connections closed.
   */
  removeBackend(backend: Backend, { force = false } = {}): number {
    if (!backend.removed) {
      this.registry.remove(backend);
      this.log.info({ backend: backend.key, force }, 'backend deregistered');
    } else if (force) this.log.info({ backend: backend.key }, 'closing the last connections of a removed backend');
    if (force) {
      this.#listener?.destroyConnectionsTo(backend);
      for (const l of this.#retired) l.destroyConnectionsTo(backend);
      return 0;
    }
    return backend.active;
  }

  /**
   * Stops accepting; open connections run on for at most `graceMs`, then are
   * closed. Resolves with how many finished on their own and how many were
   * closed. Idempotent.
   */
  close(graceMs: number): Promise<{ finished: number; closed: number }> {
    this.#closing ??= (async () => {
      this.health.close();
      this.registry.close();
      const listeners = [...this.#retired, ...(this.#listener ? [this.#listener] : [])];
      const open = listeners.reduce((n, l) => n + l.openConnections, 0);
      const closed = (await Promise.all(listeners.map((l) => l.close(graceMs)))).reduce((a, b) => a + b, 0);
      return { finished: open - closed, closed };
    })();
    return this.#closing;
  }

  #retire(drainMs: number): void {
    const old = this.#listener;
    if (!old) return;
    this.#retired.add(old);
    void old.close(drainMs).then(() => this.#retired.delete(old));
  }

  /** Makes the file's backends what `specs` says; API backends are left alone (a file entry takes one over). */
  #syncFileBackends(specs: readonly BackendSpec[]): Pick<ServiceChanges, 'backendsAdded' | 'backendsRemoved' | 'backendsChanged'> {
    const added: string[] = [];
    const removed: string[] = [];
    const reweighted: string[] = [];
    const wanted = new Set<string>();
    for (const spec of specs) {
      const key = formatHostPort(spec);
      wanted.add(key);
      const before = this.registry.getByKey(key);
      const beforeWeight = before?.weight;
      const beforeOrigin = before?.origin;
      const beforeBackup = before?.backup;
      const beforeSlowStart = before?.slowStartMs;
      const beforeProxy = before?.proxyProtocol;
      this.addBackend(spec, 'file');
      if (!before) added.push(key);
      else if (beforeWeight !== spec.weight || beforeOrigin !== 'file' || beforeBackup !== (spec.backup === true) || beforeSlowStart !== spec.slowStartMs || beforeProxy !== spec.proxyProtocol) reweighted.push(key);
    }
    for (const b of this.registry.list()) {
      if (b.origin === 'file' && !wanted.has(b.key)) {
        this.removeBackend(b);
        removed.push(b.key);
      }
    }
    const out: { backendsAdded?: string[]; backendsRemoved?: string[]; backendsChanged?: string[] } = {};
    if (added.length) out.backendsAdded = added;
    if (removed.length) out.backendsRemoved = removed;
    if (reweighted.length) out.backendsChanged = reweighted;
    return out;
  }

  #strategy(settings: ServiceSettings) {
    return createStrategy(settings.algo, {
      random: this.#env.random,
      now: this.#env.now,
      stickyTtlMs: settings.stickyTtlMs,
      stickyMaxEntries: settings.stickyMaxEntries,
      hash: settings.hash,
      hashBalanceFactor: settings.hashBalanceFactor,
      warn: (message) => this.log.warn(message),
    });
  }
}

/** The settings a strategy is made from: a change to any of them makes a new one. */
export const STRATEGY_SETTINGS: readonly (keyof ServiceSettings)[] = ['algo', 'stickyTtlMs', 'stickyMaxEntries', 'hash', 'hashBalanceFactor'];

/** The admission limits of a service's settings. */
export function admissionOf(settings: ServiceSettings): AdmissionOptions {
  return { maxConnections: settings.maxConnections, queueSize: settings.queue.size, queueTimeoutMs: settings.queue.timeoutMs };
}
