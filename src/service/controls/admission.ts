/**
 * A service's connection limit and its queue (HAProxy's `maxconn` and
 * queue, on a service and on each backend). A connection holds a slot of the
 * service from its first pick to its end; when the service is full, or every
 * ready backend is at its own `maxConnections`, a new client waits in a FIFO
 * queue, unread (its bytes wait in the kernel) and without a backend
 * connection, until a slot frees or `timeoutMs` passes. Shared by every
 * listener of the service (a draining one too), so a slot freed by an old
 * connection serves the next client in line.
 */

/** What the queue holds: a session that can try again, and when it joined. */
export interface Waiting {
  /** Asked when a slot frees: takes it and proceeds (true), or stays in line (false). */
  tryFromQueue(): boolean;
  queuedSince: number;
}

export interface AdmissionOptions {
  /** Connections the service serves at once; 0: no limit. */
  readonly maxConnections: number;
  /** Clients that may wait; 0: none (a full service refuses at once). */
  readonly queueSize: number;
  readonly queueTimeoutMs: number;
}

export class Admission {
  maxConnections: number;
  queueSize: number;
  queueTimeoutMs: number;
  /** Connections holding a slot of the service now. */
  active = 0;
  /** In arrival order; served from `#head`. */
  #line: (Waiting | undefined)[] = [];
  #head = 0;
  #waiting = 0;
  #serving = false;

  constructor(options: AdmissionOptions) {
    this.maxConnections = options.maxConnections;
    this.queueSize = options.queueSize;
    this.queueTimeoutMs = options.queueTimeoutMs;
  }

  /** A reload changed the limits: the same object, so the count of open connections and the line carry over. */
  configure(options: AdmissionOptions): void {
    this.maxConnections = options.maxConnections;
    this.queueSize = options.queueSize;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.serve();
  }

  /** Whether the service has no slot for a new connection. */
  get full(): boolean {
    return this.maxConnections > 0 && this.active >= this.maxConnections;
  }

  get length(): number {
    return this.#waiting;
  }

  /** How long the client first in line has waited, ms (0 when none). */
  oldestWaitMs(now: number): number {
    for (let i = this.#head; i < this.#line.length; i++) {
      const w = this.#line[i];
      if (w) return now - w.queuedSince;
    }
    return 0;
  }

  /** Puts `w` at the end of the line; false when the line is full. */
  enqueue(w: Waiting): boolean {
    if (this.#waiting >= this.queueSize) return false;
    this.#line.push(w);
    this.#waiting++;
    return true;
  }

  /** Takes `w` out of the line (timed out, or closed). */
  remove(w: Waiting): void {
    const i = this.#line.indexOf(w, this.#head);
    if (i < 0) return;
    this.#line[i] = undefined;
    this.#waiting--;
    this.#compact();
  }

  /**
   * A slot freed (a connection ended, or a backend has room): the clients
   * first in line try again, in order, until one cannot proceed.
   */
  serve(): void {
    if (this.#waiting === 0 || this.#serving) return;
    this.#serving = true;
    try {
      while (this.#head < this.#line.length) {
        const w = this.#line[this.#head];
        if (w === undefined) {
          this.#head++;
          continue;
        }
        if (this.full || !w.tryFromQueue()) break;
        this.#line[this.#head++] = undefined;
        this.#waiting--;
      }
    } finally {
      this.#serving = false;
      this.#compact();
    }
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#line.length) {
      this.#line = this.#line.slice(this.#head);
      this.#head = 0;
    }
    if (this.#waiting === 0) {
      this.#line.length = 0;
      this.#head = 0;
    }
  }
}
