/**
 * PROXY protocol version 1, the text line (proxy-protocol.txt 2.1):
 * `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN[ anything]\r\n`,
 * at most 107 bytes with the CRLF.
 */
import { formatIPv6, parseIPv4, parseIPv6 } from './ip-text.ts';
import { NO_TLVS, type Outcome } from './proxy-header.ts';

export const V1_MAX = 107;
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
/** "PROXY " */
export const V1_PREFIX: readonly number[] = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20];

/**
 * Looks for the line's CRLF in `data[from, len)`, `from` being where the
 * previous look stopped (less one, for a CR that ended the last chunk).
 * Returns the index of the LF; -1 for more; -2 for a CR or LF standing
 * alone, which the spec forbids ("must not tolerate a single CR or LF").
 */
export function scanV1(data: Uint8Array, from: number, len: number): number {
  const end = Math.min(len, V1_MAX);
  for (let i = from; i < end; i++) {
    const c = data[i]!;
    if (c === LF) return i > 0 && data[i - 1] === CR ? i : -2;
    if (c === CR && i + 1 < end && data[i + 1] !== LF) return -2;
  }
  return -1;
}

function nextSpace(data: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (data[i] === SP) return i;
  return -1;
}

/** A decimal port with no leading zero (2.1), 0–65535; -1 if not one. */
function parsePort(data: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 5 || (n > 1 && data[start] === 0x30)) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = data[i]! - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= 65535 ? v : -1;
}

const addr = new Uint8Array(16);

function matches(data: Uint8Array, at: number, end: number, text: string): boolean {
  if (at + text.length > end) return false;
  for (let k = 0; k < text.length; k++) if (data[at + k] !== text.charCodeAt(k)) return false;
  return true;
}

/** Decodes the line `data[0, cr)` (the prefix "PROXY " already checked) into `out`; false with `out.reason` if it is not exact. */
export function decodeV1(data: Buffer, cr: number, out: Outcome): boolean {
  const at = V1_PREFIX.length;
  if (matches(data, at, cr, 'UNKNOWN') && (at + 7 === cr || data[at + 7] === SP)) {
    // "the receiver must ignore anything presented before the CRLF"
    out.header = { version: 1, command: 'PROXY', family: 'UNKNOWN', tlvs: NO_TLVS };
    return true;
  }
  const v6 = matches(data, at, cr, 'TCP6 ');
  if (!v6 && !matches(data, at, cr, 'TCP4 ')) return fail(out, 'v1: protocol is not TCP4, TCP6 or UNKNOWN');
  const s1 = at + 5;
  const e1 = nextSpace(data, s1, cr);
  const e2 = e1 < 0 ? -1 : nextSpace(data, e1 + 1, cr);
  const e3 = e2 < 0 ? -1 : nextSpace(data, e2 + 1, cr);
  if (e3 < 0 || nextSpace(data, e3 + 1, cr) >= 0) return fail(out, 'v1: not exactly four fields after the protocol');
  let source: string;
  let destination: string;
  if (v6) {
    if (!parseIPv6(data, s1, e1, addr, 0)) return fail(out, 'v1: source is not an IPv6 address');
    source = formatIPv6(addr, 0);
    if (!parseIPv6(data, e1 + 1, e2, addr, 0)) return fail(out, 'v1: destination is not an IPv6 address');
    destination = formatIPv6(addr, 0);
  } else {
    if (!parseIPv4(data, s1, e1, addr, 0)) return fail(out, 'v1: source is not a dotted-quad IPv4 address');
    if (!parseIPv4(data, e1 + 1, e2, addr, 0)) return fail(out, 'v1: destination is not a dotted-quad IPv4 address');
    source = data.toString('latin1', s1, e1);
    destination = data.toString('latin1', e1 + 1, e2);
  }
  const sport = parsePort(data, e2 + 1, e3);
  const dport = parsePort(data, e3 + 1, cr);
  if (sport < 0 || dport < 0) return fail(out, 'v1: a port is not a decimal 0-65535 without leading zeros');
  out.header = {
    version: 1,
    command: 'PROXY',
    family: v6 ? 'TCP6' : 'TCP4',
    source: { address: source, port: sport },
    destination: { address: destination, port: dport },
    tlvs: NO_TLVS,
  };
  return true;
}

function fail(out: Outcome, reason: string): false {
  out.reason = reason;
  return false;
}
