/**
 * `allow:` / `deny:` lists of CIDRs for a service, as nginx's `allow`/`deny`
 * (with `deny` winning whatever the order). Node's BlockList does the
 * matching: IPv4 and IPv6 prefixes, and an IPv4-mapped IPv6 client
 * (`::ffff:10.0.0.1`) matches IPv4 rules, as the issue asks.
 */
import { BlockList } from 'node:net';
import type { Cidr } from '../../config/cidr.ts';

/** Decides per client IP; `allowed` is a couple of BlockList checks. */
export class Acl {
  readonly #allow: BlockList | undefined;
  readonly #deny: BlockList | undefined;

  constructor(allow: readonly Cidr[], deny: readonly Cidr[]) {
    this.#allow = allow.length > 0 ? list(allow) : undefined;
    this.#deny = deny.length > 0 ? list(deny) : undefined;
  }

  /** Whether any rule is set; a service without rules never asks. */
  get active(): boolean {
    return this.#allow !== undefined || this.#deny !== undefined;
  }

  /** `deny` wins; with an `allow` list, everything it does not name is denied. */
  allowed(ip: string): boolean {
    const family = ip.includes(':') ? 'ipv6' : 'ipv4';
    if (this.#deny?.check(ip, family)) return false;
    return this.#allow === undefined || this.#allow.check(ip, family);
  }
}

function list(cidrs: readonly Cidr[]): BlockList {
  const b = new BlockList();
  for (const c of cidrs) b.addSubnet(c.address, c.prefix, c.family);
  return b;
}
