import type { Cidr } from './cidr.ts';
import type { BackendSpec, HostPort, ProxyVersion } from './parse.ts';
import type { StoreConfig } from './store.ts';

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
  /** maglev: what is hashed, and the table size (prime, at least 100 × backends). @default { key: 'client-ip', table: 65537 } */
  readonly hash: HashSettings;
  /** maglev and sih: no backend takes more than this percent of the mean open connections (HAProxy hash-balance-factor); 0: no bound. @default 0 */
  readonly hashBalanceFactor: number;
  readonly health: HealthConfig;
  readonly passive: PassiveHealthConfig;
  /**
   * A backend that joins or comes back from down takes a share growing
   * linearly from almost nothing to its full weight over this window
   * (HAProxy's `slowstart`); 0 disables. A backend's own `slowStart` wins. @default 0
   */
  readonly slowStartMs: number;
  /** With several `backup` backends, all ready ones share the load (HAProxy's `option allbackups`) instead of only the first. @default false */
  readonly allBackups: boolean;
  /** TCP keepalive idle time on both sides of every connection; 0 disables. @default 60000 */
  readonly tcpKeepAliveMs: number;
  readonly limits: ClientLimits;
  /** Connections the service serves at once; 0: no limit. @default 0 */
  readonly maxConnections: number;
  /** Where clients wait while the service, or every ready backend, is full. */
  readonly queue: QueueConfig;
  /** The oldest a connection may get; then both sides get a FIN. 0: no cap. @default 0 */
  readonly maxLifetimeMs: number;
  /** Bytes written to a client no backend can take (none ready, queue full or timed out) before it is closed. */
  readonly unavailableReply: string | undefined;
  /** Send backends a PROXY protocol header first (HAProxy `send-proxy` / `send-proxy-v2`); absent: none. */
  readonly proxyProtocol?: ProxyVersion;
  /** Where each connection's access-log line goes: `off`, `stdout`, `stderr` or a file path. @default off */
  readonly accessLog: string;
  /** `json` (one object a line) or `text` (HAProxy-tcplog-like fixed fields). @default json */
  readonly accessLogFormat: AccessLogFormat;
  /**
   * Read a PROXY protocol header (v1 or v2) from every client first (HAProxy
   * `accept-proxy`): its source is the client for everything downstream. @default false
   */
  readonly acceptProxy?: boolean;
  /** With `acceptProxy`, the sources allowed to send a header; others are refused at accept. Empty: any source (as HAProxy's accept-proxy). */
  readonly trustedProxies?: readonly Cidr[];
  /** With `acceptProxy`, how long a client may take to send the whole header. @default 3000 */
  readonly proxyHeaderTimeoutMs?: number;
  /** TLS server names this service takes on a listen address it shares (`*.example.com` wildcards); absent: the address's default service. */
  readonly sni?: readonly string[];
  /** On a shared (SNI) listen address, how long a client may take to send its whole ClientHello. @default 5000 */
  readonly sniTimeoutMs?: number;
  /** Client prefixes let in; empty: everyone (unless denied). */
  readonly allow: readonly Cidr[];
  /** Client prefixes refused; wins over `allow`. */
  readonly deny: readonly Cidr[];
}

export const HASH_KEYS = ['client-ip', 'client-ip-port', 'sni'] as const;
export type HashKey = (typeof HASH_KEYS)[number];

export interface HashSettings {
  /** `sni` falls back to the client IP for connections without a server name. @default client-ip */
  readonly key: HashKey;
  /** Slots of the Maglev table, a prime. @default 65537 */
  readonly table: number;
}

export interface QueueConfig {
  /** Clients that may wait; 0: a full service refuses at once. @default 1024 */
  readonly size: number;
  /** How long one may wait before it is refused. @default 5000 */
  readonly timeoutMs: number;
}

/** Per-client-IP limits (nginx `limit_conn`, HAProxy stick-table rates). */
export interface ClientLimits {
  /** Open connections per client IP; 0: no limit. @default 0 */
  readonly maxConnectionsPerIp: number;
  /** New connections per client IP per period (a token bucket); undefined: no limit. */
  readonly connectionRatePerIp: { readonly count: number; readonly periodMs: number } | undefined;
  /** Client IPs the per-IP table holds at most (HAProxy's stick-table `size`). @default 100000 */
  readonly maxTrackedIps?: number;
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
  /** Undefined: pretty when stderr is a terminal, json otherwise. */
  readonly logFormat: 'json' | 'pretty' | undefined;
  /** How long open connections may run on after their service stops (shutdown, or removed by a reload). @default 30000 */
  readonly drainTimeoutMs: number;
  /** Start three demo backends on loopback and register them with the first service. @default false */
  readonly demo: boolean;
  /** Names and listen addresses unique. */
  readonly services: readonly ServiceConfig[];
  /** The file the config came from; undefined when it came from flags (then there is nothing to reload). */
  readonly configFile: string | undefined;
  /** The shared store (Redis) several instances keep their API backends and admin state in; undefined: memory, this process alone. */
  readonly store?: StoreConfig | undefined;
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
  /** A preset probe; absent: `http` when httpPath is set, send/expect when either is, else a TCP connect. */
  readonly type?: HealthCheckType;
  /** Bytes sent after connecting (backslash escapes, see parseEscapes). */
  readonly send?: string;
  /** What the reply must start with, or `/regex/` it must match, within the timeout. */
  readonly expect?: string;
  /** Probe this port instead of the backend's traffic port. */
  readonly port?: number;
  /** HTTP checks: the Host header (default: the backend's host:port). */
  readonly host?: string;
  /** HTTP checks: accepted statuses, "200-299" or "204". @default "200-399" */
  readonly expectStatus?: string;
}

export const HEALTH_CHECK_TYPES = ['tcp', 'http', 'redis', 'postgres'] as const;
export type HealthCheckType = (typeof HEALTH_CHECK_TYPES)[number];

export interface PassiveHealthConfig {
  /** Consecutive connect failures on real traffic that eject a backend; 0 disables. @default 3 */
  readonly maxFails: number;
  /** First ejection time; doubles with each consecutive ejection. @default 5000 */
  readonly ejectBaseMs: number;
  /** @default 300000 (5m) */
  readonly ejectMaxMs: number;
  /** Passive ejection never takes out more than this share of a service's backends (at least one may always be ejected, as in Envoy). @default 50 */
  readonly maxEjectedPercent: number;
}

export const ACCESS_LOG_FORMATS = ['json', 'text'] as const;
export type AccessLogFormat = (typeof ACCESS_LOG_FORMATS)[number];

/** `auto`: raw handles where Node allows them, else `net.Socket` (src/proxy/plane.ts). */
export const DATA_PLANES = ['auto', 'native', 'stream'] as const;
export type DataPlaneChoice = (typeof DATA_PLANES)[number];

/** `proxyHeaderTimeout` and `sniTimeout` when not set. */
export const FIRST_BYTES_DEFAULTS = Object.freeze({ proxyHeaderTimeoutMs: 3000, sniTimeoutMs: 5000 });

/** The name of the service the flags make, and the one today's un-scoped admin endpoints act on. */
export const DEFAULT_SERVICE = 'default';

export const SERVICE_DEFAULTS: ServiceSettings = Object.freeze({
  algo: 'power-of-two-choices',
  connectTimeoutMs: 3000,
  retries: 2,
  idleTimeoutMs: 600_000,
  stickyTtlMs: 600_000,
  stickyMaxEntries: 100_000,
  hash: Object.freeze({ key: 'client-ip', table: 65_537 }),
  hashBalanceFactor: 0,
  health: Object.freeze({ intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, httpPath: undefined }),
  limits: Object.freeze({ maxConnectionsPerIp: 0, connectionRatePerIp: undefined }),
  maxConnections: 0,
  queue: Object.freeze({ size: 1024, timeoutMs: 5000 }),
  maxLifetimeMs: 0,
  unavailableReply: undefined,
  allow: Object.freeze([]),
  deny: Object.freeze([]),
  passive: Object.freeze({ maxFails: 3, ejectBaseMs: 5000, ejectMaxMs: 300_000, maxEjectedPercent: 50 }),
  slowStartMs: 0,
  allBackups: false,
  tcpKeepAliveMs: 60_000,
  accessLog: 'off',
  accessLogFormat: 'json',
});

export const DEFAULT_LISTEN: HostPort = Object.freeze({ host: '0.0.0.0', port: 8080 });

export const DEFAULTS = Object.freeze({
  admin: Object.freeze({ host: '127.0.0.1', port: 9090 }) as HostPort,
  adminToken: undefined as string | undefined,
  adminAllowedHosts: Object.freeze([]) as readonly string[],
  workers: 1,
  dataPlane: 'auto' as DataPlaneChoice,
  logLevel: 'info',
  logFormat: undefined as 'json' | 'pretty' | undefined,
  drainTimeoutMs: 30_000,
  demo: false,
});

/** Process-wide fields of FulcrumConfig (everything but the services). */
export type ProcessSettings = Omit<FulcrumConfig, 'services' | 'configFile'>;

/** A frozen service from a partial one. */
export function makeService(
  overrides: Partial<Omit<ServiceConfig, 'health' | 'passive' | 'limits' | 'queue'>> & {
    health?: Partial<HealthConfig>;
    passive?: Partial<PassiveHealthConfig>;
    limits?: Partial<ClientLimits>;
    queue?: Partial<QueueConfig>;
  } = {},
): ServiceConfig {
  return Object.freeze({
    ...SERVICE_DEFAULTS,
    name: DEFAULT_SERVICE,
    listen: DEFAULT_LISTEN,
    backends: Object.freeze([]),
    ...overrides,
    health: Object.freeze({ ...SERVICE_DEFAULTS.health, ...overrides.health }),
    passive: Object.freeze({ ...SERVICE_DEFAULTS.passive, ...overrides.passive }),
    limits: Object.freeze({ ...SERVICE_DEFAULTS.limits, ...overrides.limits }),
    queue: Object.freeze({ ...SERVICE_DEFAULTS.queue, ...overrides.queue }),
  });
}

export type ConfigOverrides = Partial<ProcessSettings> &
  Partial<Omit<ServiceConfig, 'health' | 'passive' | 'name' | 'limits' | 'queue'>> & {
    health?: Partial<HealthConfig>;
    passive?: Partial<PassiveHealthConfig>;
    limits?: Partial<ClientLimits>;
    queue?: Partial<QueueConfig>;
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
  const { admin, adminToken, adminAllowedHosts, workers, dataPlane, logLevel, logFormat, drainTimeoutMs, demo, services, configFile, store, ...service } = overrides;
  return Object.freeze({
    ...DEFAULTS,
    ...(admin && { admin }),
    ...(adminToken !== undefined && { adminToken }),
    ...(adminAllowedHosts !== undefined && { adminAllowedHosts }),
    ...(workers !== undefined && { workers }),
    ...(dataPlane !== undefined && { dataPlane }),
    ...(logLevel !== undefined && { logLevel }),
    ...(logFormat !== undefined && { logFormat }),
    ...(drainTimeoutMs !== undefined && { drainTimeoutMs }),
    ...(demo !== undefined && { demo }),
    ...(store !== undefined && { store }),
    services: Object.freeze(services ? [...services] : [makeService(service)]),
    configFile,
  });
}

/** The settings snapshot of a service config (what its connections read). */
export function settingsOf(service: ServiceConfig): ServiceSettings {
  const { algo, connectTimeoutMs, retries, idleTimeoutMs, stickyTtlMs, stickyMaxEntries, health, passive, slowStartMs, allBackups, tcpKeepAliveMs } = service;
  const { hash, hashBalanceFactor } = service;
  const { limits, maxConnections, queue, maxLifetimeMs, unavailableReply, allow, deny, proxyProtocol, accessLog, accessLogFormat } = service;
  const { acceptProxy, trustedProxies, proxyHeaderTimeoutMs, sni, sniTimeoutMs } = service;
  return Object.freeze({
    algo, connectTimeoutMs, retries, idleTimeoutMs, stickyTtlMs, stickyMaxEntries, health, passive, slowStartMs, allBackups, tcpKeepAliveMs,
    limits, maxConnections, queue, maxLifetimeMs, unavailableReply, allow, deny, accessLog, accessLogFormat, hash, hashBalanceFactor,
    ...(proxyProtocol !== undefined && { proxyProtocol }),
    // Present only when set, so a config without them reads as it did before they existed.
    ...(acceptProxy === true && { acceptProxy }),
    ...(trustedProxies !== undefined && trustedProxies.length > 0 && { trustedProxies }),
    ...(proxyHeaderTimeoutMs !== undefined && { proxyHeaderTimeoutMs }),
    ...(sni !== undefined && sni.length > 0 && { sni }),
    ...(sniTimeoutMs !== undefined && { sniTimeoutMs }),
  });
}
