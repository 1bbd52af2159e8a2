/**
 * Start-up time and idle memory of `fulcrum --listen 0 --admin 0` run with
 * Node's own type stripping and with the tsx loader, on the Node running this
 * script. Start-up: from spawn to the admin listening line (both listeners
 * up). Idle RSS: VmRSS one second later, no connection, probes off.
 *
 *   npm run bench:startup [-- --runs 10]     (on the Node first on PATH)
 *
 * The first tsx run fills tsx's compile cache and is not counted (nor is the
 * first stripping run), so both columns are warm starts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stripsTypes } from '../src/runtime/ts-loader.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ARGS = ['src/main.ts', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '0', '--log-level', 'warn'];
const SETTLE_MS = 1000;

interface Sample {
  startMs: number;
  rssKiB: number;
}

async function once_(execArgv: string[]): Promise<Sample> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...execArgv, ...ARGS], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/admin listening/.test(out)) await once(child.stdout, 'data');
  const startMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
  child.kill('SIGTERM');
  await once(child, 'exit');
  return { startMs, rssKiB };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);
const modes: Array<[string, string[]]> = [['tsx loader', ['--import', 'tsx']]];
if (stripsTypes) modes.unshift(['type stripping', []]);
else console.log(`Node ${process.version} does not strip types here; only the tsx row is measured`);

console.log(`Node ${process.version}, ${runs} warm runs each (medians)`);
console.log('| mode | start-up to listening (ms) | idle RSS (MiB) |\n|---|---:|---:|');
for (const [name, execArgv] of modes) {
  await once_(execArgv); // warm-up: tsx's compile cache, the page cache
  const samples: Sample[] = [];
  // Interleaving would be fairer on a noisy machine; one mode at a time keeps each mode's cache warm.
  for (let i = 0; i < runs; i++) samples.push(await once_(execArgv));
  const ms = median(samples.map((s) => s.startMs));
  const mib = median(samples.map((s) => s.rssKiB)) / 1024;
  console.log(`| ${name} | ${ms.toFixed(0)} | ${mib.toFixed(1)} |`);
}
