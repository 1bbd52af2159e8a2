/** The seeded PRNG the tests draw from (one definition, in tools/random.ts, shared with the soak and the benches). */
export { mulberry32 } from '../../tools/random.ts';
