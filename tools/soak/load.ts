/**
 * The soak's clients: short connections (`P`, a pong, closed) and long
 * streams of random bytes both ways, checked by sha256 at both ends (see
 * backend.mjs). Each connection ends in one Outcome: what it was, which
 * backend answered, when it began and ended, and the error if it failed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

export interface Outcome {
  readonly kind: 'short' | 'stream';
  /** The backend that greeted the client, if any did. */
  readonly backend: string | undefined;
  readonly start: number;
  readonly end: number;
  /** Whether the proxy accepted the TCP connection (what /metrics counts as accepted). */
  readonly connected: boolean;
  readonly up: number;
  readonly down: number;
  /** undefined: complete and intact. */
  readonly failure: string | undefined;
  /** Bytes arrived but differed from what was sent (never excused). */
  readonly corrupt: boolean;
}

const CHUNK = 64 * 1024;

/** One connection; resolves when it is over, never rejects. */
export function runConnection(port: number, kind: 'short' | 'stream', up: number, down: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const start = Date.now();
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let connected = false;
    let backend: string | undefined;
    let buffered = Buffer.alloc(0);
    let received = 0; // stream payload bytes read
    const hashIn = createHash('sha256');
    let trailer = '';
    let error: string | undefined;
    let sentHash = '';
    socket.on('connect', () => {
      connected = true;
      if (kind === 'short') return void socket.end('P\n');
      socket.write(`S ${up} ${down}\n`);
      const hashOut = createHash('sha256');
      let left = up;
      const pump = () => {
        while (left > 0) {
          const b = randomBytes(Math.min(left, CHUNK));
          hashOut.update(b);
          left -= b.length;
          if (!socket.write(b)) return void socket.once('drain', pump);
        }
        sentHash = hashOut.digest('hex');
        socket.end(sentHash);
      };
      pump();
    });
    socket.on('data', (c: Buffer) => {
      if (backend === undefined) {
        buffered = Buffer.concat([buffered, c]);
        const nl = buffered.indexOf(10);
        if (nl < 0) return;
        backend = buffered.subarray(2, nl).toString('latin1');
        c = buffered.subarray(nl + 1);
      }
      if (kind === 'short') return void (trailer += c.toString('latin1'));
      const data = c.subarray(0, Math.max(0, down - received));
      hashIn.update(data);
      received += data.length;
      trailer += c.subarray(data.length).toString('latin1');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
      // A reset can beat the connect callback (libuv reads SO_ERROR first): the balancer did accept it.
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') connected = true;
    });
    socket.on('close', () => {
      let failure = error;
      let corrupt = false;
      if (failure === undefined) {
        if (backend === undefined) failure = 'closed before a backend answered';
        else if (kind === 'short') failure = trailer === 'pong\n' ? undefined : 'short reply';
        else if (received < down || trailer.length < 66) failure = 'stream cut';
        else {
          corrupt = trailer.slice(0, 64) !== hashIn.digest('hex') || trailer.slice(64) !== 'OK';
          failure = corrupt ? 'corrupt' : undefined;
        }
      }
      resolve({ kind, backend, start, end: Date.now(), connected, up, down, failure, corrupt });
    });
  });
}

export interface LoadOptions {
  readonly port: number;
  readonly shortLoops: number;
  readonly streamLoops: number;
  /** Largest stream each way, in bytes. */
  readonly maxStream: number;
  readonly random: () => number;
  readonly until: () => boolean;
  readonly onOutcome: (o: Outcome) => void;
}

/** Runs the loops until `until()` says stop; resolves when every connection has ended. */
export async function runLoad(o: LoadOptions): Promise<void> {
  const loop = async (kind: 'short' | 'stream') => {
    while (!o.until()) {
      const up = kind === 'stream' ? Math.floor(o.random() * o.maxStream) : 0;
      const down = kind === 'stream' ? Math.floor(o.random() * o.maxStream) : 0;
      o.onOutcome(await runConnection(o.port, kind, up, down));
    }
  };
  await Promise.all([...Array.from({ length: o.shortLoops }, () => loop('short')), ...Array.from({ length: o.streamLoops }, () => loop('stream'))]);
}
