/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * write-drain.ts with both sockets' readable and writable highWaterMark at
 * 4 KiB instead of Node 20's 16 KiB. `write()` returns false once that
 * much is queued (a 64 KiB read alone is over 16 KiB: with the default every
 * full read pauses its source until `'drain'`, even when the kernel took it
 * at once), and a paused socket stops reading once that much is buffered.
 * Usage: node --import tsx bench/levers/highwatermark-4k.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import net from 'node:net';

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
const highWaterMark = 4 * 1024;
// net.Socket hands its options to stream.Duplex, which takes highWaterMark (both ways); @types/node omits it.
const backendOpts: net.NetConnectOpts & { highWaterMark: number } = {
  port: Number(backendPort), host: backendHost, allowHalfOpen: true, noDelay: true, highWaterMark,
};

function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

net
  .createServer({ allowHalfOpen: true, noDelay: true, highWaterMark }, (c) => {
    const b = net.connect(backendOpts);
    c.on('error', () => b.destroy());
    b.on('error', () => c.destroy());
    relay(c, b);
    relay(b, c);
  })
  .listen(Number(listenPort), '127.0.0.1', 4096);
