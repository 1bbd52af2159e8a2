/**
 * Lever (bench/profile.md, "The stream-level levers, measured"): onread.ts
 * with the client side on `onread` too. net.Server has no `onread` option,
 * so each accepted handle is taken from the Socket Node made for it (paused
 * at creation, never read, then dropped) and wrapped in a new Socket that has
 * one, through the constructor's undocumented `handle` option: what the
 * lever gives when both directions use it.
 * Usage: node --import tsx bench/levers/onread-both.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
const shared = Buffer.allocUnsafeSlow(64 * 1024);

/** Reads of `from` land in `shared`; each chunk is copied before write() (see onread.ts for why). */
function reading(to: () => net.Socket): net.OnReadOpts {
  return { buffer: shared, callback: (n, buf) => to().write(Buffer.from(buf.subarray(0, n))) };
}

function relayEnds(from: net.Socket, to: net.Socket): void {
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
}

net
  .createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (accepted) => {
    const handle = (accepted as unknown as { _handle: unknown })._handle;
    const opts = { handle, allowHalfOpen: true, onread: reading(() => b) };
    const c: net.Socket = new net.Socket(opts as net.SocketConstructorOpts);
    const b: net.Socket = net.connect({ port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true, onread: reading(() => c) });
    relayEnds(c, b);
    relayEnds(b, c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
