/** The name → factory map behind `--algo`. Short and long names, case-insensitive. */
import { ConfigError } from '../errors.ts';
import { leastConnections } from './least-connections.ts';
import { leastResponseTime } from './least-response-time.ts';
import { powerOfTwoChoices } from './power-of-two-choices.ts';
import { roundRobin } from './round-robin.ts';
import { maglev, sourceIpHash } from './maglev.ts';
import { stickyRoundRobin } from './sticky-round-robin.ts';
import { weightedRandom } from './weighted-random.ts';
import { weightedRoundRobin } from './weighted-round-robin.ts';
import type { StrategyFactory, StrategyOptions, Strategy } from './strategy.ts';

interface Entry {
  readonly short: string;
  readonly long: string;
  readonly factory: StrategyFactory;
}

const ENTRIES: readonly Entry[] = [
  { short: 'rr', long: 'round-robin', factory: roundRobin },
  { short: 'wrr', long: 'weighted-round-robin', factory: weightedRoundRobin },
  { short: 'srr', long: 'sticky-round-robin', factory: stickyRoundRobin },
  { short: 'lc', long: 'least-connections', factory: leastConnections },
  { short: 'ptc', long: 'power-of-two-choices', factory: powerOfTwoChoices },
  { short: 'lrt', long: 'least-response-time', factory: leastResponseTime },
  // maglev with the key fixed to the client IP: the same table, kept under its old name.
  { short: 'sih', long: 'source-ip-hash', factory: sourceIpHash },
  // One name: it is the algorithm's own.
  { short: 'maglev', long: 'maglev', factory: (options) => maglev(options) },
  // One name only: `random` already says it, and it is always weighted.
  { short: 'random', long: 'random', factory: weightedRandom },
];

const BY_NAME = new Map<string, Entry>();
for (const e of ENTRIES) {
  BY_NAME.set(e.short, e);
  BY_NAME.set(e.long, e);
}

/** Every valid name, for help text and error messages: `rr|round-robin, …, random`. */
export const STRATEGY_NAMES: readonly string[] = ENTRIES.map((e) => (e.short === e.long ? e.short : `${e.short}|${e.long}`));

/** The canonical long name for a short or long name, or a ConfigError listing the valid ones. */
export function resolveStrategyName(field: string, name: string): string {
  const entry = BY_NAME.get(name.trim().toLowerCase());
  if (!entry) throw new ConfigError(field, `unknown strategy "${name}" (valid: ${STRATEGY_NAMES.join(', ')})`);
  return entry.long;
}

/** The long name for a short or long one, or undefined when it names no strategy. */
export function canonicalStrategyName(name: string): string | undefined {
  return BY_NAME.get(name.trim().toLowerCase())?.long;
}

export function createStrategy(name: string, options: StrategyOptions): Strategy {
  const entry = BY_NAME.get(name.toLowerCase());
  if (!entry) throw new ConfigError('algo', `unknown strategy "${name}" (valid: ${STRATEGY_NAMES.join(', ')})`);
  return entry.factory(options);
}
