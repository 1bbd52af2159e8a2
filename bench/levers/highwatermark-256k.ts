/**
 * Lever (bench/profile.md, "The stream-level levers, measured"):
 * write-drain.ts with both sockets' readable and writable highWaterMark at
 * 256 KiB instead of Node 20's 16 KiB. `write()` returns false once that
 * much is queued (a 64 KiB read alone is over 16 KiB: with the default every
 * full read pauses its source until `'drain'`, even when the kernel took it
 * at once), and a paused socket stops reading once that much is buffered.
 * Usage: node --import tsx bench/levers/highwatermark-256k.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import { serveWriteDrain } from './write-drain-proxy.ts';

serveWriteDrain({ highWaterMark: 256 * 1024 });
