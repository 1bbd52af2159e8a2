/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * write-drain.ts with the backend socket reading through the `onread`
 * option into one 64 KiB buffer shared by the whole process: no fresh 64 KiB
 * ArrayBuffer per read, no Readable push/`'data'` machinery. Node has no
 * `onread` for accepted sockets (net.Server does not take the option), so
 * the client side stays on `'data'`; the backend side carries the responses,
 * all of the 1 MiB load.
 * Usage: node --import tsx bench/levers/onread.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
const shared = Buffer.allocUnsafeSlow(64 * 1024);

net
  .createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
    const b = net.connect({
      port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true,
      onread: {
        buffer: shared,
        // Every chunk is copied (into Node's 8 KiB pool when under 4 KiB). Writing a view of `shared`
        // is wrong whenever write() does not take it whole at once: queued behind a pending write, or
        // partly written with the rest left to libuv by reference. `c.writableLength > 0` after the
        // write would say so, but too late: the next read, of any socket, overwrites it.
        // Returning false pauses the socket; 'drain' resumes it.
        callback: (n, buf) => c.write(Buffer.from(buf.subarray(0, n))),
      },
    });
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    c.on('data', (chunk: Buffer) => {
      if (!b.write(chunk)) c.pause();
    });
    b.on('drain', () => c.resume());
    c.on('drain', () => b.resume());
    c.on('end', () => b.end());
    b.on('end', () => c.end());
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
