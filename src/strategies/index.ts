/** The name → factory map behind `--algo`. Short and long names, case-insensitive. */
import { ConfigError } from '../errors.ts';
import { roundRobin } from './round-robin.ts';
import type { StrategyFactory, StrategyOptions, Strategy } from './strategy.ts';

interface Entry {
  readonly short: string;
  readonly long: string;
  readonly factory: StrategyFactory;
}

const ENTRIES: readonly Entry[] = [
  { short: 'rr', long: 'round-robin', factory: roundRobin },
];

const BY_NAME = new Map<string, Entry>();
for (const e of ENTRIES) {
  BY_NAME.set(e.short, e);
  BY_NAME.set(e.long, e);
}

/** Every valid name, for help text and error messages: `rr|round-robin, …`. */
export const STRATEGY_NAMES: readonly string[] = ENTRIES.map((e) => `${e.short}|${e.long}`);

/** The canonical long name for a short or long name, or a ConfigError listing the valid ones. */
export function resolveStrategyName(field: string, name: string): string {
  const entry = BY_NAME.get(name.trim().toLowerCase());
  if (!entry) throw new ConfigError(field, `unknown strategy "${name}" (valid: ${STRATEGY_NAMES.join(', ')})`);
  return entry.long;
}

export function createStrategy(name: string, options: StrategyOptions): Strategy {
  const entry = BY_NAME.get(name.toLowerCase());
  if (!entry) throw new ConfigError('algo', `unknown strategy "${name}" (valid: ${STRATEGY_NAMES.join(', ')})`);
  return entry.factory(options);
}
