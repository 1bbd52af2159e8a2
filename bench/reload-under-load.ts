/**
 * New connections/s through Fulcrum while it reloads every second.
 *
 *   npm run bench:reload-under-load                       # 20 s
 *   npm run bench:reload-under-load -- --duration 30 --idle-services 99
 *
 * One real process (`node --import tsx src/main.ts -c FILE`) with one service
 * (round robin, active checks off) in front of bench/e2e/node-backend.ts;
 * tools/loadgen.ts `--close` (one connection per request, 50 at a time) for
 * the whole run. The rate per second is read from the process's own counter
 * (`fulcrum_connections_accepted_total` on GET /metrics, once a second). In
 * the second half, every second, the file is rewritten with the backend's
 * weight changed (1 ↔ 2) and the process gets SIGHUP, so every reload
 * rebuilds the service's backend set and strategy. `--idle-services N` adds
 * N services of 100 unreachable backends each (re-weighted too; strategy
 * `--idle-algo`, default wrr), to reload a large file under load. The load generator, the backend and Fulcrum share
 * the machine's cores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installSignalHandlers, killAllSync, onCleanup, sleep, spawnGroup, stopGroup, type Spawned } from './e2e/children.ts';
import { freePort, HOST, waitForPort } from './e2e/net-util.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '50' },
    'idle-services': { type: 'string', default: '0' },
    'idle-algo': { type: 'string', default: 'wrr' },
  },
});
const durationS = Number(values.duration);
const idleServices = Number(values['idle-services']);
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

function configText(listen: number, admin: number, backend: number, weight: number): string {
  const lines = [
    `admin: { listen: ${HOST}:${admin} }`,
    'log: { level: warn }',
    'defaults:',
    '  health: { interval: 0s }',
    'services:',
    `  - name: web`,
    `    listen: ${HOST}:${listen}`,
    `    algo: rr`,
    `    backends: [ "${HOST}:${backend}@${weight}" ]`,
  ];
  for (let i = 0; i < idleServices; i++) {
    lines.push(`  - name: idle-${i}`, `    listen: ${HOST}:0`, `    algo: ${values['idle-algo']}`, `    backends:`);
    for (let j = 0; j < 100; j++) lines.push(`      - ${HOST}:${20_000 + j}@${weight}`);
  }
  return `${lines.join('\n')}\n`;
}

const node = (script: string, args: string[]): [string, string[]] => [process.execPath, ['--import', 'tsx', join(REPO, script), ...args]];

async function metric(adminPort: number, name: string, labels: string): Promise<number> {
  const res = await fetch(`http://${HOST}:${adminPort}/metrics`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function summary(rates: readonly number[]): { mean: number; sd: number; min: number } {
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(1, rates.length - 1));
  return { mean, sd, min: Math.min(...rates) };
}

async function main(): Promise<void> {
  installSignalHandlers();
  const tmp = mkdtempSync(join(tmpdir(), 'fulcrum-reload-load-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const file = join(tmp, 'fulcrum.yaml');
  const [listen, admin, backendPort] = [await freePort(), await freePort(), await freePort()];
  const procs: Spawned[] = [];
  try {
    const backend = spawnGroup(...node('bench/e2e/node-backend.ts', [String(backendPort)]));
    procs.push(backend);
    await waitForPort(backendPort, backend, 10_000);
    writeFileSync(file, configText(listen, admin, backendPort, 1));
    const fulcrum = spawnGroup(...node('src/main.ts', ['-c', file]), { cwd: REPO });
    procs.push(fulcrum);
    await waitForPort(listen, fulcrum, 30_000);
    await waitForPort(admin, fulcrum, 5_000);

    const counter = () => metric(admin, 'fulcrum_connections_accepted_total', 'service="web"');
    const loadStart = loadavg()[0]!;
    const gen = spawnGroup(...node('tools/loadgen.ts', ['--url', `http://${HOST}:${listen}/small`, '-c', String(values.connections), '-d', String(durationS), '--close']));
    procs.push(gen);
    // Wait for the first connections, then sample once a second for durationS - 1 seconds.
    let last = { t: performance.now(), n: await counter() };
    while (last.n === 0 && !gen.hasExited()) {
      await sleep(20);
      last = { t: performance.now(), n: await counter() };
    }
    const rates: { second: number; rate: number; reload: boolean }[] = [];
    const reloadFrom = Math.floor(durationS / 2);
    let weight = 1;
    let hups = 0;
    for (let s = 1; s < durationS; s++) {
      const reload = s > reloadFrom;
      if (reload) {
        // Mid-second, so that the reload falls inside this sample.
        await sleep(500 - (performance.now() - last.t));
        weight = weight === 1 ? 2 : 1;
        writeFileSync(file, configText(listen, admin, backendPort, weight));
        process.kill(fulcrum.pid, 'SIGHUP');
        hups++;
      }
      await sleep(1000 - (performance.now() - last.t));
      const now = { t: performance.now(), n: await counter() };
      rates.push({ second: s, rate: ((now.n - last.n) * 1000) / (now.t - last.t), reload });
      last = now;
    }
    await gen.exited;
    const result = JSON.parse(gen.tail().trim().split('\n').pop() ?? '{}') as { requests?: number; errors?: number; non2xx?: number };
    const reloads = await metric(admin, 'fulcrum_config_reloads_total', 'result="success"');
    const failed = await metric(admin, 'fulcrum_config_reloads_total', 'result="failure"');

    // The first second is the generator and the JIT warming up; left out of the halves.
    const calm = summary(rates.filter((r) => !r.reload && r.second > 1).map((r) => r.rate));
    const busy = summary(rates.filter((r) => r.reload).map((r) => r.rate));
    const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
    const out = [
      `One service (rr, 1 node backend, active checks off) in \`node --import tsx src/main.ts -c FILE\`` +
        (idleServices > 0 ? `, plus ${idleServices} idle services (${values['idle-algo']}) × 100 backends in the same file` : '') +
        `; tools/loadgen.ts --close -c ${values.connections} for ${durationS} s; SIGHUP once a second from second ${reloadFrom + 1} ` +
        `(${hups} sent, ${reloads} reloads applied, ${failed} refused). 1-min load average ${loadStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end.`,
      '',
      `| second | ${rates.map((r) => `${r.second}${r.reload ? ' (HUP)' : ''}`).join(' | ')} |`,
      `|---|${rates.map(() => '---:').join('|')}|`,
      `| conn/s | ${rates.map((r) => fmt(r.rate)).join(' | ')} |`,
      '',
      '| half | mean conn/s | sd | min |',
      '|---|---:|---:|---:|',
      `| no reloads (s 2–${reloadFrom}) | ${fmt(calm.mean)} | ${fmt(calm.sd)} | ${fmt(calm.min)} |`,
      `| a reload every second (s ${reloadFrom + 1}–${durationS - 1}) | ${fmt(busy.mean)} | ${fmt(busy.sd)} | ${fmt(busy.min)} |`,
      '',
      `Reloading ÷ calm: ${(busy.mean / calm.mean).toFixed(3)}; difference ${fmt(busy.mean - calm.mean)} conn/s against a calm sd of ${fmt(calm.sd)}. ` +
        `loadgen: ${fmt(result.requests ?? NaN)} requests, ${result.errors ?? '?'} errors, ${result.non2xx ?? '?'} non-2xx.`,
      '',
    ].join('\n');
    process.stdout.write(out);
  } finally {
    for (const p of procs.reverse()) await stopGroup(p);
    killAllSync();
  }
}

await main();
