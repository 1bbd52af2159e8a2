/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * bench/minimal-proxy.ts with `allowHalfOpen` on both sides, so a client's
 * FIN is passed on and the answer still comes back (without it, Node ends
 * each socket's writable side as soon as it reads EOF). Correctness, not
 * speed; pipe-tuned.ts adds `noDelay` to this.
 * Usage: node --import tsx bench/levers/pipe-halfopen.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
net
  .createServer({ allowHalfOpen: true }, (c) => {
    const b = net.connect({ port: Number(backendPort), host: backendHost, allowHalfOpen: true });
    // pipe() forwards data and end, not errors: tear down both sides on either error.
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    c.pipe(b).pipe(c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
