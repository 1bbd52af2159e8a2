/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * write-drain.ts, with each destination corked at its first write in a
 * callback and uncorked on `process.nextTick`, so the writes made in one
 * callback leave in one `writev`.
 * Usage: node --import tsx bench/levers/cork.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
const uncork = (s: net.Socket): void => void s.uncork();

function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.writableCorked) {
      to.cork();
      process.nextTick(uncork, to);
    }
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

net
  .createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
    const b = net.connect({ port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true });
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    relay(c, b);
    relay(b, c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
