/**
 * TLS ClientHellos for the parser's tests: built to order (RFC 8446 4.1.2
 * layout), re-framed into records of any size, and captured from real
 * clients (node:tls, `openssl s_client`) by a listener that never answers.
 */
import net from 'node:net';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';

export interface HelloSpec {
  /** host_name entries (raw bytes allowed); none: no server_name extension. */
  names?: readonly (string | Buffer)[];
  sessionId?: number;
  ciphers?: number;
  /** Other extensions, before and after server_name. */
  before?: readonly { type: number; data: Buffer }[];
  after?: readonly { type: number; data: Buffer }[];
  /** Leave the extensions block out altogether (TLS 1.2 allows it). */
  noExtensions?: boolean;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

/** The handshake message (type, 3-byte length, body). */
export function helloMessage(spec: HelloSpec): Buffer {
  const parts: Buffer[] = [Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([spec.sessionId ?? 32]), Buffer.alloc(spec.sessionId ?? 32, 1)];
  const ciphers = spec.ciphers ?? 3;
  parts.push(u16(ciphers * 2), Buffer.alloc(ciphers * 2, 0x13), Buffer.from([1, 0]));
  if (!spec.noExtensions) {
    const exts: Buffer[] = (spec.before ?? []).map((e) => ext(e.type, e.data));
    if (spec.names !== undefined) {
      const entries = Buffer.concat(spec.names.map((n) => {
        const name = typeof n === 'string' ? Buffer.from(n, 'latin1') : n;
        return Buffer.concat([Buffer.from([0]), u16(name.length), name]);
      }));
      exts.push(ext(0, Buffer.concat([u16(entries.length), entries])));
    }
    for (const e of spec.after ?? []) exts.push(ext(e.type, e.data));
    const all = Buffer.concat(exts);
    parts.push(u16(all.length), all);
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 255, body.length & 255]), body]);
}

/** Handshake bytes framed as TLS records of at most `size` bytes each. */
export function records(message: Buffer, size = 16_384): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < message.length; i += size) {
    const frag = message.subarray(i, i + size);
    out.push(Buffer.from([0x16, 3, 1, frag.length >> 8, frag.length & 255]), frag);
  }
  return Buffer.concat(out);
}

export function buildClientHello(spec: HelloSpec, recordSize?: number): Buffer {
  return records(helloMessage(spec), recordSize);
}

/** The handshake message inside a capture (the records' payloads joined), for re-framing. */
export function unframe(capture: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i + 5 <= capture.length; ) {
    const len = capture.readUInt16BE(i + 3);
    out.push(capture.subarray(i + 5, i + 5 + len));
    i += 5 + len;
  }
  const joined = Buffer.concat(out);
  return joined.subarray(0, 4 + ((joined[1]! << 16) | joined.readUInt16BE(2)));
}

/**
 * Everything a client sends before it waits for the server: a listener on
 * 127.0.0.1 port 0 that reads and never answers, until `quietMs` pass
 * with no bytes; `connect` starts the client.
 */
export async function captureFirstFlight(connect: (port: number) => () => void, quietMs = 300): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let stop: () => void = () => {};
  const got = new Promise<void>((resolve) => {
    server.on('connection', (socket) => {
      let timer = setTimeout(resolve, 5_000);
      socket.on('data', (d) => {
        chunks.push(d);
        clearTimeout(timer);
        timer = setTimeout(resolve, quietMs);
      });
      socket.on('error', () => {});
    });
  });
  stop = connect(port);
  await got;
  stop();
  server.close();
  return Buffer.concat(chunks);
}

export function nodeTlsClient(serverName: string): (port: number) => () => void {
  return (port) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: serverName, rejectUnauthorized: false });
    socket.on('error', () => {});
    return () => socket.destroy();
  };
}

export function opensslClient(serverName: string): (port: number) => () => void {
  return (port) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', serverName], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => {});
    return () => child.kill('SIGKILL');
  };
}
