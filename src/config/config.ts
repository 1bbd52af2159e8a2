import type { BackendSpec, HostPort } from './parse.ts';

/** The complete, validated configuration. Everything inside Fulcrum receives this, frozen. */
export interface FulcrumConfig {
  /** Client-facing TCP listener. @default 0.0.0.0:8080 */
  readonly listen: HostPort;
  /** Admin HTTP listener; a bare port binds 127.0.0.1. @default 127.0.0.1:9090 */
  readonly admin: HostPort;
  /** Canonical long strategy name. @default power-of-two-choices */
  readonly algo: string;
  readonly backends: readonly BackendSpec[];
  /** @default 3000 */
  readonly connectTimeoutMs: number;
  /** Further backends tried after a failed connect. @default 2 */
  readonly retries: number;
  /** 0 disables. @default 600000 (10m) */
  readonly idleTimeoutMs: number;
  /** srr: idle time after which a client IP forgets its backend. @default 600000 (10m) */
  readonly stickyTtlMs: number;
  /** srr: most client IPs remembered. @default 100000 */
  readonly stickyMaxEntries: number;
  /** Start three demo backends on loopback and register them. @default false */
  readonly demo: boolean;
  readonly health: HealthConfig;
  readonly passive: PassiveHealthConfig;
  /** Bearer token for the admin API; undefined leaves it open (it binds loopback by default). */
  readonly adminToken: string | undefined;
  /** Names besides localhost and its own addresses that requests to the admin API may carry in Host. @default [] */
  readonly adminAllowedHosts: readonly string[];
  /** Data-plane processes. @default 1 */
  readonly workers: number;
  /** pino level. @default info */
  readonly logLevel: string;
}

export interface HealthConfig {
  /** 0 disables active checks (backends are then assumed up). @default 2000 */
  readonly intervalMs: number;
  /** @default 1000 */
  readonly timeoutMs: number;
  /** Consecutive successes that bring a down backend back. @default 2 */
  readonly rise: number;
  /** Consecutive failures that take an up backend down. @default 3 */
  readonly fall: number;
  /** When set, probe with `GET path` expecting 2xx/3xx instead of a bare TCP connect. */
  readonly httpPath: string | undefined;
}

export interface PassiveHealthConfig {
  /** Consecutive connect failures on real traffic that eject a backend; 0 disables. @default 3 */
  readonly maxFails: number;
  /** First ejection time; doubles with each consecutive ejection. @default 5000 */
  readonly ejectBaseMs: number;
  /** @default 300000 (5m) */
  readonly ejectMaxMs: number;
}

export const DEFAULTS: FulcrumConfig = Object.freeze({
  listen: Object.freeze({ host: '0.0.0.0', port: 8080 }),
  admin: Object.freeze({ host: '127.0.0.1', port: 9090 }),
  algo: 'power-of-two-choices',
  backends: Object.freeze([]),
  connectTimeoutMs: 3000,
  retries: 2,
  idleTimeoutMs: 600_000,
  stickyTtlMs: 600_000,
  stickyMaxEntries: 100_000,
  demo: false,
  health: Object.freeze({ intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, httpPath: undefined }),
  passive: Object.freeze({ maxFails: 3, ejectBaseMs: 5000, ejectMaxMs: 300_000 }),
  adminToken: undefined,
  adminAllowedHosts: Object.freeze([]),
  workers: 1,
  logLevel: 'info',
});

/** A complete config from a partial one, for tests and embedding. */
export function makeConfig(overrides: Partial<Omit<FulcrumConfig, 'health' | 'passive'>> & {
  health?: Partial<HealthConfig>;
  passive?: Partial<PassiveHealthConfig>;
} = {}): FulcrumConfig {
  return Object.freeze({
    ...DEFAULTS,
    ...overrides,
    health: Object.freeze({ ...DEFAULTS.health, ...overrides.health }),
    passive: Object.freeze({ ...DEFAULTS.passive, ...overrides.passive }),
  });
}
