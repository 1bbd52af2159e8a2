/**
 * The body of a ClientHello (RFC 8446 4.1.2; RFC 5246 7.4.1.2 for TLS 1.2
 * and earlier, whose extensions are optional), read only as far as the
 * server_name extension needs, every vector's length checked against the
 * bytes that enclose it.
 */
export interface HelloOutcome {
  serverName: string | undefined;
  reason: string;
}

const SERVER_NAME = 0;
const HOST_NAME = 0;

/**
 * Reads `b[start, end)`, the ClientHello body after its handshake header.
 * True with `out.serverName` set (or undefined: no SNI); false with
 * `out.reason` when anything is malformed.
 */
export function readServerName(b: Buffer, start: number, end: number, out: HelloOutcome): boolean {
  out.serverName = undefined;
  let p = start + 2 + 32; // legacy_version, random
  if (p > end) return fail(out, 'ClientHello shorter than its version and random');
  if (b[start] !== 0x03) return fail(out, `ClientHello version ${b[start]}.${b[start + 1]} is not 3.x`);
  if (p + 1 > end) return fail(out, 'session id past the end');
  const sid = b[p]!;
  if (sid > 32 || p + 1 + sid > end) return fail(out, 'session id longer than 32 bytes or past the end');
  p += 1 + sid;
  if (p + 2 > end) return fail(out, 'cipher suites past the end');
  const suites = b.readUInt16BE(p);
  if (suites < 2 || suites % 2 !== 0 || p + 2 + suites > end) return fail(out, 'cipher suites: not an even length 2.. within the ClientHello');
  p += 2 + suites;
  if (p + 1 > end) return fail(out, 'compression methods past the end');
  const methods = b[p]!; // p < end: checked above
  if (methods < 1 || p + 1 + methods > end) return fail(out, 'compression methods: not 1.. within the ClientHello');
  p += 1 + methods;
  if (p === end) return true; // no extensions (TLS 1.2 and earlier allow it)
  if (p + 2 > end) return fail(out, 'extensions length past the end');
  const extEnd = p + 2 + b.readUInt16BE(p);
  if (extEnd !== end) return fail(out, 'extensions do not end where the ClientHello does');
  p += 2;
  let found = false;
  while (p < extEnd) {
    if (p + 4 > extEnd) return fail(out, 'an extension header runs past the extensions');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return fail(out, `extension ${type} runs past the extensions`);
    if (type === SERVER_NAME) {
      if (found) return fail(out, 'two server_name extensions'); // RFC 8446 4.2
      found = true;
      if (!readNameList(b, p, p + len, out)) return false;
    }
    p += len;
  }
  return true;
}

/** ServerNameList (RFC 6066 3): <1..2^16-1> of { NameType, HostName<1..2^16-1> }, at most one host_name. */
function readNameList(b: Buffer, start: number, end: number, out: HelloOutcome): boolean {
  if (start + 2 > end || start + 2 + b.readUInt16BE(start) !== end || end - start < 2 + 3) {
    return fail(out, 'server_name list length does not match its extension');
  }
  for (let p = start + 2; p < end; ) {
    if (p + 3 > end) return fail(out, 'a server name entry runs past the list');
    const type = b[p]!;
    const len = b.readUInt16BE(p + 1);
    p += 3;
    if (len === 0 || p + len > end) return fail(out, 'a server name is empty or runs past the list');
    if (type === HOST_NAME) {
      if (out.serverName !== undefined) return fail(out, 'two host_name entries'); // RFC 6066 3
      const name = hostName(b, p, p + len);
      if (name === undefined) return fail(out, 'host_name is not 1-255 printable ASCII bytes');
      out.serverName = name;
    }
    p += len;
  }
  return true;
}

/**
 * The name, lower-cased, without a trailing dot (RFC 6066: "not include a
 * trailing dot"; equal names in DNS either way). Only printable ASCII
 * without spaces: host names in SNI are A-labels (RFC 6066 3), and a NUL or
 * control byte is refused, as OpenSSL does.
 */
function hostName(b: Buffer, start: number, end: number): string | undefined {
  if (b[end - 1] === 0x2e) end--;
  if (end <= start || end - start > 255) return undefined;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < 0x21 || c > 0x7e) return undefined;
  }
  return b.toString('latin1', start, end).toLowerCase();
}

function fail(out: HelloOutcome, reason: string): false {
  out.reason = reason;
  return false;
}
