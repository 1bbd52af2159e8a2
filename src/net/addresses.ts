/**
 * How a backend given by name is dialled, shared by the data plane
 * (proxy/connect.ts) and the health probes (health/probe.ts), so that a probe
 * passes exactly when traffic would get through.
 *
 * The addresses are tried one at a time, in the order `autoSelectFamily`
 * (Happy Eyeballs, RFC 8305) uses in Node's `net.connect`: the family of the
 * first address first, then alternating families. An attempt that fails
 * (refused, unreachable, reset) moves on at once; one that has not connected
 * after `ATTEMPT_TIMEOUT_MS` is abandoned for the next, except the last,
 * which has whatever is left of the connect timeout. The backend has failed
 * only when every address has.
 */
import { isIP } from 'node:net';

export interface Address {
  readonly ip: string;
  readonly family: 4 | 6;
}

/** Node's `autoSelectFamilyAttemptTimeout` default. */
export const ATTEMPT_TIMEOUT_MS = 250;

/** Interleaves families, starting with the family of the first address; order within a family is kept. Idempotent. */
export function orderAddresses(addresses: readonly Address[]): readonly Address[] {
  const first = addresses[0];
  if (first === undefined) return addresses;
  const same = addresses.filter((a) => a.family === first.family);
  const other = addresses.filter((a) => a.family !== first.family);
  const out: Address[] = [];
  for (let i = 0; i < Math.max(same.length, other.length); i++) {
    if (i < same.length) out.push(same[i]!);
    if (i < other.length) out.push(other[i]!);
  }
  return Object.freeze(out);
}

/** The address of a numeric host, or undefined for a name. */
export function numericAddress(host: string): Address | undefined {
  const family = isIP(host);
  return family === 0 ? undefined : { ip: host, family: family as 4 | 6 };
}

/**
 * Of the errors of every address tried, the one that stands for the backend:
 * the last that was not a local one (descriptors, memory: see LOCAL_ERRNOS),
 * else the last. A local error on one address (EADDRNOTAVAIL for `::1` where
 * IPv6 is off) must not hide a refusal from another.
 */
export function worstCode(previous: string | undefined, code: string, local: ReadonlySet<string>): string {
  return previous !== undefined && local.has(code) && !local.has(previous) ? previous : code;
}
