/**
 * Command-line flags → a validated FulcrumConfig. yargs does the parsing and
 * the help text; every value then goes through the same parsers as the
 * config file and the admin API, so errors read the same everywhere.
 */
import yargs from 'yargs';
import { ConfigError } from '../errors.ts';
import { VERSION } from '../runtime/version.ts';
import { resolveStrategyName, STRATEGY_NAMES } from '../strategies/index.ts';
import { ACCESS_LOG_FORMATS, DATA_PLANES, DEFAULTS, type AccessLogFormat, HEALTH_CHECK_TYPES, makeService, type DataPlaneChoice, type FulcrumConfig, type HealthCheckType, type ProcessSettings } from './config.ts';
import { joinDashValues } from './argv.ts';
import { checkTableFits, parseBalanceFactor, parseHashKey, parseHashTable } from './hash.ts';
import { parseCidr } from './cidr.ts';
import { parseAccessLogTarget } from './access-log-target.ts';
import { parseBackendSpec, parseDuration, parseEscapes, parseExpect, parseHostName, parseHostPort, parseHttpPath, parseRate, parseToken } from './parse.ts';
import { storeFromUrl } from './store.ts';

/** What the command line asks for: a config, and how to read it again on reload (with `--config`). */
export interface CliResult {
  readonly config: FulcrumConfig;
  /** Re-reads the file with the same process-wide flags laid over it; undefined without `--config`. */
  readonly reread: (() => FulcrumConfig) | undefined;
}

/** Flags that configure the one flags-made service; with `--config` they belong in the file. */
const SERVICE_FLAGS: Readonly<Record<string, string>> = {
  listen: 'services[].listen',
  backend: 'services[].backends',
  algo: 'defaults.algo or services[].algo',
  'connect-timeout': 'defaults.connectTimeout',
  retries: 'defaults.retries',
  'idle-timeout': 'defaults.idleTimeout',
  'sticky-ttl': 'defaults.stickyTtl',
  'hash-key': 'defaults.hash.key or services[].hash.key',
  'hash-table': 'defaults.hash.table or services[].hash.table',
  'hash-balance-factor': 'defaults.hashBalanceFactor or services[].hashBalanceFactor',
  'health-interval': 'defaults.health.interval',
  t: 'defaults.health.interval',
  'health-timeout': 'defaults.health.timeout',
  rise: 'defaults.health.rise',
  fall: 'defaults.health.fall',
  'health-http': 'defaults.health.http',
  'max-fails': 'defaults.passive.maxFails',
  'eject-time': 'defaults.passive.ejectTime',
  'max-connections': 'services[].maxConnections',
  'send-proxy': 'defaults.proxyProtocol or services[].proxyProtocol',
  'accept-proxy': 'defaults.acceptProxy or services[].acceptProxy',
  'trusted-proxy': 'defaults.trustedProxies or services[].trustedProxies',
  'proxy-header-timeout': 'defaults.proxyHeaderTimeout',
  'queue-size': 'defaults.queue.size',
  'queue-timeout': 'defaults.queue.timeout',
  'max-conns-per-ip': 'defaults.limits.maxConnectionsPerIp',
  'conn-rate-per-ip': 'defaults.limits.connectionRatePerIp',
  allow: 'defaults.allow or services[].allow',
  deny: 'defaults.deny or services[].deny',
  'health-type': 'defaults.health.type',
  'health-send': 'defaults.health.send',
  'health-expect': 'defaults.health.expect',
  'slow-start': 'defaults.slowStart',
  'tcp-keepalive': 'defaults.tcpKeepAlive',
  'access-log': 'defaults.accessLog or services[].accessLog',
  'access-log-format': 'defaults.accessLogFormat or services[].accessLogFormat',
  backup: 'services[].backends (with backup: true)',
};

/** The long flags (and -t) present in argv, as typed: `--x`, `--x=v`, `-t`. */
function givenFlags(argv: readonly string[]): Set<string> {
  const given = new Set<string>();
  for (const a of argv) {
    if (a === '--') break;
    const m = /^--([a-z][a-z-]*)(=|$)/.exec(a) ?? /^-(t)(=|$|\d)/.exec(a);
    if (m) given.add(m[1]!);
  }
  return given;
}

/**
 * Parses argv (without node and script). Returns null when it printed help.
 * Throws ConfigError on anything that makes no sense (a ConfigFileError,
 * with every error, for a bad config file).
 */
export async function parseCli(argv: readonly string[]): Promise<CliResult | null> {
  const args = await yargs(joinDashValues(argv, new Set(['demo', 'no-demo', 'help'])))
    .scriptName('fulcrum')
    .usage('$0 [options]\n\nA Layer-4 TCP load balancer. Example:\n  $0 --listen 8080 --admin 9090 --algo ptc --backend 127.0.0.1:9001 --backend 127.0.0.1:9002@5')
    .option('listen', { type: 'string', default: '0.0.0.0:8080', describe: 'client-facing TCP listener, [host:]port' })
    .option('admin', { type: 'string', default: '127.0.0.1:9090', describe: 'admin HTTP API, [host:]port (a bare port binds 127.0.0.1)' })
    .option('algo', { type: 'string', default: 'ptc', describe: `balancing strategy: ${STRATEGY_NAMES.join(', ')}` })
    .option('backend', { type: 'string', array: true, default: [] as string[], describe: 'backend host:port[@weight] (repeatable; weight 1-1000)' })
    .option('connect-timeout', { type: 'string', default: '3s', describe: 'backend connect timeout (ms, s, m; bare number = seconds)' })
    .option('retries', { type: 'string', default: '2', describe: 'other backends tried after a failed connect' })
    .option('idle-timeout', { type: 'string', default: '10m', describe: 'close a connection idle this long both ways (0 disables)' })
    .option('sticky-ttl', { type: 'string', default: '10m', describe: 'srr: how long an idle client IP keeps its backend' })
    .option('hash-key', { type: 'string', default: 'client-ip', describe: 'maglev: what is hashed: client-ip, client-ip-port or sni' })
    .option('hash-table', { type: 'string', default: '65537', describe: 'maglev/sih: table slots, a prime of at least 100 × backends' })
    .option('hash-balance-factor', { type: 'string', default: '0', describe: 'maglev/sih: no backend takes more than this percent of the mean load, e.g. 125 (0: no bound)' })
    .option('health-interval', { alias: 't', type: 'string', default: '2s', describe: 'active health probe interval (0 disables probes)' })
    .option('health-timeout', { type: 'string', default: '1s', describe: 'health probe timeout' })
    .option('rise', { type: 'string', default: '2', describe: 'consecutive passing probes that bring a backend back' })
    .option('fall', { type: 'string', default: '3', describe: 'consecutive failing probes that take a backend down' })
    .option('health-http', { type: 'string', describe: 'probe with HTTP GET of this path (2xx/3xx passes) instead of a TCP connect' })
    .option('health-type', { type: 'string', describe: `health check kind: ${HEALTH_CHECK_TYPES.join(', ')} (redis: PING/+PONG; postgres: SSLRequest/S or N)` })
    .option('health-send', { type: 'string', describe: 'TCP checks: bytes to send after connecting (\\r \\n \\t \\0 \\\\ \\xHH escapes)' })
    .option('health-expect', { type: 'string', describe: 'TCP checks: text the reply must start with, or /regex/ it must match' })
    .option('slow-start', { type: 'string', default: '0', describe: 'a backend that joins or comes back ramps up to its weight over this window (0 disables)' })
    .option('tcp-keepalive', { type: 'string', default: '60s', describe: 'TCP keepalive idle time on both sides of every connection (0 disables)' })
    .option('backup', { type: 'string', array: true, default: [] as string[], describe: 'a backup backend host:port[@weight], used only while no other backend is ready (repeatable)' })
    .option('max-fails', { type: 'string', default: '3', describe: 'consecutive connect failures on real traffic that eject a backend (0 disables)' })
    .option('eject-time', { type: 'string', default: '5s', describe: 'first ejection time; doubles with each consecutive ejection, up to 5m' })
    .option('admin-token', { type: 'string', describe: 'require "Authorization: Bearer TOKEN" on the admin API (env FULCRUM_ADMIN_TOKEN)' })
    .option('admin-allowed-host', { type: 'string', array: true, default: [] as string[], describe: 'a host name the admin API answers to besides localhost and its addresses (repeatable)' })
    .option('workers', { type: 'string', default: '1', describe: 'data-plane processes ("auto" = one per CPU)' })
    .option('demo', { type: 'boolean', default: false, describe: 'also start three demo backends on loopback and register them' })
    .option('data-plane', { type: 'string', default: 'auto', describe: `auto (raw handles where Node allows them, else net.Socket), native or stream` })
    .option('log-level', { type: 'string', default: 'info', describe: 'fatal, error, warn, info, debug, trace or silent' })
    .option('send-proxy', { type: 'string', describe: 'send each backend a PROXY protocol header first: v1 or v2' })
    .option('accept-proxy', { type: 'boolean', default: false, describe: 'read a PROXY protocol header (v1 or v2) from every client first; its source is the client' })
    .option('trusted-proxy', { type: 'string', array: true, default: [] as string[], describe: 'with --accept-proxy: an address or CIDR allowed to send the header (repeatable; none: any)' })
    .option('proxy-header-timeout', { type: 'string', default: '3s', describe: 'with --accept-proxy: how long a client may take to send the header' })
    .option('max-connections', { type: 'string', default: '0', describe: 'connections the service serves at once; more wait in its queue (0: no limit)' })
    .option('queue-size', { type: 'string', default: '1024', describe: 'clients that may wait while the service or every ready backend is full (0: refuse at once)' })
    .option('queue-timeout', { type: 'string', default: '5s', describe: 'how long a client may wait in the queue before it is refused' })
    .option('max-conns-per-ip', { type: 'string', default: '0', describe: 'open connections one client IP may hold (0: no limit)' })
    .option('conn-rate-per-ip', { type: 'string', describe: 'new connections per client IP, e.g. 50/s or 600/m (a token bucket)' })
    .option('allow', { type: 'string', array: true, default: [] as string[], describe: 'client address or CIDR let in; with any, the rest is refused (repeatable)' })
    .option('deny', { type: 'string', array: true, default: [] as string[], describe: 'client address or CIDR refused; wins over --allow (repeatable)' })
    .option('log-format', { type: 'string', describe: 'json (one object per line) or pretty (one aligned line); default: pretty on a terminal, json otherwise' })
    .option('access-log', { type: 'string', default: 'off', describe: 'one line per connection when it ends: off, stdout, stderr or a file path (reopened on SIGUSR1)' })
    .option('access-log-format', { type: 'string', describe: 'access-log lines as json or text (fixed fields, as HAProxy\'s tcplog); default: text when the log format is pretty, else json' })
    .option('drain-timeout', { type: 'string', default: '30s', describe: 'on shutdown (and for services a reload removes), how long open connections may run on' })
    .option('store', { type: 'string', describe: 'a shared store for several instances: redis://host:port/db or rediss://… (API backends and admin state)' })
    .option('config', { alias: 'c', type: 'string', describe: 'a YAML or JSON config file (services, backends, defaults); SIGHUP reloads it' })
    .strict()
    .help()
    .version(VERSION)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new ConfigError('usage', msg);
    })
    .parseAsync();
  if (args.help || args.version) return null;

  const int = (field: string, value: string, min: number, max: number) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(`--${field}`, `"${value}" is invalid (use an integer ${min}-${max})`);
    }
    return Number(value);
  };
  const one = (field: string, v: unknown): string => {
    if (Array.isArray(v)) throw new ConfigError(`--${field}`, 'given more than once');
    return String(v);
  };
  const duration = (field: string, zeroMeansOff = false) => parseDuration(`--${field}`, one(field, args[field]), { zeroMeansOff });
  const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  const logLevel = one('log-level', args['log-level']);
  if (!logLevels.includes(logLevel)) throw new ConfigError('--log-level', `"${logLevel}" is invalid (use ${logLevels.join(', ')})`);
  const dataPlane = one('data-plane', args['data-plane']) as DataPlaneChoice;
  if (!DATA_PLANES.includes(dataPlane)) throw new ConfigError('--data-plane', `"${dataPlane}" is invalid (use ${DATA_PLANES.join(', ')})`);
  const workersText = one('workers', args.workers);
  const cpus = (await import('node:os')).availableParallelism();
  const healthHttp = args['health-http'] === undefined ? undefined : one('health-http', args['health-http']);
  if (healthHttp !== undefined) parseHttpPath('--health-http', healthHttp);
  const connectTimeoutMs = duration('connect-timeout');
  const optional = (field: string): string | undefined => (args[field] === undefined ? undefined : one(field, args[field]));
  const healthType = optional('health-type');
  if (healthType !== undefined && !(HEALTH_CHECK_TYPES as readonly string[]).includes(healthType)) {
    throw new ConfigError('--health-type', `"${healthType}" is invalid (use ${HEALTH_CHECK_TYPES.join(', ')})`);
  }
  const send = optional('health-send');
  const expect = optional('health-expect');
  if (send !== undefined) parseEscapes('--health-send', send);
  if (expect !== undefined) parseExpect('--health-expect', expect);
  if ((send ?? expect) !== undefined && healthType !== undefined && healthType !== 'tcp') {
    throw new ConfigError(send !== undefined ? '--health-send' : '--health-expect', `cannot be combined with --health-type ${healthType} (send/expect are for tcp checks)`);
  }
  const health = {
    intervalMs: duration('health-interval', true),
    timeoutMs: duration('health-timeout'),
    rise: int('rise', one('rise', args.rise), 1, 100),
    fall: int('fall', one('fall', args.fall), 1, 100),
    httpPath: healthHttp,
    ...(healthType !== undefined && { type: healthType as HealthCheckType }),
    ...(send !== undefined && { send }),
    ...(expect !== undefined && { expect }),
  };

  const adminToken = (flag: unknown): string | undefined => {
    const token = flag === undefined ? process.env.FULCRUM_ADMIN_TOKEN : one('admin-token', flag);
    return token === undefined ? undefined : parseToken(flag === undefined ? 'FULCRUM_ADMIN_TOKEN' : '--admin-token', token);
  };

  const logFormat = (flag: unknown): 'json' | 'pretty' | undefined => {
    if (flag === undefined) return undefined;
    const f = one('log-format', flag);
    if (f !== 'json' && f !== 'pretty') throw new ConfigError('--log-format', `"${f}" is invalid (use json or pretty)`);
    return f;
  };
  const proxyVersion = (v: string): 'v1' | 'v2' => {
    if (v !== 'v1' && v !== 'v2') throw new ConfigError('--send-proxy', `"${v}" is invalid (use v1 or v2)`);
    return v;
  };
  const accessLog = (v: string): string => parseAccessLogTarget('--access-log', v);
  const accessLogFormat = (v: string): AccessLogFormat => {
    if (!(ACCESS_LOG_FORMATS as readonly string[]).includes(v)) throw new ConfigError('--access-log-format', `"${v}" is invalid (use ${ACCESS_LOG_FORMATS.join(' or ')})`);
    return v as AccessLogFormat;
  };
  const given = givenFlags(argv);
  const process_: ProcessSettings = {
    ...DEFAULTS,
    admin: parseHostPort('--admin', one('admin', args.admin), '127.0.0.1'),
    demo: args.demo,
    adminToken: adminToken(args['admin-token']),
    adminAllowedHosts: Object.freeze(args['admin-allowed-host'].map((h) => parseHostName('--admin-allowed-host', String(h)))),
    workers: workersText === 'auto' ? cpus : int('workers', workersText, 1, 256),
    dataPlane,
    logLevel,
    logFormat: logFormat(args['log-format']),
    drainTimeoutMs: duration('drain-timeout', true),
    ...(args.store !== undefined && { store: storeFromUrl('--store', one('store', args.store)) }),
  };

  if (args.config !== undefined) {
    const file = one('config', args.config);
    for (const flag of given) {
      const key = SERVICE_FLAGS[flag];
      if (key) throw new ConfigError(flag.length === 1 ? `-${flag}` : `--${flag}`, `cannot be used with --config; set ${key} in ${file}`);
    }
    // Process-wide flags given on the command line win over the file, on every reload too.
    const overrides: Partial<ProcessSettings> = { demo: args.demo };
    if (given.has('admin')) Object.assign(overrides, { admin: process_.admin });
    if (given.has('admin-token')) Object.assign(overrides, { adminToken: process_.adminToken });
    if (given.has('admin-allowed-host')) Object.assign(overrides, { adminAllowedHosts: process_.adminAllowedHosts });
    if (given.has('workers')) Object.assign(overrides, { workers: process_.workers });
    if (given.has('data-plane')) Object.assign(overrides, { dataPlane: process_.dataPlane });
    if (given.has('log-level')) Object.assign(overrides, { logLevel: process_.logLevel });
    if (given.has('log-format')) Object.assign(overrides, { logFormat: process_.logFormat });
    if (given.has('drain-timeout')) Object.assign(overrides, { drainTimeoutMs: process_.drainTimeoutMs });
    if (given.has('store')) Object.assign(overrides, { store: process_.store });
    // Loaded only with --config: the schema library opens dozens of files at start-up, which a
    // flags-only process (perhaps under a tight `ulimit -n`) has no use for.
    const { loadConfigFile } = await import('./file.ts');
    const reread = () => Object.freeze({ ...loadConfigFile(file), ...overrides });
    return { config: reread(), reread };
  }

  // Read only with --accept-proxy: alone it would be silently ignored.
  if (args['trusted-proxy'].length > 0 && args['accept-proxy'] !== true) {
    throw new ConfigError('--trusted-proxy', 'needs --accept-proxy (it says who may send the PROXY header; without --accept-proxy no header is read)');
  }
  const backendCount = args.backend.length + args.backup.length;
  const hashTable = parseHashTable('--hash-table', one('hash-table', args['hash-table']));
  checkTableFits('--hash-table', hashTable, backendCount);
  const service = makeService({
    listen: parseHostPort('--listen', one('listen', args.listen), '0.0.0.0'),
    algo: resolveStrategyName('--algo', one('algo', args.algo)),
    backends: Object.freeze([
      ...args.backend.map((b) => parseBackendSpec('--backend', String(b))),
      ...args.backup.map((b) => ({ ...parseBackendSpec('--backup', String(b)), backup: true })),
    ]),
    connectTimeoutMs,
    retries: int('retries', one('retries', args.retries), 0, 100),
    idleTimeoutMs: duration('idle-timeout', true),
    stickyTtlMs: duration('sticky-ttl'),
    hash: Object.freeze({ key: parseHashKey('--hash-key', one('hash-key', args['hash-key'])), table: hashTable }),
    hashBalanceFactor: parseBalanceFactor('--hash-balance-factor', one('hash-balance-factor', args['hash-balance-factor'])),
    slowStartMs: duration('slow-start', true),
    tcpKeepAliveMs: duration('tcp-keepalive', true),
    health,
    passive: {
      maxFails: int('max-fails', one('max-fails', args['max-fails']), 0, 1000),
      ejectBaseMs: duration('eject-time'),
    },
    limits: {
      maxConnectionsPerIp: int('max-conns-per-ip', one('max-conns-per-ip', args['max-conns-per-ip']), 0, 1_000_000),
      connectionRatePerIp: args['conn-rate-per-ip'] === undefined ? undefined : parseRate('--conn-rate-per-ip', one('conn-rate-per-ip', args['conn-rate-per-ip'])),
    },
    maxConnections: int('max-connections', one('max-connections', args['max-connections']), 0, 10_000_000),
    queue: { size: int('queue-size', one('queue-size', args['queue-size']), 0, 1_000_000), timeoutMs: duration('queue-timeout') },
    accessLog: accessLog(one('access-log', args['access-log'])),
    // Unset, it follows the process log: a person at a terminal reads text, a collector gets JSON.
    accessLogFormat: args['access-log-format'] === undefined
      ? (process_.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json')) === 'pretty' ? 'text' : 'json'
      : accessLogFormat(one('access-log-format', args['access-log-format'])),
    ...(args['send-proxy'] !== undefined && { proxyProtocol: proxyVersion(one('send-proxy', args['send-proxy'])) }),
    allow: Object.freeze(args.allow.map((c) => parseCidr('--allow', String(c)))),
    deny: Object.freeze(args.deny.map((c) => parseCidr('--deny', String(c)))),
    ...(args['accept-proxy'] === true && { acceptProxy: true, proxyHeaderTimeoutMs: duration('proxy-header-timeout') }),
    ...(args['trusted-proxy'].length > 0 && { trustedProxies: Object.freeze(args['trusted-proxy'].map((c) => parseCidr('--trusted-proxy', String(c)))) }),
  });
  const config: FulcrumConfig = Object.freeze({ ...process_, services: Object.freeze([service]), configFile: undefined });
  return { config, reread: undefined };
}
