/**
 * Dials a backend on a raw TCP handle (see native.ts), prepared for reading
 * by the relay (`Relay.prepareUpstream`). A numeric address
 * connects at once; a host name is resolved first with `dns.lookup`, for
 * every attempt, as `net.connect` does. The outcome goes to the handle's
 * owner as one call to `dialed(handle, code)`: `code` is undefined on
 * success, else the error's name (`ECONNREFUSED`, `ENOTFOUND`, …).
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { TCPConnectWrap, errnoName, type Req, type TcpHandle } from './native.ts';

export interface Dialing {
  /** The attempt in progress; a handle that is no longer it was abandoned (timed out, destroyed). */
  readonly upstream: TcpHandle | undefined;
  dialed(handle: TcpHandle, code: string | undefined): void;
  /** A bug of ours surfaced in a callback. */
  dialCrashed(error: unknown): void;
}

type Dialed = TcpHandle & { relay: Dialing };

/** Address family by host, so the common numeric case skips `isIP`'s regular expressions. */
const families = new Map<string, number>();

/** Starts connecting `handle`; returns a libuv error, or 0 when the outcome will come through `dialed`. */
export function dial(handle: TcpHandle, host: string, port: number): number {
  let family = families.get(host);
  if (family === undefined) {
    if (families.size >= 4096) families.clear();
    family = isIP(host);
    families.set(host, family);
  }
  if (family !== 0) return connect(handle, host, family, port);
  lookup(host, (err, address, resolved) => {
    const owner = (handle as Dialed).relay;
    try {
      if (owner.upstream !== handle) return;
      if (err) return owner.dialed(handle, err.code ?? 'ENOTFOUND');
      const status = connect(handle, address, resolved, port);
      if (status !== 0) owner.dialed(handle, errnoName(status));
    } catch (error) {
      owner.dialCrashed(error);
    }
  });
  return 0;
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
    owner.dialed(handle, status === 0 ? undefined : errnoName(status));
  } catch (error) {
    owner.dialCrashed(error);
  }
}
