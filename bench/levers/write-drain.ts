/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * pipe-tuned.ts with the relay written by hand instead of `pipe()`:
 * `'data'` → `write()`, pause the source when `write()` returns false,
 * resume it on `'drain'`, `end()` the other side on `'end'`. The base of
 * the other write-drain levers (cork, highWaterMark, onread). The relay
 * itself is in write-drain-proxy.ts, shared with the cork and highWaterMark
 * levers.
 * Usage: node --import tsx bench/levers/write-drain.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import { serveWriteDrain } from './write-drain-proxy.ts';

serveWriteDrain();
