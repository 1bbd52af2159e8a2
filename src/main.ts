/**
 * The `fulcrum` command: flags (or a config file) → config → start; one line
 * per listener on stdout. SIGTERM/SIGINT drain and exit 0 (a second signal:
 * now); SIGHUP reloads the config file; SIGUSR1 reopens access-log files.
 */
import { parseCli } from './config/cli.ts';
import type { FulcrumConfig } from './config/config.ts';
import { formatHostPort } from './config/parse.ts';
import { ConfigError, DataPlaneError, FulcrumError } from './errors.ts';
import { Fulcrum } from './fulcrum.ts';
import { createLogger, flushLogs } from './observability/log.ts';
import { flushAccessLogs } from './observability/access-log/writer.ts';
import { resolveDataPlane } from './proxy/plane.ts';
import { checkFdLimit } from './runtime/fd-limit.ts';
import { startDemoBackend, type DemoBackend } from '../tools/backend.ts';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'validate') {
    const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
    const { runValidate } = await import('./config/validate-command.ts');
    process.exitCode = await runValidate(argv.slice(1), write(process.stdout), write(process.stderr));
    return;
  }
  let cli;
  try {
    cli = await parseCli(argv);
  } catch (err) {
    // A ConfigFileError (its module is loaded only with --config): every error, one line each.
    if (err instanceof FulcrumError && err.code === 'ERR_CONFIG_FILE' && Array.isArray((err as { errors?: unknown }).errors)) {
      for (const line of (err as unknown as { errors: string[] }).errors) process.stderr.write(`fulcrum: ${line}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`fulcrum: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (!cli) return;
  let config = cli.config;
  const log = createLogger(config.logLevel, config.logFormat);
  try {
    resolveDataPlane(config.dataPlane, log); // `auto` warns here, once, when it falls back
  } catch (err) {
    if (!(err instanceof DataPlaneError)) throw err;
    process.stderr.write(`fulcrum: ${err.message}\n`);
    process.exit(2);
  }
  checkFdLimit(log);

  const demos: DemoBackend[] = [];
  if (config.demo) {
    for (const name of ['demo-1', 'demo-2', 'demo-3']) demos.push(await startDemoBackend(name));
    config = withDemoBackends(config, demos);
  }

  let lb: Fulcrum;
  try {
    const reread = cli.reread;
    lb = await Fulcrum.start(config, reread ? { log, reread: () => withDemoBackends(reread(), demos) } : { log });
  } catch (err) {
    // One line per cause, naming the listener (a ReloadError) or the admin address; never a stack.
    const e = err as NodeJS.ErrnoException & { errors?: readonly string[] };
    const lines = e.errors ?? [e.code === undefined ? e.message : `admin ${formatHostPort(config.admin)}: ${e.code}`];
    for (const line of lines) process.stderr.write(`fulcrum: cannot start: ${line}\n`);
    await Promise.all(demos.map((d) => d.close()));
    process.exit(1);
  }
  // Handlers first: whoever reads the startup lines may signal at once.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(0);
    stopping = true;
    const open = lb.services().reduce((n, s) => n + s.openConnections, 0);
    log.info({ signal, openConnections: open, drainTimeoutMs: lb.config.drainTimeoutMs }, 'shutting down: draining open connections');
    const { finished, closed } = await lb.close();
    await Promise.all(demos.map((d) => d.close()));
    log.info({ finished, closed }, `stopped: ${finished} connection(s) finished, ${closed} closed at the drain timeout`);
    await flushAccessLogs(1000);
    await flushLogs(1000);
    process.exit(0);
  };
  process.on('SIGINT', (s) => void stop(s));
  process.on('SIGTERM', (s) => void stop(s));
  // logrotate's postrotate: `kill -USR1 $(cat fulcrum.pid)`. Replaces Node's default (starting the inspector).
  process.on('SIGUSR1', () => {
    lb.reopenLogs();
    log.info('SIGUSR1: access-log files reopened');
  });
  process.on('SIGHUP', () => {
    if (!lb.reloadable) return log.warn('SIGHUP: started without --config, so there is nothing to reload');
    lb.reload().catch(() => {}); // logged by reload itself
  });

  const flagsOnly = config.configFile === undefined;
  for (const s of lb.services()) {
    const where = formatHostPort({ host: s.address!.address, port: s.address!.port });
    const what = flagsOnly ? 'proxy' : `service ${s.name}`;
    console.log(`fulcrum: ${what} listening on ${where} (${s.registry.strategyName})`);
  }
  const admin = lb.adminAddress;
  console.log(`fulcrum: admin listening on ${formatHostPort({ host: admin.address, port: admin.port })}${config.adminToken === undefined ? '' : ' (bearer token required)'}`);
  for (const d of demos) console.log(`fulcrum: demo backend ${d.name} on 127.0.0.1:${d.address.port}`);
}

/** The demo backends join the first service, as if declared there. */
function withDemoBackends(config: FulcrumConfig, demos: readonly DemoBackend[]): FulcrumConfig {
  const [first, ...rest] = config.services;
  if (!first) return config;
  const backends = [...first.backends, ...demos.map((d) => ({ host: '127.0.0.1', port: d.address.port, weight: 1 }))];
  return Object.freeze({ ...config, services: Object.freeze([Object.freeze({ ...first, backends: Object.freeze(backends) }), ...rest]) });
}

await main();
