/**
 * `npm run bench:store`: how long a change made through one instance's admin
 * API takes to be in force on another. Two Fulcrum processes, one real
 * redis-server, all on this machine. 1,000 changes, one at a time, through
 * A's API (a cycle of register, weight, drain, deregister of one backend);
 * for each, the time from A's answer to the matching event on B's event
 * stream (`GET /events`, pushed by B's registry as the change is applied).
 * B may apply a change before A's answer reaches this process (the PUBLISH
 * leaves Redis in the same step as the write); those count as 0 and are
 * reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startRedis } from '../test/helpers/redis.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHANGES = Number(process.env.CHANGES ?? 1000);

const redis = await startRedis(undefined);
const children: ChildProcess[] = [];
async function instance(): Promise<{ admin: string }> {
  const child = spawn(process.execPath, [...process.execArgv, 'src/main.ts', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '0', '--log-level', 'warn', '--store', redis.url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  while (!/admin listening on 127\.0\.0\.1:(\d+)/.test(out)) await once(child.stdout!, 'data');
  return { admin: `http://127.0.0.1:${/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]}` };
}
const a = await instance();
const b = await instance();

// B's event stream: each change event resolves the waiter for its (type, backend, to).
const waiters = new Map<string, (t: number) => void>();
const arrived = new Map<string, number>();
const stream = await fetch(`${b.admin}/events`, { headers: { accept: 'text/event-stream' } });
void (async () => {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!frame.includes('event: change')) continue;
      const now = performance.now();
      const e = JSON.parse(frame.slice(frame.indexOf('data: ') + 6));
      const key = `${e.type} ${e.backend} ${e.type === 'weight' || e.type === 'state' ? e.to : ''}`;
      const w = waiters.get(key);
      if (w) {
        waiters.delete(key);
        w(now);
      } else arrived.set(key, now);
    }
  }
})().catch(() => {});

function seen(key: string): Promise<number> {
  const t = arrived.get(key);
  if (t !== undefined) {
    arrived.delete(key);
    return Promise.resolve(t);
  }
  return new Promise((resolve) => waiters.set(key, resolve));
}

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(a.admin + path, { method, ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const latencies: number[] = [];
/** From sending the request to A until B has it: the whole path, with A's write to Redis. */
const endToEnd: number[] = [];
/** A's answer time (the write to Redis and back). */
const answers: number[] = [];
let early = 0;
let id = '';
const address = '127.0.0.1:9';
for (let i = 0; i < CHANGES; i++) {
  const step = i % 4;
  let key: string;
  let request: () => Promise<any>;
  if (step === 0) [key, request] = [`added ${address} `, () => call('POST', '/register', { address })];
  else if (step === 1) [key, request] = [`weight ${address} ${(i % 50) + 2}`, () => call('PATCH', `/backends/${id}`, { weight: (i % 50) + 2 })];
  else if (step === 2) [key, request] = [`state ${address} draining`, () => call('PATCH', `/backends/${id}`, { state: 'draining' })];
  else [key, request] = [`removed ${address} `, () => call('DELETE', `/backends/${id}`)];
  const event = seen(key);
  const sent = performance.now();
  const answer = await request();
  const answered = performance.now();
  if (step === 0) id = answer.data.backend.id;
  const inForce = await event;
  if (inForce < answered) early++;
  latencies.push(Math.max(0, inForce - answered));
  endToEnd.push(inForce - sent);
  answers.push(answered - sent);
}
const row = (what: string, list: number[]) => {
  list.sort((x, y) => x - y);
  const q = (p: number) => list[Math.min(list.length - 1, Math.floor(p * list.length))]!.toFixed(2);
  console.log(`${what.padEnd(44)} p50 ${q(0.5).padStart(6)}  p90 ${q(0.9).padStart(6)}  p99 ${q(0.99).padStart(6)}  max ${list.at(-1)!.toFixed(2).padStart(7)} ms`);
};
console.log(`${CHANGES} changes through A's admin API, one at a time; B's event stream says when each is in force there`);
row("A's answer -> in force on B", latencies);
row('request sent to A -> in force on B', endToEnd);
row("request sent to A -> A's answer", answers);
console.log(`${early} of ${CHANGES} were in force on B before A's answer reached the client (counted as 0 above)`);
for (const c of children) c.kill('SIGTERM');
await Promise.all(children.map((c) => once(c, 'exit')));
redis.destroy();
process.exit(0);
