/**
 * The IPC protocol between the primary (services, registries, health,
 * admin) and the data-plane workers. State travels whole (every service with
 * its settings and backends), not as diffs, so a lost or reordered message
 * is repaired by the next one. Listeners are named by an id the primary
 * hands out per bind, since a service may have a new listener and an old,
 * draining one at once.
 */
import type { AdminState, Health } from '../backends/backend.ts';
import type { ServiceSettings } from '../config/config.ts';
import type { HistogramData } from '../observability/histogram.ts';
import type { MetricsJson } from '../observability/process-metrics.ts';
import type { BackendProxyProtocol, HostPort } from '../config/parse.ts';

/** One backend as the primary sees it; a worker's replica registry converges to the list. */
export interface BackendState {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly state: AdminState;
  readonly health: Health;
  readonly backup: boolean;
  /** Slow start's share of the weight, (0, 1]; the primary runs the clock, replicas take its steps. */
  readonly slowStartFactor: number;
  /** Connections it takes at once, in each worker (as every limit there); 0: no limit. */
  readonly maxConnections: number;
  /** Its own `proxyProtocol`, absent when it follows the service's (in `settings`). */
  readonly proxyProtocol?: BackendProxyProtocol;
}

export interface ServiceState {
  readonly name: string;
  readonly settings: ServiceSettings;
  /** Every registered backend, in registration order. */
  readonly backends: readonly BackendState[];
}

export interface BackendCounters {
  readonly key: string;
  readonly active: number;
  readonly total: number;
  readonly failed: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connectTimes: HistogramData;
}

export interface ProxyCounters {
  readonly accepted: number;
  readonly noBackend: number;
  readonly retries: number;
  readonly panic: number;
  readonly idleTimeouts: number;
  readonly maxLifetimes: number;
  readonly localErrors: number;
  readonly acceptErrors: number;
  readonly rejectedDenied: number;
  readonly rejectedPerIpConnections: number;
  readonly rejectedPerIpRate: number;
  readonly rejectedQueueFull: number;
  readonly rejectedQueueTimeout: number;
  readonly accessLogDropped: number;
  readonly durations: HistogramData;
  readonly queueWaits: HistogramData;
  readonly rejectedProxyHeader: number;
  readonly rejectedUntrustedProxy: number;
  readonly rejectedSni: number;
}

export interface ServiceCounters {
  readonly name: string;
  readonly proxy: ProxyCounters;
  /** Registered and removed-but-open backends. */
  readonly backends: readonly BackendCounters[];
  /** Open connections per listener id. */
  readonly open: Readonly<Record<string, number>>;
  /** Clients waiting in this worker's queue, and how long the first has waited (ms). */
  readonly queue: { readonly length: number; readonly oldestWaitMs: number };
}

export type ToWorker =
  /** Every service; `seq` is acknowledged with `applied`. */
  | { readonly t: 'services'; readonly seq: number; readonly services: readonly ServiceState[] }
  /** Open listener `lid` for `service` (the service is in the last `services`); with `share`, join the worker's port for that key if it has one. */
  | { readonly t: 'listen'; readonly lid: number; readonly service: string; readonly address: HostPort; readonly share?: string }
  /** Stop accepting on `lid`; its connections get `graceMs`, then are closed. */
  | { readonly t: 'unlisten'; readonly lid: number; readonly graceMs: number }
  /** Close every connection of `service` to this backend now (admin force-delete). */
  | { readonly t: 'kill'; readonly service: string; readonly key: string }
  | { readonly t: 'close'; readonly graceMs: number }
  /** SIGUSR1 reached the primary: open the access-log files again. */
  | { readonly t: 'reopen' }
  /** A scrape of /metrics: answer with this process's metrics (prom-client JSON). */
  | { readonly t: 'process-metrics'; readonly seq: number };

export type FromWorker =
  /** Ready for its state; it listens only once told to, after the services are known. */
  | { readonly t: 'hello' }
  | { readonly t: 'applied'; readonly seq: number }
  | { readonly t: 'listening'; readonly lid: number; readonly host: string; readonly port: number }
  | { readonly t: 'listen-failed'; readonly lid: number; readonly code: string; readonly message: string }
  /** `lid` has stopped and its last connection ended; `closed` of them were cut at the deadline. */
  | { readonly t: 'unlistened'; readonly lid: number; readonly closed: number }
  /** Cumulative counters of this worker since it started. */
  | { readonly t: 'stats'; readonly services: readonly ServiceCounters[] }
  /** A connect outcome on real traffic, for passive health. Successes are sent only after a failure. */
  | { readonly t: 'connect'; readonly service: string; readonly key: string; readonly ok: boolean; readonly code: string | undefined }
  | { readonly t: 'process-metrics'; readonly seq: number; readonly metrics: MetricsJson };

export const STATS_INTERVAL_MS = 200;

/** The worker's log level travels in its environment, so it exists before any message can. */
export const LOG_LEVEL_ENV = 'FULCRUM_WORKER_LOG_LEVEL';
export const LOG_FORMAT_ENV = 'FULCRUM_WORKER_LOG_FORMAT';

/** The data plane the primary resolved (`native` or `stream`), so that every worker runs the same one. */
export const DATA_PLANE_ENV = 'FULCRUM_WORKER_DATA_PLANE';
