/** Validation of the hash settings (`hash`, `hashBalanceFactor`), shared by the file, the flags and their tests. */
import { ConfigError } from '../errors.ts';
import { isPrime, nextPrime, SLOTS_PER_BACKEND } from '../strategies/maglev-table.ts';
import { HASH_KEYS, type HashKey } from './config.ts';

/** The largest table: 64 MiB of slots, room for 167,772 backends at 100 slots each. */
export const MAX_HASH_TABLE = 16_777_259;
export const MIN_HASH_TABLE = 101;

export function parseHashKey(field: string, value: unknown): HashKey {
  if (typeof value === 'string' && (HASH_KEYS as readonly string[]).includes(value)) return value as HashKey;
  throw new ConfigError(field, `${JSON.stringify(value)} is invalid (use ${HASH_KEYS.join(', ')})`);
}

/** A table size: an integer, prime (so every Maglev skip walks all slots), within MIN/MAX_HASH_TABLE. */
export function parseHashTable(field: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_HASH_TABLE || n > MAX_HASH_TABLE) {
    throw new ConfigError(field, `${typeof n === 'number' ? n : JSON.stringify(value)} is invalid (use a prime ${MIN_HASH_TABLE}-${MAX_HASH_TABLE}, e.g. 65537)`);
  }
  if (!isPrime(n)) throw new ConfigError(field, `${n} is not a prime (use a prime, e.g. ${nextPrime(n)})`);
  return n;
}

/** The table must give every declared backend at least SLOTS_PER_BACKEND slots. */
export function checkTableFits(field: string, table: number, backends: number): void {
  if (table < SLOTS_PER_BACKEND * backends) {
    throw new ConfigError(field, `${table} slots is too small for ${backends} backends (use a prime of at least ${SLOTS_PER_BACKEND} × backends, e.g. ${nextPrime(SLOTS_PER_BACKEND * backends)})`);
  }
}

/** hashBalanceFactor: 0 (no bound) or a percent above 100 (HAProxy allows 0 or >100). */
export function parseBalanceFactor(field: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || (n !== 0 && (n <= 100 || n > 10_000))) {
    throw new ConfigError(field, `${typeof n === 'number' ? n : JSON.stringify(value)} is invalid (use 0 for no bound, or a percent 101-10000 such as 125)`);
  }
  return n;
}
