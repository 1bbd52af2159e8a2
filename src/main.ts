/**
 * The `fulcrum` command: flags → config → start; one line per listener on
 * stdout; SIGINT/SIGTERM close gracefully and exit 0 (a second signal: now).
 */
import { parseCli } from './config/cli.ts';
import { formatHostPort } from './config/parse.ts';
import { ConfigError } from './errors.ts';
import { LoadBalancer } from './load-balancer.ts';
import { createLogger } from './observability/log.ts';
import { checkFdLimit } from './runtime/fd-limit.ts';
import { startDemoBackend, type DemoBackend } from '../tools/backend.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = await parseCli(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fulcrum: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (!config) return;
  const log = createLogger(config.logLevel);
  checkFdLimit(log);

  const demos: DemoBackend[] = [];
  if (config.demo) {
    for (const name of ['demo-1', 'demo-2', 'demo-3']) demos.push(await startDemoBackend(name));
    config = Object.freeze({
      ...config,
      backends: [...config.backends, ...demos.map((d) => ({ host: '127.0.0.1', port: d.address.port, weight: 1 }))],
    });
  }

  let lb: LoadBalancer;
  try {
    lb = await LoadBalancer.start(config, { log });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`fulcrum: cannot start: ${e.message}\n`);
    await Promise.all(demos.map((d) => d.close()));
    process.exit(1);
  }
  // Handlers first: whoever reads the startup lines may signal at once.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(0);
    stopping = true;
    log.info({ signal }, 'shutting down');
    await lb.close();
    await Promise.all(demos.map((d) => d.close()));
    log.flush();
    process.exit(0);
  };
  process.on('SIGINT', (s) => void stop(s));
  process.on('SIGTERM', (s) => void stop(s));

  const proxy = lb.proxyAddress;
  console.log(`fulcrum: proxy listening on ${formatHostPort({ host: proxy.address, port: proxy.port })} (${lb.registry.strategyName})`);
  const admin = lb.adminAddress;
  console.log(`fulcrum: admin listening on ${formatHostPort({ host: admin.address, port: admin.port })}${config.adminToken === undefined ? '' : ' (bearer token required)'}`);
  for (const d of demos) console.log(`fulcrum: demo backend ${d.name} on 127.0.0.1:${d.address.port}`);
}

await main();
