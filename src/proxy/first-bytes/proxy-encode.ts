/**
 * The PROXY protocol sender: the header Fulcrum writes to a backend before
 * any client byte, and the v2 LOCAL header its health checks send.
 *
 * Family: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 2.5.5.2,
 * what Node reports on a dual-stack listener) is an IPv4 client, so when
 * both ends are IPv4 or IPv4-mapped the header is TCP4 with dotted quads:
 * proxy-protocol.txt 2.1 has both addresses "match the same family", and a
 * receiver's IPv4 rules (nginx `allow 10.0.0.0/8`, `set_real_ip_from`) then
 * see the address they expect. When either end is a real IPv6 address the
 * header is TCP6 and an IPv4 end is written mapped, as HAProxy's own
 * `make_proxy_line_v1/v2` do (`v4tov6`).
 */
import { ProxyEncodeError } from './errors.ts';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip-text.ts';
import type { ProxyEndpoint, ProxyTlv } from './proxy-header.ts';
import { V2_FIXED, V2_SIGNATURE } from './proxy-v2.ts';

/** 16 bytes: the address as IPv6 (IPv4 mapped). Returns whether it is IPv4 or IPv4-mapped. */
function addressBytes(what: string, address: string, out: Uint8Array): boolean {
  const zone = address.indexOf('%'); // a link-local zone means nothing to the receiver
  const text = Buffer.from(zone >= 0 ? address.slice(0, zone) : address, 'latin1');
  if (parseIPv4(text, 0, text.length, out, 12)) {
    out.fill(0, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    return true;
  }
  if (!parseIPv6(text, 0, text.length, out, 0)) throw new ProxyEncodeError(`${what} address ${JSON.stringify(address)} is not an IP address`);
  for (let i = 0; i < 10; i++) if (out[i] !== 0) return false;
  return out[10] === 0xff && out[11] === 0xff;
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ProxyEncodeError(`${what} port ${port} is not an integer 0-65535`);
  return port;
}

interface Pair {
  v4: boolean;
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
}

function pair(source: ProxyEndpoint, destination: ProxyEndpoint): Pair {
  const src = new Uint8Array(16);
  const dst = new Uint8Array(16);
  const srcV4 = addressBytes('source', source.address, src);
  const dstV4 = addressBytes('destination', destination.address, dst);
  return { v4: srcV4 && dstV4, src, dst, sport: checkPort('source', source.port), dport: checkPort('destination', destination.port) };
}

/** `PROXY TCP4|TCP6 src dst sport dport\r\n` (proxy-protocol.txt 2.1). */
export function encodeProxyV1(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const p = pair(source, destination);
  const line = p.v4
    ? `PROXY TCP4 ${formatIPv4(p.src, 12)} ${formatIPv4(p.dst, 12)} ${p.sport} ${p.dport}\r\n`
    : `PROXY TCP6 ${formatIPv6(p.src, 0)} ${formatIPv6(p.dst, 0)} ${p.sport} ${p.dport}\r\n`;
  return Buffer.from(line, 'latin1');
}

/**
 * A v2 PROXY header, TCP over IPv4 (0x11) or IPv6 (0x21), with `tlvs`
 * appended in order (proxy-protocol.txt 2.2).
 */
export function encodeProxyV2(source: ProxyEndpoint, destination: ProxyEndpoint, tlvs: readonly ProxyTlv[] = []): Buffer {
  const p = pair(source, destination);
  const addrLen = p.v4 ? 12 : 36;
  let tlvLen = 0;
  for (const t of tlvs) {
    if (!Number.isInteger(t.type) || t.type < 0 || t.type > 255) throw new ProxyEncodeError(`TLV type ${t.type} is not a byte`);
    tlvLen += 3 + t.value.length;
  }
  if (addrLen + tlvLen > 65535) throw new ProxyEncodeError(`TLVs of ${tlvLen} bytes do not fit a v2 header`);
  const out = Buffer.alloc(V2_FIXED + addrLen + tlvLen);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = p.v4 ? 0x11 : 0x21;
  out.writeUInt16BE(addrLen + tlvLen, 14);
  let at = V2_FIXED;
  if (p.v4) {
    out.set(p.src.subarray(12), 16);
    out.set(p.dst.subarray(12), 20);
    at = 24;
  } else {
    out.set(p.src, 16);
    out.set(p.dst, 32);
    at = 48;
  }
  out.writeUInt16BE(p.sport, at);
  out.writeUInt16BE(p.dport, at + 2);
  at += 4;
  for (const t of tlvs) {
    out[at] = t.type;
    out.writeUInt16BE(t.value.length, at + 1);
    out.set(t.value, at + 3);
    at += 3 + t.value.length;
  }
  return out;
}

const LOCAL = Buffer.from([...V2_SIGNATURE, 0x20, 0x00, 0x00, 0x00]);

/**
 * The 16-byte v2 LOCAL header (command 0, family UNSPEC, no addresses) that
 * a health check sends first to a backend expecting the PROXY protocol; the
 * receiver then uses the connection's own addresses (2.2, HAProxy's
 * `check-send-proxy`). A fresh copy each call.
 */
export function encodeProxyV2Local(): Buffer {
  return Buffer.from(LOCAL);
}
