/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * pipe-tuned.ts with the relay written by hand instead of `pipe()`:
 * `'data'` → `write()`, pause the source when `write()` returns false,
 * resume it on `'drain'`, `end()` the other side on `'end'`. The base of
 * the other write-drain levers (cork, highWaterMark, onread).
 * Usage: node --import tsx bench/levers/write-drain.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);

function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

net
  .createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
    const b = net.connect({ port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true });
    // Either side failing takes the other down; both ended and flushed, each destroys itself (autoDestroy).
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    relay(c, b);
    relay(b, c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
