/**
 * The dashboard's live stream (`GET /events`, text/event-stream): a snapshot
 * of every service every `intervalMs`, and each event of the bus as it is
 * published. A stream that reconnects with `Last-Event-ID` is first given the
 * events it missed (from the bus's ring).
 *
 * Cost: one snapshot is built and serialised per tick, whatever the number
 * of clients, and only while at least one is connected; the timer stops with
 * the last. Nothing here runs per proxied connection.
 *
 * Bound: a client that reads slower than we write never makes us buffer
 * without limit. While its socket is congested (`write()` said false, no
 * 'drain' yet) it is sent no snapshots (the next one supersedes them anyway)
 * and they are counted as skipped; events are still queued, since they
 * cannot be rebuilt. It is disconnected, and counted as dropped, once its
 * queue (`writableLength`) passes `maxBufferedBytes`, or once it has been
 * congested for `maxStallMs` (a client that never reads would otherwise
 * keep its stream, and a slot, forever). So a stream holds at most
 * `maxBufferedBytes` plus one frame, and a frame larger than the bound
 * alone (a snapshot of thousands of backends) does not drop a client. A dropped client may reconnect with
 * its Last-Event-ID and be replayed what it missed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventBus, FulcrumEvent } from '../observability/events.ts';

export interface SseOptions {
  /** Builds the state the page shows; called once per tick, serialised once. */
  readonly snapshot: () => unknown;
  readonly bus?: EventBus | undefined;
  /** @default 1000 */
  readonly intervalMs?: number;
  /** Bytes queued for one client past which it is disconnected. @default 1 MiB */
  readonly maxBufferedBytes?: number;
  /** How long a client may stay congested (not taking what was written) before it is disconnected. @default 15 s */
  readonly maxStallMs?: number;
  /** Streams open at once; more get 503. @default 32 */
  readonly maxClients?: number;
  /** Extra response headers (e.g. the Content-Security-Policy). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SseStats {
  /** Streams open now. */
  readonly clients: number;
  /** Streams disconnected because they fell behind by more than maxBufferedBytes. */
  readonly dropped: number;
  /** Snapshots not sent to a congested client. */
  readonly skipped: number;
  /** Snapshots built. */
  readonly ticks: number;
}

interface Client {
  readonly res: ServerResponse;
  /** Since when (performance.now()) the socket has not taken what was written; undefined when it has. */
  congestedSince: number | undefined;
}

export class SseHub {
  readonly #snapshot: () => unknown;
  readonly #bus: EventBus | undefined;
  readonly #intervalMs: number;
  readonly #maxBuffered: number;
  readonly #maxStallMs: number;
  readonly #maxClients: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #dropped = 0;
  #skipped = 0;
  #ticks = 0;
  #closed = false;

  constructor(options: SseOptions) {
    this.#snapshot = options.snapshot;
    this.#bus = options.bus;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.#maxStallMs = options.maxStallMs ?? 15_000;
    this.#maxClients = options.maxClients ?? 32;
    this.#headers = options.headers ?? {};
  }

  get stats(): SseStats {
    return { clients: this.#clients.size, dropped: this.#dropped, skipped: this.#skipped, ticks: this.#ticks };
  }

  /** Serves one stream on `res` until the client goes away (or falls behind, or `close`). */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed || this.#clients.size >= this.#maxClients) {
      const text = JSON.stringify({ status: 'fail', data: { title: `too many event streams open (at most ${this.#maxClients})`, code: 'ERR_TOO_MANY_STREAMS' } });
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5', 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    res.writeHead(200, {
      ...this.#headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const client: Client = { res, congestedSince: undefined };
    this.#clients.add(client);
    res.on('close', () => this.#remove(client));
    res.on('drain', () => {
      client.congestedSince = undefined;
    });
    // The retry hint, then what was missed, then the state as of now.
    let head = `retry: 1000\n\n`;
    if (this.#bus) {
      const header = req.headers['last-event-id'];
      const { events, lost } = this.#bus.since(typeof header === 'string' ? header.slice(0, 64) : undefined);
      if (lost) head += `event: lost\ndata: {}\n\n`;
      for (const e of events) head += eventFrame(e);
    }
    this.#write(client, head + snapshotFrame(this.#snapshot()));
    this.#start();
  }

  /** Ends every stream and stops the timer. */
  close(): void {
    this.#closed = true;
    for (const c of this.#clients) c.res.destroy();
    this.#clients.clear();
    this.#stop();
  }

  #start(): void {
    if (this.#timer || this.#clients.size === 0) return;
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs).unref();
    this.#unsubscribe = this.#bus?.subscribe((e) => this.#broadcast(eventFrame(e), true));
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #tick(): void {
    this.#ticks++;
    this.#broadcast(snapshotFrame(this.#snapshot()), false);
  }

  #broadcast(frame: string, mustSend: boolean): void {
    const now = performance.now();
    for (const c of this.#clients) {
      if (c.congestedSince !== undefined && !mustSend) {
        if (now - c.congestedSince > this.#maxStallMs) this.#drop(c);
        else this.#skipped++;
        continue;
      }
      this.#write(c, frame);
    }
  }

  #write(client: Client, frame: string): void {
    const { res } = client;
    if (res.destroyed) return;
    if (!res.write(frame)) client.congestedSince ??= performance.now();
    // What waited before this frame: a single frame larger than the bound (a
    // snapshot of a few thousand backends) must still reach a client that reads.
    if (res.writableLength - frame.length > this.#maxBuffered) this.#drop(client);
  }

  #drop(client: Client): void {
    this.#dropped++;
    client.res.destroy();
    this.#remove(client);
  }

  #remove(client: Client): void {
    if (!this.#clients.delete(client)) return;
    if (this.#clients.size === 0) this.#stop();
  }
}

function eventFrame(e: FulcrumEvent): string {
  return `id: ${e.id}\nevent: change\ndata: ${JSON.stringify(e)}\n\n`;
}

/** No id: a snapshot is state, not history, and leaves the client's last event id as it is. */
function snapshotFrame(snapshot: unknown): string {
  return `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
}
