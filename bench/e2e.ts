/**
 * End-to-end benchmark: the same loads, in interleaved rounds, against the
 * backend directly, a minimal Node proxy, Fulcrum, HAProxy and nginx stream;
 * prints one markdown table of medians and writes it to bench/results/latest.md.
 *
 *   npm run bench:e2e                       # ~6 minutes
 *   npm run bench:e2e -- --quick            # ~1 minute
 *   npm run bench:e2e -- --targets direct,fulcrum --loads keepalive --fulcrum-args="--workers 2"
 *
 * Rounds are interleaved (every target once per round, in rotated order) so
 * that noise from the shared machine lands on every target alike; medians
 * over rounds then discard the outliers. The CPU-time figures are the fairest
 * comparison here: throughput on two shared cores depends on how the load
 * generator, the backend and the balancer happen to be scheduled.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installSignalHandlers, killAllSync, onCleanup, startWatchdog } from './e2e/children.ts';
import { findExecutable } from './e2e/net-util.ts';
import { runLoad, type LoadName, type LoadSettings, type TrafficLoad } from './e2e/loads.ts';
import { measureIdleConnections } from './e2e/memory.ts';
import { parseOptions, USAGE, type Options } from './e2e/options.ts';
import { ACCEPT_PROXY_TARGET, startBackend, startTarget, type Backend, type Running, type TargetContext, type TargetName } from './e2e/targets.ts';
import { isRevisionTarget } from './e2e/revision.ts';
import { renderTable, rowSpecs, Samples, type Column, type Figure } from './e2e/table.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MIB = 2 ** 20;

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const num = (v: number, digits = 0): string => v.toLocaleString('en-US', { maximumFractionDigits: digits });

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What every measurement needs; one per run. */
interface Run {
  readonly opts: Options;
  readonly settings: LoadSettings;
  readonly ctx: TargetContext;
  readonly samples: Samples;
  /** Fewest idle connections any target held, for the row label. */
  minOpen: number;
  /**
   * p99s of latency runs in which the generator itself stalled, per target:
   * such a run measures the machine, so they count only for a target that has
   * no clean run at all.
   */
  readonly stalledP99: Map<TargetName, number[]>;
}

const STALL_MS = 10;

/** Records one traffic load's figures; returns a one-line summary for the progress log. */
async function measureTraffic(load: TrafficLoad, t: Running, { settings, samples, stalledP99 }: Run): Promise<string> {
  const proxied = t.name === ACCEPT_PROXY_TARGET;
  if (proxied && load !== 'close') return ''; // one request per connection only (see targets.ts)
  const r = await runLoad(load, t.port, t.pid, settings, proxied);
  const perReq = r.cpuUs !== undefined && r.requests > 0 ? r.cpuUs / r.requests : undefined;
  const errs = r.errors > 0 ? `, ${num(r.errors)} errors` : '';
  const cpu = (unit: string): string => (perReq !== undefined ? `, cpu ${num(perReq, 1)} µs/${unit}` : '');
  switch (load) {
    case 'keepalive':
      samples.add(t.name, 'keepalive.rps', r.requests / r.durationS);
      samples.add(t.name, 'keepalive.cpuPerReq', perReq);
      return `${num(r.requests / r.durationS)} req/s${cpu('req')}${errs}`;
    case 'close':
      samples.add(t.name, 'close.cps', r.requests / r.durationS);
      samples.add(t.name, 'close.cpuPerConn', perReq);
      return `${num(r.requests / r.durationS)} conn/s${cpu('conn')}${errs}`;
    case 'large': {
      const mib = r.bytes / MIB;
      samples.add(t.name, 'large.mibps', mib / r.durationS);
      samples.add(t.name, 'large.cpuPerMiB', r.cpuUs !== undefined && mib > 0 ? r.cpuUs / mib : undefined);
      return `${num(mib / r.durationS)} MiB/s${errs}`;
    }
    case 'latency': {
      samples.add(t.name, 'latency.p50', r.p50Ms);
      // A generator that went unscheduled for many ms means a busy machine, not a slow target.
      const stalled = (r.generatorStallMs ?? 0) > STALL_MS;
      if (stalled) stalledP99.set(t.name, [...(stalledP99.get(t.name) ?? []), r.p99Ms]);
      else samples.add(t.name, 'latency.p99', r.p99Ms);
      const stall = stalled ? `, generator stalled ${num(r.generatorStallMs!, 0)} ms` : '';
      return `p50 ${num(r.p50Ms, 3)} ms, p99 ${num(r.p99Ms, 3)} ms over ${num(r.requests)} requests${errs}${stall}`;
    }
  }
}

/**
 * The memory figure comes from a fresh instance of the target, started for the
 * purpose and stopped after: a process that just served a load is still
 * shrinking its heap, and V8's memory reducer firing mid-test once made the
 * per-connection cost come out negative.
 */
async function measure(load: LoadName, t: Running, run: Run): Promise<string | undefined> {
  if (load !== 'memory') return measureTraffic(load, t, run);
  if (t.pid === undefined || t.name === ACCEPT_PROXY_TARGET) return undefined;
  const fresh = await startTarget(t.name, run.ctx);
  if (!fresh.ok) throw new Error(`could not start a fresh instance: ${fresh.reason}`);
  try {
    const m = await measureIdleConnections(fresh.target.port, fresh.target.pid!, run.opts.idleConns, REPO);
    run.samples.add(t.name, 'memory.rssIdleMiB', m.rssIdleKiB / 1024);
    run.samples.add(t.name, 'memory.kibPerConn', m.kibPerConn);
    run.minOpen = Math.min(run.minOpen, m.open);
    const failed = m.failed > 0 ? ` (${num(m.failed)} could not be opened)` : '';
    return `RSS ${num(m.rssIdleKiB / 1024, 1)} → ${num(m.rssLoadedKiB / 1024, 1)} MiB with ${num(m.open)} open${failed}: ${num(m.kibPerConn, 1)} KiB/conn`;
  } finally {
    await fresh.target.stop();
  }
}

/** For `fulcrum+dashboard`, `fulcrum+controls`, `fulcrum+accesslog`, `fulcrum+proxy-v2`, `fulcrum+maglev`, `fulcrum+lrt`, `fulcrum+accept-proxy` and `fulcrum+sni`: it ÷ `fulcrum`; for each `fulcrum@REV` beside `fulcrum`: today ÷ that revision; medians of per-round ratios. */
function pairedLines(running: readonly Running[], samples: Samples): string[] {
  if (!running.some((t) => t.name === 'fulcrum')) return [];
  const figures: [Figure, string][] = [
    ['keepalive.rps', 'keep-alive req/s'],
    ['close.cps', 'close conn/s'],
    ['large.mibps', '1 MiB MiB/s'],
    ['keepalive.cpuPerReq', 'CPU/request'],
    ['close.cpuPerConn', 'CPU/connection'],
    ['large.cpuPerMiB', 'CPU/MiB'],
  ];
  const beside = (name: 'fulcrum+dashboard' | 'fulcrum+controls' | 'fulcrum+accesslog' | 'fulcrum+proxy-v2' | 'fulcrum+maglev' | 'fulcrum+lrt' | 'fulcrum+accept-proxy' | 'fulcrum+sni', what: string) =>
    running.some((t) => t.name === name)
      ? [`${name} ÷ fulcrum (${what}), median of the per-round ratios: ${figures.flatMap(([f, label]) => {
          const r = samples.pairedRatio(name, 'fulcrum', f);
          return r === undefined ? [] : [`${label} ${r.toFixed(2)}`];
        }).join(', ')}.`]
      : [];
  const dashboard = beside('fulcrum+dashboard', "a dashboard's event stream open");
  const controls = beside('fulcrum+controls', 'limits, per-IP limits and rate, a deny list and a queue configured, none hit');
  const accessLog = beside('fulcrum+accesslog', 'a JSON access-log line per connection to a file');
  const proxyV2 = beside('fulcrum+proxy-v2', 'a PROXY v2 header to each backend connection, to nginx listening with proxy_protocol');
  const maglev = beside('fulcrum+maglev', 'maglev with hashBalanceFactor 125 instead of rr');
  const lrt = beside('fulcrum+lrt', 'lrt, every connect timed, instead of rr');
  const acceptProxy = beside('fulcrum+accept-proxy', '--accept-proxy, a PROXY v1 line before each request; close load only');
  const sni = beside('fulcrum+sni', 'two services on one address by sni, plain HTTP to the default: first bytes read, routed, replayed');
  return [...dashboard, ...controls, ...accessLog, ...proxyV2, ...maglev, ...lrt, ...acceptProxy, ...sni, ...running.filter((t) => isRevisionTarget(t.name)).map((t) => {
    const parts = figures.flatMap(([f, label]) => {
      const r = samples.pairedRatio('fulcrum', t.name, f);
      return r === undefined ? [] : [`${label} ${r.toFixed(2)}`];
    });
    return `fulcrum ÷ ${t.name}, median of the per-round ratios: ${parts.join(', ')}.`;
  })];
}

const load1 = (): string => loadavg()[0]!.toFixed(2);

function header(opts: Options, backend: Backend, wrk: string | undefined, started: Date, loadAtStart: string): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const elapsedS = (Date.now() - started.getTime()) / 1000;
  return [
    `# Fulcrum end-to-end benchmark`,
    ``,
    `${started.toISOString()} · ${cpus().length} × ${cpu} · Node ${process.version} · 1-min load average ${loadAtStart} at start, ${load1()} at end`,
    ``,
    `Backend: ${backend.kind} (1 worker) serving \`/small\` ("ok\\n") and \`/large\` (1 MiB). ` +
      `Loads: ${wrk ? 'wrk -t1' : 'tools/loadgen.ts'} for throughput, tools/loadgen.ts (fixed rate, latency from the scheduled time when a request had to queue) for latency. ` +
      `${opts.rounds} interleaved rounds of ${opts.durationS} s per load; medians shown. Run took ${Math.round(elapsedS)} s.`,
    ``,
    ``,
  ].join('\n');
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    log(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  installSignalHandlers();
  const started = new Date();
  const loadAtStart = load1();
  const tmp = mkdtempSync(join(tmpdir(), 'fulcrum-e2e-'));
  chmodSync(tmp, 0o755); // nginx workers run as nobody when started by root
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  startWatchdog(tmp);

  const wrk = opts.noWrk ? undefined : findExecutable('wrk');
  const settings: LoadSettings = { ...opts, wrk, tmp, repo: REPO };
  const samples = new Samples();
  const notes: string[] = [];
  const running: Running[] = [];
  const columns: Column[] = [];
  let backend: Backend | undefined;
  try {
    backend = await startBackend(tmp, REPO, opts.nodeBackend, opts.idleConns);
    log(`backend: ${backend.kind} on 127.0.0.1:${backend.port}; load tool: ${wrk ?? 'tools/loadgen.ts'}`);
    const ctx: TargetContext = { tmp, repo: REPO, backend, fulcrumArgs: opts.fulcrumArgs, idleConns: opts.idleConns };
    const run: Run = { opts, settings, ctx, samples, minOpen: Infinity, stalledP99: new Map() };
    for (const name of opts.targets) {
      const s = await startTarget(name, ctx);
      if (s.ok) running.push(s.target);
      columns.push(s.ok ? { name } : { name, unavailable: s.reason });
      log(s.ok ? `${name}: ready on 127.0.0.1:${s.target.port}` : `${name}: unavailable (${s.reason})`);
      if (!s.ok) notes.push(`**${name}** unavailable: ${s.reason}`);
    }

    const warm = { ...settings, durationS: opts.warmupS };
    for (const t of running) await runLoad(t.name === ACCEPT_PROXY_TARGET ? 'close' : 'keepalive', t.port, t.pid, warm, t.name === ACCEPT_PROXY_TARGET).catch(() => undefined);

    const dead = new Set<TargetName>();
    for (let round = 0; round < opts.rounds; round++) {
      // Rotate the order so no target always runs first (or right after the memory test of another).
      const order = running.map((_, i) => running[(i + round) % running.length]!);
      samples.startRound(round);
      for (const t of order) {
        for (const load of opts.loads) {
          if (dead.has(t.name)) continue;
          if (!alive(t.pid)) {
            dead.add(t.name);
            notes.push(`**${t.name}** exited during round ${round + 1}; later rounds skipped it.`);
            log(`${t.name}: process exited; skipping it from now on`);
            continue;
          }
          try {
            const line = await measure(load, t, run);
            if (line) log(`round ${round + 1}/${opts.rounds} ${t.name.padEnd(7)} ${load.padEnd(9)} ${line}`);
          } catch (err) {
            notes.push(`round ${round + 1}, ${t.name}, ${load}: ${(err as Error).message}`);
            log(`round ${round + 1}/${opts.rounds} ${t.name} ${load}: FAILED ${(err as Error).message}`);
          }
        }
      }
    }

    const stallOnly = [...run.stalledP99].filter(([name]) => samples.median(name, 'latency.p99') === undefined);
    for (const [name, p99s] of stallOnly) for (const v of p99s) samples.add(name, 'latency.p99', v);
    const idleShown = Number.isFinite(run.minOpen) ? run.minOpen : opts.idleConns;
    const rows = rowSpecs({ ...opts, idleConns: idleShown }).filter((r) => opts.loads.includes(r.figure.split('.')[0] as LoadName));
    const table = renderTable(rows, columns, samples);
    const footer = [
      ``,
      `Ratios are target ÷ reference: above 1 is better for rates, worse for latency, CPU and memory. ` +
        `"Balancer" rows charge the whole process tree (nginx master + worker, Fulcrum workers) from /proc; \`direct\` has no balancer.`,
      ...(opts.loads.includes('memory') && opts.idleConnsWhy && opts.idleConns !== 10_000
        ? [`The idle test held ${num(opts.idleConns)} connections rather than 10,000 (${opts.idleConnsWhy}).`]
        : []),
      ...(run.stalledP99.size > 0
        ? [`p99 is the median of the latency runs in which the generator was never unscheduled for over ${STALL_MS} ms; ` +
            `it was in ${[...run.stalledP99].map(([name, v]) => `${v.length}/${opts.rounds} ${name}`).join(', ')} runs (a busy machine)` +
            (stallOnly.length > 0 ? `, and in all of them for ${stallOnly.map(([n]) => n).join(', ')}, whose p99 is therefore unreliable.` : '.')]
        : []),
      ...pairedLines(running, samples),
      ...(idleShown < opts.idleConns ? [`Only ${num(idleShown)} of ${num(opts.idleConns)} idle connections stayed open through some target.`] : []),
      ...(notes.length > 0 ? [``, `Notes:`, ...notes.map((n) => `- ${n}`)] : []),
      ``,
    ].join('\n');
    const doc = `${header(opts, backend, wrk, started, loadAtStart)}${table}\n${footer}`;
    process.stdout.write(`\n${doc}`);
    const out = resolve(REPO, opts.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, doc);
    log(`written to ${out}`);
    return 0;
  } catch (err) {
    log(`e2e benchmark failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    for (const t of running) await t.stop();
    await backend?.stop();
    killAllSync();
  }
}

process.exitCode = await main();
