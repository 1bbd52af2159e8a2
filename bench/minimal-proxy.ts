/**
 * The floor: the smallest correct-enough Node TCP proxy. Fulcrum should cost
 * little more than this. Usage: node --import tsx bench/minimal-proxy.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
net
  .createServer((c) => {
    const b = net.connect(Number(backendPort), backendHost);
    // pipe() forwards data and end, not errors: tear down both sides on either error.
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    c.pipe(b).pipe(c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
