/**
 * CRC32c (Castagnoli, RFC 4960 Appendix B), for the PROXY v2 `PP2_TYPE_CRC32C`
 * TLV (proxy-protocol.txt 2.2.3). Table-driven; Node has no CRC32c of its own.
 */
const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** The running state to start from; pass the result of `crc32cUpdate` on, then `crc32cFinish`. */
export const CRC32C_INIT = 0xffffffff;

export function crc32cUpdate(crc: number, buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}

export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32c(buf: Uint8Array): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, buf, 0, buf.length));
}
