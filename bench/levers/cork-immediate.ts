/**
 * Lever (bench/profile.md, "The stream-level levers, measured"): cork.ts
 * with the uncork on `setImmediate` instead of `process.nextTick`: Node
 * runs the nextTick queue after every callback, so cork.ts only ever batches
 * one chunk; uncorking in the check phase batches every chunk that one poll
 * read for a destination (libuv reads a readable socket up to 32 times)
 * into one `writev`.
 * Usage: node --import tsx bench/levers/cork-immediate.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import { serveWriteDrain } from './write-drain-proxy.ts';

serveWriteDrain({ uncorkWith: (uncork, s) => setImmediate(uncork, s) });
