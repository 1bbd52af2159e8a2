/**
 * The shared store's settings (issue 14): a Redis URL (`redis://`, or
 * `rediss://` for TLS) or a Sentinel group, plus the timings of the sync.
 * Parsed once here, for the flag and the file alike; src/store/ takes the
 * frozen result.
 */
import { ConfigError } from '../errors.ts';
import type { HostPort } from './parse.ts';

export interface StoreConfig {
  /** `redis://[user:pass@]host[:port][/db]` or `rediss://…`; undefined with `sentinels`. */
  readonly url: string | undefined;
  /** Sentinel addresses; with `name`, the master they watch. */
  readonly sentinels: readonly HostPort[] | undefined;
  readonly name: string | undefined;
  /** Database number (Sentinel; a URL carries its own). @default 0 */
  readonly db: number;
  readonly password: string | undefined;
  /** Every instance reloads the whole shared state this often, whatever the messages said. @default 30000 */
  readonly resyncIntervalMs: number;
  /** How long start-up waits for the shared state before it starts with the file alone. @default 5000 */
  readonly startupTimeoutMs: number;
  /** How often an instance renews its entry in the fleet view; the entry lives 3 times as long. @default 5000 */
  readonly heartbeatIntervalMs: number;
}

export const STORE_DEFAULTS = Object.freeze({ db: 0, resyncIntervalMs: 30_000, startupTimeoutMs: 5_000, heartbeatIntervalMs: 5_000 });

/** Checks a `redis://` / `rediss://` URL: host, port and database number, with the field named. */
export function parseStoreUrl(field: string, text: string): string {
  const use = 'use redis://host:port/db or rediss://host:port/db';
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new ConfigError(field, `"${text}" is not a URL (${use})`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError(field, `"${url.protocol}" is not a Redis scheme (${use})`);
  if (url.hostname === '') throw new ConfigError(field, `"${text}" has no host (${use})`);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && (!/^\d+$/.test(db) || Number(db) > 65535)) throw new ConfigError(field, `database "${db}" is invalid (use a number, e.g. /0)`);
  return url.href;
}

/** A StoreConfig from a URL alone (the `--store` flag, or `store: URL` in the file). */
export function storeFromUrl(field: string, text: string): StoreConfig {
  return Object.freeze({ ...STORE_DEFAULTS, url: parseStoreUrl(field, text), sentinels: undefined, name: undefined, password: undefined });
}

/** Where the store is, for logs and messages: the URL without its password, or the Sentinel group. */
export function describeStore(store: StoreConfig): string {
  if (store.url !== undefined) {
    const u = new URL(store.url);
    if (u.password) u.password = '***';
    return u.href;
  }
  return `sentinel ${store.name ?? ''} (${(store.sentinels ?? []).map((s) => `${s.host}:${s.port}`).join(', ')})`;
}
