/**
 * A data-plane worker: a replica of every service (registry and strategy,
 * fed whole by the primary), the listeners the primary asks for, counters
 * reported back on a short interval. It runs no health checks and no admin
 * API; those stay in the primary.
 */
import type { Backend } from '../backends/backend.ts';
import { Registry } from '../backends/registry.ts';
import type { ServiceSettings } from '../config/config.ts';
import { createLogger, type Logger } from '../observability/log.ts';
import { flushAccessLogs, reopenAccessLogs } from '../observability/access-log/writer.ts';
import { processMetrics, processMetricsJson } from '../observability/process-metrics.ts';
import { ProxyStats } from '../observability/stats.ts';
import type { DataPlaneListener, SharedPort } from '../proxy/listener.ts';
import { PortTable } from '../proxy/port.ts';
import { listenOrJoin } from '../service/local-listener.ts';
import { createProxyListener, type DataPlane } from '../proxy/plane.ts';
import type { ConnectObserver } from '../proxy/session.ts';
import { Admission } from '../service/controls/admission.ts';
import { ClientGate } from '../service/controls/gate.ts';
import { admissionOf, STRATEGY_SETTINGS } from '../service/service.ts';
import { createStrategy } from '../strategies/index.ts';
import { DATA_PLANE_ENV, LOG_FORMAT_ENV, LOG_LEVEL_ENV, STATS_INTERVAL_MS, type BackendState, type FromWorker, type ServiceState, type ToWorker } from './messages.ts';

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Forwards failures, and the first success after one, so passive health sees what it needs without an IPC message per connection. */
class ForwardingObserver implements ConnectObserver {
  readonly #service: string;
  readonly #failing = new Set<string>();

  constructor(service: string) {
    this.#service = service;
  }

  connectSucceeded(backend: Backend): void {
    if (!this.#failing.delete(backend.key)) return;
    send({ t: 'connect', service: this.#service, key: backend.key, ok: true, code: undefined });
  }

  connectFailed(backend: Backend, error: Error): void {
    this.#failing.add(backend.key);
    send({ t: 'connect', service: this.#service, key: backend.key, ok: false, code: (error as NodeJS.ErrnoException).code });
  }
}

/** One service's replica in this worker. */
class ReplicaService {
  readonly name: string;
  readonly log: Logger;
  readonly registry: Registry;
  readonly stats = new ProxyStats();
  readonly observer: ConnectObserver;
  settings: ServiceSettings;
  gate: ClientGate | undefined;
  readonly admission: Admission;
  readonly listeners = new Map<number, DataPlaneListener>();
  /** The listener new settings go to: the last one opened. */
  current: DataPlaneListener | undefined;

  constructor(state: ServiceState, log: Logger) {
    this.name = state.name;
    this.log = log.child({ service: state.name });
    this.settings = state.settings;
    this.gate = ClientGate.from(state.settings);
    this.admission = new Admission(admissionOf(state.settings));
    // No slow-start window of its own: the primary runs the clock and sends each backend's factor.
    this.registry = new Registry({ strategy: strategyOf(state.settings), initialHealth: 'up', allBackups: state.settings.allBackups, proxyProtocol: state.settings.proxyProtocol });
    this.observer = new ForwardingObserver(state.name);
  }

  update(state: ServiceState): void {
    const prev = this.settings;
    this.settings = state.settings;
    if (STRATEGY_SETTINGS.some((k) => JSON.stringify(prev[k]) !== JSON.stringify(state.settings[k]))) {
      this.registry.setStrategy(strategyOf(state.settings));
    }
    this.registry.setAllBackups(state.settings.allBackups);
    this.registry.setProxyProtocol(state.settings.proxyProtocol);
    if (JSON.stringify(prev) !== JSON.stringify(state.settings)) {
      this.current?.setSettings(state.settings);
      this.admission.configure(admissionOf(state.settings));
    }
    if (ClientGate.keyOf(state.settings) !== ClientGate.keyOf(prev)) {
      this.gate = ClientGate.from(state.settings);
      if (this.current) this.current.gate = this.gate;
    }
    reconcile(this.registry, state.backends);
  }
}

function strategyOf(settings: ServiceSettings) {
  // No `warn`: the primary builds the same tables and says it once.
  const { stickyTtlMs, stickyMaxEntries, hash, hashBalanceFactor } = settings;
  return createStrategy(settings.algo, { random: Math.random, now: Date.now, stickyTtlMs, stickyMaxEntries, hash, hashBalanceFactor });
}

/** Makes the replica match the primary's list: same members, weights, states, health. */
function reconcile(registry: Registry, states: readonly BackendState[]): void {
  // One rebuild for the whole list: the primary's state is in force once the worker says it applied it.
  registry.batch(() => {
    const keep = new Set<Backend>();
    for (const s of states) {
      const { backend } = registry.upsert({ host: s.host, port: s.port, weight: s.weight, maxConnections: s.maxConnections, ...(s.backup && { backup: true }), ...(s.proxyProtocol !== undefined && { proxyProtocol: s.proxyProtocol }) });
      registry.setAdminState(backend, s.state);
      registry.setHealth(backend, s.health);
      registry.setSlowStartFactor(backend, s.slowStartFactor);
      keep.add(backend);
    }
    for (const b of registry.list()) if (!keep.has(b)) registry.remove(b);
  });
}

export async function runWorker(): Promise<void> {
  const format = process.env[LOG_FORMAT_ENV];
  const log = createLogger(process.env[LOG_LEVEL_ENV] ?? 'info', format === 'json' || format === 'pretty' ? format : undefined).child({ worker: process.pid });
  const plane: DataPlane = process.env[DATA_PLANE_ENV] === 'stream' ? 'stream' : 'native';
  processMetrics(); // from the start, so the event-loop lag and GC figures cover the worker's whole life
  const services = new Map<string, ReplicaService>();
  /** Listener id → its service, for listeners still open or draining. */
  const owners = new Map<number, ReplicaService>();

  const report = () => {
    send({
      t: 'stats',
      services: [...services.values()].map((s) => ({
        name: s.name,
        proxy: { ...s.stats },
        backends: s.registry.listAll().map((b) => ({ key: b.key, active: b.active, total: b.total, failed: b.failed, bytesIn: b.bytesIn, bytesOut: b.bytesOut, connectTimes: b.connectTimes })),
        open: Object.fromEntries([...s.listeners].map(([lid, l]) => [lid, l.openConnections])),
        queue: { length: s.admission.length, oldestWaitMs: s.admission.oldestWaitMs(Date.now()) },
      })),
    });
  };
  const timer = setInterval(report, STATS_INTERVAL_MS);

  const applyServices = (states: readonly ServiceState[]) => {
    const wanted = new Set(states.map((s) => s.name));
    for (const state of states) {
      const existing = services.get(state.name);
      if (existing) existing.update(state);
      else {
        const s = new ReplicaService(state, log);
        reconcile(s.registry, state.backends);
        services.set(state.name, s);
      }
    }
    // A service the primary dropped goes once its last listener has drained.
    for (const [name, s] of services) if (!wanted.has(name) && s.listeners.size === 0) services.delete(name);
  };

  const ports = new PortTable<SharedPort>();
  const listen = async (lid: number, name: string, address: { host: string; port: number }, share: string | undefined) => {
    const service = services.get(name);
    if (!service) return send({ t: 'listen-failed', lid, code: 'ERR_UNKNOWN_SERVICE', message: `no service "${name}" in this worker` });
    try {
      const listener = createProxyListener(plane, { registry: service.registry, stats: service.stats, log: service.log, observer: service.observer, admission: service.admission, service: service.name, ...service.settings });
      listener.gate = service.gate; // before it accepts anything
      const bound = await listenOrJoin(listener, ports, address, share);
      service.listeners.set(lid, listener);
      service.current = listener;
      owners.set(lid, service);
      send({ t: 'listening', lid, host: bound.address, port: bound.port });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      send({ t: 'listen-failed', lid, code: e.code ?? 'ERR_LISTEN', message: e.message });
    }
  };

  const unlisten = async (lid: number, graceMs: number) => {
    const service = owners.get(lid);
    const listener = service?.listeners.get(lid);
    if (!service || !listener) return send({ t: 'unlistened', lid, closed: 0 });
    const closed = await listener.close(graceMs);
    service.listeners.delete(lid);
    owners.delete(lid);
    if (service.current === listener) service.current = undefined;
    send({ t: 'unlistened', lid, closed });
  };

  process.on('message', (message: ToWorker) => {
    switch (message.t) {
      case 'services':
        applyServices(message.services);
        return send({ t: 'applied', seq: message.seq });
      case 'listen':
        return void listen(message.lid, message.service, message.address, message.share);
      case 'unlisten':
        return void unlisten(message.lid, message.graceMs);
      case 'kill': {
        const s = services.get(message.service);
        if (!s) return;
        for (const b of s.registry.listAll()) if (b.key === message.key) for (const l of s.listeners.values()) l.destroyConnectionsTo(b);
        return;
      }
      case 'close':
        void Promise.all([...owners.keys()].map((lid) => unlisten(lid, message.graceMs)))
          .then(() => flushAccessLogs(1000))
          .then(() => {
            clearInterval(timer);
            report();
            process.disconnect?.();
          });
        return;
      case 'reopen':
        return reopenAccessLogs();
      case 'process-metrics':
        return void processMetricsJson().then((metrics) => send({ t: 'process-metrics', seq: message.seq, metrics }));
    }
  });
  // The primary going away (crash, kill -9) must not leave an orphan serving traffic.
  process.on('disconnect', () => {
    void Promise.all([...owners.values()].flatMap((s) => [...s.listeners.values()].map((l) => l.destroy()))).then(() => process.exit(0));
  });
  // SIGUSR1 too: a signal to the whole process group must not start the inspector here; the primary relays a reopen.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1'] as const) process.on(sig, () => {}); // the primary decides when workers stop
  send({ t: 'hello' });
}

await runWorker();
