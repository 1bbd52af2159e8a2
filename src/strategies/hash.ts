/** The string and address hashes behind the hash strategies: fixed, so every instance and worker computes the same values. */

/**
 * FNV-1a (32-bit) over the UTF-16 code units, then murmur3's finalizer,
 * because FNV alone mixes the last characters of short, similar strings
 * such as IP addresses poorly into the low bits a modulo keeps.
 */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/**
 * The hash of `text` followed by a 16-bit number (a client port), without
 * building the string `text:port` on every pick: the port's two bytes go
 * through FNV-1a after the text, then the finalizer.
 */
export function hashStringAndPort(text: string, port: number, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ ((port >>> 8) & 0xff), 0x01000193);
  h = Math.imul(h ^ (port & 0xff), 0x01000193);
  return fmix32(h);
}

/** murmur3's 32-bit finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Seeds the second hashes: of a backend key for its Maglev skip, of a client key for its fallback step. */
export const STEP_SEED = 0x9e3779b9;
