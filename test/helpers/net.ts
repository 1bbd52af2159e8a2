/** Client-side helpers for tests on real sockets. */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { createHash } from 'node:crypto';

export interface Dial {
  port: number;
  host?: string;
  /** Bind the client to this source IP (127.0.0.2, …) to look like another client. */
  localAddress?: string;
  allowHalfOpen?: boolean;
}

/** Connects and resolves once connected. */
export async function dial({ port, host = '127.0.0.1', localAddress, allowHalfOpen = false }: Dial): Promise<Socket> {
  const socket = connect({ port, host, allowHalfOpen, ...(localAddress ? { localAddress } : {}) });
  await once(socket, 'connect');
  return socket;
}

/** Collects everything a socket sends until it ends or closes. Rejects on error. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Resolves with the first `n` bytes the socket sends (rejects if it ends first). */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      have += c.length;
      if (have >= n) {
        cleanup();
        const all = Buffer.concat(chunks);
        if (all.length > n) socket.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`socket ended after ${have} of ${n} bytes`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', reject);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', reject);
  });
}

/** One HTTP/1.0-style GET over a fresh TCP connection; resolves with the body. */
export async function httpGet(port: number, localAddress?: string): Promise<string> {
  const socket = await dial({ port, ...(localAddress ? { localAddress } : {}) });
  socket.end('GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
  const text = (await readAll(socket)).toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 80))}`);
  return text.slice(split + 4);
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A port on 127.0.0.1 with nothing listening: connects to it are refused. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Resolves when the socket closes; `error` is the error it closed with, if any. */
export function closed(socket: Socket): Promise<{ error: NodeJS.ErrnoException | undefined }> {
  return new Promise((resolve) => {
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (e) => (error = e));
    if (socket.destroyed) return resolve({ error });
    socket.once('close', () => resolve({ error }));
  });
}
