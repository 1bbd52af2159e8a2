/**
 * Starting and stopping what we measure: the backend, and each target that
 * stands in front of it. A target that cannot start (not installed, or
 * Fulcrum's entry point not there yet) comes back as `unavailable` with a
 * reason, and the run goes on without it.
 */
import { existsSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { sleep, spawnGroup, stopGroup, type Spawned } from './children.ts';
import { HOST, findExecutable, freePort, httpGet, lastLines, waitForPort } from './net-util.ts';
import { haproxyConf, nginxBackendConf, nginxStreamConf } from './configs.ts';
import { fdLimit } from './proc.ts';
import { openDashboard } from './dashboard-client.ts';
import { checkoutRevision, isRevisionTarget, REVISION_PREFIX, type RevisionTarget } from './revision.ts';

export const TARGET_NAMES = ['direct', 'minimal', 'raw', 'fulcrum', 'fulcrum-stream', 'fulcrum+dashboard', 'fulcrum+controls', 'fulcrum+accesslog', 'fulcrum+proxy-v2', 'fulcrum+maglev', 'fulcrum+lrt', 'fulcrum+accept-proxy', 'fulcrum+sni', 'haproxy', 'nginx'] as const;
/**
 * `raw` is asked for by name: it measures Node itself, not a balancer anyone
 * would run. So is `fulcrum+dashboard`: Fulcrum with a dashboard open (an SSE
 * client on its admin port's /events for the whole run), to compare with `fulcrum`.
 */
const ASKED_BY_NAME: readonly string[] = ['raw', 'fulcrum+dashboard', 'fulcrum+controls', 'fulcrum+accesslog', 'fulcrum+proxy-v2', 'fulcrum+maglev', 'fulcrum+lrt', 'fulcrum+accept-proxy', 'fulcrum+sni'];
export const DEFAULT_TARGETS: readonly TargetName[] = TARGET_NAMES.filter((t) => !ASKED_BY_NAME.includes(t));

/**
 * `fulcrum+maglev` and `fulcrum+lrt`: the same build balancing by maglev
 * with bounded load (hashBalanceFactor 125), or by lrt (which times every
 * connect), instead of rr: what those strategies cost per connection.
 */
const STRATEGY_ARGS: Readonly<Record<'fulcrum+maglev' | 'fulcrum+lrt', readonly string[]>> = {
  'fulcrum+maglev': ['--algo', 'maglev', '--hash-balance-factor', '125'],
  'fulcrum+lrt': ['--algo', 'lrt'],
};

/**
 * `fulcrum+accept-proxy`: `--accept-proxy`, each client's connection
 * starting with a PROXY v1 line (wrk prepends it), so only the
 * `Connection: close` load applies (one request per connection).
 * `fulcrum+sni`: two services on one address by `sni`, the HTTP load going
 * to the default one: every connection has its first bytes read (not TLS,
 * so at the first byte), is routed, and has them replayed to the backend.
 * Beside `fulcrum` they are what those paths cost per connection.
 */
export const ACCEPT_PROXY_TARGET = 'fulcrum+accept-proxy';

/**
 * `fulcrum+controls`: the same build with every connection control
 * configured but not hit (a service and per-IP limit far above the load, a
 * per-IP rate, a deny list that names no client, a queue), so its row beside
 * `fulcrum` is what configured controls cost on the plain path.
 */
const CONTROLS_ARGS = ['--max-connections', '1000000', '--max-conns-per-ip', '1000000', '--conn-rate-per-ip', '1000000/s', '--deny', '10.255.255.255/32', '--queue-size', '1024', '--queue-timeout', '5s'];
export type BuiltinTarget = (typeof TARGET_NAMES)[number];
/**
 * `script:PATH`: any proxy script with bench/minimal-proxy.ts's command line
 * (`LISTEN_PORT BACKEND_PORT [BACKEND_HOST]`), PATH relative to the repo,
 * run with `node --import tsx` like `minimal` (bench/levers/ holds some).
 */
export type ScriptTarget = `script:${string}`;
export type TargetName = BuiltinTarget | ScriptTarget | RevisionTarget;

export const SCRIPT_PREFIX = 'script:';

export function isScriptTarget(name: string): name is ScriptTarget {
  return name.startsWith(SCRIPT_PREFIX) && name.length > SCRIPT_PREFIX.length;
}

/** How a target is named in the table: a script by its file name. */
export function targetLabel(name: TargetName): string {
  return isScriptTarget(name) ? basename(name.slice(SCRIPT_PREFIX.length)) : name;
}

export interface Running {
  readonly name: TargetName;
  readonly port: number;
  /** Root of the process tree charged for CPU and memory; undefined for `direct` (no balancer). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export type Started = { ok: true; target: Running } | { ok: false; name: TargetName; reason: string };

export interface Backend {
  readonly kind: 'nginx' | 'node';
  readonly port: number;
  /** The nginx backend's second port, `listen … proxy_protocol`: the same answers after a PROXY header. */
  readonly proxyPort: number | undefined;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface TargetContext {
  readonly tmp: string;
  readonly repo: string;
  readonly backend: Backend;
  readonly fulcrumArgs: readonly string[];
  /** Connections the idle test will hold; sizes haproxy maxconn and nginx worker_connections. */
  readonly idleConns: number;
}

const LARGE_BYTES = 1 << 20;
const READY_MS = 10_000;
/** tsx compiles Fulcrum's sources on first start, which takes a few seconds on a busy machine. */
const FULCRUM_READY_MS = 30_000;

/** Fulcrum's entry point in `repo` (this checkout, or a `fulcrum@REV` worktree) with the flags every Fulcrum target gets. */
function fulcrumCommand(repo: string, ctx: TargetContext, port: number, extra: readonly string[] = [], adminPort = 0, backendPort = ctx.backend.port): [string, string[]] {
  // rr unless the target or --fulcrum-args names a strategy.
  const algo = extra.includes('--algo') || ctx.fulcrumArgs.includes('--algo') ? [] : ['--algo', 'rr'];
  const args = [...extra, '--listen', `${HOST}:${port}`, '--admin', `${HOST}:${adminPort}`, ...algo, '--backend', `${HOST}:${backendPort}`];
  return nodeScript(repo, 'src/main.ts', [...args, '--health-interval', '0', '--log-level', 'warn', ...ctx.fulcrumArgs]);
}

function nodeScript(repo: string, script: string, args: string[]): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', resolve(repo, script), ...args]];
}

/** A `script:PATH` target: the script, or why it cannot run. */
function scriptCommand(name: ScriptTarget, ctx: TargetContext, port: number): [string, string[]] | string {
  const script = name.slice(SCRIPT_PREFIX.length);
  if (!existsSync(resolve(ctx.repo, script))) return `${script} does not exist`;
  return nodeScript(ctx.repo, script, [String(port), String(ctx.backend.port), HOST]);
}

/** nginx's stream module: built in, loadable from the Debian module dir, or missing. */
function streamModule(nginx: string): { load: string | undefined } | undefined {
  // `nginx -V` writes its configure arguments to stderr.
  const v = spawnSync(nginx, ['-V'], { encoding: 'utf8' });
  if (/--with-stream(\s|$)/.test(`${v.stdout}${v.stderr}`)) return { load: undefined };
  const so = '/usr/lib/nginx/modules/ngx_stream_module.so';
  return existsSync(so) ? { load: so } : undefined;
}

/**
 * One GET through the target, retried briefly: a process may accept before
 * it is wired to its backend (a reset on the very first connection once
 * happened with a Fulcrum that was being edited mid-run).
 */
async function checkProxies(name: TargetName, port: number): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await sleep(300);
    try {
      const res = name === ACCEPT_PROXY_TARGET ? await proxiedGet(port) : await httpGet(port, '/small');
      if (res.status === 200) return;
      last = new Error(`GET /small through ${name} answered ${res.status}`);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** GET /small with a PROXY v1 line first (an `--accept-proxy` target). */
function proxiedGet(port: number): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOST, port }, () => s.end(`PROXY TCP4 192.0.2.1 ${HOST} 40000 ${port}\r\nGET /small HTTP/1.0\r\n\r\n`));
    let text = '';
    s.on('data', (d) => (text += d));
    s.on('error', reject);
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.[01] (\d+)/.exec(text)?.[1] ?? 0) }));
  });
}

/** Spawns, waits for the port, checks that one request goes through; stops the process on failure. */
async function launch(name: TargetName, cmd: [string, string[]], port: number, readyMs: number, cwd?: string): Promise<Spawned> {
  const proc = spawnGroup(cmd[0], cmd[1], cwd ? { cwd } : {});
  try {
    await waitForPort(port, proc, readyMs);
    await checkProxies(name, port);
    return proc;
  } catch (err) {
    await stopGroup(proc);
    throw err;
  }
}

/** One directory per instance: the memory test runs a second instance beside the first. */
function dirFor(tmp: string, name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  // nginx workers drop to `nobody` when started as root; they must reach the large file.
  chmodSync(dir, 0o755);
  return dir;
}

export async function startBackend(tmp: string, repo: string, preferNode: boolean, idleConns: number): Promise<Backend> {
  const port = await freePort();
  const nginx = preferNode ? undefined : findExecutable('nginx');
  if (nginx) {
    const dir = dirFor(tmp, 'backend');
    const largeFile = join(dir, 'large.bin');
    writeFileSync(largeFile, Buffer.alloc(LARGE_BYTES, 'x'), { mode: 0o644 });
    const conf = join(dir, 'nginx.conf');
    const proxyPort = await freePort();
    writeFileSync(conf, nginxBackendConf({ dir, port, proxyPort, largeFile, fdLimit: fdLimit(), clients: idleConns }));
    const proc = await launch('direct', [nginx, ['-p', dir, '-c', conf, '-g', 'daemon off;']], port, READY_MS);
    return { kind: 'nginx', port, proxyPort, pid: proc.pid, stop: () => stopGroup(proc) };
  }
  const proc = await launch('direct', nodeScript(repo, 'bench/e2e/node-backend.ts', [String(port)]), port, READY_MS);
  return { kind: 'node', port, proxyPort: undefined, pid: proc.pid, stop: () => stopGroup(proc) };
}

type Starter = (ctx: TargetContext, port: number) => Promise<[string, string[]] | string>;

/** Each returns the command to run, or a string saying why the target is unavailable. */
const STARTERS: Record<Exclude<BuiltinTarget, 'direct' | 'fulcrum+dashboard'>, Starter> = {
  minimal: async (ctx, port) => nodeScript(ctx.repo, 'bench/minimal-proxy.ts', [String(port), String(ctx.backend.port), HOST]),

  raw: async (ctx, port) => nodeScript(ctx.repo, 'bench/raw-proxy.ts', [String(port), String(ctx.backend.port), HOST]),

  fulcrum: async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/main.ts'))) return 'src/main.ts does not exist yet';
    return fulcrumCommand(ctx.repo, ctx, port);
  },

  'fulcrum+controls': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/main.ts'))) return 'src/main.ts does not exist yet';
    const [cmd, args] = fulcrumCommand(ctx.repo, ctx, port);
    return [cmd, [...args, ...CONTROLS_ARGS]];
  },

  // The JSON access log to a file (in the run's temporary directory): its row beside `fulcrum` is what logging every connection costs.
  'fulcrum+accesslog': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/observability/access-log/access-log.ts'))) return 'this Fulcrum has no access log';
    const [cmd, args] = fulcrumCommand(ctx.repo, ctx, port);
    return [cmd, [...args, '--access-log', join(dirFor(ctx.tmp, `accesslog-${port}`), 'access.log'), '--access-log-format', 'json']];
  },
  // A PROXY v2 header first on every backend connection (the same Backend.sendProxy path whether the service or the backend sets it).
  'fulcrum+proxy-v2': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/proxy/first-bytes/send-header.ts'))) return 'this Fulcrum sends no PROXY header';
    if (ctx.backend.proxyPort === undefined) return 'needs the nginx backend (its proxy_protocol port)';
    return fulcrumCommand(ctx.repo, ctx, port, ['--send-proxy', 'v2'], 0, ctx.backend.proxyPort);
  },
  'fulcrum+maglev': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/strategies/maglev.ts'))) return 'this Fulcrum has no maglev strategy';
    return fulcrumCommand(ctx.repo, ctx, port, STRATEGY_ARGS['fulcrum+maglev']);
  },

  'fulcrum+lrt': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/strategies/least-response-time.ts'))) return 'this Fulcrum has no lrt strategy';
    return fulcrumCommand(ctx.repo, ctx, port, STRATEGY_ARGS['fulcrum+lrt']);
  },

  'fulcrum+accept-proxy': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/proxy/accept-first-bytes.ts'))) return 'this Fulcrum has no acceptProxy';
    const [cmd, args] = fulcrumCommand(ctx.repo, ctx, port);
    return [cmd, [...args, '--accept-proxy']];
  },

  'fulcrum+sni': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/proxy/port.ts'))) return 'this Fulcrum has no SNI routing';
    const file = join(dirFor(ctx.tmp, `sni-${port}`), 'fulcrum.yaml');
    const backend = `${HOST}:${ctx.backend.port}`;
    writeFileSync(file, [
      'defaults:', '  algo: rr', '  health: { interval: 0 }',
      'services:',
      `  - { name: tls, listen: "${HOST}:${port}", sni: [a.test, "*.b.test"], backends: ["${backend}"] }`,
      `  - { name: rest, listen: "${HOST}:${port}", backends: ["${backend}"] }`,
      '',
    ].join('\n'));
    return nodeScript(ctx.repo, 'src/main.ts', ['--config', file, '--admin', `${HOST}:0`, '--log-level', 'warn', ...ctx.fulcrumArgs]);
  },

  // The same Fulcrum on its other data plane (net.Socket, src/proxy/stream/): what the raw handles save.
  'fulcrum-stream': async (ctx, port) => {
    if (!existsSync(join(ctx.repo, 'src/proxy/stream/listener.ts'))) return 'this Fulcrum has no stream data plane';
    return fulcrumCommand(ctx.repo, ctx, port, ['--data-plane', 'stream']);
  },

  haproxy: async (ctx, port) => {
    const haproxy = findExecutable('haproxy');
    if (!haproxy) return 'haproxy is not installed';
    const conf = join(dirFor(ctx.tmp, `haproxy-${port}`), 'haproxy.cfg');
    // haproxy refuses to start if maxconn needs more fds than it may open (two per connection, plus its own).
    const maxconn = Math.min(Math.floor((fdLimit() - 100) / 2), Math.max(ctx.idleConns + 512, 4096));
    writeFileSync(conf, haproxyConf(port, ctx.backend.port, maxconn));
    // -db: foreground, no daemon, no master process: one process to measure.
    return [haproxy, ['-db', '-f', conf]];
  },

  nginx: async (ctx, port) => {
    const nginx = findExecutable('nginx');
    if (!nginx) return 'nginx is not installed';
    const mod = streamModule(nginx);
    if (!mod) return 'nginx has no stream module (install libnginx-mod-stream)';
    const dir = dirFor(ctx.tmp, `nginx-stream-${port}`);
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxStreamConf({ dir, port, fdLimit: fdLimit(), clients: ctx.idleConns, backendPort: ctx.backend.port, streamModule: mod.load }));
    return [nginx, ['-p', dir, '-c', conf, '-g', 'daemon off;']];
  },
};

export async function startTarget(name: TargetName, ctx: TargetContext): Promise<Started> {
  if (name === 'direct') {
    const target: Running = { name, port: ctx.backend.port, pid: undefined, stop: async () => undefined };
    return { ok: true, target };
  }
  if (name === 'fulcrum+dashboard') return startWithDashboard(ctx);
  try {
    const port = await freePort();
    // A revision runs from its own worktree (checked out on first use; throws when it cannot be).
    const cwd = isRevisionTarget(name) ? checkoutRevision(ctx.repo, name.slice(REVISION_PREFIX.length)) : ctx.repo;
    const cmd = isRevisionTarget(name)
      ? fulcrumCommand(cwd, ctx, port)
      : isScriptTarget(name)
        ? scriptCommand(name, ctx, port)
        : await STARTERS[name](ctx, port);
    if (typeof cmd === 'string') return { ok: false, name, reason: cmd };
    const fulcrum = name.startsWith('fulcrum') || isRevisionTarget(name);
    const proc = await launch(name, cmd, port, fulcrum ? FULCRUM_READY_MS : READY_MS, cwd);
    return { ok: true, target: { name, port, pid: proc.pid, stop: () => stopGroup(proc) } };
  } catch (err) {
    return { ok: false, name, reason: lastLines((err as Error).message, 2) };
  }
}

/** `fulcrum`, plus an SSE client on its /events from start to stop (a dashboard left open). */
async function startWithDashboard(ctx: TargetContext): Promise<Started> {
  const name = 'fulcrum+dashboard';
  try {
    if (!existsSync(join(ctx.repo, 'src/main.ts'))) return { ok: false, name, reason: 'src/main.ts does not exist yet' };
    const [port, adminPort] = [await freePort(), await freePort()];
    const proc = await launch(name, fulcrumCommand(ctx.repo, ctx, port, [], adminPort), port, FULCRUM_READY_MS);
    let client;
    try {
      client = await openDashboard(adminPort);
    } catch (err) {
      await stopGroup(proc);
      throw err;
    }
    const stop = async () => {
      const n = client.snapshots();
      client.close();
      await stopGroup(proc);
      if (n === 0) console.error(`${name}: the dashboard stream sent no snapshot`);
    };
    return { ok: true, target: { name, port, pid: proc.pid, stop } };
  } catch (err) {
    return { ok: false, name, reason: lastLines((err as Error).message, 2) };
  }
}
