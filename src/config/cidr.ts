/** CIDR prefixes as `allow:`/`deny:` and `--allow`/`--deny` take them. */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128). IPv4-mapped IPv6 is taken as IPv4. */
export function parseCidr(field: string, text: string): Cidr {
  const s = text.trim();
  const slash = s.indexOf('/');
  let address = (slash < 0 ? s : s.slice(0, slash)).toLowerCase();
  // Mapped only when the prefix stays inside ::ffff:0:0/96: a shorter one (`::ffff:1.2.3.4/64`) covers IPv6 addresses too.
  const short = slash >= 0 && /^\d{1,3}$/.test(s.slice(slash + 1)) && Number(s.slice(slash + 1)) < 96;
  const mapped = short ? null : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) address = mapped[1]!;
  const family = isIP(address);
  if (family === 0) throw new ConfigError(field, `"${text}" is not an address or CIDR (use e.g. 10.0.0.0/8 or fd00::/8)`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > (mapped ? 128 : max)) throw new ConfigError(field, `"${text}" has an invalid prefix length (use 0-${max})`);
    prefix = mapped ? Math.max(0, Number(p) - 96) : Number(p);
  }
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

export const formatCidr = (c: Cidr): string => `${c.address}/${c.prefix}`;
