/**
 * Read buffers for upstream sockets, recycled: each read of a backend lands
 * in a buffer from here (the `onread` option of `net.connect`), which goes to
 * the client's `write()` as is and comes back when that write completes.
 * Without it every read is a fresh 64 KiB ArrayBuffer, and their external
 * memory makes V8 run a full mark-compact about every 64 MiB relayed (4 GiB
 * through one process: 85 of them, and twice the CPU per MiB).
 * Node has no `onread` for accepted sockets, so client reads stay on `'data'`.
 *
 * A socket always holds the buffer its next read will land in, idle or not.
 * So that an idle connection does not pin 64 KiB (all of it resident once a
 * large transfer has used it), a socket gets a large buffer only after a
 * read that filled its buffer, else a 1 KiB slice of Node's buffer pool:
 * bulk transfers read 64 KiB at a time after their first read, and a
 * connection that goes quiet after a partial read holds 1 KiB (with 4 KiB
 * ones, measured: 11.9 KiB of RSS per idle proxied connection, against 7.1
 * without `onread`).
 *
 * A buffer is reused only after its write's callback, which Node calls once
 * the bytes are written (or the write failed): nothing holds it then.
 */
const LARGE = 64 * 1024;
/** Under half of Node's 8 KiB pool, so `allocUnsafe` slices it rather than allocating. */
const SMALL = 1024;
/** Large buffers kept for reuse at most (4 MiB); beyond that, returned buffers are left to the collector. */
const MAX_FREE = 64;
const freeLarge: Buffer[] = [];
/** Whether the read just delivered filled its buffer; reads run one at a time, on the loop thread. */
let lastFilled = false;

/** For `onread.buffer`: the buffer the socket's next read lands in (Node asks right after each read, and at connect). */
export function takeReadBuffer(): Buffer {
  if (lastFilled) {
    lastFilled = false;
    return freeLarge.pop() ?? Buffer.allocUnsafeSlow(LARGE);
  }
  return Buffer.allocUnsafe(SMALL);
}

/** Called with each read, before Node asks for the next buffer. */
export function noteRead(n: number, buffer: Buffer): void {
  lastFilled = n === buffer.length;
}

/** Small buffers are slices of Node's pool, left to the collector. */
export function releaseReadBuffer(buffer: Buffer): void {
  if (buffer.length === LARGE && freeLarge.length < MAX_FREE) freeLarge.push(buffer);
}
