/** The bounded slow path shared by strategies whose preferred backend was not accepted. */
import type { Backend } from '../backends/backend.ts';
import type { Accept } from './strategy.ts';

/**
 * Candidates a pick tries in its own order of preference (cycle steps,
 * random draws, slot-table steps) before it gives up on that order and walks
 * the list. Keeps a pick O(1) when a few backends are down and O(n) at worst
 * when almost none is accepted.
 */
export const MAX_TRIES = 64;

/**
 * The first accepted backend walking `list` from `start` (wrapping), or
 * undefined. The last resort of strategies whose bounded fast path failed:
 * O(n), reached only when most backends are not accepted.
 */
export function firstAcceptedFrom(list: readonly Backend[], start: number, accept: Accept): Backend | undefined {
  const n = list.length;
  for (let i = start; i < n; i++) if (accept(list[i]!)) return list[i];
  for (let i = 0; i < start && i < n; i++) if (accept(list[i]!)) return list[i];
  return undefined;
}
