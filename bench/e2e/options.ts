/**
 * Command-line flags (and E2E_* environment variables) for bench/e2e.ts,
 * validated once into a frozen options object.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_TARGETS, SCRIPT_PREFIX, TARGET_NAMES, isScriptTarget, type TargetName } from './targets.ts';
import { LOAD_NAMES, type LoadName } from './loads.ts';
import { fdLimit } from './proc.ts';
import { isRevisionTarget, REVISION_PREFIX } from './revision.ts';

export interface Options {
  readonly rounds: number;
  /** Seconds per load per target per round. */
  readonly durationS: number;
  /** Unmeasured keep-alive load per target before round 1 (JIT, caches, connection pools). */
  readonly warmupS: number;
  readonly targets: readonly TargetName[];
  readonly loads: readonly LoadName[];
  readonly fulcrumArgs: readonly string[];
  readonly idleConns: number;
  /** Why idleConns is not 10,000, for the table's footnote. */
  readonly idleConnsWhy: string | undefined;
  readonly connections: number;
  readonly largeConnections: number;
  readonly rate: number;
  readonly rateConnections: number;
  /** Ignore an installed wrk and drive every load with tools/loadgen.ts. */
  readonly noWrk: boolean;
  /** Ignore an installed nginx and use the Node backend. */
  readonly nodeBackend: boolean;
  readonly out: string;
}

export const USAGE = `Usage: npm run bench:e2e -- [flags]   (or: tsx bench/e2e.ts [flags])

  --quick                 about a minute: 2 rounds of 1 s loads, 2,000 idle connections
  --rounds N              interleaved rounds, medians reported          (E2E_ROUNDS, default 3)
  --duration S            seconds per load                              (E2E_DURATION, default 4)
  --targets a,b           some of ${TARGET_NAMES.join(',')}  (E2E_TARGETS, default all but raw),
                          and any ${SCRIPT_PREFIX}PATH: a proxy script taking LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
                          like bench/minimal-proxy.ts, e.g. ${SCRIPT_PREFIX}bench/levers/onread.ts (shown by file name),
                          and any ${REVISION_PREFIX}REV: Fulcrum at a git revision, from a temporary worktree,
                          with the same flags as fulcrum, e.g. ${REVISION_PREFIX}4755c11 (before/after in one run)
  --loads a,b             some of ${LOAD_NAMES.join(',')}  (E2E_LOADS, default all)
  --fulcrum-args "…"      extra Fulcrum flags, e.g. "--workers 2"        (E2E_FULCRUM_ARGS)
  --idle-conns N          connections for the memory figure             (E2E_IDLE_CONNS, default: 10,000 or what ulimit -n allows)
  --connections N         connections for keep-alive/close loads        (default 50)
  --large-connections N   connections for the 1 MiB load                (default 10)
  --rate R                fixed request rate for the latency load       (default 2000, over 20 connections)
  --no-wrk                use tools/loadgen.ts even if wrk is installed
  --node-backend          use the Node backend even if nginx is installed
  --out FILE              markdown output                               (default bench/results/latest.md)
`;

function list<T extends string>(flag: string, text: string, valid: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!valid.includes(item as T)) throw new Error(`${flag}: unknown "${item}" (use ${valid.join(', ')})`);
  }
  if (items.length === 0) throw new Error(`${flag}: empty list (use ${valid.join(', ')})`);
  return valid.filter((v) => items.includes(v));
}

/**
 * Named targets in their usual order, as ever; `script:` ones in the order
 * given, right after `minimal` (beside the other Node proxies), before `raw`;
 * `fulcrum@REV` ones in the order given, right after `fulcrum`.
 */
function targetList(text: string): TargetName[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const scripts = [...new Set(items.filter(isScriptTarget))];
  const revisions = [...new Set(items.filter(isRevisionTarget))];
  if (scripts.length === 0 && revisions.length === 0) return list('--targets', text, TARGET_NAMES);
  const rest = items.filter((item) => !isScriptTarget(item) && !isRevisionTarget(item));
  const named = rest.length > 0 ? list('--targets', rest.join(','), TARGET_NAMES) : [];
  const upTo = (t: (typeof TARGET_NAMES)[number]): number => named.filter((n) => TARGET_NAMES.indexOf(n) <= TARGET_NAMES.indexOf(t)).length;
  const [a, b] = [upTo('minimal'), upTo('fulcrum')];
  return [...named.slice(0, a), ...scripts, ...named.slice(a, b), ...revisions, ...named.slice(b)];
}

function int(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new Error(`${flag}: "${text}" must be a number >= ${min}`);
  return n;
}

/** parseArgs refuses `--fulcrum-args "--workers 2"` (value looks like a flag); glue it as `--fulcrum-args=…`. */
function glueDashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--fulcrum-args' && i + 1 < argv.length) out.push(`${a}=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}

export function parseOptions(argv: string[], env = process.env): Options {
  const { values } = parseArgs({
    args: glueDashValues(argv),
    options: {
      quick: { type: 'boolean', default: env.E2E_QUICK === '1' },
      rounds: { type: 'string', default: env.E2E_ROUNDS },
      duration: { type: 'string', default: env.E2E_DURATION },
      targets: { type: 'string', default: env.E2E_TARGETS ?? DEFAULT_TARGETS.join(',') },
      loads: { type: 'string', default: env.E2E_LOADS ?? LOAD_NAMES.join(',') },
      'fulcrum-args': { type: 'string', default: env.E2E_FULCRUM_ARGS ?? '' },
      'idle-conns': { type: 'string', default: env.E2E_IDLE_CONNS },
      connections: { type: 'string' },
      'large-connections': { type: 'string' },
      rate: { type: 'string' },
      'no-wrk': { type: 'boolean', default: false },
      'node-backend': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results/latest.md' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick;
  // Two sockets per proxied connection, plus headroom for the proxy's own fds.
  const fdCap = Math.floor((fdLimit() - 256) / 2);
  return Object.freeze({
    rounds: Math.floor(int('--rounds', values.rounds, quick ? 2 : 3, 1)),
    // Whole seconds: wrk's -d takes no fractions.
    durationS: Math.floor(int('--duration', values.duration, quick ? 1 : 4, 1)),
    warmupS: quick ? 1 : 2,
    targets: targetList(values.targets),
    loads: list('--loads', values.loads, LOAD_NAMES),
    fulcrumArgs: values['fulcrum-args'].split(/\s+/).filter(Boolean),
    idleConns: Math.floor(int('--idle-conns', values['idle-conns'], Math.min(quick ? 2000 : 10_000, fdCap), 1)),
    idleConnsWhy:
      values['idle-conns'] !== undefined
        ? 'set by --idle-conns'
        : quick
          ? '--quick'
          : fdCap < 10_000
            ? `each costs a proxy two fds, and \`ulimit -n\` is ${fdLimit().toLocaleString('en-US')}`
            : undefined,
    connections: Math.floor(int('--connections', values.connections, 50, 1)),
    largeConnections: Math.floor(int('--large-connections', values['large-connections'], 10, 1)),
    rate: int('--rate', values.rate, 2000, 1),
    rateConnections: 20,
    noWrk: values['no-wrk'],
    nodeBackend: values['node-backend'],
    out: values.out,
  });
}
