/**
 * Where log lines go: stderr, through Node's own stream for it, with a bound.
 *
 * pino.destination (sonic-boom) buffered without limit while stderr's reader
 * stalled (120,000 warnings grew RSS by 27 MB), and at exit flushed
 * synchronously, retrying every error, EPIPE included, every 100 ms with the
 * thread asleep: once the stalled reader went away, shutdown never ended and
 * no signal could be handled. Here:
 * - at most `maxBufferedBytes` wait for a slow reader; lines beyond are dropped
 *   and counted (`fulcrum_log_dropped_total`);
 * - once stderr fails (EPIPE: its reader is gone), every line is dropped;
 * - nothing is ever written synchronously at exit: `flushLogs(ms)` waits for
 *   the buffer to drain for at most `ms`, and exit does not wait at all.
 * process.stderr on a pipe or FIFO is a non-blocking libuv stream, so a write
 * never blocks the loop; on a file it writes synchronously, as files do not
 * stall; on a terminal Node makes writes blocking (so a terminal paused with
 * Ctrl-S pauses the process, as with any program).
 */
import type { Writable } from 'node:stream';

/** @default 1 MiB */
export const MAX_LOG_BUFFER_BYTES = 1024 * 1024;

let dropped = 0;

/** Log lines dropped in this process since it started (buffer full or stderr gone). */
export const logDroppedTotal = (): number => dropped;

export class BoundedLogStream {
  readonly #out: Writable;
  readonly #max: number;
  #broken = false;

  constructor(out: Writable = process.stderr, maxBufferedBytes = MAX_LOG_BUFFER_BYTES) {
    this.#out = out;
    this.#max = maxBufferedBytes;
    // EPIPE and the like: the reader is gone for good; from now on lines are dropped, not queued.
    out.on('error', () => {
      this.#broken = true;
    });
  }

  /** pino calls this with one serialized line. Always "accepted": a log line never pushes back on the caller. */
  write(line: string): boolean {
    if (this.#broken || this.#out.writableLength + line.length > this.#max) {
      dropped++;
      return true;
    }
    this.#out.write(line);
    return true;
  }

  /** Resolves once everything buffered is written, or after `ms`, or at once when stderr is gone. */
  flush(ms: number): Promise<void> {
    if (this.#broken || this.#out.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#out.off('drain', done);
        this.#out.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#out.once('drain', done);
      this.#out.once('error', done);
    });
  }
}
