/**
 * `npm run soak -- --duration 60s [--workers 2] [--seed N]` (issue 16): a
 * Fulcrum started from a config file takes mixed load (short connections,
 * long streams of random bytes both ways checked by sha256 at both ends,
 * half-closes) while backends are killed and restarted, registered, drained
 * and deleted over the API, the config is reloaded (POST /reload) and, with
 * workers, a worker is killed. Then it checks the invariants, prints a
 * table, and exits 1 if any failed:
 *
 * - every completed connection's bytes intact (no `corrupt` ever);
 * - no failed connection but those a fault explains: on a backend killed
 *   while it ran, or running when a worker was killed;
 * - activeConnections 0 on every backend at the end;
 * - descriptors of the balancer's processes back to the start (+ FD_MARGIN),
 *   resident memory within RSS_MARGIN of it;
 * - /metrics: connections accepted and bytes each way equal the clients'
 *   counts (exact without worker kills; a killed worker's last unreported
 *   second may be missing, and is shown).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/config/parse.ts';
import { Fleet } from './soak/fleet.ts';
import { runLoad, type Outcome } from './soak/load.ts';
import { mulberry32, processUsage, sample, type Usage } from './soak/util.ts';

const FD_MARGIN = 8;
const RSS_MARGIN = 96 * 2 ** 20;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: args } = parseArgs({
  options: { duration: { type: 'string', default: '60s' }, workers: { type: 'string', default: '2' }, seed: { type: 'string' }, quiet: { type: 'boolean', default: false } },
});
const durationMs = parseDuration('--duration', args.duration!);
const workers = Number(args.workers);
const seed = args.seed === undefined ? Date.now() % 1_000_000 : Number(args.seed);
const random = mulberry32(seed);
const log = (s: string) => !args.quiet && console.error(`[soak ${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}`);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const t0 = Date.now();

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const fleet = new Fleet();
const files = await Promise.all(['file-1', 'file-2', 'file-3'].map((n) => fleet.start(n, 'file')));
const [proxyPort, adminPort] = [await freePort(), await freePort()];
const dir = mkdtempSync(join(tmpdir(), 'fulcrum-soak-'));
const configPath = join(dir, 'soak.yaml');
let generation = 0;
const writeConfig = () => {
  const g = generation++;
  writeFileSync(configPath, [
    `admin: { listen: 127.0.0.1:${adminPort} }`,
    `workers: ${workers}`,
    'log: { level: warn }',
    'services:',
    '  - name: soak',
    `    listen: 127.0.0.1:${proxyPort}`,
    `    algo: ${['rr', 'lc', 'ptc', 'wrr'][g % 4]}`,
    `    retries: ${2 + (g % 2)}`,
    '    connectTimeout: 1s',
    `    idleTimeout: ${30 + (g % 3)}s`,
    '    health: { interval: 500ms, timeout: 400ms, rise: 1, fall: 1 }',
    '    passive: { maxFails: 1, ejectTime: 1s }',
    '    backends:',
    ...files.map((b, i) => `      - 127.0.0.1:${b.port}@${1 + ((g + i) % 3)}`),
    '',
  ].join('\n'));
};
writeConfig();

const lb = spawn(process.execPath, [join(ROOT, 'tools/fulcrum.mjs'), '-c', configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
process.on('exit', () => {
  lb.kill('SIGKILL');
  fleet.killAllNow();
  rmSync(dir, { recursive: true, force: true });
});
let lbOut = '';
lb.stdout!.on('data', (c) => (lbOut += c));
while (!/admin listening/.test(lbOut)) await Promise.race([once(lb.stdout!, 'data'), once(lb, 'exit').then(() => { throw new Error(`fulcrum exited: ${lbOut}`); })]);
const admin = `http://127.0.0.1:${adminPort}`;
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(admin + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: res.status, json: (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : await res.text() };
};
const lbPids = () => [lb.pid!, ...(fleetPids())];
const fleetPids = () => processUsage.children(lb.pid!);
while (lbPids().length < workers + (workers > 1 ? 1 : 0)) await new Promise((r) => setTimeout(r, 50));

// Warm-up, then the baseline of descriptors and memory.
let stop = false;
const outcomes: Outcome[] = [];
await runLoad({ port: proxyPort, shortLoops: 4, streamLoops: 2, maxStream: 256 * 1024, random, until: () => outcomes.length > 200, onOutcome: (o) => outcomes.push(o) });
const warm = outcomes.splice(0);
const before: Usage = processUsage.of(lbPids());
// Workers report their counters to the primary periodically: wait until the warm-up is all in.
let metricsBefore = await api('GET', '/metrics');
for (let i = 0; i < 50 && sample(metricsBefore.json, 'fulcrum_connections_accepted_total') < warm.filter((o) => o.connected).length; i++) {
  await new Promise((r) => setTimeout(r, 100));
  metricsBefore = await api('GET', '/metrics');
}

// Faults, every 1-2 s, until the duration is over.
const faults = new Map<string, number>();
const count = (k: string) => faults.set(k, (faults.get(k) ?? 0) + 1);
const workerKills: number[] = [];
let reloads = 0;
let apiSeq = 0;
const apiBackends: string[] = [];
const plan: string[] = [];
const shuffle = <T>(xs: T[]): T[] => xs.map((x) => [random(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
const faultLoop = async () => {
  while (!stop) {
    await new Promise((r) => setTimeout(r, 1000 + random() * 1000));
    if (stop) break;
    // Every kind in turn, in a shuffled order each round, so a short soak still injects each.
    if (plan.length === 0) plan.push(...shuffle(['kill', 'kill', 'register', 'drain-delete', 'reload', ...(workers > 1 ? ['worker'] : [])]));
    const action = plan.shift()!;
    try {
      if (action === 'kill') {
        const alive = fleet.alive().filter((b) => b.origin === 'file');
        if (alive.length < 2) continue; // keep one up: failures must then all be explained
        const victim = pick(alive);
        await fleet.kill(victim);
        count('backend killed');
        log(`killed ${victim.name}`);
        setTimeout(() => {
          fleet.start(victim.name, 'file').then(
            () => log(`restarted ${victim.name}`),
            (err) => (count('fault failed: restart'), log(`restart of ${victim.name} failed: ${err.message}`)),
          );
        }, 500 + random() * 1500);
      } else if (action === 'register') {
        const b = await fleet.start(`api-${++apiSeq}`, 'api');
        const r = await api('POST', '/register', { address: `127.0.0.1:${b.port}`, weight: 1 + Math.floor(random() * 3) });
        if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.json)}`);
        apiBackends.push(b.name);
        count('registered');
      } else if (action === 'drain-delete') {
        const name = apiBackends.shift();
        if (name === undefined) continue;
        const b = fleet.backends.get(name)!;
        const id = (await api('GET', '/backends')).json.data.backends.find((x: { address: string }) => x.address === `127.0.0.1:${b.port}`)?.id;
        await api('PATCH', `/backends/${id}`, { state: 'draining' });
        count('drained');
        void (async () => {
          await new Promise((r) => setTimeout(r, 800));
          await api('DELETE', `/backends/${id}`);
          count('deleted');
          // Killed only once the balancer has let it go: its last connection ended.
          while ((await api('GET', `/backends/${id}`)).status === 200) await new Promise((r) => setTimeout(r, 100));
          await fleet.kill(b);
        })();
      } else if (action === 'reload') {
        writeConfig();
        const r = await api('POST', '/reload');
        if (r.status !== 200) throw new Error(`reload: ${r.status} ${JSON.stringify(r.json)}`);
        reloads++;
      } else if (action === 'worker') {
        const pids = fleetPids();
        if (pids.length < workers) continue; // one is still restarting
        process.kill(pick(pids), 'SIGKILL');
        workerKills.push(Date.now());
        count('worker killed');
      }
    } catch (err) {
      count(`fault failed: ${action}`);
      log(`${action} failed: ${(err as Error).message}`);
    }
  }
};
const loadStart = Date.now();
const done = Promise.all([
  faultLoop(),
  runLoad({ port: proxyPort, shortLoops: 12, streamLoops: 4, maxStream: 4 * 2 ** 20, random, until: () => Date.now() - loadStart >= durationMs, onOutcome: (o) => outcomes.push(o) }),
]);
await new Promise((r) => setTimeout(r, durationMs));
stop = true;
await done;
for (const b of [...fleet.backends.values()]) if (b.origin === 'file' && b.child === undefined) await fleet.start(b.name, 'file');

// Everything has ended on the client side: the balancer must agree.
const settle = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T | undefined> => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  log(`gave up waiting for ${what}`);
  return undefined;
};
const listed = await settle('activeConnections 0', async () => {
  const list = (await api('GET', '/backends')).json.data.backends as { address: string; activeConnections: number }[];
  return list.every((b) => b.activeConnections === 0) ? list : undefined;
});
const after = (await settle('descriptors back', async () => {
  const u = processUsage.of(lbPids());
  return u.fds <= before.fds + FD_MARGIN ? u : undefined;
})) ?? processUsage.of(lbPids());
const metricsText = (await settle('metrics to catch up', async () => {
  const text = (await api('GET', '/metrics')).json as string;
  return sample(text, 'fulcrum_connections_accepted_total') - sample(metricsBefore.json, 'fulcrum_connections_accepted_total') >= outcomes.filter((o) => o.connected).length - workerKills.length * 1000 ? text : undefined;
}, 5000)) ?? ((await api('GET', '/metrics')).json as string);

// Failures, each explained by a fault or not.
const causes = new Map<string, number>();
let unexplained = 0;
for (const o of outcomes) {
  if (o.failure === undefined) continue;
  let cause: string;
  if (o.corrupt) cause = 'CORRUPT (never excused)';
  else if (o.backend !== undefined && fleet.killedDuring(o.backend, o.start, o.end)) cause = `backend killed mid-stream (${o.failure})`;
  else if (workerKills.some((k) => k >= o.start && k <= o.end)) cause = `worker killed (${o.failure})`;
  // Connected to a backend that died before its greeting (still in its accept queue, say).
  else if (o.backend === undefined && [...fleet.backends.keys()].some((n) => fleet.killedDuring(n, o.start, o.end))) cause = `backend killed before it answered (${o.failure})`;
  else if (fleet.noneUp(o.start)) cause = `no backend up (${o.failure})`;
  else {
    cause = `UNEXPLAINED: ${o.failure}`;
    unexplained++;
    if (unexplained <= 10) {
      const at = (t: number) => ((t - t0) / 1000).toFixed(2);
      const near = [...fleet.backends.values()].flatMap((b) => b.down.map(([a, c]) => `${b.name} down ${at(a)}-${c === Infinity ? 'end' : at(c)}`)).filter((x) => x);
      log(`unexplained: ${o.kind} ${o.failure} on ${o.backend ?? '(no greeting)'} ${at(o.start)}-${at(o.end)} connected=${o.connected}; ${near.join(', ')}; workers killed at ${workerKills.map(at)}`);
    }
  }
  causes.set(cause, (causes.get(cause) ?? 0) + 1);
}

const ok = outcomes.filter((o) => o.failure === undefined);
const connected = outcomes.filter((o) => o.connected);
const d = (name: string) => sample(metricsText, name) - sample(metricsBefore.json, name);
// Bytes the balancer carried to and from the file backends (never deleted, so their series stay in /metrics),
// against what the clients that completed on them sent and got.
const onFiles = ok.filter((o) => o.backend?.startsWith('file-'));
const clientUp = onFiles.reduce((n, o) => n + (o.kind === 'stream' ? o.up + 64 + `S ${o.up} ${o.down}\n`.length : 2), 0);
const clientDown = onFiles.reduce((n, o) => n + (o.kind === 'stream' ? o.down + 66 : 5) + `B ${o.backend}\n`.length, 0);
const fileBytes = (name: string) => files.reduce((n, b) => n + sample(metricsText, name, `127.0.0.1:${b.port}`) - sample(metricsBefore.json, name, `127.0.0.1:${b.port}`), 0);
const checks: [string, boolean, string][] = [
  ['bytes intact on every completed connection', !outcomes.some((o) => o.corrupt), `${ok.length} completed, ${outcomes.filter((o) => o.corrupt).length} corrupt`],
  ['no failure a fault does not explain', unexplained === 0, `${unexplained} unexplained`],
  ['activeConnections 0 on every backend', listed !== undefined, listed === undefined ? 'some still open' : `${listed.length} backends at 0`],
  [`descriptors back within ${FD_MARGIN}`, after.fds <= before.fds + FD_MARGIN, `${before.fds} -> ${after.fds}`],
  [`RSS back within ${RSS_MARGIN / 2 ** 20} MiB`, after.rss <= before.rss + RSS_MARGIN, `${mb(before.rss)} -> ${mb(after.rss)}`],
  workerKills.length === 0
    ? ['/metrics accepted = clients connected', d('fulcrum_connections_accepted_total') === connected.length, `${d('fulcrum_connections_accepted_total')} vs ${connected.length}`]
    : ['/metrics accepted vs clients connected (INFO: a killed worker\'s last unreported counts are lost)', true, `${d('fulcrum_connections_accepted_total')} vs ${connected.length}`],
  // A failed connection carried bytes no client completed: then the counters can only be larger.
  workerKills.length === 0 && causes.size === 0
    ? ['/metrics bytes of the file backends = clients (up, down)', fileBytes('fulcrum_backend_bytes_in_total') === clientUp && fileBytes('fulcrum_backend_bytes_out_total') === clientDown, `${fileBytes('fulcrum_backend_bytes_in_total')}/${fileBytes('fulcrum_backend_bytes_out_total')} vs ${clientUp}/${clientDown}`]
    : workerKills.length > 0
    ? ['/metrics bytes of the file backends vs completed clients (INFO: workers killed)', true, `${fileBytes('fulcrum_backend_bytes_in_total')}/${fileBytes('fulcrum_backend_bytes_out_total')} vs ${clientUp}/${clientDown}`]
    : ['/metrics bytes of the file backends >= completed clients', fileBytes('fulcrum_backend_bytes_in_total') >= clientUp && fileBytes('fulcrum_backend_bytes_out_total') >= clientDown, `${fileBytes('fulcrum_backend_bytes_in_total')}/${fileBytes('fulcrum_backend_bytes_out_total')} vs ${clientUp}/${clientDown}`],
];
function mb(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

const rows: [string, string][] = [
  ['duration, workers, seed', `${(durationMs / 1000).toFixed(0)} s, ${workers}, ${seed}`],
  ['connections (short / stream)', `${outcomes.length} (${outcomes.filter((o) => o.kind === 'short').length} / ${outcomes.filter((o) => o.kind === 'stream').length}), +${warm.length} warm-up`],
  ['completed intact', String(ok.length)],
  ['bytes client->backend / back', `${mb(clientUp)} / ${mb(clientDown)}`],
  ['faults injected', [...faults].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
  ['config reloads (200)', String(reloads)],
  ['failures by cause', [...causes].map(([k, v]) => `${k}: ${v}`).join('; ') || 'none'],
  ['descriptors before / after', `${before.fds} / ${after.fds}`],
  ['RSS before / after', `${mb(before.rss)} / ${mb(after.rss)}`],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log(`| ${'soak'.padEnd(width)} | result |\n|${'-'.repeat(width + 2)}|---|`);
for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
console.log('');
for (const [name, pass, detail] of checks) console.log(`${!pass ? 'FAIL' : name.includes('(INFO') ? 'INFO' : 'PASS'}  ${name}: ${detail}`);

lb.kill('SIGTERM');
await Promise.race([once(lb, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
lb.kill('SIGKILL');
await fleet.stopAll();
rmSync(dir, { recursive: true, force: true });
process.exit(checks.every(([, pass]) => pass) ? 0 : 1);
