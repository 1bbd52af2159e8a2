/**
 * How long a reload takes with 100 services × 100 backends: `Fulcrum.start`
 * (cold), the file's parse and validation, and `fulcrum.apply(config)` for
 * five kinds of change. Target: every apply under 100 ms.
 *
 *   npm run bench:reload                          # about 30 s
 *   npm run bench:reload -- --repeats 20
 *   node --cpu-prof --import tsx bench/reload.bench.ts --only reweight   # profile one case
 *
 * Every listener binds 127.0.0.1:0; the backends are 127.0.0.1 ports nothing
 * listens on, and active health checks are off (interval 0), so no probe and
 * no connection runs: this times the control plane alone, in one process,
 * with logging off. Each case alternates between two configs (A → B → A …),
 * so that every timed apply has the same work to do.
 *
 * bench/reload-under-load.ts (`npm run bench:reload-under-load`) is the other
 * half: connections/s through a real process while it reloads every second.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { makeConfig, makeService, type FulcrumConfig, type ServiceConfig } from '../src/config/config.ts';
import { parseConfigText } from '../src/config/file.ts';
import { Fulcrum } from '../src/fulcrum.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    backends: { type: 'string', default: '100' },
    repeats: { type: 'string', default: '10' },
    only: { type: 'string' },
    /** The strategy of every service (the `strategy` case switches half of them to least-connections). */
    algo: { type: 'string', default: 'round-robin' },
    /** maglev/sih: the table of every service (default 65537). */
    'hash-table': { type: 'string', default: '65537' },
  },
});
interface Variant {
  /** Strategy per service index. */
  readonly algo: (i: number) => string;
  readonly weight: number;
  /** First backend index of every service (1: backend 0 removed, backend `n` added). */
  readonly shift: number;
  /** First service index (10: services 0–9 removed, n–n+9 added). */
  readonly first: number;
}

const BASE: Variant = { algo: () => values.algo, weight: 1, shift: 0, first: 0 };
const BACKEND_PORT = 20_000;

function build(v: Variant, services: number, backends: number): FulcrumConfig {
  const list: ServiceConfig[] = [];
  for (let i = v.first; i < v.first + services; i++) {
    const specs = Array.from({ length: backends }, (_, j) => ({ host: '127.0.0.1', port: BACKEND_PORT + j + v.shift, weight: v.weight }));
    const hash = { key: 'client-ip', table: Number(values['hash-table']) } as const;
    list.push(makeService({ name: `svc-${i}`, listen: { host: '127.0.0.1', port: 0 }, algo: v.algo(i), backends: specs, health: { intervalMs: 0 }, hash }));
  }
  return makeConfig({ admin: { host: '127.0.0.1', port: 0 }, services: list });
}

/** The same config as a YAML file, to time what a SIGHUP does before apply. */
function yamlOf(config: FulcrumConfig): string {
  const lines = ['admin: { listen: 127.0.0.1:0 }', 'defaults:', '  health: { interval: 0s }', `  hash: { table: ${values['hash-table']} }`, 'services:'];
  for (const s of config.services) {
    lines.push(`  - name: ${s.name}`, `    listen: 127.0.0.1:0`, `    algo: ${s.algo}`, `    backends:`);
    for (const b of s.backends) lines.push(`      - ${b.host}:${b.port}@${b.weight}`);
  }
  return `${lines.join('\n')}\n`;
}

interface Row {
  readonly name: string;
  readonly what: string;
  readonly ms: number[];
}

function stats(ms: readonly number[]): { median: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! };
}

async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const services = Number(values.services);
  const backends = Number(values.backends);
  const repeats = Number(values.repeats);
  const wanted = (name: string) => values.only === undefined || values.only.split(',').includes(name);
  const base = build(BASE, services, backends);
  const rows: Row[] = [];

  if (wanted('start')) {
    const ms: number[] = [];
    for (let r = 0; r < Math.min(repeats, 5); r++) {
      let f: Fulcrum | undefined;
      ms.push(await time(async () => (f = await Fulcrum.start(base))));
      await f!.destroy();
    }
    rows.push({ name: 'cold start', what: `Fulcrum.start: ${services} listeners bound, ${(services * backends).toLocaleString('en-US')} backends registered, admin API`, ms });
  }

  if (wanted('parse')) {
    const text = yamlOf(base);
    const ms: number[] = [];
    for (let r = 0; r < repeats; r++) ms.push(await time(() => parseConfigText(text, 'bench.yaml')));
    rows.push({ name: 'parse', what: `read the YAML file (${Math.round(text.length / 1024)} KiB): parse, validate, normalise (before apply, on SIGHUP)`, ms });
  }

  const half = (i: number) => (i % 2 === 0 ? 'least-connections' : values.algo);
  const cases: { name: string; what: string; next: FulcrumConfig }[] = [
    { name: 'same', what: 'the same config (nothing to do)', next: base },
    { name: 'reweight', what: `every backend re-weighted (${(services * backends).toLocaleString('en-US')} weights)`, next: build({ ...BASE, weight: 2 }, services, backends) },
    { name: 'add-remove', what: 'one backend added and one removed in every service', next: build({ ...BASE, shift: 1 }, services, backends) },
    { name: 'strategy', what: `half the services (${services / 2}) change strategy (→ least-connections)`, next: build({ ...BASE, algo: half }, services, backends) },
    { name: 'services', what: '10 services removed (they drain) and 10 added (10 listeners bound)', next: build({ ...BASE, first: 10 }, services, backends) },
  ];
  const selected = cases.filter((c) => wanted(c.name));
  if (selected.length > 0) {
    const fulcrum = await Fulcrum.start(base);
    try {
      for (const c of selected) {
        const ms: number[] = [];
        // A → B → A → …: every apply but the no-op one does the same work, one way or back.
        for (let r = 0; r < repeats; r++) ms.push(await time(() => fulcrum.apply(r % 2 === 0 ? c.next : base)));
        if (repeats % 2 === 1) await fulcrum.apply(base);
        rows.push({ name: c.name, what: c.what, ms });
      }
    } finally {
      await fulcrum.destroy();
    }
  }

  const fmt = (v: number) => v.toFixed(1);
  const out = [
    `${services} services × ${backends} backends, strategy ${values.algo}; listeners on 127.0.0.1:0, backends on 127.0.0.1 ports nothing listens on, ` +
      `active health checks off (interval 0: no probe runs), logging off. Node ${process.version}. ` +
      `${repeats} runs per case (cold start: ${Math.min(repeats, 5)}), alternating between the two configs.`,
    '',
    '| case | what changes | median (ms) | max (ms) |',
    '|---|---|---:|---:|',
    ...rows.map((r) => {
      const s = stats(r.ms);
      return `| ${r.name} | ${r.what} | ${fmt(s.median)} | ${fmt(s.max)} |`;
    }),
    '',
  ].join('\n');
  process.stdout.write(out);
  const over = rows.filter((r) => r.name !== 'cold start' && r.name !== 'parse' && stats(r.ms).max >= 100);
  if (over.length > 0) process.stdout.write(`\nOver the 100 ms target: ${over.map((r) => r.name).join(', ')}\n`);
}

await main();
