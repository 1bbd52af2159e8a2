/**
 * The stream plane's acceptor for a port that reads first bytes: the twin
 * of proxy/accept-first-bytes.ts on `net.Socket`s. The client, paused since
 * accept, flows only until its first bytes are whole, then is paused again;
 * what Node read past them stays in the socket's buffer, in order, for the
 * relay, after the replay. Listeners and a timer per connection, on this
 * path only.
 */
import type { Socket } from 'node:net';
import { FirstBytesReading, STEP, originOf, type ClientOrigin, type Step } from '../first-bytes/reading.ts';
import { firstBytesRefused } from '../refusals.ts';
import type { AcceptTarget, Port, PortMember, PortPlan } from '../port.ts';
import type { LimitedLog } from '../../observability/limited-log.ts';
import type { Logger } from '../../observability/log.ts';
import type { ProxyStats } from '../../observability/stats.ts';

export interface StreamMember extends PortMember<Socket> {
  acceptRouted(client: Socket, origin: ClientOrigin): void;
}

export class StreamAcceptor implements AcceptTarget<Socket> {
  readonly plan: PortPlan<StreamMember>;
  readonly pending: Set<StreamFirstBytes>;

  constructor(_port: Port<Socket, StreamMember>, plan: PortPlan<StreamMember>, pending: Set<StreamFirstBytes>) {
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

  accepted(client: Socket): void {
    const trusted = this.plan.trustedProxies;
    if (trusted !== undefined && !trusted.allowed(strip(client.remoteAddress ?? ''))) {
      this.stats.accepted++;
      firstBytesRefused(this.plan.owner, { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 }, Date.now(), 'untrusted-proxy', 'source not in trustedProxies');
      client.destroy();
      return;
    }
    new StreamFirstBytes(this, client).start();
  }
}

export class StreamFirstBytes {
  readonly #acceptor: StreamAcceptor;
  readonly #client: Socket;
  readonly #reading: FirstBytesReading<StreamMember>;
  #timer: NodeJS.Timeout | undefined;
  #header: boolean;
  /** Epoch ms of the accept, for the access log of a refusal. */
  readonly #startedAt = Date.now();
  readonly #onData = (chunk: Buffer): void => this.#guard(() => this.#step(this.#reading.push(chunk)));
  readonly #onEnd = (): void => this.#guard(() => this.#step(this.#reading.ended()));

  constructor(acceptor: StreamAcceptor, client: Socket) {
    this.#acceptor = acceptor;
    this.#client = client;
    this.#reading = new FirstBytesReading(acceptor.plan);
    this.#header = this.#reading.readingHeader;
  }

  start(): void {
    const client = this.#client;
    client.on('data', this.#onData);
    client.on('end', this.#onEnd);
    client.on('error', this.#onEnd);
    this.#acceptor.pending.add(this);
    this.#timer = setTimeout(() => this.#guard(() => this.#step(this.#reading.timedOut())), this.#reading.timeoutMs);
    client.resume();
  }

  /** Closes it now, uncounted (the port is closing). */
  drop(): void {
    this.#end();
    this.#client.destroy();
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#acceptor.log.error({ err }, 'data plane error: connection closed while reading its first bytes');
      this.drop();
    }
  }

  #step(step: Step): void {
    if (step === STEP.MORE) {
      if (this.#header && !this.#reading.readingHeader) {
        this.#header = false;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#guard(() => this.#step(this.#reading.timedOut())), this.#reading.timeoutMs);
      }
      return;
    }
    const client = this.#client;
    client.pause();
    this.#end();
    const reading = this.#reading;
    if (step === STEP.REJECT) {
      const owner = this.#acceptor.plan.owner;
      owner.stats.accepted++;
      firstBytesRefused(owner, { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 }, this.#startedAt, reading.rejectKind, reading.reason);
      client.destroy();
      return;
    }
    const origin = originOf(
      reading,
      () => ({ address: client.remoteAddress ?? '', port: client.remotePort ?? 0 }),
      () => ({ address: client.localAddress ?? '', port: client.localPort ?? 0 }),
    );
    reading.member!.acceptRouted(client, origin);
  }

  #end(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#acceptor.pending.delete(this);
    const client = this.#client;
    client.off('data', this.#onData);
    client.off('end', this.#onEnd);
    client.off('error', this.#onEnd);
    if (client.listenerCount('error') === 0) client.on('error', ignore);
  }
}

const ignore = (): void => {};

function strip(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
