/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * pipe-halfopen.ts with `noDelay` on both sides (TCP_NODELAY: a small write
 * leaves at once, not after the ACK of earlier data). The two socket options
 * a real proxy sets, on bench/minimal-proxy.ts's `pipe()` both ways; the
 * write-drain levers start from here.
 * Usage: node --import tsx bench/levers/pipe-tuned.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
net
  .createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
    const b = net.connect({ port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true });
    // pipe() forwards data and end, not errors: tear down both sides on either error.
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    c.pipe(b).pipe(c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
