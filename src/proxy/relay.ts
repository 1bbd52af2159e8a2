/**
 * Bytes both ways between two connected raw handles (see native.ts), with
 * half-close, backpressure and abort passed through, and both handles closed
 * exactly once whatever way the connection ends.
 *
 * - Every read of every connection lands in one shared buffer (libuv reads
 *   into it through `useUserBuffer`) and is written to the other side at once
 *   with write(2) (`fs.writeSync` on the socket's fd), so a chunk costs no
 *   allocation at all. Node's own stream write could not be used here: when
 *   the kernel takes only part of a chunk it queues the rest by reference,
 *   and the next read would overwrite it. Instead, when the kernel is full,
 *   the rest is copied out and queued with `writeBuffer`, and the source stops
 *   reading until that write completes (backpressure: at most one chunk per
 *   direction waits in memory). A direct write never overtakes a queued one:
 *   while one is queued, nothing reads from its source.
 *   (Default per-read ArrayBuffers cost a malloc, external-memory accounting
 *   and, on large transfers, frequent full GCs: several times the CPU per MiB.)
 * - EOF from one side becomes a FIN (shutdown) on the other, which may go on
 *   talking: half-close passes through. When the second side reaches EOF
 *   nothing is left to send either way (a side is only read while no write
 *   from it is pending), so both handles are closed at once: the kernel sends
 *   the remaining FIN, and the second shutdown syscall is saved.
 *   The first FIN is sent once the loop has handled every event it woke for
 *   (see `finsDue`): when both sides end at once, as a client and a server
 *   closing after one response usually do, the close carries both FINs and
 *   no shutdown request is made at all.
 * - A read or write error on one side (reset, broken pipe) is passed on as a
 *   reset of the other, so an abort looks like an abort at both ends.
 *
 * Both fds are closed together, in one step, so no write can reach a
 * descriptor number the kernel has since given to another socket.
 * Callbacks are static methods, shared by every connection; a handle finds
 * its relay through its `relay` property.
 */
import { writeSync } from 'node:fs';
import { End } from '../observability/access-log/end-reasons.ts';
import {
  ShutdownWrap,
  UV_ENOTCONN,
  UV_EOF,
  WriteWrap,
  kLastWriteWasAsync,
  kReadBytesOrError,
  streamBaseState,
  type Req,
  type TcpHandle,
} from './native.ts';

/** A handle that belongs to a relay (or to a session still connecting it). */
export type Side = TcpHandle & { relay: Relay };

const CLIENT_ENDED = 1;
const UPSTREAM_ENDED = 2;
const CLIENT_SHUTTING = 4;
const UPSTREAM_SHUTTING = 8;
/** `#teardown`'s mark for resetting both sides. */
const BOTH = 'both';
const CLOSED = 16;
const CLIENT_FIN_DUE = 32;
const UPSTREAM_FIN_DUE = 64;

/**
 * Every read of every connection lands here, and is written out (or copied)
 * before the next read can happen: reads run one at a time, on the loop thread.
 * 64 KiB is libuv's own read size, and stays in the CPU's cache.
 */
const shared = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Relays owing one side a FIN, sent in the check phase right after the poll
 * that saw the EOF (setImmediate, once per loop turn): half-closes wait no
 * longer than that, and a relay whose other side ends in the same poll closes
 * instead (about four connections in five under `Connection: close` load),
 * sparing a shutdown request, its wrap object and its cancelled callback.
 */
let finsDue: Relay[] = [];

function sendFinsDue(): void {
  const due = finsDue;
  finsDue = [];
  for (const relay of due) relay.sendFinDue();
}

export abstract class Relay {
  readonly client: Side;
  /** Set by the subclass while connecting; the relay's other side once `startRelay()` runs. */
  upstream: Side | undefined;
  /** Bytes relayed from the client to the upstream (written or queued). */
  sentUpstream = 0;
  /**
   * How the connection ended (access-log/end-reasons.ts): the relay notes the
   * first FIN and any reset; the session sets its own reasons (timeouts,
   * shutdown) before it closes the relay.
   */
  endReason: number = End.Unknown;
  #flags = 0;
  #clientFd = -1;
  #upstreamFd = -1;

  constructor(client: TcpHandle) {
    this.client = client as Side;
    this.client.relay = this;
  }

  /** Called once, just before both handles close: the last moment their byte counts can be read. */
  protected abstract relayEnding(): void;

  /** A bug of ours surfaced in a callback; the connection is beyond saving. */
  protected abstract crashed(error: unknown): void;

  /**
   * Readies a new upstream handle for reading, which may start as soon as its
   * connect does: libuv reports the connect before any read, so the relay is
   * running by the time bytes arrive, and the socket is registered with epoll
   * once for both, not twice.
   */
  static prepareUpstream(upstream: TcpHandle): void {
    upstream.useUserBuffer(shared);
    upstream.onread = Relay.#onRead;
  }

  /** Starts relaying: `upstream` is connected and reading (see `prepareUpstream`). */
  protected startRelay(): void {
    const client = this.client;
    this.#clientFd = client.fd;
    this.#upstreamFd = this.upstream!.fd;
    client.useUserBuffer(shared);
    client.onread = Relay.#onRead;
    if (client.readStart() !== 0) this.closeRelay();
  }

  /** Closes both sides now (graceful: FIN, or RST if unread bytes remain). Idempotent. */
  protected closeRelay(): void {
    this.#teardown(undefined);
  }

  /**
   * Resets both sides now: a connection cut short (forced delete, the end of
   * a drain) must not look complete to either peer, as a FIN would make it.
   */
  protected abortRelay(): void {
    this.#teardown(BOTH);
  }

  #peer(side: Side): Side {
    return side === this.client ? this.upstream! : this.client;
  }

  /** The first `n` bytes of `shared` came from `source`. */
  #forward(source: Side, n: number): void {
    const toUpstream = source === this.client;
    const target = toUpstream ? this.upstream! : this.client;
    let written: number;
    try {
      written = writeSync(toUpstream ? this.#upstreamFd : this.#clientFd, shared, 0, n);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EINTR') return this.#abort(target);
      written = 0;
    }
    if (toUpstream) this.sentUpstream += n;
    if (written === n) return;
    // The kernel is full: the rest leaves the shared buffer for a copy that libuv sends when it can.
    const rest = Buffer.from(shared.subarray(written, n));
    const req = new WriteWrap();
    if (target.writeBuffer(req, rest) !== 0) return this.#abort(target);
    if (streamBaseState[kLastWriteWasAsync] === 0) return;
    req.buffer = rest;
    req.oncomplete = Relay.#onWritten;
    source.readStop();
  }

  #ended(source: Side): void {
    const client = source === this.client;
    if (this.endReason === End.Unknown) this.endReason = client ? End.ClientClosed : End.BackendClosed;
    this.#flags |= client ? CLIENT_ENDED | UPSTREAM_FIN_DUE : UPSTREAM_ENDED | CLIENT_FIN_DUE;
    if ((this.#flags & (CLIENT_ENDED | UPSTREAM_ENDED)) === (CLIENT_ENDED | UPSTREAM_ENDED)) return this.#teardown(undefined);
    if (finsDue.push(this) === 1) setImmediate(sendFinsDue);
  }

  /** @internal from `sendFinsDue`: the FIN owed since an EOF earlier in this loop turn, unless the relay closed since. */
  sendFinDue(): void {
    const flags = this.#flags;
    if (flags & CLOSED || !(flags & (CLIENT_FIN_DUE | UPSTREAM_FIN_DUE))) return;
    const toClient = (flags & CLIENT_FIN_DUE) !== 0;
    const target = toClient ? this.client : this.upstream!;
    this.#flags = (flags & ~(CLIENT_FIN_DUE | UPSTREAM_FIN_DUE)) | (toClient ? CLIENT_SHUTTING : UPSTREAM_SHUTTING);
    try {
      const req = new ShutdownWrap();
      req.oncomplete = Relay.#onShutdown;
      const err = target.shutdown(req);
      if (err === 0) return;
      this.#flags &= toClient ? ~CLIENT_SHUTTING : ~UPSTREAM_SHUTTING;
      if (err !== UV_ENOTCONN) this.#abort(target);
    } catch (error) {
      this.crashed(error);
    }
  }

  /** `failed` broke (reset, broken pipe): close it, and reset the other side. */
  #abort(failed: Side): void {
    if (this.endReason <= End.BackendClosed) this.endReason = failed === this.client ? End.ClientReset : End.BackendReset;
    this.#teardown(this.#peer(failed));
  }

  #teardown(reset: Side | typeof BOTH | undefined): void {
    const flags = this.#flags;
    if (flags & CLOSED) return;
    this.#flags = flags | CLOSED;
    try {
      this.relayEnding();
    } finally {
      const client = this.client;
      const upstream = this.upstream!;
      // libuv refuses a reset while a shutdown is pending, and Node then ignores close(): fall back to a plain close.
      if ((reset === client || reset === BOTH) && !(flags & CLIENT_SHUTTING)) client.reset();
      else client.close();
      if ((reset === upstream || reset === BOTH) && !(flags & UPSTREAM_SHUTTING)) upstream.reset();
      else upstream.close();
    }
  }

  static #onRead(this: Side): void {
    const n = streamBaseState[kReadBytesOrError]!;
    const relay = this.relay;
    try {
      if (n > 0) relay.#forward(this, n);
      else if (n === UV_EOF) relay.#ended(this);
      else if (n < 0) relay.#abort(this);
    } catch (error) {
      relay.crashed(error);
    }
  }

  static #onWritten(this: Req, status: number, target: Side): void {
    this.buffer = undefined;
    const relay = target.relay;
    try {
      if (relay.#flags & CLOSED) return;
      if (status < 0) return relay.#abort(target);
      const source = relay.#peer(target);
      if (source.readStart() !== 0) relay.#abort(source);
    } catch (error) {
      relay.crashed(error);
    }
  }

  static #onShutdown(this: Req, _status: number, target: Side): void {
    // A failed shutdown is not an error of the connection (Node's net ignores it too); the reads decide.
    const relay = target.relay;
    relay.#flags &= target === relay.client ? ~CLIENT_SHUTTING : ~UPSTREAM_SHUTTING;
  }
}
