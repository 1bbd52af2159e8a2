/**
 * `npm run bench:admin-burst`: echo round trips through Fulcrum (source-IP
 * hash, the dearest rebuild) while another process registers 1,000 backends
 * over the admin API, eight requests at a time; then the same time without a
 * burst, as the baseline. Fulcrum, the registering client and this echo
 * client are three processes, so each figure is the balancer's own.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const echo = createServer((s) => s.pipe(s).on('error', () => s.destroy()));
await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
const fulcrum = spawn(process.execPath, [...process.execArgv, 'src/main.ts', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--algo', 'sih', '--health-interval', '0', '--log-level', 'warn',
  '--backend', `127.0.0.1:${(echo.address() as AddressInfo).port}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
fulcrum.stdout.on('data', (c) => (out += c));
while (!/admin listening on 127\.0\.0\.1:(\d+)/.test(out)) await once(fulcrum.stdout, 'data');
const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
const admin = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);

const client: Socket = connect(port, '127.0.0.1');
await once(client, 'connect');
client.setNoDelay(true);
async function rtt(): Promise<number> {
  const started = performance.now();
  client.write('x');
  await once(client, 'data');
  return performance.now() - started;
}
async function sample(until: () => boolean): Promise<number[]> {
  const rtts: number[] = [];
  while (!until()) rtts.push(await rtt());
  return rtts.sort((a, b) => a - b);
}
const summary = (rtts: number[]) => {
  const q = (f: number) => rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * f))]!.toFixed(2);
  return `${rtts.length} round trips, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${rtts.at(-1)!.toFixed(2)} ms`;
};

const burster = spawn(process.execPath, ['-e', `
  const base = 'http://127.0.0.1:${admin}';
  const started = performance.now();
  (async () => {
    for (let i = 0; i < 1000; i += 8) {
      await Promise.all(Array.from({ length: 8 }, (_, k) => fetch(base + '/register', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ address: '127.0.' + (2 + ((i + k) >> 8)) + '.' + ((i + k) & 255) + ':9' }) }).then((r) => r.text())));
    }
    console.log((performance.now() - started).toFixed(0));
  })();`], { stdio: ['ignore', 'pipe', 'inherit'] });
let burstMs = '';
burster.stdout.on('data', (c) => (burstMs += c));
let done = false;
burster.once('exit', () => (done = true));
const during = await sample(() => done);
const quietUntil = performance.now() + Number(burstMs);
const quiet = await sample(() => performance.now() >= quietUntil);
const backends = (await (await fetch(`http://127.0.0.1:${admin}/backends`)).json()) as { data: { backends: unknown[] } };
console.log(`| load | echo round trips through Fulcrum (sih) |\n|---|---|`);
console.log(`| 1,000 registrations over the admin API, 8 at a time (${burstMs.trim()} ms; ${backends.data.backends.length} backends after) | ${summary(during)} |`);
console.log(`| no admin traffic, the same time after | ${summary(quiet)} |`);
client.destroy();
fulcrum.kill('SIGKILL');
echo.close();
