/**
 * `maglev`: consistent hashing through a Maglev table that depends on the
 * backend set alone (maglev-table.ts), with an explicit key and an optional
 * bound on load. `sih` / `source-ip-hash` is this strategy with the key
 * fixed to the client IP.
 */
import { activeCounts, type SlotTable } from '../backends/active-counts.ts';
import type { Backend } from '../backends/backend.ts';
import { SERVICE_DEFAULTS, type HashKey, type HashSettings } from '../config/config.ts';
import { MAX_TRIES } from './fallback.ts';
import { hashString, hashStringAndPort, STEP_SEED } from './hash.ts';
import { maglevTable, sortedByKey, tableSizeFor } from './maglev-table.ts';
import type { Accept, PickContext, Picker, Strategy, StrategyOptions } from './strategy.ts';
import { reducedWeights, weightOf } from './weights.ts';

/** The hash of a connection's key: client IP, client IP and port, or the TLS server name (the client IP when there is none). */
function keyHash(ctx: PickContext, key: HashKey, seed?: number): number {
  if (key === 'client-ip-port') return hashStringAndPort(ctx.clientIp, ctx.clientPort ?? 0, seed);
  if (key === 'sni' && ctx.sni) return hashString(ctx.sni, seed);
  return hashString(ctx.clientIp, seed);
}

/**
 * One key reaches the same backend for as long as the set is unchanged
 * (health flaps do not change it). Its candidates come in a fixed order: its
 * slot, then slots stepped by a second hash of the key (a per-key step, not
 * +1, because a Maglev table's neighbouring slots are correlated: a linear
 * walk would send most of a refused backend's keys to the same few
 * neighbours), then after MAX_TRIES slots the key-sorted list from a
 * hash-chosen start. The pick takes the first candidate `accept` allows.
 *
 * Bounded load (`factor` > 0, HAProxy's hash-balance-factor, Mirrokni et
 * al.'s consistent hashing with bounded loads): a candidate must also have
 * room, fewer open connections than its share of ceil((open + 1) × factor /
 * 100) by weight among the ready backends, rounded up and at least 1. A key
 * moves down its order only while its earlier candidates are full; when
 * every candidate is full, the first accepted one takes it. O(1) per pick
 * while few backends are full: two counters read, no scan.
 */
class MaglevPicker implements Picker {
  /** Sorted by key, a private copy (indexing the registry's frozen arrays is slower). */
  readonly #backends: Backend[];
  readonly #table: Uint32Array;
  readonly #key: HashKey;
  readonly #factor: number;
  /** weightOf per backend, for the bound. */
  readonly #weights: Float64Array;
  /** Sum of #weights: the bound's divisor while the registry has not counted its ready weight. */
  readonly #totalWeight: number;
  readonly #counts: SlotTable;

  constructor(backends: readonly Backend[], key: HashKey, tableSize: number, factor: number) {
    const sorted = sortedByKey(backends);
    this.#backends = sorted;
    this.#key = key;
    this.#factor = factor;
    this.#table = sorted.length === 0 ? new Uint32Array(0) : maglevTable(sorted, reducedWeights(sorted), tableSize);
    this.#weights = new Float64Array(sorted.length);
    let total = 0;
    for (let i = 0; i < sorted.length; i++) total += this.#weights[i] = weightOf(sorted[i]!);
    this.#totalWeight = total;
    this.#counts = sorted[0]?.counts ?? activeCounts;
  }

  /** Slots in the table (for tests and the bench). */
  get tableSize(): number {
    return this.#table.length;
  }

  /** The backend at each slot, by index into the key-sorted set (for tests and the bench). */
  get table(): Uint32Array {
    return this.#table;
  }

  pick(ctx: PickContext, accept: Accept): Backend | undefined {
    const table = this.#table;
    const size = table.length;
    if (size === 0) return undefined;
    const list = this.#backends;
    const h = keyHash(ctx, this.#key);
    let slot = h % size;
    const first = table[slot]!;
    // Per connection a bound in slots per unit of weight, as HAProxy's tot_slots / tot_weight.
    const perWeight = this.#factor === 0 ? Infinity : this.#perWeight();
    let spare = -1;
    if (accept(list[first]!)) {
      if (this.#hasRoom(first, perWeight)) return list[first];
      spare = first;
    }
    const step = (keyHash(ctx, this.#key, STEP_SEED) % (size - 1)) + 1;
    for (let t = 1; t < MAX_TRIES; t++) {
      slot += step;
      if (slot >= size) slot -= size;
      const i = table[slot]!;
      if (i === first || !accept(list[i]!)) continue;
      if (this.#hasRoom(i, perWeight)) return list[i];
      if (spare < 0) spare = i;
    }
    const n = list.length;
    const start = h % n;
    for (let k = 0, i = start; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (!accept(list[i]!)) continue;
      if (this.#hasRoom(i, perWeight)) return list[i];
      if (spare < 0) spare = i;
    }
    return spare < 0 ? undefined : list[spare];
  }

  #perWeight(): number {
    const counts = this.#counts;
    const slots = Math.ceil(((counts.open + 1) * this.#factor) / 100);
    return slots / (counts.readyWeight || this.#totalWeight);
  }

  #hasRoom(i: number, perWeight: number): boolean {
    if (perWeight === Infinity) return true;
    const cap = Math.ceil(perWeight * this.#weights[i]!);
    return this.#backends[i]!.active < (cap < 1 ? 1 : cap);
  }
}

/** The maglev strategy; `name` and `forcedKey` make `source-ip-hash` of it. */
export function maglev(options: StrategyOptions, name = 'maglev', forcedKey?: HashKey): Strategy {
  const hash: HashSettings = options.hash ?? SERVICE_DEFAULTS.hash;
  const key = forcedKey ?? hash.key;
  const factor = options.hashBalanceFactor ?? SERVICE_DEFAULTS.hashBalanceFactor;
  let warnedSize = hash.table;
  return {
    name,
    build(backends) {
      const size = tableSizeFor(hash.table, backends.length);
      if (size > warnedSize) {
        warnedSize = size;
        options.warn?.(`${name}: ${backends.length} backends outgrew hash.table ${hash.table} (at least 100 slots each): the table grows to ${size}, the smallest prime that fits, as on every instance with this set`);
      }
      return new MaglevPicker(backends, key, size, factor);
    },
  };
}

export function sourceIpHash(options: StrategyOptions): Strategy {
  return maglev(options, 'source-ip-hash', 'client-ip');
}
