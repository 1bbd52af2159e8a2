/**
 * The primary side of `--workers N`: forks the data-plane workers, keeps
 * their replicas of every service in step with the real ones, opens and
 * closes listeners in all of them, sums their counters into the primary's
 * Backend objects and ProxyStats (so the admin API and /metrics read them as
 * they would in one process), feeds passive health, and restarts a worker
 * that dies while the others keep serving.
 *
 * It is the services' ListenerFactory: a bind is one listener id, opened in
 * every worker; it resolves when every worker listens and fails whole (the
 * workers that did listen close again) when one cannot.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backends/backend.ts';
import type { HostPort } from '../config/parse.ts';
import { BackendConnectError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { MetricsJson } from '../observability/process-metrics.ts';
import { CONNECT_BUCKETS, DURATION_BUCKETS, Histogram, QUEUE_WAIT_BUCKETS } from '../observability/histogram.ts';
import type { ListenerSettings } from '../proxy/listener.ts';
import type { ListenerFactory, Service, ServiceListener } from '../service/service.ts';
import { tsExecArgv } from '../runtime/ts-loader.mjs';
import type { DataPlane } from '../proxy/plane.ts';
import { DATA_PLANE_ENV, LOG_FORMAT_ENV, LOG_LEVEL_ENV, type FromWorker, type ServiceCounters, type ServiceState, type ToWorker } from './messages.ts';

export interface WorkerPoolOptions {
  readonly workers: number;
  readonly logLevel: string;
  readonly logFormat: 'json' | 'pretty' | undefined;
  /** The plane the primary resolved; every worker runs the same. @default 'native' */
  readonly dataPlane?: DataPlane;
  readonly log: Logger;
}

const PROXY_FIELDS = ['accepted', 'noBackend', 'retries', 'panic', 'idleTimeouts', 'maxLifetimes', 'localErrors', 'acceptErrors', 'rejectedDenied', 'rejectedPerIpConnections', 'rejectedPerIpRate', 'rejectedQueueFull', 'rejectedQueueTimeout', 'rejectedProxyHeader', 'rejectedUntrustedProxy', 'rejectedSni', 'accessLogDropped'] as const;
const HISTOGRAM_FIELDS = ['durations', 'queueWaits'] as const;
const COUNTER_FIELDS = ['total', 'failed', 'bytesIn', 'bytesOut'] as const;
/** A worker that dies sooner than this after its start is restarted after a pause, not in a tight loop. */
const CRASH_LOOP_MS = 1000;
/** How long `sync` waits for every worker to acknowledge a state. */
const SYNC_TIMEOUT_MS = 2000;

type Totals = Record<(typeof PROXY_FIELDS)[number], number>;
const zero = (): Totals => ({ accepted: 0, noBackend: 0, retries: 0, panic: 0, idleTimeouts: 0, maxLifetimes: 0, localErrors: 0, acceptErrors: 0, rejectedDenied: 0, rejectedPerIpConnections: 0, rejectedPerIpRate: 0, rejectedQueueFull: 0, rejectedQueueTimeout: 0, rejectedProxyHeader: 0, rejectedUntrustedProxy: 0, rejectedSni: 0, accessLogDropped: 0 });
type Histograms = Record<(typeof HISTOGRAM_FIELDS)[number], Histogram>;
const histograms = (): Histograms => ({ durations: new Histogram(DURATION_BUCKETS), queueWaits: new Histogram(QUEUE_WAIT_BUCKETS) });

interface Report {
  readonly counters: ServiceCounters;
  readonly backends: Map<string, ServiceCounters['backends'][number]>;
}

interface PoolListenerState {
  readonly lid: number;
  readonly service: Service;
  readonly address: HostPort;
  /** The key of a shared (SNI) address: each worker joins its own port for it. */
  readonly share: string | undefined;
  closing: boolean;
}

/** One bind, in every worker. */
class PoolListener implements ServiceListener {
  readonly #pool: WorkerPool;
  readonly state: PoolListenerState;
  readonly address: AddressInfo;
  #closed: Promise<number> | undefined;

  constructor(pool: WorkerPool, state: PoolListenerState, address: AddressInfo) {
    this.#pool = pool;
    this.state = state;
    this.address = address;
  }

  setSettings(_settings: ListenerSettings): void {
    this.#pool.scheduleBroadcast();
  }

  /** Each worker builds its own gate from the settings (per-IP counts are per worker, as nginx's without a shared zone). */
  setGate(_gate: unknown): void {}

  destroyConnectionsTo(backend: Backend): void {
    this.#pool.broadcast({ t: 'kill', service: this.state.service.name, key: backend.key });
  }

  close(graceMs: number): Promise<number> {
    this.#closed ??= this.#pool.unlisten(this.state, graceMs);
    return this.#closed;
  }

  get openConnections(): number {
    return this.#pool.openOn(this.state.lid);
  }
}

export class WorkerPool implements ListenerFactory {
  readonly #o: WorkerPoolOptions;
  /** Last counters of each live worker: service name → its counters, backends by key. */
  readonly #reports = new Map<number, Map<string, Report>>();
  /** Counters of workers that have exited, by service, so sums never go backwards. */
  readonly #retired = new Map<string, { proxy: Totals; histograms: Histograms; backends: Map<string, Record<(typeof COUNTER_FIELDS)[number], number> & { connectTimes: Histogram }> }>();
  readonly #services = new Set<Service>();
  readonly #listeners = new Map<number, PoolListenerState>();
  readonly #waiters = new Map<string, (m: FromWorker, worker: Worker) => void>();
  #nextLid = 1;
  #seq = 0;
  #stopping = false;
  #broadcastPending = false;

  constructor(options: WorkerPoolOptions) {
    this.#o = options;
    cluster.schedulingPolicy = cluster.SCHED_NONE; // the kernel spreads accepts; no handle passing per connection
    cluster.setupPrimary({
      // Beside this module: worker.js in an installed copy (JavaScript emitted at pack time), worker.ts from a clone.
      exec: fileURLToPath(new URL(import.meta.url.endsWith('.js') ? './worker.js' : './worker.ts', import.meta.url)),
      execArgv: tsExecArgv(), // workers run TypeScript too: with tsx from our own folder where this Node needs it
      silent: false,
    });
  }

  /** Forks every worker; resolves once each has said hello and has the (empty) state. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.#o.workers }, () => this.#fork()));
  }

  async bind(service: Service, listen: HostPort, _settings: ListenerSettings, share?: string): Promise<ServiceListener> {
    this.#follow(service);
    await this.sync();
    const state: PoolListenerState = { lid: this.#nextLid++, service, address: listen, share, closing: false };
    const workers = this.#workers();
    const results = await Promise.allSettled(workers.map((w) => this.#request(w, { t: 'listen', lid: state.lid, service: service.name, address: listen, ...(share !== undefined && { share }) }, `listen:${state.lid}:${w.id}`)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const first = results.find((r): r is PromiseFulfilledResult<FromWorker> => r.status === 'fulfilled');
    if (failed || !first || first.value.t !== 'listening') {
      this.#listeners.set(state.lid, state);
      await this.unlisten(state, 0);
      throw failed?.reason ?? new Error('no worker to listen');
    }
    this.#listeners.set(state.lid, state);
    const { host, port } = first.value;
    return new PoolListener(this, state, { address: host, port, family: host.includes(':') ? 'IPv6' : 'IPv4' });
  }

  /** Sends the whole state now and waits until every worker has applied it (or the timeout): how many did, and the pids of those that did not. */
  async sync(): Promise<{ acknowledged: number; missing: number[] }> {
    const seq = ++this.#seq;
    const message: ToWorker = { t: 'services', seq, services: this.#state() };
    const workers = this.#workers();
    const results = await Promise.allSettled(workers.map((w) => this.#request(w, message, `applied:${seq}:${w.id}`, SYNC_TIMEOUT_MS)));
    const missing = workers.filter((_, i) => results[i]!.status === 'rejected').map((w) => w.process.pid ?? 0);
    return { acknowledged: workers.length - missing.length, missing };
  }

  /** Every live worker's process metrics, asked now; a worker that does not answer within a second is left out of this scrape. */
  async processMetrics(): Promise<{ id: string; metrics: MetricsJson }[]> {
    const seq = ++this.#seq;
    const workers = this.#workers();
    const results = await Promise.allSettled(workers.map((w) => this.#request(w, { t: 'process-metrics', seq }, `metrics:${seq}:${w.id}`, 1000)));
    return results.flatMap((r, i) => (r.status === 'fulfilled' && r.value.t === 'process-metrics' ? [{ id: String(workers[i]!.id), metrics: r.value.metrics }] : []));
  }

  /** @internal */
  async unlisten(state: PoolListenerState, graceMs: number): Promise<number> {
    state.closing = true;
    const results = await Promise.allSettled(
      this.#workers().map((w) => this.#request(w, { t: 'unlisten', lid: state.lid, graceMs }, `unlistened:${state.lid}:${w.id}`, graceMs + 5000)),
    );
    this.#listeners.delete(state.lid);
    return results.reduce((n, r) => n + (r.status === 'fulfilled' && r.value.t === 'unlistened' ? r.value.closed : 0), 0);
  }

  /** @internal Connections open on listener `lid`, over every worker's last report. */
  openOn(lid: number): number {
    let n = 0;
    for (const services of this.#reports.values()) for (const s of services.values()) n += s.counters.open[lid] ?? 0;
    return n;
  }

  /** Stops every worker gracefully (at most `graceMs` for what is still open). */
  async close(graceMs: number): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#workers(true).map(async (w) => {
        if (w.isDead()) return;
        const exited = once(w, 'exit');
        const kill = setTimeout(() => w.kill('SIGKILL'), graceMs + 2000).unref();
        if (w.isConnected()) w.send({ t: 'close', graceMs } satisfies ToWorker, () => {}); // a worker already gone just exits (callback: no 'error' event)
        await exited;
        clearTimeout(kill);
      }),
    );
  }

  /** @internal Registry events come in bursts (a register is a change and a state); send one state per tick. */
  scheduleBroadcast(): void {
    if (this.#broadcastPending) return;
    this.#broadcastPending = true;
    setImmediate(() => {
      this.#broadcastPending = false;
      this.broadcast({ t: 'services', seq: ++this.#seq, services: this.#state() });
    });
  }

  /** @internal */
  broadcast(message: ToWorker): void {
    for (const w of this.#workers()) w.send(message, () => {}); // a worker gone meanwhile: no 'error' event; the next state repairs a lost one
  }

  #follow(service: Service): void {
    if (this.#services.has(service)) return;
    this.#services.add(service);
    const sync = () => this.scheduleBroadcast();
    service.registry.on('change', sync);
    service.registry.on('added', sync);
    service.registry.on('state', sync);
    service.registry.on('removed', sync);
  }

  /** Services that still have a listener (open or draining), or are in use. */
  #state(): ServiceState[] {
    const live = new Set<Service>([...this.#listeners.values()].map((l) => l.service));
    for (const s of this.#services) if (!s.closed) live.add(s);
    return [...live].map((s) => ({
      name: s.name,
      settings: s.settings,
      backends: s.registry.list().map((b) => ({
        host: b.host, port: b.port, weight: b.weight, state: b.state, health: b.health, backup: b.backup, slowStartFactor: b.slowStartFactor, maxConnections: b.maxConnections,
        ...(b.proxyProtocol !== undefined && { proxyProtocol: b.proxyProtocol }),
      })),
    }));
  }

  #workers(all = false): Worker[] {
    return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && (all || w.isConnected()));
  }

  /** Sends `message` to `worker` and resolves with the answer keyed `key` (or rejects on failure, exit or timeout). */
  #request(worker: Worker, message: ToWorker, key: string, timeoutMs = 10_000): Promise<FromWorker> {
    const waitKey = key;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`worker ${worker.process.pid} did not answer ${message.t} in ${timeoutMs}ms`)), timeoutMs).unref();
      const onExit = () => done(new Error(`worker ${worker.process.pid} exited`));
      const done = (err: Error | undefined, m?: FromWorker) => {
        clearTimeout(timer);
        worker.off('exit', onExit);
        this.#waiters.delete(waitKey);
        if (err) reject(err);
        else resolve(m!);
      };
      worker.once('exit', onExit);
      this.#waiters.set(waitKey, (m) => {
        if (m.t === 'listen-failed') {
          const e = new Error(m.message) as NodeJS.ErrnoException;
          e.code = m.code;
          done(e);
        } else done(undefined, m);
      });
      // A worker that died meanwhile fails the send: the callback (no 'error' event, which would crash) settles the wait.
      worker.send(message, (err: Error | null) => err && done(err));
    });
  }

  #fork(): Promise<void> {
    const started = Date.now();
    const worker = cluster.fork({
      [LOG_LEVEL_ENV]: this.#o.logLevel,
      [DATA_PLANE_ENV]: this.#o.dataPlane ?? 'native',
      ...(this.#o.logFormat && { [LOG_FORMAT_ENV]: this.#o.logFormat }),
    });
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'hello':
            return void this.#welcome(worker).then(resolve, reject);
          case 'applied':
            return this.#waiters.get(`applied:${m.seq}:${worker.id}`)?.(m, worker);
          case 'listening':
          case 'listen-failed':
            return this.#waiters.get(`listen:${m.lid}:${worker.id}`)?.(m, worker);
          case 'unlistened':
            return this.#waiters.get(`unlistened:${m.lid}:${worker.id}`)?.(m, worker);
          case 'stats':
            this.#reports.set(worker.id, new Map(m.services.map((c) => [c.name, { counters: c, backends: new Map(c.backends.map((b) => [b.key, b])) }])));
            return this.#sum();
          case 'connect':
            return this.#onConnect(m.service, m.key, m.ok, m.code);
          case 'process-metrics':
            return this.#waiters.get(`metrics:${m.seq}:${worker.id}`)?.(m, worker);
        }
      });
      worker.on('error', (err) => this.#o.log.warn({ err, worker: worker.process.pid }, 'worker IPC error'));
      worker.once('exit', (code, signal) => {
        this.#retire(worker.id);
        reject(new Error(`worker exited before it was ready (code ${code}, signal ${signal})`));
        if (this.#stopping) return;
        this.#o.log.error({ worker: worker.process.pid, code, signal }, 'worker died; restarting it');
        const delay = Date.now() - started < CRASH_LOOP_MS ? CRASH_LOOP_MS : 0;
        setTimeout(() => {
          if (!this.#stopping) this.#fork().catch((err) => this.#o.log.error({ err }, 'worker restart failed'));
        }, delay).unref();
      });
    });
  }

  /** A new (or restarted) worker: the whole state, then every open listener. */
  async #welcome(worker: Worker): Promise<void> {
    const seq = ++this.#seq;
    await this.#request(worker, { t: 'services', seq, services: this.#state() }, `applied:${seq}:${worker.id}`);
    for (const l of this.#listeners.values()) {
      if (l.closing) continue;
      await this.#request(worker, { t: 'listen', lid: l.lid, service: l.service.name, address: l.address, ...(l.share !== undefined && { share: l.share }) }, `listen:${l.lid}:${worker.id}`);
    }
  }

  #onConnect(name: string, key: string, ok: boolean, code: string | undefined): void {
    const service = [...this.#services].find((s) => s.name === name && !s.closed);
    const backend = service?.registry.getByKey(key);
    if (!service || !backend) return;
    if (ok) service.observer.connectSucceeded(backend);
    else service.observer.connectFailed(backend, new BackendConnectError(`connect to ${key} failed in a worker`, code));
  }

  #retire(id: number): void {
    const last = this.#reports.get(id);
    this.#reports.delete(id);
    for (const { counters: s } of last?.values() ?? []) {
      let r = this.#retired.get(s.name);
      if (!r) this.#retired.set(s.name, (r = { proxy: zero(), histograms: histograms(), backends: new Map() }));
      for (const f of PROXY_FIELDS) r.proxy[f] += s.proxy[f] ?? 0;
      for (const f of HISTOGRAM_FIELDS) r.histograms[f].addFrom(s.proxy[f]);
      for (const c of s.backends) {
        let b = r.backends.get(c.key);
        if (!b) r.backends.set(c.key, (b = { total: 0, failed: 0, bytesIn: 0, bytesOut: 0, connectTimes: new Histogram(CONNECT_BUCKETS) }));
        for (const f of COUNTER_FIELDS) b[f] += c[f];
        b.connectTimes.addFrom(c.connectTimes);
      }
    }
    this.#sum();
  }

  /** Writes the sums over live workers plus retired ones into the primary's objects. */
  #sum(): void {
    for (const service of this.#services) {
      const retired = this.#retired.get(service.name);
      const reports = [...this.#reports.values()].map((m) => m.get(service.name)).filter((s) => s !== undefined);
      for (const b of service.registry.listAll()) {
        let active = 0;
        const sums = { total: 0, failed: 0, bytesIn: 0, bytesOut: 0 };
        b.connectTimes.clear();
        for (const r of reports) {
          const c = r.backends.get(b.key);
          if (!c) continue;
          active += c.active;
          for (const f of COUNTER_FIELDS) sums[f] += c[f];
          b.connectTimes.addFrom(c.connectTimes);
        }
        const old = retired?.backends.get(b.key);
        for (const f of COUNTER_FIELDS) b[f] = sums[f] + (old?.[f] ?? 0);
        b.connectTimes.addFrom(old?.connectTimes);
        b.active = active;
      }
      const stats = service.stats;
      for (const f of PROXY_FIELDS) stats[f] = reports.reduce((n, r) => n + (r.counters.proxy[f] ?? 0), 0) + (retired?.proxy[f] ?? 0);
      for (const f of HISTOGRAM_FIELDS) {
        stats[f].clear();
        for (const r of reports) stats[f].addFrom(r.counters.proxy[f]);
        stats[f].addFrom(retired?.histograms[f]);
      }
      // The queues are the workers' (the primary serves no connection): as of their last reports.
      service.queuedElsewhere = {
        length: reports.reduce((n, r) => n + r.counters.queue.length, 0),
        oldestWaitMs: reports.reduce((n, r) => Math.max(n, r.counters.queue.oldestWaitMs), 0),
      };
    }
  }
}
