/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * write-drain.ts, with each destination corked at its first write in a
 * callback and uncorked on `process.nextTick`, so the writes made in one
 * callback leave in one `writev`.
 * Usage: node --import tsx bench/levers/cork.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import { serveWriteDrain } from './write-drain-proxy.ts';

serveWriteDrain({ uncorkWith: (uncork, s) => process.nextTick(uncork, s) });
