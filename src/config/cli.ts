/**
 * Command-line flags → a validated FulcrumConfig. yargs does the parsing and
 * the help text; every value then goes through the same parsers as the
 * config file and the admin API, so errors read the same everywhere.
 */
import yargs from 'yargs';
import { ConfigError } from '../errors.ts';
import { VERSION } from '../runtime/version.ts';
import { resolveStrategyName, STRATEGY_NAMES } from '../strategies/index.ts';
import { DEFAULTS, type FulcrumConfig } from './config.ts';
import { parseBackendSpec, parseDuration, parseHostPort } from './parse.ts';

/**
 * Parses argv (without node and script). Returns null when it printed help.
 * Throws ConfigError on anything that makes no sense.
 */
export async function parseCli(argv: readonly string[]): Promise<FulcrumConfig | null> {
  const args = await yargs([...argv])
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
    .option('workers', { type: 'string', default: '1', describe: 'data-plane processes ("auto" = one per CPU)' })
    .option('demo', { type: 'boolean', default: false, describe: 'also start three demo backends on loopback and register them' })
    .option('log-level', { type: 'string', default: 'info', describe: 'fatal, error, warn, info, debug, trace or silent' })
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
  const duration = (field: string) => parseDuration(`--${field}`, one(field, args[field]));
  const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  const logLevel = one('log-level', args['log-level']);
  if (!logLevels.includes(logLevel)) throw new ConfigError('--log-level', `"${logLevel}" is invalid (use ${logLevels.join(', ')})`);
  const workersText = one('workers', args.workers);
  const cpus = (await import('node:os')).availableParallelism();
  const healthHttp = args['health-http'] === undefined ? undefined : one('health-http', args['health-http']);
  if (healthHttp !== undefined && !healthHttp.startsWith('/')) throw new ConfigError('--health-http', `"${healthHttp}" must be a path starting with "/"`);
  const connectTimeoutMs = duration('connect-timeout');
  if (connectTimeoutMs === 0) throw new ConfigError('--connect-timeout', 'must be more than 0');
  const health = {
    intervalMs: duration('health-interval'),
    timeoutMs: duration('health-timeout'),
    rise: int('rise', one('rise', args.rise), 1, 100),
    fall: int('fall', one('fall', args.fall), 1, 100),
    httpPath: healthHttp,
  };
  if (health.timeoutMs === 0) throw new ConfigError('--health-timeout', 'must be more than 0');

  const adminToken = (flag: unknown): string | undefined => {
    const token = flag === undefined ? process.env.FULCRUM_ADMIN_TOKEN : one('admin-token', flag);
    if (token !== undefined && token.trim() === '') throw new ConfigError(flag === undefined ? 'FULCRUM_ADMIN_TOKEN' : '--admin-token', 'is empty (give a token, or leave it unset for an open admin API)');
    return token;
  };

  return Object.freeze({
    ...DEFAULTS,
    listen: parseHostPort('--listen', one('listen', args.listen), '0.0.0.0'),
    admin: parseHostPort('--admin', one('admin', args.admin), '127.0.0.1'),
    algo: resolveStrategyName('--algo', one('algo', args.algo)),
    backends: Object.freeze(args.backend.map((b) => parseBackendSpec('--backend', String(b)))),
    connectTimeoutMs,
    retries: int('retries', one('retries', args.retries), 0, 100),
    idleTimeoutMs: duration('idle-timeout'),
    stickyTtlMs: duration('sticky-ttl'),
    demo: args.demo,
    health: Object.freeze(health),
    passive: Object.freeze({
      ...DEFAULTS.passive,
      maxFails: int('max-fails', one('max-fails', args['max-fails']), 0, 1000),
      ejectBaseMs: duration('eject-time'),
    }),
    adminToken: adminToken(args['admin-token']),
    workers: workersText === 'auto' ? cpus : int('workers', workersText, 1, 256),
    logLevel,
  });
}
