/**
 * The primary side of `--workers N`: forks the data-plane workers, keeps
 * their replica registries in step with the real one, sums their counters
 * into the primary's Backend objects and ProxyStats (so the admin API and
 * /metrics read them as they would in one process), feeds passive health,
 * and restarts a worker that dies while the others keep serving.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backends/backend.ts';
import type { Registry } from '../backends/registry.ts';
import type { FulcrumConfig } from '../config/config.ts';
import { BackendConnectError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import type { ConnectObserver } from '../proxy/session.ts';
import { tsExecArgv } from '../runtime/ts-loader.mjs';
import { CONFIG_ENV, type BackendCounters, type FromWorker, type ProxyCounters, type ToWorker } from './messages.ts';

export interface WorkerPoolOptions {
  readonly config: FulcrumConfig;
  readonly registry: Registry;
  readonly stats: ProxyStats;
  readonly observer: ConnectObserver;
  readonly log: Logger;
}

interface Report {
  backends: Map<string, BackendCounters>;
  proxy: ProxyCounters;
}

const PROXY_FIELDS = ['accepted', 'noBackend', 'retries', 'panic', 'idleTimeouts', 'localErrors'] as const;
const COUNTER_FIELDS = ['total', 'failed', 'bytesIn', 'bytesOut'] as const;
/** A worker that dies sooner than this after its start is restarted after a pause, not in a tight loop. */
const CRASH_LOOP_MS = 1000;

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  readonly #reports = new Map<number, Report>();
  /** Counters of workers that have exited, so sums never go backwards. */
  readonly #retired: Report = { backends: new Map(), proxy: { accepted: 0, noBackend: 0, retries: 0, panic: 0, idleTimeouts: 0, localErrors: 0 } };
  #stopping = false;
  #broadcastPending = false;

  constructor(options: WorkerPoolOptions) {
    this.#o = options;
    cluster.schedulingPolicy = cluster.SCHED_NONE; // the kernel spreads accepts; no handle passing per connection
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker.ts', import.meta.url)),
      execArgv: tsExecArgv(), // workers run TypeScript too: with tsx from our own folder where this Node needs it
      silent: false,
    });
    const sync = () => this.#scheduleBroadcast();
    options.registry.on('change', sync);
    options.registry.on('state', sync);
    options.registry.on('removed', sync);
  }

  /** Forks every worker and resolves with the shared listening address once all listen. */
  async start(): Promise<{ host: string; port: number }> {
    const n = this.#o.config.workers;
    const addresses = await Promise.all(Array.from({ length: n }, () => this.#fork()));
    return addresses[0]!;
  }

  /** Closes every connection to `backend` in every worker. */
  destroyConnectionsTo(backend: Backend): void {
    this.#broadcast({ t: 'kill', key: backend.key });
  }

  /** Stops every worker gracefully (at most `graceMs` for open connections). */
  async close(graceMs: number): Promise<void> {
    this.#stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      workers.map(async (w) => {
        if (w.isDead()) return;
        const exited = once(w, 'exit');
        const kill = setTimeout(() => w.kill('SIGKILL'), graceMs + 2000).unref();
        w.send({ t: 'close', graceMs } satisfies ToWorker, () => {}); // a worker already gone just exits (callback: no 'error' event)
        await exited;
        clearTimeout(kill);
      }),
    );
  }

  #fork(): Promise<{ host: string; port: number }> {
    const config = this.#o.config;
    const started = Date.now();
    const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(config) });
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        // With a callback, a worker gone since its hello (EPIPE) is not an 'error' event: that crashed the primary on Node 24.
        if (m.t === 'hello') worker.send(this.#backendsMessage(), (err) => err && this.#o.log.debug({ err }, 'worker gone before its backend list'));
        else if (m.t === 'listening') resolve({ host: m.host, port: m.port });
        else if (m.t === 'stats') this.#onStats(worker.id, m.backends, m.proxy);
        else if (m.t === 'connect') this.#onConnect(m.key, m.ok, m.code);
      });
      worker.on('error', (err) => this.#o.log.warn({ err, worker: worker.process.pid }, 'worker IPC error'));
      worker.once('exit', (code, signal) => {
        this.#retire(worker.id);
        reject(new Error(`worker exited before listening (code ${code}, signal ${signal})`));
        if (this.#stopping) return;
        this.#o.log.error({ worker: worker.process.pid, code, signal }, 'worker died; restarting it');
        const delay = Date.now() - started < CRASH_LOOP_MS ? CRASH_LOOP_MS : 0;
        setTimeout(() => {
          if (!this.#stopping) this.#fork().catch((err) => this.#o.log.error({ err }, 'worker restart failed'));
        }, delay).unref();
      });
    });
  }

  #backendsMessage(): ToWorker {
    return {
      t: 'backends',
      backends: this.#o.registry.list().map((b) => ({ host: b.host, port: b.port, weight: b.weight, state: b.state, health: b.health })),
    };
  }

  /** Registry events come in bursts (a register is a change and a state); send one list per tick. */
  #scheduleBroadcast(): void {
    if (this.#broadcastPending) return;
    this.#broadcastPending = true;
    setImmediate(() => {
      this.#broadcastPending = false;
      this.#broadcast(this.#backendsMessage());
    });
  }

  #broadcast(message: ToWorker): void {
    for (const w of Object.values(cluster.workers ?? {})) {
      if (w?.isConnected()) w.send(message, () => {}); // a worker gone meanwhile: no 'error' event; the next list repairs a lost one
    }
  }

  #onConnect(key: string, ok: boolean, code: string | undefined): void {
    const backend = this.#o.registry.getByKey(key);
    if (!backend) return;
    if (ok) this.#o.observer.connectSucceeded(backend);
    else this.#o.observer.connectFailed(backend, new BackendConnectError(`connect to ${key} failed in a worker`, code));
  }

  #onStats(id: number, backends: readonly BackendCounters[], proxy: ProxyCounters): void {
    this.#reports.set(id, { backends: new Map(backends.map((b) => [b.key, b])), proxy });
    this.#sum();
  }

  #retire(id: number): void {
    const last = this.#reports.get(id);
    this.#reports.delete(id);
    if (!last) return;
    const retired = this.#retired;
    for (const [key, c] of last.backends) {
      const r = retired.backends.get(key);
      retired.backends.set(key, {
        key, active: 0,
        total: (r?.total ?? 0) + c.total, failed: (r?.failed ?? 0) + c.failed,
        bytesIn: (r?.bytesIn ?? 0) + c.bytesIn, bytesOut: (r?.bytesOut ?? 0) + c.bytesOut,
      });
    }
    const p = { ...retired.proxy };
    for (const f of PROXY_FIELDS) p[f] += last.proxy[f];
    retired.proxy = p;
    this.#sum();
  }

  /** Writes the sums over live workers plus retired ones into the primary's objects. */
  #sum(): void {
    const reports = [...this.#reports.values(), this.#retired];
    for (const b of this.#o.registry.list()) {
      let active = 0;
      const sums = { total: 0, failed: 0, bytesIn: 0, bytesOut: 0 };
      for (const r of reports) {
        const c = r.backends.get(b.key);
        if (!c) continue;
        active += c.active;
        for (const f of COUNTER_FIELDS) sums[f] += c[f];
      }
      b.active = active;
      for (const f of COUNTER_FIELDS) b[f] = sums[f];
    }
    const stats = this.#o.stats;
    for (const f of PROXY_FIELDS) stats[f] = reports.reduce((n, r) => n + r.proxy[f], 0);
  }
}
