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

/**
 * Scratch space for one encode at a time (encoding is synchronous): the
 * address text as bytes, and both addresses as 16 bytes each. A header is
 * built per backend connection, so nothing here allocates but the header.
 */
const TEXT = Buffer.allocUnsafe(64);
const SRC = new Uint8Array(16);
const DST = new Uint8Array(16);
const SIGNATURE = Buffer.from(V2_SIGNATURE);

/** 16 bytes: the address as IPv6 (IPv4 mapped). Returns whether it is IPv4 or IPv4-mapped. */
function addressBytes(what: string, address: string, out: Uint8Array): boolean {
  const zone = address.indexOf('%'); // a link-local zone means nothing to the receiver
  const text = zone >= 0 ? address.slice(0, zone) : address;
  if (text.length >= TEXT.length) throw new ProxyEncodeError(`${what} address ${JSON.stringify(address)} is not an IP address`);
  const n = TEXT.write(text, 0, 'latin1');
  if (parseIPv4(TEXT, 0, n, out, 12)) {
    out.fill(0, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    return true;
  }
  if (!parseIPv6(TEXT, 0, n, out, 0)) throw new ProxyEncodeError(`${what} address ${JSON.stringify(address)} is not an IP address`);
  for (let i = 0; i < 10; i++) if (out[i] !== 0) return false;
  return out[10] === 0xff && out[11] === 0xff;
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ProxyEncodeError(`${what} port ${port} is not an integer 0-65535`);
  return port;
}

/** Fills SRC and DST; true when both ends are IPv4 (or IPv4-mapped), so the header is TCP4. */
function pair(source: ProxyEndpoint, destination: ProxyEndpoint): boolean {
  const srcV4 = addressBytes('source', source.address, SRC);
  const dstV4 = addressBytes('destination', destination.address, DST);
  checkPort('source', source.port);
  checkPort('destination', destination.port);
  return srcV4 && dstV4;
}

/** `PROXY TCP4|TCP6 src dst sport dport\r\n` (proxy-protocol.txt 2.1). */
export function encodeProxyV1(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const v4 = pair(source, destination);
  const line = v4
    ? `PROXY TCP4 ${formatIPv4(SRC, 12)} ${formatIPv4(DST, 12)} ${source.port} ${destination.port}\r\n`
    : `PROXY TCP6 ${formatIPv6(SRC, 0)} ${formatIPv6(DST, 0)} ${source.port} ${destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

/**
 * A v2 PROXY header, TCP over IPv4 (0x11) or IPv6 (0x21), with `tlvs`
 * appended in order (proxy-protocol.txt 2.2).
 */
export function encodeProxyV2(source: ProxyEndpoint, destination: ProxyEndpoint, tlvs: readonly ProxyTlv[] = []): Buffer {
  const v4 = pair(source, destination);
  const addrLen = v4 ? 12 : 36;
  let tlvLen = 0;
  for (const t of tlvs) {
    if (!Number.isInteger(t.type) || t.type < 0 || t.type > 255) throw new ProxyEncodeError(`TLV type ${t.type} is not a byte`);
    tlvLen += 3 + t.value.length;
  }
  if (addrLen + tlvLen > 65535) throw new ProxyEncodeError(`TLVs of ${tlvLen} bytes do not fit a v2 header`);
  // Every byte is written below: the signature, the fixed part, the addresses, the ports, the TLVs.
  const out = Buffer.allocUnsafe(V2_FIXED + addrLen + tlvLen);
  SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = v4 ? 0x11 : 0x21;
  out.writeUInt16BE(addrLen + tlvLen, 14);
  let at: number;
  if (v4) {
    out.set(SRC.subarray(12), 16);
    out.set(DST.subarray(12), 20);
    at = 24;
  } else {
    out.set(SRC, 16);
    out.set(DST, 32);
    at = 48;
  }
  out.writeUInt16BE(source.port, at);
  out.writeUInt16BE(destination.port, at + 2);
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
