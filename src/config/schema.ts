/**
 * The config file, defined once: its TypeScript types (`ConfigFileInput`,
 * `ConfigFileOutput`), its validation, and the JSON Schema editors use are all
 * read from `configFileSchema`. Values go through the same parsers as the
 * flags (src/config/parse.ts, resolveStrategyName), so a bad address reads the
 * same whether it came from `--backend` or from the file.
 *
 * The schema validates and converts values (durations to milliseconds,
 * addresses to HostPort, strategy names to their long form); it does not fill
 * defaults in. Inheritance (`defaults` -> service -> SERVICE_DEFAULTS) is
 * file.ts's job, so that "not set" stays distinguishable from "set to the
 * default" until then.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { resolveStrategyName, STRATEGY_NAMES } from '../strategies/index.ts';
import { ACCESS_LOG_FORMATS, DATA_PLANES, DEFAULTS, FIRST_BYTES_DEFAULTS, HASH_KEYS, HEALTH_CHECK_TYPES, SERVICE_DEFAULTS } from './config.ts';
import { parseCidr } from './cidr.ts';
import { parseAccessLogTarget } from './access-log-target.ts';
import { formatHostPort, MAX_WEIGHT, MIN_WEIGHT, parseBackendSpec, parseDuration, parseEscapes, parseExpect, parseHostName, parseHostPort, parseRate, parseStatusRange, parseWeight, type HostPort } from './parse.ts';
import { formatDuration } from './duration.ts';
import { checkTableFits, MAX_HASH_TABLE, MIN_HASH_TABLE, parseBalanceFactor, parseHashKey, parseHashTable } from './hash.ts';
import { parseStoreUrl, STORE_DEFAULTS } from './store.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** `"web"` for strings, `5` for numbers, `a list`/`a map` for the rest: how a bad value is quoted in a message. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return typeof value;
}

/** Error text for a value of the wrong type, or `missing (required)` when there is none. */
function typeError(expected: string) {
  return (iss: { code?: string; input?: unknown }) => {
    if (iss.code !== undefined && iss.code !== 'invalid_type' && iss.code !== 'invalid_union') return undefined;
    return iss.input === undefined ? 'missing (required)' : `expected ${expected}, got ${describeValue(iss.input)}`;
  };
}

/**
 * A transform that runs one of the shared parsers and turns its ConfigError
 * into an issue carrying the parser's message (without the field prefix: the
 * path says where).
 */
function viaParser<I, O>(parse: (value: I) => O) {
  return (value: I, ctx: z.RefinementCtx<I>): O => {
    try {
      return parse(value);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message.slice(err.field.length + 2), input: value });
      return z.NEVER;
    }
  };
}

/** An integer in [min, max]; one message for every way of missing it. */
function intIn(min: number, max: number, alternative = '') {
  const error = (iss: { input?: unknown }) =>
    iss.input === undefined ? 'missing (required)' : `${describeValue(iss.input)} is invalid (use an integer ${min}-${max}${alternative})`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** JSON Schema only: lets editors flag a bad duration; parseDuration is what decides. */
const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h)?$';

/** `"500ms"`, `"3s"`, `"10m"`, `"1h"` or a number of seconds; parsed to milliseconds by parseDuration. */
function duration(options: { positive?: boolean } = {}) {
  return z
    .union([z.string().meta({ pattern: DURATION_PATTERN }), z.number().meta({ minimum: 0 })], {
      error: typeError('a duration like "500ms", "3s", "10m" or a number of seconds'),
    })
    .transform(
      viaParser((value: string | number) => {
        // The flags' one rule: at least 1ms, and 0 only where it means off (or, for drainTimeout, at once).
        return parseDuration('value', value, { zeroMeansOff: !options.positive });
      }),
    );
}

/** `host:port`, `[v6]:port`, or a bare port on `defaultHost` (as `--listen` and `--admin` take them). */
function listenAddress(defaultHost: string) {
  return z
    .union([z.string(), intIn(0, 65535)], { error: typeError('an address like "0.0.0.0:8080" or a port') })
    .transform(viaParser((value: string | number): HostPort => parseHostPort('value', String(value), defaultHost)));
}

const algo = z
  .string({ error: typeError('a strategy name') })
  .transform(viaParser((name: string) => resolveStrategyName('algo', name)))
  .meta({ description: `Load-balancing strategy, short or long name: ${STRATEGY_NAMES.join(', ')}.`, default: 'ptc' });

const health = z
  .strictObject({
    interval: duration().optional().meta({ description: 'Time between active checks of each backend; 0 disables active checks (backends are then assumed up).', default: formatDuration(SERVICE_DEFAULTS.health.intervalMs) }),
    timeout: duration({ positive: true }).optional().meta({ description: 'How long one check may take before it counts as a failure.', default: formatDuration(SERVICE_DEFAULTS.health.timeoutMs) }),
    rise: intIn(1, 100).optional().meta({ description: 'Consecutive passing checks that bring a down backend back.', default: SERVICE_DEFAULTS.health.rise }),
    fall: intIn(1, 100).optional().meta({ description: 'Consecutive failing checks that take an up backend down.', default: SERVICE_DEFAULTS.health.fall }),
    http: z
      .string({ error: typeError('a path like "/healthz"') })
      .startsWith('/', { error: (iss) => `${describeValue(iss.input)} must be a path starting with "/"` })
      .optional()
      .meta({ description: 'When set, check with `GET <path>` expecting `expectStatus` instead of a bare TCP connect.' }),
    type: z
      .enum(HEALTH_CHECK_TYPES, { error: (iss) => `${describeValue(iss.input)} is invalid (use ${HEALTH_CHECK_TYPES.join(', ')})` })
      .optional()
      .meta({ description: 'The kind of check: `tcp` (connect; with `send`/`expect` if given), `http` (GET `http`, default `/`), `redis` (PING, expects +PONG), `postgres` (an SSLRequest, expects S or N). When absent: `http` if `http` is set, else `tcp`.' }),
    send: z
      .string({ error: typeError('a string like "PING\\r\\n"') })
      .transform(viaParser((text: string) => (parseEscapes('send', text), text)))
      .optional()
      .meta({ description: 'Bytes sent after connecting (HAProxy `tcp-check send`); `\\r`, `\\n`, `\\t`, `\\0`, `\\\\` and `\\xHH` escapes.' }),
    expect: z
      .string({ error: typeError('a string like "+PONG" or "/^\\+PONG/"') })
      .transform(viaParser((text: string) => (parseExpect('expect', text), text)))
      .optional()
      .meta({ description: 'The reply must start with this text (same escapes as `send`), or match it when written `/regex/flags`, within `timeout` (HAProxy `tcp-check expect`).' }),
    port: intIn(1, 65535)
      .optional()
      .meta({ description: 'Probe this port instead of the backend\'s traffic port (HAProxy `port`).' }),
    host: z
      .string({ error: typeError('a host name like "www.example.com"') })
      .regex(/^[\x21-\x7e]+$/, { error: (iss) => `${describeValue(iss.input)} cannot go in a Host header (no spaces or control characters)` })
      .optional()
      .meta({ description: 'HTTP checks: the `Host` header; default the backend\'s host:port.' }),
    expectStatus: z
      .string({ error: typeError('a status range like "200-299"') })
      .transform(viaParser((text: string) => (parseStatusRange('expectStatus', text), text.replace(/\s+/g, ''))))
      .optional()
      .meta({ description: 'HTTP checks: the statuses that pass, a range or one status.', default: '200-399' }),
  }, { error: typeError('a map like { interval: 2s, timeout: 1s }') })
  .superRefine((h, ctx) => {
    const preset = h.type === 'redis' || h.type === 'postgres';
    for (const key of ['send', 'expect'] as const) {
      if (h[key] === undefined) continue;
      if (preset) ctx.addIssue({ code: 'custom', path: [key], message: `cannot be combined with type ${h.type} (the preset sends and expects its own bytes)`, input: h[key] });
      else if (h.type === 'http' || h.http !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is for TCP checks (an HTTP check sends its own request; use expectStatus)', input: h[key] });
    }
  })
  .meta({ description: 'Active health checks. A service\'s `health` overrides `defaults.health` key by key.' });

const passive = z
  .strictObject({
    maxFails: intIn(0, 1000).optional().meta({ description: 'Consecutive connect failures on real traffic that eject a backend; 0 disables passive ejection.', default: SERVICE_DEFAULTS.passive.maxFails }),
    ejectTime: duration({ positive: true }).optional().meta({ description: 'First ejection time; it doubles with each consecutive ejection.', default: formatDuration(SERVICE_DEFAULTS.passive.ejectBaseMs) }),
    maxEjectTime: duration({ positive: true }).optional().meta({ description: 'The longest an ejection lasts, however often a backend fails.', default: formatDuration(SERVICE_DEFAULTS.passive.ejectMaxMs) }),
    maxEjectedPercent: intIn(0, 100).optional().meta({ description: 'Passive ejection never takes out more than this share of the service\'s backends (rounded down, but at least one, as Envoy\'s `max_ejection_percent`).', default: SERVICE_DEFAULTS.passive.maxEjectedPercent }),
  }, { error: typeError('a map like { maxFails: 3, ejectTime: 5s }') })
  .meta({ description: 'Passive health: ejection on failed connects of real traffic. A service\'s `passive` overrides `defaults.passive` key by key.' });

const limits = z
  .strictObject({
    maxConnectionsPerIp: intIn(0, 1_000_000).optional().meta({ description: 'Open connections one client IP may hold (nginx `limit_conn`); more are closed at once. 0: no limit.', default: 0 }),
    connectionRatePerIp: z
      .string({ error: typeError('a rate like "50/s" or "600/m"') })
      .transform(viaParser((text: string) => parseRate('value', text)))
      .optional()
      .meta({ description: 'New connections per client IP, as a token bucket: `"50/s"` or `"600/m"` (a burst of that many, refilled evenly). Unset: no limit.' }),
    maxTrackedIps: intIn(100, 10_000_000).optional().meta({ description: 'Client IPs the per-IP table holds at most (HAProxy stick-table `size`); past it, idle entries go first, and a new IP finds no room only while every entry has open connections (it is then let in untracked).', default: 100_000 }),
  }, { error: typeError('a map like { maxConnectionsPerIp: 20, connectionRatePerIp: "50/s" }') })
  .meta({ description: 'Per-client-IP limits, counted in a table bounded to 100,000 IPs (per worker with --workers). A service\'s `limits` overrides `defaults.limits` key by key.' });

const cidrList = (what: string) =>
  z
    .array(z.string({ error: typeError('an address or CIDR') }).transform(viaParser((text: string) => parseCidr('value', text))), { error: typeError('a list of CIDRs') })
    .optional()
    .meta({ description: what, default: [] });

/** What a service may set and otherwise inherits from `defaults` (and `defaults` from SERVICE_DEFAULTS). */
const settingsShape = {
  algo: algo.optional(),
  connectTimeout: duration({ positive: true }).optional().meta({ description: 'How long a connect to a backend may take before the next one is tried.', default: formatDuration(SERVICE_DEFAULTS.connectTimeoutMs) }),
  retries: intIn(0, 100).optional().meta({ description: 'Further backends tried after a failed connect.', default: SERVICE_DEFAULTS.retries }),
  idleTimeout: duration().optional().meta({ description: 'A connection with no bytes either way for this long is closed; 0 disables.', default: formatDuration(SERVICE_DEFAULTS.idleTimeoutMs) }),
  stickyTtl: duration().optional().meta({ description: '`srr`: idle time after which a client IP forgets its backend.', default: formatDuration(SERVICE_DEFAULTS.stickyTtlMs) }),
  stickyMaxEntries: intIn(1, 10_000_000).optional().meta({ description: '`srr`: most client IPs remembered.', default: SERVICE_DEFAULTS.stickyMaxEntries }),
  hash: z
    .strictObject({
      key: z
        .string({ error: typeError(HASH_KEYS.join(', ')) })
        .transform(viaParser((key: string) => parseHashKey('value', key)))
        .optional()
        .meta({ description: 'What `maglev` hashes: `client-ip`, `client-ip-port` (spreads one client\'s connections), or `sni` (the TLS server name; the client IP for connections without one). `sih` always hashes the client IP.', default: SERVICE_DEFAULTS.hash.key, enum: [...HASH_KEYS] }),
      table: z
        .number({ error: typeError('a prime such as 65537') })
        .transform(viaParser((n: number) => parseHashTable('value', n)))
        .optional()
        .meta({ description: 'Slots of the Maglev table (`maglev` and `sih`): a prime, at least 100 × the backends. When backends registered over the API outgrow it, the table grows to the smallest prime ≥ 100 × backends (every instance with the same set grows alike) and a warning says so.', default: SERVICE_DEFAULTS.hash.table, type: 'integer', minimum: MIN_HASH_TABLE, maximum: MAX_HASH_TABLE }),
    }, { error: typeError('a map like { key: client-ip, table: 65537 }') })
    .optional()
    .meta({ description: '`maglev` consistent hashing: the key and the table. A service\'s `hash` overrides `defaults.hash` key by key.' }),
  hashBalanceFactor: z
    .number({ error: typeError('0 or a percent such as 125') })
    .transform(viaParser((n: number) => parseBalanceFactor('value', n)))
    .optional()
    .meta({ description: '`maglev` and `sih` with bounded load (HAProxy `hash-balance-factor`): no backend takes more than this percent of the mean open connections per unit of weight; a key moves to the next backend in its fixed order only while its own is over the bound. 0: no bound.', default: SERVICE_DEFAULTS.hashBalanceFactor, type: 'integer' }),
  health: health.optional(),
  passive: passive.optional(),
  limits: limits.optional(),
  maxConnections: intIn(0, 10_000_000).optional().meta({ description: 'Connections the service serves at once (HAProxy `maxconn`); more wait in its queue. 0: no limit.', default: 0 }),
  queue: z
    .strictObject({
      size: intIn(0, 1_000_000).optional().meta({ description: 'Clients that may wait while the service, or every ready backend, is full (first in, first out; unread, with no backend connection). 0: refuse at once.', default: SERVICE_DEFAULTS.queue.size }),
      timeout: duration({ positive: true }).optional().meta({ description: 'How long a client may wait before it is refused.', default: formatDuration(SERVICE_DEFAULTS.queue.timeoutMs) }),
    }, { error: typeError('a map like { size: 1024, timeout: 5s }') })
    .optional()
    .meta({ description: 'The queue for `maxConnections` (of the service and of its backends). A service\'s `queue` overrides `defaults.queue` key by key.' }),
  maxLifetime: duration().optional().meta({ description: 'The oldest a connection may get; then both sides get a FIN. 0: no cap.', default: '0' }),
  unavailableReply: z
    .union([
      // Kept as latin1 text: one character per byte, whatever the reply holds.
      z.string({ error: typeError('a string') }).transform((text) => Buffer.from(text, 'utf8').toString('latin1')),
      z
        .strictObject({ file: z.string({ error: typeError('a path') }).meta({ description: 'A file whose bytes are the reply (read at start and on each reload).' }) })
        .transform(
          viaParser(({ file }: { file: string }) => {
            try {
              return readFileSync(file).toString('latin1');
            } catch (err) {
              throw new ConfigError('file', `cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
            }
          }),
        ),
    ], { error: typeError('a string or { file: path }') })
    .optional()
    .meta({ description: 'Bytes written to a client no backend can take (none ready, queue full or timed out) before it is closed, e.g. an HTTP 503. YAML double quotes take `\\r\\n`. Limit and ACL refusals get none.' }),
  proxyProtocol: z
    .enum(['v1', 'v2', 'none'], { error: (iss) => `${describeValue(iss.input)} is invalid (use v1, v2 or none)` })
    .optional()
    .meta({ description: 'Send each backend a PROXY protocol header (v1 text or v2 binary) with the real client and the address it connected to, as soon as the connection is up and before any client byte (HAProxy `send-proxy` / `send-proxy-v2`); a backend\'s own `proxyProtocol` wins. Health checks of such a backend send a header without a client first (v2 `LOCAL`, v1 `PROXY UNKNOWN`), unless `health.port` aims them elsewhere. `none` (or unset): no header; in a service it overrides `defaults`.' }),
  acceptProxy: z.boolean({ error: typeError('true or false') }).optional().meta({ description: 'Read a PROXY protocol header (v1 or v2, told apart by signature) from every client first, as HAProxy `accept-proxy`: its source address is the client for strategies, limits, ACLs, logs and the header sent on. A connection without a valid header is closed and counted (`reason="proxy-header"`). On a shared (SNI) listen address, every service there must agree.', default: false }),
  trustedProxies: cidrList('With `acceptProxy`: the addresses or CIDRs allowed to send the header (the balancers in front); a connection from elsewhere is closed at accept and counted (`reason="untrusted-proxy"`). Empty: any source, as HAProxy\'s `accept-proxy`.'),
  proxyHeaderTimeout: duration({ positive: true }).optional().meta({ description: 'With `acceptProxy`: how long a client may take to send the whole header.', default: formatDuration(FIRST_BYTES_DEFAULTS.proxyHeaderTimeoutMs) }),
  sniTimeout: duration({ positive: true }).optional().meta({ description: 'On a listen address shared by services with `sni`: how long a client may take to send its whole TLS ClientHello (up to 16 KiB).', default: formatDuration(FIRST_BYTES_DEFAULTS.sniTimeoutMs) }),
  allow: cidrList('Client addresses or CIDRs let in (IPv4 and IPv6; an IPv4-mapped client matches IPv4 rules). With a list, everything else is refused.'),
  deny: cidrList('Client addresses or CIDRs refused; `deny` wins over `allow`.'),
  slowStart: duration().optional().meta({ description: 'A backend that joins or comes back from down takes a share growing linearly from almost nothing to its full weight over this window (HAProxy `slowstart`); not applied to the backends a service starts with. 0 disables.', default: formatDuration(SERVICE_DEFAULTS.slowStartMs) }),
  allBackups: z.boolean({ error: typeError('true or false') }).optional().meta({ description: 'With several `backup` backends, every ready one takes connections while no primary is ready (HAProxy `option allbackups`); otherwise only the first ready one, in declaration order.', default: SERVICE_DEFAULTS.allBackups }),
  accessLog: z
    .string({ error: typeError('off, stdout, stderr or a file path') })
    .transform(viaParser((value: string) => parseAccessLogTarget('value', value)))
    .optional()
    .meta({ description: 'One line per connection when it ends (client, backend, times, bytes, how it ended): `off`, `stdout`, `stderr` or a file path (opened for appending; reopened on SIGUSR1). Written in batches off the data plane; lines a slow destination cannot take are dropped and counted (`fulcrum_access_log_dropped_total`).', default: SERVICE_DEFAULTS.accessLog }),
  accessLogFormat: z
    .enum(ACCESS_LOG_FORMATS, { error: (iss) => `${describeValue(iss.input)} is invalid (use ${ACCESS_LOG_FORMATS.join(' or ')})` })
    .optional()
    .meta({ description: 'Access-log lines as `json` (one object a line) or `text` (fixed fields, as HAProxy\'s tcplog; see the README).', default: SERVICE_DEFAULTS.accessLogFormat }),
  tcpKeepAlive: duration().optional().meta({ description: 'TCP keepalive on both sides of every connection: idle time before the first probe (the kernel then probes every 75s, 9 times); finds dead peers of idle long-lived connections. 0 disables.', default: formatDuration(SERVICE_DEFAULTS.tcpKeepAliveMs) }),
};

const backendObject = z
  .strictObject({
    address: z
      .string({ error: typeError('an address like "10.0.0.5:5432"') })
      .transform(
        viaParser((address: string): HostPort => {
          if (address.includes('@')) throw new ConfigError('address', `"${address}" has a "@weight" (use the weight key)`);
          const { host, port } = parseBackendSpec('address', address);
          return { host, port };
        }),
      )
      .meta({ description: '`host:port` or `[v6]:port`.' }),
    weight: z
      .number({ error: typeError(`an integer ${MIN_WEIGHT}-${MAX_WEIGHT}`) })
      .transform(viaParser((weight: number) => parseWeight('weight', weight)))
      .optional()
      .meta({ description: 'Relative share for the weighted strategies.', default: 1, type: 'integer', minimum: MIN_WEIGHT, maximum: MAX_WEIGHT }),
    backup: z
      .boolean({ error: typeError('true or false') })
      .optional()
      .meta({ description: 'Takes connections only while no non-backup backend of the service is ready (HAProxy `backup`).', default: false }),
    slowStart: duration()
      .optional()
      .meta({ description: 'This backend\'s slow-start window, over the service\'s `slowStart`; 0 turns it off for this backend.' }),
    maxConnections: intIn(0, 10_000_000).optional().meta({ description: 'Connections this backend takes at once (HAProxy `server … maxconn`); a full backend is skipped, and when every ready one is full clients wait in the service\'s queue. 0: no limit.', default: 0 }),
    proxyProtocol: z
      .enum(['v1', 'v2', 'none'], { error: (iss) => `${describeValue(iss.input)} is invalid (use v1, v2 or none)` })
      .optional()
      .meta({ description: 'The PROXY protocol header this backend gets, over the service\'s `proxyProtocol` (HAProxy sets it per `server`): `v1`, `v2`, or `none` for no header even when the service sends one (HAProxy `no-send-proxy`). Its health checks send a header without a client first (v2 `LOCAL`, v1 `PROXY UNKNOWN`), unless `health.port` aims them elsewhere.' }),
  })
  .transform(({ address, weight, backup, slowStart, maxConnections, proxyProtocol }) => ({
    ...address,
    weight: weight ?? 1,
    ...(backup === true && { backup }),
    ...(slowStart !== undefined && { slowStartMs: slowStart }),
    ...(maxConnections !== undefined && maxConnections > 0 && { maxConnections }),
    ...(proxyProtocol !== undefined && { proxyProtocol }),
  }));

const backend = z
  .union([z.string().transform(viaParser((spec: string) => parseBackendSpec('backend', spec))), backendObject], {
    error: typeError('"host:port[@weight]" or a map like { address: host:port, weight: 5 }'),
  })
  .meta({ description: '`"host:port"`, `"host:port@weight"`, or `{ address, weight, maxConnections, backup, slowStart, proxyProtocol }`.' });

/** Marks repeats of the same key among the elements of a list, on `[i, ...at]`. */
function unique<T>(ctx: z.RefinementCtx<unknown>, items: readonly T[], keyOf: (item: T) => string | undefined, at: string[], message: (key: string, first: number) => string) {
  // These checks run even where an element failed its own (`when` below), so that all errors come at once.
  if (!Array.isArray(items)) return;
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const key = keyOf(item);
    if (key === undefined) return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else ctx.addIssue({ code: 'custom', path: [i, ...at], message: message(key, first), input: item });
  });
}

/** A parsed HostPort, or undefined where its own check already failed (cross checks then skip it). */
function hostPortOf(value: unknown): HostPort | undefined {
  const v = value as Partial<HostPort> | null | undefined;
  return typeof v === 'object' && v !== null && typeof v.host === 'string' && typeof v.port === 'number' ? (v as HostPort) : undefined;
}

const service = z.strictObject(
  {
    name: z
      .string({ error: typeError('a name like "web"') })
      .regex(SERVICE_NAME, { error: (iss) => `${describeValue(iss.input)} is not a valid name (use lowercase letters, digits, "-" and "_", starting with a letter or digit)` })
      .meta({ description: 'Unique; used in the admin API (`/services/:name`), logs and metrics. `[a-z0-9][a-z0-9_-]*`.' }),
    listen: listenAddress('0.0.0.0').meta({ description: 'Client-facing TCP address, unique across services unless they share it by `sni`; a bare port binds 0.0.0.0.' }),
    sni: z
      .array(z.string({ error: typeError('a host name like "a.example.com" or "*.example.com"') }), { error: typeError('a list of host names') })
      .optional()
      .meta({ description: 'TLS server names (SNI) this service takes on a `listen` address it shares with others: exact names or `*.example.com` (one label), case-insensitive, an exact name before a wildcard. TLS is not terminated: every byte goes to the backend. At most one service on the address sets no `sni`; it takes every other connection, non-TLS ones included.', default: [] }),
    ...settingsShape,
    backends: z
      .array(backend, { error: typeError('a list of backends') })
      .superRefine((list, ctx) => unique(ctx, list, (b) => { const hp = hostPortOf(b); return hp && formatHostPort(hp); }, [], (key, first) => `${key} is listed twice (first at backends[${first}])`), { when: () => true })
      .optional()
      .meta({ description: 'Backends declared for this service (more can be registered over the admin API).', default: [] }),
  },
  { error: typeError('a map with name, listen and backends') },
);

/**
 * Services on one listen address: allowed when they route by `sni`. At most
 * one sets no `sni` (it takes the rest), a name is claimed once, and every
 * one agrees on `acceptProxy` (the header comes before the ClientHello, so
 * it belongs to the address). A `:0` address is shared only when one of its
 * services sets `sni` (otherwise each gets its own ephemeral port).
 */
function sharedListens(ctx: z.RefinementCtx<unknown>, items: readonly unknown[], field: (item: unknown, key: string) => unknown): void {
  if (!Array.isArray(items)) return;
  const groups = new Map<string, number[]>();
  items.forEach((s, i) => {
    const hp = hostPortOf(field(s, 'listen'));
    if (!hp) return;
    const key = formatHostPort(hp);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const sniOf = (i: number): string[] | undefined => {
    const v = field(items[i], 'sni');
    return Array.isArray(v) && v.length > 0 ? (v as string[]) : undefined;
  };
  const nameOf = (i: number): string => { const n = field(items[i], 'name'); return typeof n === 'string' ? `"${n}"` : `services[${i}]`; };
  for (const [address, members] of groups) {
    if (members.length < 2) continue;
    const routed = members.some((i) => sniOf(i) !== undefined);
    if (!routed) {
      if (hostPortOf(field(items[members[0]!], 'listen'))!.port === 0) continue;
      for (const i of members.slice(1)) ctx.addIssue({ code: 'custom', path: [i, 'listen'], message: `${address} is already the listen address of services[${members[0]}]`, input: items[i] });
      continue;
    }
    const defaults = members.filter((i) => sniOf(i) === undefined);
    for (const i of defaults.slice(1)) {
      ctx.addIssue({ code: 'custom', path: [i, 'sni'], message: `${address} is shared by SNI and ${nameOf(defaults[0]!)} already takes what no sni matches: set sni on ${nameOf(i)} too, or give it its own listen address`, input: items[i] });
    }
    const claimed = new Map<string, number>();
    for (const i of members) {
      (sniOf(i) ?? []).forEach((raw, k) => {
        if (typeof raw !== 'string') return;
        const name = raw.toLowerCase();
        const pattern = name.startsWith('*.') ? name.slice(2) : name;
        if (pattern.length === 0 || pattern.length > 253 || !pattern.split('.').every((l) => SNI_LABEL.test(l))) {
          ctx.addIssue({ code: 'custom', path: [i, 'sni', k], message: `${describeValue(raw)} is not a host name or a *.wildcard of one (one leading "*." only, no trailing dot)`, input: raw });
          return;
        }
        const first = claimed.get(name);
        if (first === undefined) claimed.set(name, i);
        else ctx.addIssue({ code: 'custom', path: [i, 'sni', k], message: `"${name}" is claimed on ${address} by ${nameOf(first)} and ${nameOf(i)}`, input: raw });
      });
    }
    const accept = (i: number) => field(items[i], 'acceptProxy') === true;
    for (const i of members) {
      if (accept(i) !== accept(members[0]!)) ctx.addIssue({ code: 'custom', path: [i, 'acceptProxy'], message: `services sharing ${address} must agree on acceptProxy (${nameOf(members[0]!)} has ${accept(members[0]!)}, ${nameOf(i)} has ${accept(i)})`, input: items[i] });
      // The header is read before any service is known: one list of trusted sources and one timeout per address.
      for (const key of ['trustedProxies', 'proxyHeaderTimeout'] as const) {
        if (JSON.stringify(field(items[i], key)) !== JSON.stringify(field(items[members[0]!], key))) {
          ctx.addIssue({ code: 'custom', path: [i, key], message: `services sharing ${address} must agree on ${key} (set it the same on ${nameOf(members[0]!)} and ${nameOf(i)}, or in defaults)`, input: items[i] });
        }
      }
    }
  }
}

/**
 * `trustedProxies` is read only with `acceptProxy`: set without it, it would
 * be silently ignored, so it is refused where it is written. A service's own
 * list needs its service (or `defaults`) to accept the header; a list in
 * `defaults` needs at least one service that does.
 */
function trustedWithoutAccept(
  file: { defaults?: { acceptProxy?: boolean; trustedProxies?: readonly unknown[] }; services?: readonly ({ acceptProxy?: boolean; trustedProxies?: readonly unknown[] } | undefined)[] },
  ctx: z.RefinementCtx<unknown>,
): void {
  if (!Array.isArray(file.services)) return;
  const accepts = (s: { acceptProxy?: boolean } | undefined) => (s?.acceptProxy ?? file.defaults?.acceptProxy) === true;
  const message = (where: string) => `is set but ${where} (the list says who may send the PROXY header; without acceptProxy no header is read and the list would be ignored)`;
  file.services.forEach((s, i) => {
    if (s?.trustedProxies !== undefined && s.trustedProxies.length > 0 && !accepts(s)) {
      ctx.addIssue({ code: 'custom', path: ['services', i, 'trustedProxies'], message: message('acceptProxy is not true for this service (here or in defaults)'), input: s.trustedProxies });
    }
  });
  const list = file.defaults?.trustedProxies;
  if (list !== undefined && list.length > 0 && !file.services.some(accepts)) {
    ctx.addIssue({ code: 'custom', path: ['defaults', 'trustedProxies'], message: message('no service has acceptProxy: true'), input: list });
  }
}

const SNI_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

const services = z
  .array(service, { error: (iss) => (iss.input === undefined ? 'missing (a config file declares at least one service)' : `expected a list of services, got ${describeValue(iss.input)}`) })
  .min(1, { error: 'is empty (a config file declares at least one service)' })
  .superRefine((list, ctx) => {
    const items = list as unknown[];
    const field = (item: unknown, key: string): unknown => (typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[key] : undefined);
    unique(ctx, items, (s) => { const name = field(s, 'name'); return typeof name === 'string' ? name : undefined; }, ['name'], (name, first) => `duplicate service name "${name}" (first at services[${first}])`);
    sharedListens(ctx, items, field);
  }, { when: () => true })
  .meta({ description: 'The services: each a listener, its strategy and its backends. At least one.' });

const storeUrl = z
  .string({ error: typeError('a URL like "redis://127.0.0.1:6379/0"') })
  .transform(viaParser((url: string) => parseStoreUrl('value', url)));

const store = z
  .union(
    [
      storeUrl,
      z
        .strictObject({
          url: storeUrl.optional().meta({ description: '`redis://[user:password@]host:port/db`, or `rediss://…` for TLS.' }),
          sentinels: z
            .array(z.string({ error: typeError('an address like "10.0.0.1:26379"') }).transform(viaParser((a: string) => parseHostPort('value', a))), { error: typeError('a list of Sentinel addresses') })
            .min(1, { error: 'is empty (list at least one Sentinel)' })
            .optional()
            .meta({ description: 'Redis Sentinel addresses (`host:port`); with `name`, instead of `url`.' }),
          name: z.string({ error: typeError('a master name') }).min(1, { error: 'is empty' }).optional().meta({ description: 'The master group the Sentinels watch.' }),
          db: intIn(0, 65535).optional().meta({ description: 'Database number, with `sentinels` (a URL carries its own).', default: STORE_DEFAULTS.db }),
          password: z.string({ error: typeError('a string') }).optional().meta({ description: 'Redis password, with `sentinels`.' }),
          resyncInterval: duration({ positive: true }).optional().meta({ description: 'How often each instance reloads the whole shared state, whatever the messages said.', default: formatDuration(STORE_DEFAULTS.resyncIntervalMs) }),
          startupTimeout: duration({ positive: true }).optional().meta({ description: 'How long start-up waits for the shared state; past it the instance starts with the file alone and merges when Redis answers.', default: formatDuration(STORE_DEFAULTS.startupTimeoutMs) }),
          heartbeatInterval: duration({ positive: true }).optional().meta({ description: 'How often an instance renews its entry in `GET /cluster`; an entry not renewed for 3 intervals is gone.', default: formatDuration(STORE_DEFAULTS.heartbeatIntervalMs) }),
        }, { error: typeError('a map like { url: redis://127.0.0.1:6379/0 }') })
        .superRefine((s, ctx) => {
          if (s.url === undefined && s.sentinels === undefined) ctx.addIssue({ code: 'custom', message: 'needs `url` or `sentinels` (with `name`)', path: [] });
          if (s.url !== undefined && s.sentinels !== undefined) ctx.addIssue({ code: 'custom', message: 'takes `url` or `sentinels`, not both', path: ['sentinels'] });
          if (s.sentinels !== undefined && s.name === undefined) ctx.addIssue({ code: 'custom', message: 'missing (required with `sentinels`)', path: ['name'] });
        }),
    ],
    { error: typeError('a URL like "redis://127.0.0.1:6379/0" or a map with url or sentinels') },
  )
  .meta({ description: 'A shared store (Redis) for several Fulcrum instances: backends registered over the API and every backend\'s admin state (weight, draining, removal) are kept there and applied by every instance. Without it, everything stays in this process.' });

export const configFileSchema = z
  .strictObject(
    {
      $schema: z.string().optional().meta({ description: 'Where editors find this schema; ignored by Fulcrum.' }),
      admin: z
        .strictObject({
          listen: listenAddress('127.0.0.1').optional().meta({ description: 'Admin HTTP API address; a bare port binds 127.0.0.1.', default: formatHostPort(DEFAULTS.admin) }),
          token: z
            .string({ error: typeError('a string') })
            .regex(/\S/, { error: 'is empty (give a token, or leave it out for an open admin API)' })
            .optional()
            .meta({ description: 'Bearer token the admin API requires; when absent, FULCRUM_ADMIN_TOKEN from the environment, else the API is open (it binds loopback by default).' }),
          allowedHosts: z
            .array(z.string({ error: typeError('a host name') }).transform(viaParser((h: string) => parseHostName('value', h))), { error: typeError('a list of host names') })
            .optional()
            .meta({ description: 'Names the admin API accepts in Host besides localhost and the addresses it listens on (against DNS rebinding); e.g. the name of a reverse proxy in front of it.', default: [] }),
        }, { error: typeError('a map like { listen: 127.0.0.1:9090 }') })
        .optional()
        .meta({ description: 'The admin HTTP API.' }),
      workers: z
        .union([z.literal('auto'), intIn(1, 256, ' or "auto"')], { error: (iss) => `${describeValue(iss.input)} is invalid (use an integer 1-256 or "auto")` })
        .optional()
        .meta({ description: 'Data-plane processes; "auto" is one per CPU.', default: DEFAULTS.workers }),
      dataPlane: z
        .enum(DATA_PLANES, { error: (iss) => `${describeValue(iss.input)} is invalid (use ${DATA_PLANES.join(', ')})` })
        .optional()
        .meta({
          description:
            'What carries the connections, for the whole process: "native" (Node\'s raw TCP handles, the fastest; needs process.binding, which the permission model refuses), "stream" (plain net.Socket) or "auto" (native where this Node allows it, else stream with one warning). Read at start-up only.',
          default: DEFAULTS.dataPlane,
        }),
      drainTimeout: duration()
        .optional()
        .meta({ description: 'How long open connections may run on after their service stops (shutdown, or removed by a reload); then they are closed.', default: formatDuration(DEFAULTS.drainTimeoutMs) }),
      log: z
        .strictObject({
          level: z
            .enum(LOG_LEVELS, { error: (iss) => `${describeValue(iss.input)} is invalid (use ${LOG_LEVELS.join(', ')})` })
            .optional()
            .meta({ description: 'Log level.', default: DEFAULTS.logLevel }),
          format: z
            .enum(['json', 'pretty'], { error: (iss) => `${describeValue(iss.input)} is invalid (use json or pretty)` })
            .optional()
            .meta({ description: 'json: one object per line with level names and ISO times; pretty: one aligned line per event, fields after the message. Default: pretty when stderr is a terminal, json otherwise.' }),
        }, { error: typeError('a map like { level: info }') })
        .optional()
        .meta({ description: 'Logging.' }),
      store: store.optional(),
      defaults: z
        .strictObject(settingsShape, { error: typeError('a map of service settings') })
        .optional()
        .meta({ description: 'Settings every service inherits unless it sets its own; `health` and `passive` merge key by key.' }),
      services,
    },
    { error: typeError('a map of settings') },
  )
  .superRefine((file, ctx) => {
    trustedWithoutAccept(file, ctx);
    // Every declared backend needs 100 slots of its service's table (its own `hash.table`, else the inherited one).
    if (!Array.isArray(file.services)) return;
    file.services.forEach((s, i) => {
      const table = s?.hash?.table ?? file.defaults?.hash?.table ?? SERVICE_DEFAULTS.hash.table;
      const count = Array.isArray(s?.backends) ? s.backends.length : 0;
      try {
        checkTableFits('value', table, count);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const path = s?.hash?.table !== undefined ? ['services', i, 'hash', 'table'] : file.defaults?.hash?.table !== undefined ? ['defaults', 'hash', 'table'] : ['services', i, 'backends'];
        ctx.addIssue({ code: 'custom', path, message: err.message.slice(err.field.length + 2), input: table });
      }
    });
  })
  .meta({ title: 'Fulcrum config file', description: 'Services, backends and process settings for Fulcrum, a layer-4 TCP load balancer.' });

/** The file as written (what editors and the JSON Schema see). */
export type ConfigFileInput = z.input<typeof configFileSchema>;
/** The file validated: durations in ms, addresses parsed, strategies by long name; nothing inherited yet. */
export type ConfigFileOutput = z.output<typeof configFileSchema>;
export type ServiceFileOutput = ConfigFileOutput['services'][number];
export type SettingsFileOutput = NonNullable<ConfigFileOutput['defaults']>;

/** The JSON Schema of the file (draft 2020-12), with each field's `default` for editors. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configFileSchema, {
    io: 'input',
    target: 'draft-2020-12',
    // zod drops `default` on transforming schemas in input mode; ours are the file's defaults, so put them back.
    override: (ctx) => {
      const meta = z.globalRegistry.get(ctx.zodSchema as unknown as z.ZodType);
      if (meta && 'default' in meta) ctx.jsonSchema.default = meta.default as never;
    },
  }) as Record<string, unknown>;
}

/** The keys allowed in the map at `path` (for "did you mean"), or none when the path does not lead to a map. */
export function allowedKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType | undefined = configFileSchema;
  for (const key of [...path, undefined]) {
    // Look through wrappers to the object, array or union underneath.
    for (;;) {
      if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault) schema = schema.unwrap() as z.ZodType;
      else if (schema instanceof z.ZodPipe) schema = schema.in as z.ZodType;
      else if (schema instanceof z.ZodUnion) schema = (schema.options as z.ZodType[]).find((o) => !(o instanceof z.ZodString || o instanceof z.ZodNumber || o instanceof z.ZodLiteral || (o instanceof z.ZodPipe && o.in instanceof z.ZodString)));
      else break;
    }
    if (key === undefined) return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
    if (schema instanceof z.ZodArray && typeof key === 'number') schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodObject && typeof key === 'string') schema = schema.shape[key] as z.ZodType | undefined;
    else return [];
  }
  return [];
}
