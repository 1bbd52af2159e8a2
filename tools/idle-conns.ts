/**
 * Opens many keep-alive connections through a proxy and holds them idle, so a
 * benchmark can weigh what each open connection costs the proxy. It runs as
 * its own process so its sockets do not count against the harness's fds.
 *
 *   tsx tools/idle-conns.ts --url http://127.0.0.1:8080/small --count 10000
 *
 * Each connection sends one request and waits for the answer, which proves the
 * proxy really dialled the backend for it, then goes quiet. Prints one JSON
 * line `{"event":"ready","open":N,"failed":F,"ms":T}` when done, and on
 * SIGTERM `{"event":"closing","open":N}` (connections still open) before
 * exiting. Exits on its own after --hold seconds so it can never linger.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { ResponseReader, assertLoopback } from './http-response.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    count: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '200' },
    timeout: { type: 'string', default: '5000' },
    hold: { type: 'string', default: '120' },
  },
});
if (!values.url) throw new Error('--url http://127.0.0.1:PORT/path is required');
const url = new URL(values.url);
assertLoopback(url.hostname);
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const timeoutMs = Number(values.timeout);
const port = Number(url.port || 80);
const request = Buffer.from(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);

const sockets = new Set<net.Socket>();
let failed = 0;

/** Resolves once the connection is established and answered (kept), or has failed (dropped). */
function openOne(): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: url.hostname, port });
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ok) sockets.add(sock);
      else {
        failed++;
        sock.destroy();
      }
      resolve();
    };
    // A proxy out of fds may leave the connection in its accept queue: connected, never answered.
    const timer = setTimeout(() => settle(false), timeoutMs);
    const reader = new ResponseReader((r) => settle(r.status >= 200 && r.status < 300 && !r.close));
    sock.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch {
        settle(false);
      }
    });
    sock.on('error', () => settle(false));
    sock.on('close', () => {
      sockets.delete(sock);
      settle(false);
    });
    sock.write(request);
  });
}

const started = Date.now();
let next = 0;
async function worker(): Promise<void> {
  while (next < count) {
    next++;
    await openOne();
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
process.stdout.write(`${JSON.stringify({ event: 'ready', open: sockets.size, failed, ms: Date.now() - started })}\n`);

const finish = (): void => {
  process.stdout.write(`${JSON.stringify({ event: 'closing', open: sockets.size })}\n`);
  for (const s of sockets) s.destroy();
  process.exit(0);
};
process.once('SIGTERM', finish);
process.once('SIGINT', finish);
setTimeout(finish, Number(values.hold) * 1000).unref();
// Keep the process alive while holding, even if every socket were to close.
setInterval(() => undefined, 1 << 30);
