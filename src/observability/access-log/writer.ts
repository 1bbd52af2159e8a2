/**
 * Where access-log lines go, one writer per destination per process, shared
 * by every service that names it. Lines are queued as they come and written
 * in batches a little later (BATCH_DELAY_MS), so a busy second costs a few
 * writes, not one per connection; nothing is written on the data plane's
 * own turn and nothing ever blocks it:
 *
 * - `stdout`/`stderr`: Node's stream for the descriptor, bounded as the
 *   process log is (log-destination.ts): on a pipe, a write never blocks
 *   (a FIFO or pipe is a non-blocking libuv stream); once the stream fails
 *   (EPIPE: its reader is gone) every line is dropped.
 * - a path: opened O_APPEND|O_CREAT|O_NONBLOCK and written by the thread
 *   pool, one write in flight at a time; `reopen()` (SIGUSR1) opens the path
 *   again once that write is done, so logrotate can move the file away. A
 *   FIFO at the path that no one reads fills, then refuses (EAGAIN): that
 *   batch is dropped and counted.
 *
 * At most `maxBufferedBytes` wait, per destination (queued here plus held by
 * the stream); a line beyond is refused and its service counts it
 * (`fulcrum_access_log_dropped_total`). Lines of a batch a failed write
 * loses are counted against the services they came from.
 *
 * With `--workers N` every worker has its own writer for the same
 * destination. Each write is a whole number of lines, and at most PIPE_BUF
 * (4096) bytes on stdout/stderr, which POSIX makes atomic on a pipe; a file
 * opened O_APPEND takes each write(2) whole at its end. So lines of several
 * workers interleave, but never within a line (a line over 4 KiB on a pipe
 * excepted).
 */
import { close, constants, openSync, write } from 'node:fs';
import type { Writable } from 'node:stream';

/** @default 1 MiB per destination */
export const MAX_ACCESS_LOG_BUFFER_BYTES = 1024 * 1024;
/** How long a line may wait for its batch. */
export const BATCH_DELAY_MS = 20;
/** Atomic on a pipe (POSIX PIPE_BUF on Linux). */
const PIPE_BATCH_BYTES = 4096;
const FILE_BATCH_BYTES = 256 * 1024;

/** Told when a path cannot be opened or written (not when it is merely full). */
export type WriterErrorHandler = (error: NodeJS.ErrnoException, what: string) => void;

/** Whoever a line is counted against when it is lost after being accepted (a service's stats). */
export interface DropCounter {
  accessLogDropped: number;
}

interface Sink {
  /** Bytes the sink holds that have not reached the destination. */
  readonly held: number;
  /** Refuses every line (the destination is gone or could not be opened). */
  readonly broken: boolean;
  /** A write is in flight and the sink takes no other now. */
  readonly busy: boolean;
  readonly batchBytes: number;
  /** Writes `chunk` (whole lines); `done(ok)` once it is written or lost (not called when `ok` synchronously). */
  send(chunk: string, done: (ok: boolean) => void): void;
  reopen(): void;
}

export class AccessLogWriter {
  readonly destination: string;
  readonly #sink: Sink;
  readonly #max: number;
  #lines: string[] = [];
  #owners: DropCounter[] = [];
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #waiters: (() => void)[] = [];

  constructor(destination: string, sink: Sink, maxBufferedBytes = MAX_ACCESS_LOG_BUFFER_BYTES) {
    this.destination = destination;
    this.#sink = sink;
    this.#max = maxBufferedBytes;
  }

  /** Queues `line`; false (and nothing queued) when it cannot be taken. */
  offer(line: string, owner: DropCounter): boolean {
    const sink = this.#sink;
    if (sink.broken || this.#bytes + sink.held + line.length > this.#max) return false;
    this.#lines.push(line);
    this.#owners.push(owner);
    this.#bytes += line.length;
    this.#timer ??= setTimeout(() => this.#flush(), BATCH_DELAY_MS);
    return true;
  }

  /** Opens a path destination again (after logrotate moved it); the current write finishes on the old file. */
  reopen(): void {
    this.#sink.reopen();
  }

  /** Resolves once everything queued has been handed over, or after `ms`. */
  flush(ms: number): Promise<void> {
    this.#flush();
    if (this.#lines.length === 0 && !this.#sink.busy) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms).unref();
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const sink = this.#sink;
    while (this.#lines.length > 0 && !sink.busy) {
      // Whole lines, up to the sink's batch size (one line at least).
      let n = 0;
      let size = 0;
      do size += this.#lines[n++]!.length;
      while (n < this.#lines.length && size + this.#lines[n]!.length <= sink.batchBytes);
      const lines = this.#lines.splice(0, n);
      const owners = this.#owners.splice(0, n);
      this.#bytes -= size;
      sink.send(lines.join(''), (ok) => {
        if (!ok) for (const o of owners) o.accessLogDropped++;
        if (sink.busy) return;
        if (this.#lines.length > 0) this.#flush();
        else this.#settled();
      });
    }
    if (this.#lines.length === 0 && !sink.busy) this.#settled();
  }

  #settled(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** stdout or stderr, as Node's stream for it. */
class StreamSink implements Sink {
  readonly #out: Writable;
  broken = false;
  readonly busy = false;
  readonly batchBytes = PIPE_BATCH_BYTES;

  constructor(out: Writable) {
    this.#out = out;
    out.on('error', () => {
      this.broken = true;
    });
  }

  get held(): number {
    return this.#out.writableLength;
  }

  send(chunk: string, done: (ok: boolean) => void): void {
    if (this.broken) return done(false);
    this.#out.write(chunk);
  }

  reopen(): void {}
}

const FILE_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;

/** A path, written through the thread pool one write at a time. */
class FileSink implements Sink {
  readonly #path: string;
  readonly #onError: WriterErrorHandler;
  #fd = -1;
  held = 0;
  busy = false;
  readonly batchBytes = FILE_BATCH_BYTES;
  #reopenDue = false;

  constructor(path: string, onError: WriterErrorHandler) {
    this.#path = path;
    this.#onError = onError;
    this.#open();
  }

  get broken(): boolean {
    return this.#fd < 0;
  }

  #open(): void {
    try {
      // Opening does not wait on a reader (O_NONBLOCK: a FIFO with none fails, ENXIO), so the loop never stalls here.
      this.#fd = openSync(this.#path, FILE_FLAGS, 0o644);
    } catch (error) {
      this.#fd = -1;
      this.#onError(error as NodeJS.ErrnoException, 'open');
    }
  }

  send(chunk: string, done: (ok: boolean) => void): void {
    if (this.#fd < 0) return done(false);
    const buffer = Buffer.from(chunk);
    this.busy = true;
    this.held = buffer.length;
    write(this.#fd, buffer, 0, buffer.length, null, (error, written) => {
      this.busy = false;
      this.held = 0;
      if (error && error.code !== 'EAGAIN') this.#onError(error, 'write');
      if (this.#reopenDue) this.#reopenNow();
      // A short write to a FIFO leaves the rest of a line: counted as lost with its batch.
      done(!error && written === buffer.length);
    });
  }

  reopen(): void {
    if (this.busy) this.#reopenDue = true;
    else this.#reopenNow();
  }

  #reopenNow(): void {
    this.#reopenDue = false;
    const old = this.#fd;
    this.#open();
    if (old >= 0) close(old, () => {});
  }
}

const writers = new Map<string, AccessLogWriter>();

/** The process's writer for `destination` (`stdout`, `stderr` or a path), made on first use. */
export function accessLogWriter(destination: string, onError: WriterErrorHandler = () => {}): AccessLogWriter {
  let writer = writers.get(destination);
  if (writer === undefined) {
    const sink =
      destination === 'stdout' ? new StreamSink(process.stdout) : destination === 'stderr' ? new StreamSink(process.stderr) : new FileSink(destination, onError);
    writers.set(destination, (writer = new AccessLogWriter(destination, sink)));
  }
  return writer;
}

/** SIGUSR1: every path destination of this process is opened again. */
export function reopenAccessLogs(): void {
  for (const w of writers.values()) w.reopen();
}

/** Waits at most `ms` for queued lines to be handed over; what is left is lost at exit. */
export async function flushAccessLogs(ms: number): Promise<void> {
  await Promise.all([...writers.values()].map((w) => w.flush(ms)));
}
