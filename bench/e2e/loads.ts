/**
 * The loads, each run against one target for a bounded time, with the CPU
 * time the target's process tree spent during it. wrk drives the throughput
 * loads when installed (it costs the shared cores less than a Node client);
 * tools/loadgen.ts drives them otherwise, and always drives the fixed-rate
 * latency load, which wrk cannot do.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnGroup, stopGroup, type Spawned } from './children.ts';
import { HOST, lastLines } from './net-util.ts';
import { treeCpuUs } from './proc.ts';

export const LOAD_NAMES = ['keepalive', 'close', 'large', 'latency', 'memory'] as const;
export type LoadName = (typeof LOAD_NAMES)[number];
export type TrafficLoad = Exclude<LoadName, 'memory'>;

export interface LoadSettings {
  readonly durationS: number;
  /** Connections for the small-response loads (keep-alive and Connection: close). */
  readonly connections: number;
  readonly largeConnections: number;
  readonly rate: number;
  readonly rateConnections: number;
  /** Path to wrk, or undefined to use tools/loadgen.ts for everything. */
  readonly wrk: string | undefined;
  readonly tmp: string;
  readonly repo: string;
}

export interface LoadResult {
  readonly requests: number;
  readonly bytes: number;
  readonly durationS: number;
  /** Socket errors, timeouts and non-2xx answers together. */
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time of the balancer's process tree during the load; undefined without a balancer. */
  readonly cpuUs: number | undefined;
  readonly tool: 'wrk' | 'loadgen';
  /** Fixed-rate runs: the longest the generator's own scheduler stalled, which inflates p99 for any target. */
  readonly generatorStallMs?: number;
}

interface Shape {
  path: string;
  connections: number;
  close: boolean;
  rate: number;
}

function shapeOf(load: TrafficLoad, s: LoadSettings): Shape {
  switch (load) {
    case 'keepalive':
      return { path: '/small', connections: s.connections, close: false, rate: 0 };
    case 'close':
      return { path: '/small', connections: s.connections, close: true, rate: 0 };
    case 'large':
      return { path: '/large', connections: s.largeConnections, close: false, rate: 0 };
    case 'latency':
      return { path: '/small', connections: s.rateConnections, close: false, rate: s.rate };
  }
}

/** wrk's summary as one JSON line, so we never parse its human-readable units. */
const WRK_SCRIPT = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\\"requests\\":%.0f,\\"bytes\\":%.0f,\\"durationUs\\":%.0f,\\"errors\\":%.0f,\\"p50Us\\":%.0f,\\"p99Us\\":%.0f}\\n",
    summary.requests, summary.bytes, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

async function runChild(proc: Spawned, limitS: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), limitS * 1000)));
  const outcome = await Promise.race([proc.exited, timedOut]);
  clearTimeout(timer);
  await stopGroup(proc, 500);
  if (outcome === 'timeout') throw new Error(`load generator still running after ${limitS} s: ${lastLines(proc.tail())}`);
  return proc.tail();
}

/**
 * With `proxyHeader`, each request starts with a PROXY v1 line: right for
 * `Connection: close` only (one request per connection), the one load an
 * `acceptProxy` target runs (see `loadsFor`).
 */
const proxyScript = (port: number): string =>
  // wrk checks the first request the script makes and refuses one that is not HTTP: that first one (never sent) goes without the line.
  `local hdr = "PROXY TCP4 192.0.2.1 127.0.0.1 40000 ${port}\\r\\n"\nlocal calls = 0\n` +
  `request = function() calls = calls + 1 if calls == 1 then return wrk.format() end return hdr .. wrk.format() end\n`;

async function viaWrk(wrk: string, port: number, shape: Shape, s: LoadSettings, proxyHeader = false): Promise<Omit<LoadResult, 'cpuUs'>> {
  const script = join(s.tmp, proxyHeader ? 'summary-proxy.lua' : 'summary.lua');
  writeFileSync(script, proxyHeader ? proxyScript(port) + WRK_SCRIPT : WRK_SCRIPT);
  const args = ['-t1', `-c${shape.connections}`, `-d${s.durationS}s`, '--timeout', '5s', '-s', script];
  if (shape.close) args.push('-H', 'Connection: close');
  args.push(`http://${HOST}:${port}${shape.path}`);
  const out = await runChild(spawnGroup(wrk, args), s.durationS + 20);
  const line = /^WRKJSON (.*)$/m.exec(out);
  if (!line) throw new Error(`wrk printed no summary: ${lastLines(out)}`);
  const j = JSON.parse(line[1]!) as { requests: number; bytes: number; durationUs: number; errors: number; p50Us: number; p99Us: number };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requests: j.requests,
    bytes: j.bytes,
    durationS: j.durationUs / 1e6,
    errors: j.errors + non2xx,
    p50Ms: j.p50Us / 1000,
    p99Ms: j.p99Us / 1000,
    tool: 'wrk',
  };
}

async function viaLoadgen(port: number, shape: Shape, s: LoadSettings): Promise<Omit<LoadResult, 'cpuUs'>> {
  const args = ['--import', 'tsx', join(s.repo, 'tools/loadgen.ts'), '--url', `http://${HOST}:${port}${shape.path}`];
  args.push('-c', String(shape.connections), '-d', String(s.durationS), '--rate', String(shape.rate));
  if (shape.close) args.push('--close');
  const out = await runChild(spawnGroup(process.execPath, args), s.durationS + 30);
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`loadgen printed no result: ${lastLines(out)}`);
  const j = JSON.parse(line) as { requests: number; bytes: number; durationS: number; errors: number; non2xx: number; latencyMs: { p50: number; p99: number }; maxTickGapMs?: number };
  return {
    requests: j.requests,
    bytes: j.bytes,
    durationS: j.durationS,
    errors: j.errors + j.non2xx,
    p50Ms: j.latencyMs.p50,
    p99Ms: j.latencyMs.p99,
    tool: 'loadgen',
    ...(j.maxTickGapMs !== undefined ? { generatorStallMs: j.maxTickGapMs } : {}),
  };
}

/** Runs one load against `port`, charging CPU to the tree under `pid` when there is one. */
export async function runLoad(load: TrafficLoad, port: number, pid: number | undefined, s: LoadSettings, proxyHeader = false): Promise<LoadResult> {
  const shape = shapeOf(load, s);
  if (proxyHeader && (!s.wrk || !shape.close)) throw new Error('a PROXY header before each request needs wrk and Connection: close');
  const before = pid === undefined ? 0 : treeCpuUs(pid);
  const r = s.wrk && shape.rate === 0 ? await viaWrk(s.wrk, port, shape, s, proxyHeader) : await viaLoadgen(port, shape, s);
  const cpuUs = pid === undefined ? undefined : treeCpuUs(pid) - before;
  return { ...r, cpuUs };
}
