/**
 * The IPC protocol between the primary (registry, health, admin) and the
 * data-plane workers. Messages are small and carry whole states, not diffs,
 * so a lost or reordered message is repaired by the next one.
 */
import type { AdminState, Health } from '../backends/backend.ts';
import type { FulcrumConfig } from '../config/config.ts';

/** One backend as the primary sees it; a worker's replica registry converges to the list. */
export interface BackendState {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly state: AdminState;
  readonly health: Health;
}

export interface BackendCounters {
  readonly key: string;
  readonly active: number;
  readonly total: number;
  readonly failed: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface ProxyCounters {
  readonly accepted: number;
  readonly noBackend: number;
  readonly retries: number;
  readonly panic: number;
  readonly idleTimeouts: number;
  readonly localErrors: number;
}

export type ToWorker =
  /** Every registered backend, in registration order. */
  | { readonly t: 'backends'; readonly backends: readonly BackendState[] }
  /** Close every connection to this backend now (admin force-delete). */
  | { readonly t: 'kill'; readonly key: string }
  | { readonly t: 'close'; readonly graceMs: number };

export type FromWorker =
  /** Ready for its first backend list; it listens only after that, so it never accepts with an empty registry. */
  | { readonly t: 'hello' }
  | { readonly t: 'listening'; readonly host: string; readonly port: number }
  /** Cumulative counters of this worker since it started. */
  | { readonly t: 'stats'; readonly backends: readonly BackendCounters[]; readonly proxy: ProxyCounters }
  /** A connect outcome on real traffic, for passive health. Successes are sent only after a failure. */
  | { readonly t: 'connect'; readonly key: string; readonly ok: boolean; readonly code: string | undefined };

export const STATS_INTERVAL_MS = 200;

/** The worker's config travels in its environment, so it exists before any message can. */
export const CONFIG_ENV = 'FULCRUM_WORKER_CONFIG';

export function configFromEnv(): FulcrumConfig {
  const text = process.env[CONFIG_ENV];
  if (!text) throw new Error(`${CONFIG_ENV} is not set: this file runs as a Fulcrum worker only`);
  return Object.freeze(JSON.parse(text) as FulcrumConfig);
}
