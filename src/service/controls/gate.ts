/**
 * What a client must pass before Fulcrum picks a backend for it: the
 * service's `allow`/`deny` lists, then its per-IP limits. Built from a
 * service's settings and kept across reloads that do not change them, so
 * the per-IP counts of open connections carry over.
 */
import type { ServiceSettings } from '../../config/config.ts';
import { Acl } from './acl.ts';
import { PerIpTable, type PerIpVerdict } from './per-ip.ts';

export type GateVerdict = 'ok' | 'denied' | Exclude<PerIpVerdict, 'ok'>;

/** Rejection reasons, as metrics and logs name them. */
export const REJECT_REASONS = ['denied', 'per-ip-connections', 'per-ip-rate'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export class ClientGate {
  /** The settings it was built from, to tell whether a reload changed them. */
  readonly key: string;
  readonly #acl: Acl | undefined;
  readonly #perIp: PerIpTable | undefined;

  private constructor(key: string, acl: Acl | undefined, perIp: PerIpTable | undefined) {
    this.key = key;
    this.#acl = acl;
    this.#perIp = perIp;
  }

  /** The gate for these settings, or undefined when they set no control (then nothing is asked per connection). */
  static from(settings: Pick<ServiceSettings, 'allow' | 'deny' | 'limits'>, now: () => number = Date.now): ClientGate | undefined {
    const { allow, deny, limits } = settings;
    const acl = allow.length > 0 || deny.length > 0 ? new Acl(allow, deny) : undefined;
    const rate = limits.connectionRatePerIp;
    const perIp =
      limits.maxConnectionsPerIp > 0 || rate !== undefined
        ? new PerIpTable({ maxConnectionsPerIp: limits.maxConnectionsPerIp, connectionRate: rate?.count ?? 0, ratePeriodMs: rate?.periodMs ?? 1000 }, limits.maxTrackedIps, now)
        : undefined;
    if (!acl && !perIp) return undefined;
    return new ClientGate(ClientGate.keyOf(settings), acl, perIp);
  }

  static keyOf(settings: Pick<ServiceSettings, 'allow' | 'deny' | 'limits'>): string {
    return JSON.stringify([settings.allow, settings.deny, settings.limits]);
  }

  /** Lets `ip` in, or says why not. One let in must be `release`d exactly once. */
  admit(ip: string): GateVerdict {
    if (this.#acl && !this.#acl.allowed(ip)) return 'denied';
    return this.#perIp ? this.#perIp.admit(ip) : 'ok';
  }

  release(ip: string): void {
    this.#perIp?.release(ip);
  }

  /** IPs in the per-IP table now (bounded), for metrics. */
  get trackedIps(): number {
    return this.#perIp?.size ?? 0;
  }
}
