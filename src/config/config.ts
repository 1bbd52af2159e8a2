import type { BackendSpec, HostPort } from './parse.ts';

/**
 * Where a backend came from: declared in the config file (or on the command
 * line), or registered over the admin API at run time. A reload manages the
 * file's backends and leaves the API's alone.
 */
export type BackendOrigin = 'file' | 'api';

/**
 * Everything a connection of one service reads. Frozen, and swapped whole on
 * reload: a session keeps the snapshot it started with, so a reload never
 * changes anything under a connection in flight.
 */
export interface ServiceSettings {
  /** Canonical long strategy name. @default power-of-two-choices */
  readonly algo: string;
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
  readonly health: HealthConfig;
  readonly passive: PassiveHealthConfig;
}

/** One service: a listener, its backends, and the settings its connections read. */
export interface ServiceConfig extends ServiceSettings {
  /** `[a-z0-9][a-z0-9_-]*`, unique. The flags-only service is `default`. */
  readonly name: string;
  /** Client-facing TCP listener; unique across services. */
  readonly listen: HostPort;
  /** Backends declared for this service (origin `file`). */
  readonly backends: readonly BackendSpec[];
}

/** The complete, validated configuration. Everything inside Fulcrum receives this, frozen. */
export interface FulcrumConfig {
  /** Admin HTTP listener; a bare port binds 127.0.0.1. @default 127.0.0.1:9090 */
  readonly admin: HostPort;
  /** Bearer token for the admin API; undefined leaves it open (it binds loopback by default). */
  readonly adminToken: string | undefined;
  /** Names besides localhost and its own addresses that requests to the admin API may carry in Host. @default [] */
  readonly adminAllowedHosts: readonly string[];
  /** Data-plane processes. @default 1 */
  readonly workers: number;
  /** Which data plane carries connections (src/proxy/plane.ts); process-wide. @default auto */
  readonly dataPlane: DataPlaneChoice;
  /** pino level. @default info */
  readonly logLevel: string;
  /** How long open connections may run on after their service stops (shutdown, or removed by a reload). @default 30000 */
  readonly drainTimeoutMs: number;
  /** Start three demo backends on loopback and register them with the first service. @default false */
  readonly demo: boolean;
  /** Names and listen addresses unique. */
  readonly services: readonly ServiceConfig[];
  /** The file the config came from; undefined when it came from flags (then there is nothing to reload). */
  readonly configFile: string | undefined;
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

/** `auto`: raw handles where Node allows them, else `net.Socket` (src/proxy/plane.ts). */
export const DATA_PLANES = ['auto', 'native', 'stream'] as const;
export type DataPlaneChoice = (typeof DATA_PLANES)[number];

/** The name of the service the flags make, and the one today's un-scoped admin endpoints act on. */
export const DEFAULT_SERVICE = 'default';

export const SERVICE_DEFAULTS: ServiceSettings = Object.freeze({
  algo: 'power-of-two-choices',
  connectTimeoutMs: 3000,
  retries: 2,
  idleTimeoutMs: 600_000,
  stickyTtlMs: 600_000,
  stickyMaxEntries: 100_000,
  health: Object.freeze({ intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, httpPath: undefined }),
  passive: Object.freeze({ maxFails: 3, ejectBaseMs: 5000, ejectMaxMs: 300_000 }),
});

export const DEFAULT_LISTEN: HostPort = Object.freeze({ host: '0.0.0.0', port: 8080 });

export const DEFAULTS = Object.freeze({
  admin: Object.freeze({ host: '127.0.0.1', port: 9090 }) as HostPort,
  adminToken: undefined as string | undefined,
  adminAllowedHosts: Object.freeze([]) as readonly string[],
  workers: 1,
  dataPlane: 'auto' as DataPlaneChoice,
  logLevel: 'info',
  drainTimeoutMs: 30_000,
  demo: false,
});

/** Process-wide fields of FulcrumConfig (everything but the services). */
export type ProcessSettings = Omit<FulcrumConfig, 'services' | 'configFile'>;

/** A frozen service from a partial one. */
export function makeService(
  overrides: Partial<Omit<ServiceConfig, 'health' | 'passive'>> & { health?: Partial<HealthConfig>; passive?: Partial<PassiveHealthConfig> } = {},
): ServiceConfig {
  return Object.freeze({
    ...SERVICE_DEFAULTS,
    name: DEFAULT_SERVICE,
    listen: DEFAULT_LISTEN,
    backends: Object.freeze([]),
    ...overrides,
    health: Object.freeze({ ...SERVICE_DEFAULTS.health, ...overrides.health }),
    passive: Object.freeze({ ...SERVICE_DEFAULTS.passive, ...overrides.passive }),
  });
}

export type ConfigOverrides = Partial<ProcessSettings> &
  Partial<Omit<ServiceConfig, 'health' | 'passive' | 'name'>> & {
    health?: Partial<HealthConfig>;
    passive?: Partial<PassiveHealthConfig>;
    /** When given, these services; else one `default` service from the flat service fields. */
    services?: readonly ServiceConfig[];
    configFile?: string;
  };

/**
 * A complete config from a partial one, for tests and embedding: process
 * fields as given, and either `services` or one `default` service built from
 * the flat service fields (`listen`, `algo`, `backends`, `health`, …), the
 * way the command-line flags make it.
 */
export function makeConfig(overrides: ConfigOverrides = {}): FulcrumConfig {
  const { admin, adminToken, adminAllowedHosts, workers, dataPlane, logLevel, drainTimeoutMs, demo, services, configFile, ...service } = overrides;
  return Object.freeze({
    ...DEFAULTS,
    ...(admin && { admin }),
    ...(adminToken !== undefined && { adminToken }),
    ...(adminAllowedHosts !== undefined && { adminAllowedHosts }),
    ...(workers !== undefined && { workers }),
    ...(dataPlane !== undefined && { dataPlane }),
    ...(logLevel !== undefined && { logLevel }),
    ...(drainTimeoutMs !== undefined && { drainTimeoutMs }),
    ...(demo !== undefined && { demo }),
    services: Object.freeze(services ? [...services] : [makeService(service)]),
    configFile,
  });
}

/** The settings snapshot of a service config (what its connections read). */
export function settingsOf(service: ServiceConfig): ServiceSettings {
  const { algo, connectTimeoutMs, retries, idleTimeoutMs, stickyTtlMs, stickyMaxEntries, health, passive } = service;
  return Object.freeze({ algo, connectTimeoutMs, retries, idleTimeoutMs, stickyTtlMs, stickyMaxEntries, health, passive });
}
