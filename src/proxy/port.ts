/**
 * One listening socket and the services behind it, for either data plane.
 * A service's listener (listener.ts, stream/listener.ts) is a member of one
 * port: alone on its address as a rule, or beside others that route by TLS
 * server name (`sni`). The port decides where the listening socket hands
 * each connection (its `target`):
 *
 * - one member, no `acceptProxy`, no `sni`: the member itself. That is the
 *   plain path, exactly as before ports existed: no first bytes are read,
 *   nothing is allocated for them.
 * - otherwise an acceptor of the plane (accept-first-bytes.ts), which reads
 *   the PROXY header and/or the ClientHello (first-bytes/reading.ts) and then
 *   hands the connection to the member the plan names.
 *
 * The plan is rebuilt when members join or leave or change their settings,
 * once per turn of the event loop (a reload touches several services in one
 * synchronous step; a name moving from one to another must not be seen
 * claimed twice half-way). Connections already accepted are never touched.
 */
import type { AddressInfo } from 'node:net';
import type { RefusalOwner } from './refusals.ts';
import { SniRouter } from './first-bytes/sni-router.ts';
import type { FirstBytesPlan } from './first-bytes/reading.ts';
import type { LimitedLog } from '../observability/limited-log.ts';
import type { Logger } from '../observability/log.ts';
import type { ProxyStats } from '../observability/stats.ts';
import { FIRST_BYTES_DEFAULTS } from '../config/config.ts';
import type { Cidr } from '../config/cidr.ts';
import { Acl } from '../service/controls/acl.ts';

/** The first-bytes keys of a service's settings, as configured. */
export interface FirstBytesConfig {
  readonly acceptProxy?: boolean;
  readonly trustedProxies?: readonly Cidr[];
  readonly proxyHeaderTimeoutMs?: number;
  readonly sni?: readonly string[];
  readonly sniTimeoutMs?: number;
}

/** The first-bytes settings of one service, as its listener keeps them. */
export interface FirstBytesSettings {
  readonly acceptProxy: boolean;
  /** Sources allowed to send a PROXY header; undefined: any. */
  readonly trustedProxies: Acl | undefined;
  readonly proxyHeaderTimeoutMs: number;
  readonly sni: readonly string[] | undefined;
  readonly sniTimeoutMs: number;
}

/** What the listening socket hands a connection to. */
export interface AcceptTarget<C> {
  readonly stats: ProxyStats;
  readonly limited: LimitedLog;
  readonly log: Logger;
  accepted(client: C): void;
}

export interface PortMember<C> extends AcceptTarget<C>, RefusalOwner {
  readonly firstBytes: FirstBytesSettings;
}

/** The plan of a port that reads first bytes, and what its acceptor needs besides. */
export interface PortPlan<M> extends FirstBytesPlan<M> {
  /** Refusals before a member is known are counted and logged on this one: the default service, else the first. */
  readonly owner: M;
  readonly trustedProxies: Acl | undefined;
}

export interface PortPlane<C, M extends PortMember<C>> {
  /** Makes the acceptor that reads first bytes by `plan`. */
  acceptor(port: Port<C, M>, plan: PortPlan<M>): AcceptTarget<C>;
  /** Points the listening socket at `target`. */
  retarget(target: AcceptTarget<C>): void;
  /** Stops listening (the last member left); resolves once the socket is closed. */
  closeServer(): Promise<void>;
  /** Closes connections still reading first bytes now (the port closes). */
  dropPending(): void;
}

export class Port<C, M extends PortMember<C>> {
  readonly address: AddressInfo;
  /** Accepted sockets inherit TCP_NODELAY from the listening one (raw plane, Linux). */
  readonly noDelayInherited: boolean;
  readonly #plane: PortPlane<C, M>;
  readonly #members: M[] = [];
  #target: AcceptTarget<C> | undefined;
  #scheduled = false;
  #closed: Promise<void> | undefined;
  /** Told once the port is closed (the factory's table forgets it). */
  onClosed: (() => void) | undefined;

  constructor(address: AddressInfo, noDelayInherited: boolean, plane: PortPlane<C, M>) {
    this.address = address;
    this.noDelayInherited = noDelayInherited;
    this.#plane = plane;
  }

  get members(): readonly M[] {
    return this.#members;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  join(member: M): void {
    if (this.#closed) throw new Error('fulcrum: joining a closed port');
    this.#members.push(member);
    // Alone and plain: the member takes connections at once (no turn of the loop without a target).
    if (this.#members.length === 1) this.#setTarget(member);
    this.changed();
  }

  /** Takes `member` out of the routing now; resolves once the socket is closed when it was the last. */
  leave(member: M): Promise<void> {
    const i = this.#members.indexOf(member);
    if (i >= 0) this.#members.splice(i, 1);
    if (this.#members.length > 0) {
      this.changed();
      return Promise.resolve();
    }
    this.#closed ??= (async () => {
      this.#plane.dropPending();
      await this.#plane.closeServer();
      this.onClosed?.();
    })();
    return this.#closed;
  }

  /** A member joined, left or changed its settings: a new plan at the end of this turn. */
  changed(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#rebuild();
    });
  }

  #rebuild(): void {
    const members = this.#members;
    if (members.length === 0 || this.#closed) return;
    const proxied = members.find((m) => m.firstBytes.acceptProxy);
    const routed = members.length > 1 || members.some((m) => m.firstBytes.sni !== undefined);
    if (proxied === undefined && !routed) return this.#setTarget(members[0]!);
    let router: SniRouter<{ readonly sni: readonly string[] | undefined; readonly member: M }> | undefined;
    if (routed) {
      try {
        router = new SniRouter(members.map((m) => ({ sni: m.firstBytes.sni, member: m })));
      } catch (err) {
        // Config validation refuses this; a reload half-applied could still show it for a moment. Keep the last plan.
        members[0]!.log.warn({ err, address: `${this.address.address}:${this.address.port}` }, 'services sharing this address disagree on sni; routing as before');
        if (this.#target === undefined) this.#setTarget(members[0]!);
        return;
      }
    }
    const owner = members.find((m) => m.firstBytes.sni === undefined) ?? members[0]!;
    const match = router && ((name: string | undefined) => router.match(name)?.member);
    const plan: PortPlan<M> = {
      acceptProxy: proxied !== undefined,
      proxyHeaderTimeoutMs: proxied?.firstBytes.proxyHeaderTimeoutMs ?? 0,
      trustedProxies: proxied?.firstBytes.trustedProxies,
      router: match && { match },
      sniTimeoutMs: owner.firstBytes.sniTimeoutMs,
      only: router ? undefined : members[0],
      owner,
    };
    this.#setTarget(this.#plane.acceptor(this, plan));
  }

  #setTarget(target: AcceptTarget<C>): void {
    if (this.#target === target) return;
    this.#target = target;
    this.#plane.retarget(target);
  }
}

/** The ports of one Fulcrum (or worker), by the listen address their services share. */
export class PortTable<P extends { onClosed: (() => void) | undefined }> {
  readonly #ports = new Map<string, P>();

  get(key: string | undefined): P | undefined {
    return key === undefined ? undefined : this.#ports.get(key);
  }

  add(key: string | undefined, port: P): void {
    if (key === undefined) return;
    this.#ports.set(key, port);
    port.onClosed = () => {
      if (this.#ports.get(key) === port) this.#ports.delete(key);
    };
  }
}

/** The first-bytes part of a service's settings, with defaults. */
export function firstBytesSettings({ acceptProxy, trustedProxies, proxyHeaderTimeoutMs, sni, sniTimeoutMs }: FirstBytesConfig): FirstBytesSettings {
  return Object.freeze({
    acceptProxy: acceptProxy === true,
    trustedProxies: trustedProxies !== undefined && trustedProxies.length > 0 ? new Acl(trustedProxies, []) : undefined,
    proxyHeaderTimeoutMs: proxyHeaderTimeoutMs ?? FIRST_BYTES_DEFAULTS.proxyHeaderTimeoutMs,
    sni: sni !== undefined && sni.length > 0 ? sni : undefined,
    sniTimeoutMs: sniTimeoutMs ?? FIRST_BYTES_DEFAULTS.sniTimeoutMs,
  });
}

