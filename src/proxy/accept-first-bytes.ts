/**
 * The raw plane's acceptor for a port that reads first bytes (port.ts): a
 * PROXY header (`acceptProxy`), a ClientHello (an SNI address), or both.
 *
 * - `trustedProxies` is asked of the socket's own source at accept, before a
 *   byte is read; allow/deny and the per-IP limits are asked later, by the
 *   session, of the address the header carried.
 * - The client is read (into one shared scratch buffer, copied out by the
 *   reading) only until the first bytes are complete, then stopped: what it
 *   sends next waits in the kernel, as on the plain path, and backpressure
 *   holds. At most one read past the ClientHello is kept.
 * - One timer per connection (the phase's timeout); a connection that does
 *   not finish in time, sends garbage or hangs up is closed and counted on
 *   the port's owner.
 */
import type { TcpHandle, PeerName } from './native.ts';
import { kReadBytesOrError, streamBaseState } from './native.ts';
import { FirstBytesReading, STEP, originOf, type ClientOrigin, type Step } from './first-bytes/reading.ts';
import type { ProxyEndpoint } from './first-bytes/proxy-header.ts';
import { firstBytesRefused } from './refusals.ts';
import type { AcceptTarget, Port, PortMember, PortPlan } from './port.ts';
import type { LimitedLog } from '../observability/limited-log.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';

/** A raw-plane listener as a member of a port. */
export interface RawMember extends PortMember<TcpHandle> {
  /** Takes a client whose first bytes were read. */
  acceptRouted(client: TcpHandle, origin: ClientOrigin): void;
}

type Reader = TcpHandle & { firstBytes: RawFirstBytes | undefined };

/** Reads land here and are copied out before the next read can happen (one loop thread). */
const scratch = Buffer.allocUnsafeSlow(64 * 1024);

export class RawAcceptor implements AcceptTarget<TcpHandle> {
  readonly port: Port<TcpHandle, RawMember>;
  readonly plan: PortPlan<RawMember>;
  /** Connections still reading first bytes, closed if the port closes. */
  readonly pending: Set<RawFirstBytes>;

  constructor(port: Port<TcpHandle, RawMember>, plan: PortPlan<RawMember>, pending: Set<RawFirstBytes>) {
    this.port = port;
    this.plan = plan;
    this.pending = pending;
  }

  get stats(): ProxyStats {
    return this.plan.owner.stats;
  }

  get limited(): LimitedLog {
    return this.plan.owner.limited;
  }

  get log(): Logger {
    return this.plan.owner.log;
  }

  accepted(client: TcpHandle): void {
    if (!this.port.noDelayInherited) client.setNoDelay(true);
    const trusted = this.plan.trustedProxies;
    if (trusted !== undefined) {
      const source = endpoint(client, 'getpeername').address;
      if (!trusted.allowed(strip(source))) {
        this.stats.accepted++;
        firstBytesRefused(this.plan.owner, endpoint(client, 'getpeername'), Date.now(), 'untrusted-proxy', 'source not in trustedProxies');
        client.close();
        return;
      }
    }
    new RawFirstBytes(this, client as Reader).start();
  }
}

export class RawFirstBytes {
  readonly #acceptor: RawAcceptor;
  readonly #client: Reader;
  readonly #reading: FirstBytesReading<RawMember>;
  #timer: NodeJS.Timeout | undefined;
  #header: boolean;
  /** Epoch ms of the accept, for the access log of a refusal. */
  readonly #startedAt = Date.now();

  constructor(acceptor: RawAcceptor, client: Reader) {
    this.#acceptor = acceptor;
    this.#client = client;
    this.#reading = new FirstBytesReading(acceptor.plan);
    this.#header = this.#reading.readingHeader;
  }

  start(): void {
    const client = this.#client;
    client.firstBytes = this;
    client.useUserBuffer(scratch);
    client.onread = onRead;
    this.#acceptor.pending.add(this);
    this.#timer = setTimeout(onTimeout, this.#reading.timeoutMs, this);
    if (client.readStart() !== 0) this.step(this.#reading.ended());
  }

  /** @internal */
  read(n: number): void {
    if (n > 0) this.step(this.#reading.push(scratch.subarray(0, n)));
    else if (n < 0) this.step(this.#reading.ended()); // EOF or an error before the first bytes were whole
  }

  /** @internal */
  timedOut(): void {
    this.#timer = undefined;
    this.step(this.#reading.timedOut());
  }

  /** A bug of ours in a callback: logged, and the client closed. */
  crashed(err: unknown): void {
    this.#acceptor.log.error({ err }, 'data plane error: connection closed while reading its first bytes');
    this.drop();
  }

  /** Closes it now, uncounted (the port is closing). */
  drop(): void {
    this.#end();
    this.#client.close();
  }

  step(step: Step): void {
    if (step === STEP.MORE) {
      // The header is read and the ClientHello is next: its own timeout from now.
      if (this.#header && !this.#reading.readingHeader) {
        this.#header = false;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(onTimeout, this.#reading.timeoutMs, this);
      }
      return;
    }
    this.#end();
    const client = this.#client;
    const reading = this.#reading;
    const acceptor = this.#acceptor;
    if (step === STEP.REJECT) {
      const owner = acceptor.plan.owner;
      owner.stats.accepted++;
      firstBytesRefused(owner, endpoint(client, 'getpeername'), this.#startedAt, reading.rejectKind, reading.reason);
      client.close();
      return;
    }
    client.readStop();
    const origin = originOf(reading, () => endpoint(client, 'getpeername'), () => endpoint(client, 'getsockname'));
    reading.member!.acceptRouted(client, origin);
  }

  #end(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#acceptor.pending.delete(this);
    this.#client.firstBytes = undefined;
  }
}

function onRead(this: Reader): void {
  const reader = this.firstBytes;
  if (reader === undefined) return;
  try {
    reader.read(streamBaseState[kReadBytesOrError]!);
  } catch (err) {
    reader.crashed(err);
  }
}

function onTimeout(reader: RawFirstBytes): void {
  try {
    reader.timedOut();
  } catch (err) {
    reader.crashed(err);
  }
}

const name: PeerName = {};

function endpoint(handle: TcpHandle, which: 'getpeername' | 'getsockname'): ProxyEndpoint {
  name.address = undefined;
  name.port = undefined;
  const err = handle[which](name);
  return err === 0 && name.address !== undefined ? { address: name.address, port: name.port ?? 0 } : { address: '', port: 0 };
}

function strip(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
