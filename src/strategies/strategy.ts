import type { Backend } from '../backends/backend.ts';

/** What a strategy may know about a new connection. */
export interface PickContext {
  /** The client's source IP as Node reports it (`::ffff:` prefix stripped). */
  readonly clientIp: string;
  /** The TLS server name (SNI) the client asked for, lower-case, on an SNI address; undefined otherwise. */
  readonly sni?: string | undefined;
}

/**
 * Says whether a backend may take this connection: ready, and not already
 * tried by this connection. Health and drain live here, outside strategies.
 */
export type Accept = (backend: Backend) => boolean;

/**
 * Built once per backend set; asked once per connection attempt.
 * `pick` returns the most preferred backend that `accept` allows, or
 * undefined when none does. It must be O(1) or O(log n) in the common case
 * (the preferred candidate is accepted) and must never sort.
 */
export interface Picker {
  pick(ctx: PickContext, accept: Accept): Backend | undefined;
}

export interface StrategyOptions {
  /** Uniform in [0, 1). Injectable so that tests are reproducible. */
  readonly random: () => number;
  /** srr: how long an idle client IP keeps its backend. */
  readonly stickyTtlMs: number;
  /** srr: most client IPs remembered; the least recently seen is forgotten first. */
  readonly stickyMaxEntries: number;
  /** Clock for TTLs, injectable for tests. */
  readonly now: () => number;
}

/**
 * A balancing strategy. State that must outlive a rebuild (srr's sticky
 * table) lives on the strategy; everything derived from the set lives on the
 * picker. `build` receives every registered backend (down and draining ones
 * included) in registration order, so hash strategies stay stable while a
 * backend flaps.
 */
export interface Strategy {
  readonly name: string;
  build(backends: readonly Backend[]): Picker;
}

export type StrategyFactory = (options: StrategyOptions) => Strategy;
