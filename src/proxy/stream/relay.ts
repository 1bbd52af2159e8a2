/**
 * Bytes both ways between two connected `net.Socket`s, the public-API twin
 * of proxy/relay.ts: the same contract, with Node's streams doing the work.
 *
 * - Bytes: the client's reads arrive as `'data'`; the upstream's land in
 *   pooled buffers (read-buffers.ts) through `onread`, and reach `upstreamRead`.
 * - Backpressure: a chunk read from one side is written to the other; when
 *   `write()` says the other side's buffer is full, the source is paused
 *   until `'drain'`, so at most a highWaterMark or so waits per direction.
 * - Half-close: `'end'` on one side becomes `end()` (a FIN after what is
 *   still buffered) on the other, which may go on talking (`allowHalfOpen`
 *   on both sockets). A socket closes itself once it has both read its EOF
 *   and sent its FIN (autoDestroy).
 * - Abort: an error on one side (reset, broken pipe) resets the other, so
 *   an abort looks like an abort at both ends.
 *
 * The relay ends once both sockets have emitted `'close'`; their byte counts
 * stay readable after it.
 */
import type { Socket } from 'node:net';
import { End } from '../../observability/access-log/end-reasons.ts';
import { noteRead, releaseReadBuffer } from './read-buffers.ts';

export abstract class StreamRelay {
  readonly client: Socket;
  /** Set by the subclass while connecting; the relay's other side once `startRelay()` runs. */
  upstream: Socket | undefined;
  /** Bytes relayed from the client to the upstream (written or buffered). */
  sentUpstream = 0;
  /** How the connection ended, as on the raw plane (proxy/relay.ts): the first FIN, a reset, or the session's own reason. */
  endReason: number = End.Unknown;
  #closes = 0;

  constructor(client: Socket) {
    this.client = client;
  }

  /** Called once, when both sockets have closed. */
  protected abstract relayEnding(): void;

  /** A bug of ours surfaced in a callback; the connection is beyond saving. */
  protected abstract crashed(error: unknown): void;

  /** Starts relaying: `upstream` is connected; the client, paused since accept, starts being read. */
  protected startRelay(): void {
    const client = this.client;
    const upstream = this.upstream!;
    client.on('data', (chunk: Buffer) => {
      try {
        this.sentUpstream += chunk.length;
        if (!upstream.write(chunk)) client.pause();
      } catch (error) {
        this.crashed(error);
      }
    });
    this.#follow(client, upstream);
    this.#follow(upstream, client);
    client.resume();
    // A client read before the pick (its first bytes) may have ended already, unheard: pass the FIN on now.
    if (client.readableEnded) upstream.end();
  }

  /**
   * @internal from the upstream socket's `onread` (stream/dial.ts): `n` bytes
   * in `buffer`, a pooled read buffer, written to the client as they are and
   * given back when the write is done. Returns false to pause the upstream.
   */
  upstreamRead(n: number, buffer: Buffer): boolean {
    noteRead(n, buffer);
    try {
      return this.client.write(buffer.subarray(0, n), () => releaseReadBuffer(buffer));
    } catch (error) {
      this.crashed(error);
      return false;
    }
  }

  /** Closes both sides now (graceful: FIN, or RST if unread bytes remain). Idempotent. */
  protected closeRelay(): void {
    this.client.destroy();
    this.upstream!.destroy();
  }

  /** Resets both sides now: a connection cut short must not look complete to either peer. */
  protected abortRelay(): void {
    resetOrClose(this.client);
    resetOrClose(this.upstream!);
  }

  /** Everything but the bytes, from `source` to `target`: resume on drain, FIN, errors, the end. */
  #follow(source: Socket, target: Socket): void {
    target.on('drain', () => source.resume());
    const client = source === this.client;
    source.on('end', () => {
      if (this.endReason === End.Unknown) this.endReason = client ? End.ClientClosed : End.BackendClosed;
      target.end();
    });
    source.on('error', () => {
      if (this.endReason <= End.BackendClosed) this.endReason = client ? End.ClientReset : End.BackendReset;
      resetOrClose(target);
    });
    source.on('close', () => {
      if (++this.#closes < 2) return;
      try {
        this.relayEnding();
      } catch (error) {
        this.crashed(error);
      }
    });
  }
}

/**
 * Sends RST and closes, unless a shutdown (FIN) is in flight: libuv refuses
 * a reset then, and Node would never close the handle. A plain close then
 * (the raw plane does the same). Node asks for the shutdown only once every
 * buffered write has completed, so while bytes are buffered the reset is safe.
 */
export function resetOrClose(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) socket.destroy();
  else socket.resetAndDestroy();
}
