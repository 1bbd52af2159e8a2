/**
 * 64 KiB read buffers for upstream sockets, recycled: each read of a backend
 * lands in a buffer of this pool (the `onread` option of `net.connect`),
 * which goes to the client's `write()` as is and comes back here when that
 * write completes. Without it every read is a fresh 64 KiB ArrayBuffer, and
 * their external memory makes V8 run a full mark-compact about every 64 MiB
 * relayed (85 of them for 4 GiB through one process, 2.2× the CPU per MiB).
 * Node has no `onread` for accepted sockets, so client reads stay on `'data'`.
 *
 * A buffer is reused only after its write's callback, which Node calls once
 * the bytes are written (or the write failed): nothing holds it then.
 */
const SIZE = 64 * 1024;
/** Kept for reuse at most (4 MiB); beyond that, returned buffers are left to the collector. */
const MAX_FREE = 64;
const free: Buffer[] = [];

/** For `onread.buffer`: the buffer the next read lands in. */
export function takeReadBuffer(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(SIZE);
}

export function releaseReadBuffer(buffer: Buffer): void {
  if (free.length < MAX_FREE) free.push(buffer);
}
