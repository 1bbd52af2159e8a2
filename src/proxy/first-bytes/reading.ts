/**
 * A connection's first bytes on a listen address that needs them, for both
 * data planes: a PROXY header (`acceptProxy`), then a TLS ClientHello (an
 * address shared by `sni`), in that order. Fed each chunk the client sends,
 * it answers `more`, `done` (with the service that takes the connection,
 * the header, the server name and the bytes to replay) or `reject`.
 *
 * The PROXY header is consumed (never relayed); every byte after it is kept,
 * ClientHello included (TLS ends at the backend), and replayed to each
 * backend attempt before the client is read again. Chunks are copied before
 * `push` returns, so a plane may read into a shared buffer. One object per
 * connection, made only where an address needs first bytes: the plain path
 * never sees one.
 */
import { ClientHelloParser } from './client-hello.ts';
import type { ProxyEndpoint, ProxyHeader } from './proxy-header.ts';
import { ProxyHeaderParser } from './proxy-protocol.ts';

/** What the first bytes need on one listen address; rebuilt when its services or their settings change (port.ts). */
export interface FirstBytesPlan<M> {
  /** A PROXY header comes first. */
  readonly acceptProxy: boolean;
  readonly proxyHeaderTimeoutMs: number;
  /** The service for a server name (undefined: none, and the default's for non-TLS); undefined: one service, no ClientHello read. */
  readonly router: { match(serverName: string | undefined): M | undefined } | undefined;
  readonly sniTimeoutMs: number;
  /** The service when there is no router. */
  readonly only: M | undefined;
}

export type RejectKind = 'proxy-header' | 'sni';

const MORE = 0;
const DONE = 1;
const REJECT = 2;
export type Step = typeof MORE | typeof DONE | typeof REJECT;
export const STEP = { MORE, DONE, REJECT } as const;

export class FirstBytesReading<M> {
  readonly plan: FirstBytesPlan<M>;
  #proxy: ProxyHeaderParser | undefined;
  #hello: ClientHelloParser | undefined;
  /** Bytes after the header, kept for the backend. */
  #kept: Buffer[] | undefined;
  /** The decoded header (acceptProxy), once read. */
  header: ProxyHeader | undefined;
  /** The ClientHello's server name, once read (undefined: none, or no ClientHello read). */
  serverName: string | undefined;
  /** The service that takes the connection, once `done`. */
  member: M | undefined;
  /** Why it was refused, once `reject`. */
  rejectKind: RejectKind = 'proxy-header';
  reason = '';

  constructor(plan: FirstBytesPlan<M>) {
    this.plan = plan;
    if (plan.acceptProxy) this.#proxy = new ProxyHeaderParser();
    else if (plan.router) this.#hello = new ClientHelloParser();
  }

  /** The phase's own timeout: the header's first, then the ClientHello's. */
  get timeoutMs(): number {
    return this.#proxy ? this.plan.proxyHeaderTimeoutMs : this.plan.sniTimeoutMs;
  }

  /** Whether the PROXY header is still being read (for the timeout's reason). */
  get readingHeader(): boolean {
    return this.#proxy !== undefined;
  }

  /** The bytes to send each backend first; undefined when there are none. */
  get replay(): Buffer | undefined {
    const kept = this.#kept;
    if (kept === undefined) return undefined;
    return kept.length === 1 ? kept[0] : Buffer.concat(kept);
  }

  /** Feeds the next chunk (copied as needed before returning). */
  push(chunk: Buffer): Step {
    const proxy = this.#proxy;
    if (proxy !== undefined) {
      const r = proxy.push(chunk);
      if (r.kind === 'more') return MORE;
      if (r.kind === 'reject') return this.#reject('proxy-header', r.reason);
      this.header = r.header;
      this.#proxy = undefined;
      const rest = chunk.subarray(r.consumed);
      if (this.plan.router === undefined) {
        if (rest.length > 0) this.#keep(rest);
        return this.#done(this.plan.only);
      }
      this.#hello = new ClientHelloParser();
      if (rest.length === 0) return MORE;
      chunk = rest;
    }
    this.#keep(chunk);
    const r = this.#hello!.push(chunk);
    if (r.kind === 'more') return MORE;
    const router = this.plan.router!;
    if (r.kind === 'reject') {
      // Not TLS at all: the address's default service takes it, if there is one.
      if (r.code === 'ERR_NOT_TLS') {
        const fallback = router.match(undefined);
        return fallback !== undefined ? this.#done(fallback) : this.#reject('sni', `${r.reason}, and no service without sni takes the rest`);
      }
      return this.#reject('sni', `ClientHello: ${r.reason}`);
    }
    this.serverName = r.serverName;
    const member = router.match(r.serverName);
    if (member === undefined) return this.#reject('sni', `no service for server name ${JSON.stringify(r.serverName ?? null)} and none without sni`);
    return this.#done(member);
  }

  /** The client ended, or broke, before the first bytes were complete. */
  ended(): Step {
    return this.#proxy !== undefined ? this.#reject('proxy-header', 'closed before a whole PROXY header') : this.#reject('sni', 'closed before a whole ClientHello');
  }

  timedOut(): Step {
    return this.#proxy !== undefined
      ? this.#reject('proxy-header', `no whole PROXY header within ${this.plan.proxyHeaderTimeoutMs} ms`)
      : this.#reject('sni', `no whole ClientHello within ${this.plan.sniTimeoutMs} ms`);
  }

  #keep(bytes: Buffer): void {
    (this.#kept ??= []).push(Buffer.from(bytes));
  }

  #done(member: M | undefined): Step {
    this.#hello = undefined;
    this.member = member;
    return DONE;
  }

  #reject(kind: RejectKind, reason: string): Step {
    this.#proxy = undefined;
    this.#hello = undefined;
    this.#kept = undefined;
    this.rejectKind = kind;
    this.reason = reason;
    return REJECT;
  }
}

/**
 * Who the client is once the first bytes are read: the PROXY header's source
 * and destination when it had them (a `PROXY` TCP4/TCP6 header), else the
 * socket's own (`LOCAL`, `UNKNOWN`, or no header read).
 */
export interface ClientOrigin {
  /** The client's IP as strategies, limits, ACLs and logs take it (`::ffff:` stripped, as for a direct client). */
  readonly clientIp: string;
  /** The client, for the PROXY header sent on. */
  readonly client: ProxyEndpoint;
  /** The address it dialled, for the PROXY header sent on. */
  readonly local: ProxyEndpoint;
  /** Bytes read after the header (ClientHello included), sent to each backend attempt first. */
  readonly replay: Buffer | undefined;
  /** The ClientHello's server name (lower-case), for `hash.key: sni` and the logs. */
  readonly sni: string | undefined;
}

export function originOf(reading: FirstBytesReading<unknown>, socketClient: () => ProxyEndpoint, socketLocal: () => ProxyEndpoint): ClientOrigin {
  const h = reading.header;
  const fromHeader = h !== undefined && h.family !== 'UNKNOWN';
  // The socket's own addresses are asked of the kernel only when the header did not carry them.
  const client = fromHeader ? h.source : socketClient();
  const ip = client.address;
  return {
    clientIp: ip.startsWith('::ffff:') ? ip.slice(7) : ip,
    client,
    local: fromHeader ? h.destination : socketLocal(),
    replay: reading.replay,
    sni: reading.serverName,
  };
}
