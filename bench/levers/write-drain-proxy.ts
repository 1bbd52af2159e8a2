/**
 * The relay the write-drain levers share (write-drain.ts, cork*.ts,
 * highwatermark-*.ts): `'data'` → `write()`, pause the source when `write()`
 * returns false, resume it on `'drain'`, `end()` the other side on `'end'`.
 * Each lever file starts it with its one setting, so the files differ by
 * exactly the lever they measure. Command line: LISTEN_PORT BACKEND_PORT [BACKEND_HOST].
 */
import net from 'node:net';

export interface Lever {
  /** Both sockets' readable and writable highWaterMark; Node 20's default is 16 KiB. */
  readonly highWaterMark?: number;
  /** Cork each destination at its first write in a callback and uncork it through this scheduler. */
  readonly uncorkWith?: (uncork: (s: net.Socket) => void, s: net.Socket) => void;
}

const uncork = (s: net.Socket): void => void s.uncork();

function relay(from: net.Socket, to: net.Socket, lever: Lever): void {
  const { uncorkWith } = lever;
  from.on('data', (chunk: Buffer) => {
    if (uncorkWith && !to.writableCorked) {
      to.cork();
      uncorkWith(uncork, to);
    }
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

export function serveWriteDrain(lever: Lever = {}): void {
  const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
  // net.Socket hands its options to stream.Duplex, which takes highWaterMark (both ways); @types/node omits it.
  const hwm = lever.highWaterMark === undefined ? {} : { highWaterMark: lever.highWaterMark };
  const backendOpts = { port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true, ...hwm };
  net
    .createServer({ allowHalfOpen: true, noDelay: true, ...hwm }, (c) => {
      const b = net.connect(backendOpts);
      // Either side failing takes the other down; both ended and flushed, each destroys itself (autoDestroy).
      c.on('error', () => b.destroy());
      b.on('error', () => c.destroy());
      relay(c, b, lever);
      relay(b, c, lever);
    })
    .listen(Number(listenPort), '127.0.0.1', 4096);
}
