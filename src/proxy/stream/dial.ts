/**
 * Dials a backend on a `net.Socket`, the way proxy/connect.ts does on raw
 * handles: a numeric address at once; a host name through the shared
 * resolver (net/resolver.ts: hosts file, then cached DNS off the thread
 * pool), its addresses tried one at a time in the order net/addresses.ts
 * gives, each abandoned for the next after `ATTEMPT_TIMEOUT_MS` (the sweeper
 * calls `attemptTimedOut`). `net.connect` only ever sees numeric addresses,
 * so it never looks a name up or races families itself: both planes and the
 * health probes dial a name alike. A socket that failed to connect cannot
 * connect again, so each address gets a new one, which becomes
 * `owner.upstream`.
 *
 * The outcome goes to the owner as one call to `dialed(socket, code)`: `code`
 * is undefined on success, else an errno name, for a name the one that
 * stands for all its addresses (`worstCode`).
 */
import { connect, isIP, type Socket } from 'node:net';
import { LOCAL_ERRNOS } from '../../errors.ts';
import { ATTEMPT_TIMEOUT_MS, worstCode, type Address } from '../../net/addresses.ts';
import { backendResolver, type ResolveError } from '../../net/resolver.ts';
import { takeReadBuffer } from './read-buffers.ts';

export interface StreamDialing {
  /** The attempt in progress; a socket that is no longer it was abandoned (and destroyed). */
  upstream: Socket | undefined;
  /** Epoch ms at which the current address attempt is given up. */
  connectDeadline: number;
  /** The rest of a name's addresses while they are being tried; undefined otherwise. */
  addressAttempts: StreamAddressAttempts | undefined;
  /** Changes whenever the owner starts or gives up an attempt: a lookup that comes back to another is ignored. */
  readonly attempt: number;
  /** From the upstream socket's `onread`: `n` bytes in `buffer` (see read-buffers.ts); false pauses the socket. */
  upstreamRead(n: number, buffer: Buffer): boolean;
  /** `socket` is undefined when the name could not be resolved. */
  dialed(socket: Socket | undefined, code: string | undefined): void;
  /** A bug of ours surfaced in a callback. */
  dialCrashed(error: unknown): void;
}

export interface StreamAddressAttempts {
  next: number;
  code: string | undefined;
  readonly addresses: readonly Address[];
  readonly port: number;
  /** The backend's connect deadline, for all addresses together. */
  readonly deadline: number;
}

/** Opens `owner.upstream` towards `host`, reading `owner.connectDeadline` as the backend's deadline. */
export function dialStream(owner: StreamDialing, host: string, port: number): void {
  const family = isIP(host);
  if (family !== 0) return void open(owner, host, family, port);
  const known = backendResolver().lookup(host);
  if (known !== undefined) return connectTo(owner, known, port);
  owner.upstream = undefined;
  const attempt = owner.attempt;
  backendResolver().resolve(host, (err, addresses) => {
    try {
      if (owner.attempt !== attempt) return; // given up meanwhile (timed out, destroyed)
      resolved(owner, port, err, addresses);
    } catch (error) {
      owner.dialCrashed(error);
    }
  });
}

function resolved(owner: StreamDialing, port: number, err: ResolveError | undefined, addresses: readonly Address[] | undefined): void {
  if (err !== undefined) return owner.dialed(undefined, err.errno);
  connectTo(owner, addresses!, port);
}

function connectTo(owner: StreamDialing, addresses: readonly Address[], port: number): void {
  const first = addresses[0]!;
  if (addresses.length === 1) return void open(owner, first.ip, first.family, port);
  owner.addressAttempts = { next: 0, code: undefined, addresses, port, deadline: owner.connectDeadline };
  tryNext(owner, owner.addressAttempts);
}

/**
 * From the sweeper: the current attempt passed `connectDeadline`. Moves on to
 * the name's next address and returns true, or returns false when the
 * backend's own deadline has passed (or there is no next address).
 */
export function attemptTimedOut(owner: StreamDialing): boolean {
  const attempts = owner.addressAttempts;
  if (attempts === undefined) return false;
  if (attempts.next >= attempts.addresses.length || Date.now() >= attempts.deadline) {
    owner.addressAttempts = undefined;
    return false;
  }
  attempts.code = worstCode(attempts.code, 'ETIMEDOUT', LOCAL_ERRNOS);
  owner.upstream?.destroy();
  tryNext(owner, attempts);
  return true;
}

function tryNext(owner: StreamDialing, attempts: StreamAddressAttempts): void {
  const address = attempts.addresses[attempts.next++]!;
  const last = attempts.next === attempts.addresses.length;
  owner.connectDeadline = last ? attempts.deadline : Math.min(attempts.deadline, Date.now() + ATTEMPT_TIMEOUT_MS);
  open(owner, address.ip, address.family, attempts.port);
}

function open(owner: StreamDialing, ip: string, family: number, port: number): Socket {
  const onread = { buffer: takeReadBuffer, callback: (n: number, buffer: Uint8Array) => owner.upstreamRead(n, buffer as Buffer) };
  const socket = connect({ host: ip, port, family, allowHalfOpen: true, noDelay: true, onread });
  owner.upstream = socket;
  const onError = (error: NodeJS.ErrnoException) => {
    socket.off('connect', onConnect);
    try {
      if (owner.upstream !== socket) return;
      failed(owner, socket, error.code ?? 'ERR_BACKEND_CONNECT');
    } catch (e) {
      owner.dialCrashed(e);
    }
  };
  const onConnect = () => {
    socket.off('error', onError);
    try {
      if (owner.upstream !== socket) return;
      owner.addressAttempts = undefined;
      owner.dialed(socket, undefined);
    } catch (e) {
      owner.dialCrashed(e);
    }
  };
  socket.once('error', onError);
  socket.once('connect', onConnect);
  return socket;
}

function failed(owner: StreamDialing, socket: Socket, code: string): void {
  const attempts = owner.addressAttempts;
  if (attempts === undefined) return owner.dialed(socket, code);
  attempts.code = worstCode(attempts.code, code, LOCAL_ERRNOS);
  if (attempts.next >= attempts.addresses.length) {
    owner.addressAttempts = undefined;
    owner.connectDeadline = attempts.deadline;
    return owner.dialed(socket, attempts.code);
  }
  socket.destroy();
  tryNext(owner, attempts);
}
