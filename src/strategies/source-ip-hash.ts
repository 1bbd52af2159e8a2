import type { Backend } from '../backends/backend.ts';
import { DeadlinePicker } from './earliest-deadline.ts';
import { firstAcceptedFrom, MAX_TRIES } from './fallback.ts';
import type { Accept, PickContext, Picker, Strategy } from './strategy.ts';
import { reducedWeights } from './weights.ts';

/** Least slots per unit of (gcd-reduced) weight: a slot more or less moves a backend's share by under 2%. */
const SLOTS_PER_WEIGHT = 64;
/**
 * Table size cap (65,537 slots, as in the Maglev paper): 320 KiB and a few
 * ms to build. Sets whose reduced weights sum past 1,024 get fewer slots per
 * unit of weight; every backend still gets at least one.
 */
const MAX_SLOTS = 1 << 16;
/** Seeds the second hashes: of a backend key for its Maglev skip, of a client IP for its fallback step. */
const STEP_SEED = 0x9e3779b9;

/**
 * FNV-1a (32-bit) over the UTF-16 code units, then murmur3's finalizer,
 * because FNV alone mixes the last characters of short, similar strings
 * such as IP addresses poorly into the low bits a modulo keeps.
 */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The table size: the first prime at or above the power of two that covers
 * `slots`. Prime, so that every skip in 1..size-1 walks all slots; taken
 * from a fixed ladder, so that adding or removing a backend usually keeps
 * the size, which Maglev needs to keep most IPs where they were.
 */
function tableSize(slots: number): number {
  let p = 2 ** Math.ceil(Math.log2(Math.max(2, slots)));
  while (!isPrime(p)) p++;
  return p;
}

function isPrime(n: number): boolean {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * A Maglev lookup table (Eisenbud et al., NSDI 2016): every backend walks
 * its own permutation of the slots, derived from its key, and claims the
 * first free one on its turn. Turns follow the smooth weighted schedule, so
 * slot counts follow the weights; and since permutations depend on keys
 * alone, adding or removing a backend moves few client IPs.
 */
function maglevTable(backends: readonly Backend[], weights: Int32Array): Uint32Array {
  let units = 0;
  for (let i = 0; i < weights.length; i++) units += weights[i]!;
  const size = tableSize(Math.max(backends.length, Math.min(MAX_SLOTS, units * SLOTS_PER_WEIGHT)));
  const next = new Uint32Array(backends.length);
  const skip = new Uint32Array(backends.length);
  for (let i = 0; i < backends.length; i++) {
    const key = backends[i]!.key;
    next[i] = hashString(key) % size;
    skip[i] = (hashString(key, STEP_SEED) % (size - 1)) + 1;
  }
  const table = new Uint32Array(size);
  const taken = new Uint8Array(size);
  // Steps by subtraction, not `%`: integer division dominated the build.
  const claim = (i: number) => {
    const step = skip[i]!;
    let slot = next[i]!;
    while (taken[slot] === 1) {
      slot += step;
      if (slot >= size) slot -= size;
    }
    taken[slot] = 1;
    table[slot] = i;
    slot += step;
    next[i] = slot >= size ? slot - size : slot;
  };
  // One slot each first, so that no backend is left out of a capped table.
  for (let i = 0; i < backends.length; i++) claim(i);
  // The weighted turn order repeats every `units` turns: schedule one round, then replay it.
  const scheduler = new DeadlinePicker(backends, weights);
  const turns = new Uint32Array(Math.min(units, size - backends.length));
  for (let t = 0; t < turns.length; t++) turns[t] = scheduler.next();
  for (let filled = backends.length, t = 0; filled < size; filled++) {
    claim(turns[t]!);
    t = t + 1 === turns.length ? 0 : t + 1;
  }
  return table;
}

/**
 * Source IP hash: one client IP reaches the same backend for as long as the
 * set is unchanged (health flaps do not change it). When that backend is not
 * accepted, the pick steps on through the table by a second hash of the IP,
 * and after MAX_TRIES slots walks the list from a hash-chosen start: a fixed
 * order per IP, never a random one. The step is per IP, not +1, because a
 * Maglev table's neighbouring slots are correlated: a linear walk would send
 * most of a refused backend's clients to the same few neighbours.
 */
class SourceIpHashPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  readonly #table: Uint32Array;

  constructor(backends: readonly Backend[]) {
    this.#backends = [...backends];
    this.#table = backends.length === 0 ? new Uint32Array(0) : maglevTable(backends, reducedWeights(backends));
  }

  pick(ctx: PickContext, accept: Accept): Backend | undefined {
    const table = this.#table;
    const size = table.length;
    if (size === 0) return undefined;
    const h = hashString(ctx.clientIp);
    let slot = h % size;
    const b = this.#backends[table[slot]!]!;
    if (accept(b)) return b;
    const step = (hashString(ctx.clientIp, STEP_SEED) % (size - 1)) + 1;
    for (let t = 1; t < MAX_TRIES; t++) {
      slot += step;
      if (slot >= size) slot -= size;
      const next = this.#backends[table[slot]!]!;
      if (accept(next)) return next;
    }
    return firstAcceptedFrom(this.#backends, h % this.#backends.length, accept);
  }
}

export function sourceIpHash(): Strategy {
  return { name: 'source-ip-hash', build: (backends) => new SourceIpHashPicker(backends) };
}
