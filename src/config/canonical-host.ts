/**
 * One spelling per host, so that one server is one backend key: `127.1`,
 * `0x7f.0.0.1`, `[::ffff:127.0.0.1]` and `127.0.0.1` all name 127.0.0.1, and
 * `LOCALHOST` and `localhost.` name `localhost`. Names are not resolved here
 * (`localhost` may be ::1, 127.0.0.1 or both, and that is DNS's answer to
 * give at connect time), so a name and an address stay two keys.
 */
import { isIP } from 'node:net';

/** inet_aton's parts: decimal, octal with a leading 0, hex with 0x. */
const IPV4_PART = /^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/;
const NUMERIC_LABEL = /^(0[xX][0-9a-fA-F]*|[0-9]+)$/;

/**
 * `a.b.c.d`, `a.b.c`, `a.b` or `a` as inet_aton (and so getaddrinfo, which
 * the data plane's connect goes through) reads them: the last part fills the
 * remaining bytes. Undefined when `host` is not all numeric labels;
 * throws RangeError when it is but names no IPv4 address (`1.2.3.999`),
 * since such a name would not resolve as written either.
 */
export function inetAton(host: string): string | undefined {
  const parts = host.split('.');
  if (!parts.every((p) => NUMERIC_LABEL.test(p))) return undefined;
  if (parts.length > 4 || !parts.every((p) => IPV4_PART.test(p))) throw new RangeError('not an IPv4 address');
  const values = parts.map((p) => (/^0[xX]/.test(p) ? parseInt(p.slice(2) || '0', 16) : p.startsWith('0') ? parseInt(p, 8) : Number(p)));
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 256 ** (4 - values.length)) throw new RangeError('not an IPv4 address');
  let n = last;
  values.forEach((v, i) => (n += v * 256 ** (3 - i)));
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Compressed and lower-case (RFC 5952, as WHATWG URL writes it); IPv4-mapped becomes the IPv4 address. Keeps a zone id. */
export function canonicalIPv6(address: string): string {
  const pct = address.indexOf('%');
  const bare = pct < 0 ? address : address.slice(0, pct);
  const zone = pct < 0 ? '' : address.slice(pct);
  const text = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped && zone === '') {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >>> 8}.${hi & 255}.${lo >>> 8}.${lo & 255}`;
  }
  return text + zone;
}

/**
 * The canonical spelling of a host already known to be an IP literal or a
 * valid host name. Throws RangeError for an all-numeric name that is no IPv4 address.
 */
export function canonicalHost(host: string): string {
  const family = isIP(host);
  if (family === 4) return host;
  if (family === 6) return canonicalIPv6(host);
  const name = (host.endsWith('.') ? host.slice(0, -1) : host).toLowerCase();
  return inetAton(name) ?? name;
}
