/**
 * Command-line flags → a validated FulcrumConfig. yargs does the parsing and
 * the help text; every value then goes through the same parsers as the
 * config file and the admin API, so errors read the same everywhere.
 */
import yargs from 'yargs';
import { ConfigError } from '../errors.ts';
import { VERSION } from '../runtime/version.ts';
import { resolveStrategyName, STRATEGY_NAMES } from '../strategies/index.ts';
import { DATA_PLANES, DEFAULTS, makeService, type DataPlaneChoice, type FulcrumConfig, type ProcessSettings } from './config.ts';
import { joinDashValues } from './argv.ts';
import { parseBackendSpec, parseDuration, parseHostName, parseHostPort, parseHttpPath, parseToken } from './parse.ts';

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
  'health-interval': 'defaults.health.interval',
  t: 'defaults.health.interval',
  'health-timeout': 'defaults.health.timeout',
  rise: 'defaults.health.rise',
  fall: 'defaults.health.fall',
  'health-http': 'defaults.health.http',
  'max-fails': 'defaults.passive.maxFails',
  'eject-time': 'defaults.passive.ejectTime',
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
    .option('health-interval', { alias: 't', type: 'string', default: '2s', describe: 'active health probe interval (0 disables probes)' })
    .option('health-timeout', { type: 'string', default: '1s', describe: 'health probe timeout' })
    .option('rise', { type: 'string', default: '2', describe: 'consecutive passing probes that bring a backend back' })
    .option('fall', { type: 'string', default: '3', describe: 'consecutive failing probes that take a backend down' })
    .option('health-http', { type: 'string', describe: 'probe with HTTP GET of this path (2xx/3xx passes) instead of a TCP connect' })
    .option('max-fails', { type: 'string', default: '3', describe: 'consecutive connect failures on real traffic that eject a backend (0 disables)' })
    .option('eject-time', { type: 'string', default: '5s', describe: 'first ejection time; doubles with each consecutive ejection, up to 5m' })
    .option('admin-token', { type: 'string', describe: 'require "Authorization: Bearer TOKEN" on the admin API (env FULCRUM_ADMIN_TOKEN)' })
    .option('admin-allowed-host', { type: 'string', array: true, default: [] as string[], describe: 'a host name the admin API answers to besides localhost and its addresses (repeatable)' })
    .option('workers', { type: 'string', default: '1', describe: 'data-plane processes ("auto" = one per CPU)' })
    .option('demo', { type: 'boolean', default: false, describe: 'also start three demo backends on loopback and register them' })
    .option('data-plane', { type: 'string', default: 'auto', describe: `auto (raw handles where Node allows them, else net.Socket), native or stream` })
    .option('log-level', { type: 'string', default: 'info', describe: 'fatal, error, warn, info, debug, trace or silent' })
    .option('drain-timeout', { type: 'string', default: '30s', describe: 'on shutdown (and for services a reload removes), how long open connections may run on' })
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
  const health = {
    intervalMs: duration('health-interval', true),
    timeoutMs: duration('health-timeout'),
    rise: int('rise', one('rise', args.rise), 1, 100),
    fall: int('fall', one('fall', args.fall), 1, 100),
    httpPath: healthHttp,
  };

  const adminToken = (flag: unknown): string | undefined => {
    const token = flag === undefined ? process.env.FULCRUM_ADMIN_TOKEN : one('admin-token', flag);
    return token === undefined ? undefined : parseToken(flag === undefined ? 'FULCRUM_ADMIN_TOKEN' : '--admin-token', token);
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
    drainTimeoutMs: duration('drain-timeout', true),
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
    if (given.has('drain-timeout')) Object.assign(overrides, { drainTimeoutMs: process_.drainTimeoutMs });
    // Loaded only with --config: the schema library opens dozens of files at start-up, which a
    // flags-only process (perhaps under a tight `ulimit -n`) has no use for.
    const { loadConfigFile } = await import('./file.ts');
    const reread = () => Object.freeze({ ...loadConfigFile(file), ...overrides });
    return { config: reread(), reread };
  }

  const service = makeService({
    listen: parseHostPort('--listen', one('listen', args.listen), '0.0.0.0'),
    algo: resolveStrategyName('--algo', one('algo', args.algo)),
    backends: Object.freeze(args.backend.map((b) => parseBackendSpec('--backend', String(b)))),
    connectTimeoutMs,
    retries: int('retries', one('retries', args.retries), 0, 100),
    idleTimeoutMs: duration('idle-timeout', true),
    stickyTtlMs: duration('sticky-ttl'),
    health,
    passive: {
      maxFails: int('max-fails', one('max-fails', args['max-fails']), 0, 1000),
      ejectBaseMs: duration('eject-time'),
    },
  });
  const config: FulcrumConfig = Object.freeze({ ...process_, services: Object.freeze([service]), configFile: undefined });
  return { config, reread: undefined };
}
