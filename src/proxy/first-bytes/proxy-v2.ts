/**
 * PROXY protocol version 2, the binary header (proxy-protocol.txt 2.2): a
 * 12-byte signature, version and command, family and protocol, a 16-bit
 * length of what follows (addresses, then TLVs), all of it skipped by `len`.
 */
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from './crc32c.ts';
import { formatIPv4, formatIPv6 } from './ip-text.ts';
import { NO_TLVS, PP2_TYPE, type Outcome, type ProxyTlv } from './proxy-header.ts';

export const V2_SIGNATURE: readonly number[] = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
export const V2_FIXED = 16;
/** The most a v2 header may take by default; `len` allows 65,535 + 16. */
export const V2_DEFAULT_MAX = 4096;

/**
 * Bytes of the address block for the 14th byte's valid combinations (2.2),
 * -1 for the others, which are refused. 0x11 and 0x21 are decoded; 0x00 and
 * the UDP and UNIX ones fall back to UNSPEC, as the spec requires of a
 * receiver that does not implement them. A half-unspecified byte (0x01,
 * 0x10, …) is one the spec lets a receiver refuse, and out-of-range nibbles
 * ones it must refuse.
 */
function addressBytes(fam: number): number {
  switch (fam) {
    case 0x00: return 0;
    case 0x11: case 0x12: return 12;
    case 0x21: case 0x22: return 36;
    case 0x31: case 0x32: return 216;
    default: return -1;
  }
}

/**
 * Reads as much of a v2 header as `data[0, len)` holds. Returns the header's
 * whole length once it is all there and valid (`out.header` set), 0 for more
 * (`out.need` set once the length is known), -1 to refuse (`out.reason`).
 * Never reads at or past `min(len, 16 + declared len)`.
 */
export function inspectV2(data: Buffer, len: number, max: number, out: Outcome): number {
  const sig = Math.min(len, V2_SIGNATURE.length);
  for (let i = 0; i < sig; i++) if (data[i] !== V2_SIGNATURE[i]) return fail(out, 'v2: bad signature');
  if (len <= 12) return 0;
  const verCmd = data[12]!;
  if (verCmd >> 4 !== 2) return fail(out, `v2: version ${verCmd >> 4}, not 2`);
  const command = verCmd & 0x0f;
  if (command > 1) return fail(out, `v2: command ${command} is neither LOCAL (0) nor PROXY (1)`);
  if (len <= 13) return 0;
  const fam = data[13]!;
  const addrLen = addressBytes(fam);
  // LOCAL: "discard the protocol block including the family which is ignored" (2.2)
  if (command === 1 && addrLen < 0) return fail(out, `v2: family/protocol 0x${fam.toString(16).padStart(2, '0')} is not one this receiver accepts`);
  if (len < V2_FIXED) return 0;
  const total = V2_FIXED + data.readUInt16BE(14);
  if (total > max) return fail(out, `v2: header of ${total} bytes is over the ${max}-byte limit`);
  if (command === 1 && total < V2_FIXED + addrLen) return fail(out, `v2: len ${total - V2_FIXED} is shorter than the 0x${fam.toString(16)} address block (${addrLen})`);
  out.need = total;
  if (len < total) return 0;

  if (command === 0) {
    out.header = { version: 2, command: 'LOCAL', family: 'UNKNOWN', tlvs: NO_TLVS };
    return total;
  }
  const tlvs = readTlvs(data, V2_FIXED + addrLen, total, out);
  if (tlvs === undefined) return -1;
  if (fam === 0x11) {
    out.header = {
      version: 2, command: 'PROXY', family: 'TCP4',
      source: { address: formatIPv4(data, 16), port: data.readUInt16BE(24) },
      destination: { address: formatIPv4(data, 20), port: data.readUInt16BE(26) },
      tlvs,
    };
  } else if (fam === 0x21) {
    out.header = {
      version: 2, command: 'PROXY', family: 'TCP6',
      source: { address: formatIPv6(data, 16), port: data.readUInt16BE(48) },
      destination: { address: formatIPv6(data, 32), port: data.readUInt16BE(50) },
      tlvs,
    };
  } else {
    out.header = { version: 2, command: 'PROXY', family: 'UNKNOWN', tlvs };
  }
  return total;
}

/**
 * The TLVs in `data[start, end)`, which they must fill exactly (each one
 * inside the header, as HAProxy checks); a CRC32C TLV is verified (2.2.3:
 * "the receiver MUST treat the TCP connection ... as invalid" on a mismatch).
 */
function readTlvs(data: Buffer, start: number, end: number, out: Outcome): readonly ProxyTlv[] | undefined {
  if (start === end) return NO_TLVS;
  const tlvs: ProxyTlv[] = [];
  let crcAt = -1;
  for (let i = start; i < end; ) {
    if (i + 3 > end) return failTlv(out, 'v2: a TLV header runs past the header length');
    const type = data[i]!;
    const n = data.readUInt16BE(i + 1);
    const v = i + 3;
    if (v + n > end) return failTlv(out, `v2: TLV 0x${type.toString(16)} of ${n} bytes runs past the header length`);
    if (type === PP2_TYPE.CRC32C) {
      if (n !== 4 || crcAt >= 0) return failTlv(out, 'v2: CRC32C TLV is not one 4-byte value');
      crcAt = v;
    } else if (type === PP2_TYPE.AUTHORITY && (n === 0 || n > 255)) {
      return failTlv(out, 'v2: AUTHORITY TLV is not 1-255 bytes');
    } else if (type === PP2_TYPE.UNIQUE_ID && n > 128) {
      return failTlv(out, 'v2: UNIQUE_ID TLV is over 128 bytes'); // 2.2.5
    }
    if (type !== PP2_TYPE.NOOP) {
      const value = Buffer.allocUnsafe(n);
      data.copy(value, 0, v, v + n);
      tlvs.push({ type, value });
    }
    i = v + n;
  }
  if (crcAt >= 0) {
    // the checksum of the whole header with the checksum field read as zeros
    let crc = crc32cUpdate(CRC32C_INIT, data, 0, crcAt);
    crc = crc32cUpdate(crc, ZERO4, 0, 4);
    crc = crc32cFinish(crc32cUpdate(crc, data, crcAt + 4, end));
    if (crc !== data.readUInt32BE(crcAt)) return failTlv(out, 'v2: CRC32C does not match');
  }
  return tlvs;
}

const ZERO4 = new Uint8Array(4);

function fail(out: Outcome, reason: string): -1 {
  out.reason = reason;
  return -1;
}

function failTlv(out: Outcome, reason: string): undefined {
  out.reason = reason;
  return undefined;
}
