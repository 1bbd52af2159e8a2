/**
 * IP addresses between text and network bytes, without allocating: the
 * parsers read from a byte range of the caller's buffer and write into the
 * caller's `out`, and the formatters write text in the form Node gives
 * `socket.remoteAddress` (libuv's `inet_ntop`), so that a client address read
 * from a PROXY header is the same key (for `sih`, `srr`, limits, logs) as the
 * same client connecting directly.
 */

const DOT = 0x2e;
const COLON = 0x3a;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * A dotted quad in `buf[start, end)`, strictly: exactly four decimal numbers
 * 0–255, one dot between each, no leading zeros (proxy-protocol.txt 2.1, and
 * glibc's `inet_pton`). Writes 4 bytes at `out[off]`; false if not one.
 */
export function parseIPv4(buf: Uint8Array, start: number, end: number, out: Uint8Array, off: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === DOT) {
      if (digits === 0 || part === 3) return false;
      out[off + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return false; // a leading zero
      value = value * 10 + (c - 0x30);
      if (value > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  if (digits === 0 || part !== 3) return false;
  out[off + 3] = value;
  return true;
}

const words = new Uint16Array(8);

/**
 * IPv6 text in `buf[start, end)` with `inet_pton`'s grammar (what HAProxy's
 * receiver uses, and what its sender's `inet_ntop` produces): groups of 1–4
 * hex digits, at most one `::` standing for at least one zero group, and an
 * optional dotted quad as the last 32 bits (`::ffff:10.0.0.1`). No zone
 * (`%eth0`), no brackets. Writes 16 bytes at `out[off]`; false if not one.
 */
export function parseIPv6(buf: Uint8Array, start: number, end: number, out: Uint8Array, off: number): boolean {
  if (end - start < 2) return false;
  let i = start;
  let n = 0; // groups written
  let gap = -1; // where `::` stands, in groups
  if (buf[i] === COLON) {
    if (buf[i + 1] !== COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let j = i;
    let value = 0;
    for (; j < end && j - i < 5; j++) {
      const h = hexValue(buf[j]!);
      if (h < 0) break;
      value = (value << 4) | h;
    }
    if (j < end && buf[j] === DOT) {
      if (n > 6 || !parseIPv4(buf, i, end, out, off + 12)) return false;
      words[n++] = (out[off + 12]! << 8) | out[off + 13]!;
      words[n++] = (out[off + 14]! << 8) | out[off + 15]!;
      break;
    }
    const digits = j - i;
    if (digits === 0 || digits > 4 || n === 8) return false;
    words[n++] = value;
    if (j === end) break;
    if (buf[j] !== COLON) return false;
    j++;
    if (j < end && buf[j] === COLON) {
      if (gap >= 0) return false;
      gap = n;
      j++;
    } else if (j === end) {
      return false; // a single trailing colon
    }
    i = j;
  }
  if (gap >= 0) {
    if (n > 7) return false;
    const tail = n - gap;
    for (let k = 0; k < tail; k++) words[7 - k] = words[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) words[k] = 0;
  } else if (n !== 8) {
    return false;
  }
  for (let k = 0; k < 8; k++) {
    out[off + 2 * k] = words[k]! >> 8;
    out[off + 2 * k + 1] = words[k]! & 0xff;
  }
  return true;
}

export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * 16 bytes at `b[off]` as libuv's `inet_ntop6` writes them (RFC 5952 for
 * ordinary addresses: lower case, the longest run of two or more zero groups
 * shortened to `::`; `::ffff:a.b.c.d` and `::a.b.c.d` for IPv4-mapped and
 * -compatible ones), which is what Node reports for a socket's addresses.
 */
export function formatIPv6(b: Uint8Array, off: number): string {
  for (let k = 0; k < 8; k++) words[k] = (b[off + 2 * k]! << 8) | b[off + 2 * k + 1]!;
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let k = 0; k < 8; k++) {
    if (words[k] === 0) {
      if (curBase === -1) {
        curBase = k;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) [bestBase, bestLen] = [curBase, curLen];
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) [bestBase, bestLen] = [curBase, curLen];
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;

  let s = '';
  for (let k = 0; k < 8; k++) {
    if (bestBase !== -1 && k >= bestBase && k < bestBase + bestLen) {
      if (k === bestBase) s += ':';
      continue;
    }
    if (k !== 0) s += ':';
    if (
      k === 6 &&
      bestBase === 0 &&
      (bestLen === 6 || (bestLen === 7 && words[7] !== 1) || (bestLen === 5 && words[5] === 0xffff))
    ) {
      return s + formatIPv4(b, off + 12);
    }
    s += words[k]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ':';
  return s;
}
