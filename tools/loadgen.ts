/**
 * HTTP/1.1 load generator for loopback targets, used where wrk is missing and
 * for the fixed-rate latency test wrk cannot do.
 *
 *   tsx tools/loadgen.ts --url http://127.0.0.1:8080/small -c 50 -d 5            # closed loop, keep-alive
 *   tsx tools/loadgen.ts --url … -c 50 -d 5 --close                               # one connection per request
 *   tsx tools/loadgen.ts --url … -c 20 -d 5 --rate 2000                           # fixed rate, latency
 *
 * Prints one JSON line: requests, errors, bytes, durationS, rps, mibps, latencyMs {p50,p90,p99,max},
 * and at a fixed rate maxTickGapMs: the longest the generator itself went unscheduled (a busy machine).
 *
 * Fixed rate avoids coordinated omission the way wrk2 does, with one
 * difference: a request that finds an idle connection is timed from when it is
 * actually written, so our own timer lag (about a millisecond) is not billed to
 * the target; a request that has to wait for a connection is timed from its
 * scheduled moment, because that wait is the target's doing.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ResponseReader, assertLoopback, type Response } from './http-response.ts';

interface Options {
  host: string;
  port: number;
  path: string;
  connections: number;
  durationS: number;
  /** Requests per second across all connections; 0 = closed loop, as fast as responses come. */
  rate: number;
  close: boolean;
  timeoutMs: number;
}

interface Stats {
  requests: number;
  errors: number;
  non2xx: number;
  bytes: number;
  latencies: number[];
}

/** One request at a time over one connection, reconnecting when needed (always, with --close). */
class Slot {
  #socket: net.Socket | undefined;
  #inFlight = false;
  #startedAt = 0;
  readonly #request: Buffer;
  readonly o: Options;
  readonly onDone: (slot: Slot, r: Response | Error, startedAt: number) => void;

  constructor(o: Options, onDone: (slot: Slot, r: Response | Error, startedAt: number) => void) {
    this.o = o;
    this.onDone = onDone;
    const close = o.close ? 'Connection: close\r\n' : '';
    this.#request = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\n${close}\r\n`);
  }

  /** `startedAt` is the moment the latency clock started for this request. */
  send(startedAt: number): void {
    this.#startedAt = startedAt;
    this.#inFlight = true;
    (this.#socket ?? this.#connect()).write(this.#request);
  }

  destroy(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connect(): net.Socket {
    const sock = net.connect({ host: this.o.host, port: this.o.port, noDelay: true });
    sock.setTimeout(this.o.timeoutMs);
    this.#socket = sock;
    const reader = new ResponseReader((r) => {
      if (this.o.close || r.close) this.destroy();
      this.#inFlight = false;
      this.onDone(this, r, this.#startedAt);
    });
    // A close between responses is normal keep-alive housekeeping; only a request in flight fails.
    const lost = (err: Error): void => {
      if (this.#socket !== sock) return;
      this.destroy();
      if (!this.#inFlight) return;
      this.#inFlight = false;
      this.onDone(this, err, this.#startedAt);
    };
    sock.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        lost(err as Error);
      }
    });
    sock.on('end', () => {
      reader.end();
      lost(new Error('closed before the response ended'));
    });
    sock.on('close', () => lost(new Error('closed')));
    sock.on('error', lost);
    sock.on('timeout', () => lost(new Error(`no data for ${this.o.timeoutMs} ms`)));
    return sock;
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function run(o: Options): Promise<Record<string, unknown>> {
  const stats: Stats = { requests: 0, errors: 0, non2xx: 0, bytes: 0, latencies: [] };
  const start = performance.now();
  const deadline = start + o.durationS * 1000;
  const idle: Slot[] = [];
  const queue: number[] = [];
  const total = o.rate > 0 ? Math.floor(o.rate * o.durationS) : Infinity;
  let pendingErrorRetries = 0;

  const onDone = (slot: Slot, r: Response | Error, startedAt: number): void => {
    const now = performance.now();
    if (r instanceof Error) {
      stats.errors++;
      // Back off briefly so a dead target does not turn this into a busy loop.
      pendingErrorRetries++;
      setTimeout(() => (pendingErrorRetries--, next(slot)), 10);
    } else {
      // Closed loop counts what finished inside the window; fixed rate counts every scheduled request.
      if (o.rate > 0 || now <= deadline) {
        stats.requests++;
        stats.bytes += r.bytes;
        if (r.status < 200 || r.status > 299) stats.non2xx++;
        stats.latencies.push(now - startedAt);
      }
      next(slot);
    }
  };
  const next = (slot: Slot): void => {
    if (o.rate > 0) {
      const scheduled = queue.shift();
      if (scheduled !== undefined) slot.send(scheduled);
      else idle.push(slot);
    } else if (performance.now() < deadline) slot.send(performance.now());
    else idle.push(slot);
  };

  const slots = Array.from({ length: o.connections }, () => new Slot(o, onDone));
  let issued = 0;
  /** Longest wait between scheduler ticks (due every 1 ms): our own stalls, which inflate the tail. */
  let maxTickGap = 0;
  let timer: NodeJS.Timeout | undefined;
  let tick = (): void => undefined;
  if (o.rate > 0) {
    idle.push(...slots);
    const interval = 1000 / o.rate;
    let lastTick = start;
    tick = (): void => {
      const now = performance.now();
      maxTickGap = Math.max(maxTickGap, now - lastTick);
      lastTick = now;
      while (issued < total && start + issued * interval <= now) {
        const slot = idle.pop();
        if (slot) slot.send(now);
        else queue.push(start + issued * interval);
        issued++;
      }
    };
    timer = setInterval(tick, 1);
    tick();
  } else {
    for (const s of slots) s.send(performance.now());
  }

  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  tick(); // the interval may have last run just short of the end: issue the final due requests
  clearInterval(timer);
  // Let in-flight requests land; a fixed-rate run owes answers to every scheduled request.
  const grace = performance.now() + Math.min(o.timeoutMs, 3000);
  while (performance.now() < grace && (idle.length < slots.length || queue.length > 0 || pendingErrorRetries > 0)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  if (o.rate > 0) stats.errors += Math.max(0, issued - stats.requests - stats.errors);
  for (const s of slots) s.destroy();

  const durationS = o.durationS;
  const sorted = Float64Array.from(stats.latencies).sort();
  const ms = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    requests: stats.requests,
    errors: stats.errors,
    non2xx: stats.non2xx,
    bytes: stats.bytes,
    durationS,
    rps: Math.round(stats.requests / durationS),
    mibps: Math.round((stats.bytes / durationS / 2 ** 20) * 100) / 100,
    latencyMs: { p50: ms(percentile(sorted, 0.5)), p90: ms(percentile(sorted, 0.9)), p99: ms(percentile(sorted, 0.99)), max: ms(percentile(sorted, 1)) },
    ...(o.rate > 0 ? { maxTickGapMs: ms(maxTickGap) } : {}),
  };
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      connections: { type: 'string', short: 'c', default: '50' },
      duration: { type: 'string', short: 'd', default: '5' },
      rate: { type: 'string', default: '0' },
      close: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '10000' },
    },
  });
  if (!values.url) throw new Error('--url http://127.0.0.1:PORT/path is required');
  const url = new URL(values.url);
  if (url.protocol !== 'http:') throw new Error(`--url: only http:// is supported, got ${url.protocol}`);
  assertLoopback(url.hostname);
  const num = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: "${text}" must be a number >= ${min}`);
    return n;
  };
  return {
    host: url.hostname,
    port: Number(url.port || 80),
    path: url.pathname + url.search,
    connections: Math.floor(num('connections', values.connections, 1)),
    durationS: num('duration', values.duration, 0.1),
    rate: num('rate', values.rate, 0),
    close: values.close,
    timeoutMs: num('timeout', values.timeout, 1),
  };
}

run(parseOptions(process.argv.slice(2))).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`loadgen: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
