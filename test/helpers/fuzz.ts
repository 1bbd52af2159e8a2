/**
 * Shared pieces of the parsers' property-based tests (fast-check): how many
 * runs (FUZZ_RUNS, default 10,000 per property; `npm run fuzz` sets 100,000),
 * random splits of a buffer into chunks, and byte-level mutations.
 */
import fc from 'fast-check';

export const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

/**
 * fast-check parameters; a failure prints its seed and path, and FUZZ_SEED replays one.
 * `ciRuns` lowers the default for properties that cost a round trip each (never under 1,000); FUZZ_RUNS still wins.
 */
export function params<T>(ciRuns = RUNS): fc.Parameters<T> {
  const seed = process.env.FUZZ_SEED;
  const numRuns = process.env.FUZZ_RUNS === undefined ? Math.max(1000, ciRuns) : RUNS;
  return { numRuns, includeErrorInReport: true, verbose: process.env.FUZZ_VERBOSE ? 2 : 0, ...(seed === undefined ? {} : { seed: Number(seed) }) };
}

/** Cut points as fractions; `split` maps them onto any length, so one arbitrary serves every buffer. */
export const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 24 });

/** `buf` cut at the given fractions into non-empty chunks, in order. */
export function split(buf: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * buf.length)))].filter((p) => p > 0 && p < buf.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(buf.subarray(from, p));
    from = p;
  }
  if (from < buf.length) out.push(buf.subarray(from));
  return out;
}

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; byte: number }
  | { op: 'delete'; at: number }
  | { op: 'truncate'; at: number };

const pos = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
export const mutations: fc.Arbitrary<Mutation[]> = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.nat(7) }),
    fc.record({ op: fc.constant('set' as const), at: pos, byte: fc.nat(255) }),
    fc.record({ op: fc.constant('insert' as const), at: pos, byte: fc.nat(255) }),
    fc.record({ op: fc.constant('delete' as const), at: pos }),
    fc.record({ op: fc.constant('truncate' as const), at: pos }),
  ),
  { minLength: 1, maxLength: 4 },
);

/** A mutated copy of `buf`; positions are fractions of its length at each step. */
export function mutate(buf: Buffer, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const i = Math.floor(m.at * b.length);
    if (m.op === 'flip') b[i] = b[i]! ^ (1 << m.bit);
    else if (m.op === 'set') b[i] = m.byte;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([m.byte]), b.subarray(i)]);
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    else b = b.subarray(0, i);
  }
  return b;
}
