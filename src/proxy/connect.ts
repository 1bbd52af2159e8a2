/**
 * Dials a backend on raw TCP handles (see native.ts), prepared for reading by
 * the relay (`Relay.prepareUpstream`). A numeric address connects at once,
 * with nothing allocated but the handle and its request. A host name is
 * resolved by the shared resolver (net/resolver.ts: hosts file, then cached
 * DNS off the thread pool), and its addresses are tried in turn as
 * net/addresses.ts describes, the way the health probes try them. A handle
 * that failed to connect cannot connect again, so each address gets a new
 * one, which becomes `owner.upstream`. The client is not read meanwhile: its
 * early bytes wait in the kernel whatever the number of addresses.
 *
 * The outcome goes to the owner as one call to `dialed(handle, code)`:
 * `code` is undefined on success, else an errno name (`ECONNREFUSED`,
 * `ENOTFOUND`, …), for a name the one that stands for all its addresses.
 */
import { isIP } from 'node:net';
import { LOCAL_ERRNOS } from '../errors.ts';
import { ATTEMPT_TIMEOUT_MS, worstCode, type Address } from '../net/addresses.ts';
import { backendResolver, type ResolveError } from '../net/resolver.ts';
import { TCPConnectWrap, errnoName, newSocketHandle, type Req, type TcpHandle } from './native.ts';
import { Relay } from './relay.ts';

export interface Dialing {
  /** The attempt in progress; a handle that is no longer it was abandoned (timed out, destroyed). */
  upstream: TcpHandle | undefined;
  /** Epoch ms at which the current address attempt is given up (see `attemptTimedOut`). */
  connectDeadline: number;
  /** The rest of a name's addresses while they are being tried; undefined otherwise. */
  addressAttempts: AddressAttempts | undefined;
  dialed(handle: TcpHandle, code: string | undefined): void;
  /** A bug of ours surfaced in a callback. */
  dialCrashed(error: unknown): void;
}

type Dialed = TcpHandle & { relay: Dialing };

/** A name with several addresses, being tried: made per connection for such names only. */
export class AddressAttempts {
  /** The next address to try. */
  next = 0;
  /** What to report if every address fails (see `worstCode`). */
  code: string | undefined = undefined;

  readonly addresses: readonly Address[];
  readonly port: number;
  /** The backend's connect deadline, for all addresses together. */
  readonly deadline: number;

  constructor(addresses: readonly Address[], port: number, deadline: number) {
    this.addresses = addresses;
    this.port = port;
    this.deadline = deadline;
  }
}

/** Address family by host, so the common numeric case skips `isIP`'s regular expressions. */
const families = new Map<string, number>();

/**
 * Opens `owner.upstream` and starts connecting it to `host`, reading
 * `owner.connectDeadline` as the backend's deadline. Returns a libuv error,
 * or 0 when the outcome will come through `dialed`.
 */
export function dial(owner: Dialing, host: string, port: number): number {
  let family = families.get(host);
  if (family === undefined) {
    if (families.size >= 4096) families.clear();
    family = isIP(host);
    families.set(host, family);
  }
  const handle = openUpstream(owner);
  if (family !== 0) return connect(handle, host, family, port);
  const known = backendResolver().lookup(host);
  if (known !== undefined) return connectTo(owner, handle, known, port);
  // Not cached: the handle is held meanwhile, so the connect timeout and a close see the attempt.
  backendResolver().resolve(host, (err, addresses) => onResolved(owner, handle, port, err, addresses));
  return 0;
}

/**
 * From the sweeper: the current attempt passed `connectDeadline`. Moves on to
 * the name's next address and returns true, or returns false when the
 * backend's own deadline has passed (or there is no next address).
 */
export function attemptTimedOut(owner: Dialing): boolean {
  const attempts = owner.addressAttempts;
  if (attempts === undefined) return false;
  if (attempts.next >= attempts.addresses.length || Date.now() >= attempts.deadline) {
    owner.addressAttempts = undefined;
    return false;
  }
  attempts.code = worstCode(attempts.code, 'ETIMEDOUT', LOCAL_ERRNOS);
  owner.upstream!.close(); // its connect completes with ECANCELED, ignored: it is no longer `owner.upstream`
  tryNext(owner, openUpstream(owner), attempts);
  return true;
}

/** A new handle, owned by `owner` and ready for the relay; it becomes `owner.upstream`. */
function openUpstream(owner: Dialing): TcpHandle {
  const handle = newSocketHandle() as Dialed;
  owner.upstream = handle; // from here on, whatever happens closes it
  handle.relay = owner;
  handle.setNoDelay(true);
  Relay.prepareUpstream(handle);
  return handle;
}

function onResolved(owner: Dialing, handle: TcpHandle, port: number, err: ResolveError | undefined, addresses: readonly Address[] | undefined): void {
  try {
    if (owner.upstream !== handle) return;
    if (err !== undefined) return owner.dialed(handle, err.errno);
    const status = connectTo(owner, handle, addresses!, port);
    if (status !== 0) owner.dialed(handle, errnoName(status));
  } catch (error) {
    owner.dialCrashed(error);
  }
}

/** Starts on a name's addresses; returns as `dial` does. */
function connectTo(owner: Dialing, handle: TcpHandle, addresses: readonly Address[], port: number): number {
  const first = addresses[0]!;
  if (addresses.length === 1) return connect(handle, first.ip, first.family, port);
  const attempts = new AddressAttempts(addresses, port, owner.connectDeadline);
  owner.addressAttempts = attempts;
  tryNext(owner, handle, attempts);
  return 0;
}

/**
 * Connects `handle` to the next address; an address that fails at once
 * (EADDRNOTAVAIL, ENETUNREACH…) moves on at once, on a new handle. When none
 * is left, reports the failure through `dialed`.
 */
function tryNext(owner: Dialing, handle: TcpHandle, attempts: AddressAttempts): void {
  for (;;) {
    const address = attempts.addresses[attempts.next++]!;
    const last = attempts.next === attempts.addresses.length;
    owner.connectDeadline = last ? attempts.deadline : Math.min(attempts.deadline, Date.now() + ATTEMPT_TIMEOUT_MS);
    const status = connect(handle, address.ip, address.family, attempts.port);
    if (status === 0) return;
    attempts.code = worstCode(attempts.code, errnoName(status), LOCAL_ERRNOS);
    if (last) {
      owner.addressAttempts = undefined;
      owner.connectDeadline = attempts.deadline;
      return owner.dialed(handle, attempts.code);
    }
    handle.close();
    handle = openUpstream(owner);
  }
}

/** Connects, and arms reading at once (see `Relay.prepareUpstream`). */
function connect(handle: TcpHandle, ip: string, family: number, port: number): number {
  const req = new TCPConnectWrap();
  req.oncomplete = onConnect;
  return (family === 6 ? handle.connect6(req, ip, port) : handle.connect(req, ip, port)) || handle.readStart();
}

function onConnect(this: Req, status: number, handle: TcpHandle): void {
  const owner = (handle as Dialed).relay;
  try {
    // A cancelled attempt (the handle was closed) reports ECANCELED; its owner has moved on.
    if (owner.upstream !== handle) return;
    const attempts = owner.addressAttempts;
    if (attempts !== undefined) return addressDone(owner, handle, attempts, status);
    owner.dialed(handle, status === 0 ? undefined : errnoName(status));
  } catch (error) {
    owner.dialCrashed(error);
  }
}

function addressDone(owner: Dialing, handle: TcpHandle, attempts: AddressAttempts, status: number): void {
  if (status === 0 || attempts.next >= attempts.addresses.length) {
    owner.addressAttempts = undefined;
    if (status === 0) return owner.dialed(handle, undefined);
    owner.connectDeadline = attempts.deadline;
    return owner.dialed(handle, worstCode(attempts.code, errnoName(status), LOCAL_ERRNOS));
  }
  attempts.code = worstCode(attempts.code, errnoName(status), LOCAL_ERRNOS);
  handle.close();
  tryNext(owner, openUpstream(owner), attempts);
}
